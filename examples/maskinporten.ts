import { createMaskinportenClient } from 'tokenx-handler-kit/maskinporten'

// A scheduled function calling an external API as the organisation: MASKINPORTEN_* from NAIS,
// the scopes in MASKINPORTEN_SCOPES (space-separated), an optional MASKINPORTEN_RESOURCE (RFC 8707).
const external = createMaskinportenClient().target({
  scope: process.env['MASKINPORTEN_SCOPES'] ?? '',
  resource: process.env['MASKINPORTEN_RESOURCE'],
  url: process.env['EXTERNAL_API_URL'] ?? '',
})

export async function handler(): Promise<{ status: number }> {
  const answer = await external.fetch('/api/v1/status', { signal: AbortSignal.timeout(5000) })
  return { status: answer.status }
}
