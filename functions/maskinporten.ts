/**
 * maskinporten, on a schedule: calls the external API at EXTERNAL_API_URL as the organisation, with a
 * Maskinporten token for MASKINPORTEN_SCOPES (space-separated; optional RFC 8707 resource
 * MASKINPORTEN_RESOURCE; docs/flows-maskinporten.md), and returns the API's status.
 *
 * Maskinporten settings as NAIS names them: MASKINPORTEN_CLIENT_ID, MASKINPORTEN_ISSUER,
 * MASKINPORTEN_TOKEN_ENDPOINT and the key, MASKINPORTEN_CLIENT_JWK_SECRET_ID (Secrets Manager; or
 * MASKINPORTEN_CLIENT_JWK inline, locally). Client and token cache are built once per container.
 */
import { createMaskinportenClient, maskinportenOptionsFromEnv } from 'tokenx-handler-kit/maskinporten'
import { createLogger } from 'tokenx-handler-kit/observe'
import { environmentAtLoad } from './shared/acr-env.ts'
import { configuredAtLoad, scheduledHandler } from './shared/scheduled.ts'

const env = environmentAtLoad()
const logger = createLogger()
const external = configuredAtLoad(() => {
  const url = env['EXTERNAL_API_URL']?.trim() ?? ''
  const resource = env['MASKINPORTEN_RESOURCE']?.trim() || undefined
  const client = createMaskinportenClient(maskinportenOptionsFromEnv(env))
  return { url, target: client.target({ scope: env['MASKINPORTEN_SCOPES']?.trim() ?? '', url, resource }) }
})

export const handler = scheduledHandler(external, logger)
