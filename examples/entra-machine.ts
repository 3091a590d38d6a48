import { createEntraClient } from 'tokenx-handler-kit/entra'

// A scheduled function acting as itself (client credentials): AZURE_* from NAIS, the API's scope
// and URL from DOWNSTREAM_SCOPE and DOWNSTREAM_URL. Built once per container, outside the handler.
const api = createEntraClient().target({
  scope: process.env['DOWNSTREAM_SCOPE'] ?? '',
  url: process.env['DOWNSTREAM_URL'] ?? '',
})

export async function handler(): Promise<{ status: number }> {
  const answer = await api.fetch('/jobs', { method: 'POST', signal: AbortSignal.timeout(5000) })
  return { status: answer.status }
}
