/**
 * machine, on a schedule: calls the API at DOWNSTREAM_URL as this app itself, with an Entra ID token
 * for DOWNSTREAM_SCOPE (client credentials, docs/flows-entra.md), and returns the API's status.
 *
 * Entra ID settings as NAIS names them: AZURE_APP_CLIENT_ID, AZURE_OPENID_CONFIG_ISSUER,
 * AZURE_OPENID_CONFIG_TOKEN_ENDPOINT and the key, AZURE_APP_JWK_SECRET_ID (Secrets Manager; or
 * AZURE_APP_JWK inline, locally). The client and its token cache are built once per container;
 * the token is fetched on the first run and renewed before it expires.
 */
import { createEntraClient, entraOptionsFromEnv } from 'tokenx-handler-kit/entra'
import { createLogger } from 'tokenx-handler-kit/observe'
import { environmentAtLoad } from './shared/acr-env.ts'
import { configuredAtLoad, scheduledHandler } from './shared/scheduled.ts'

const env = environmentAtLoad()
const logger = createLogger()
const api = configuredAtLoad(() => {
  const url = env['DOWNSTREAM_URL']?.trim()
  return {
    url: url ?? '',
    target: createEntraClient(entraOptionsFromEnv(env)).target({ scope: env['DOWNSTREAM_SCOPE']?.trim() ?? '', url: url ?? '' }),
  }
})

export const handler = scheduledHandler(api, logger)
