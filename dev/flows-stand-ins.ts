/**
 * The Entra ID and Maskinporten stand-ins together, with a key registered for one app in each and
 * the environment NAIS would give that app. Tests call `startFlowStandIns()`; on its own
 * (`npm exec -- node dev/flows-stand-ins.ts`) it prints the variables and a user token, and runs
 * until interrupted. Loopback only.
 */
import { randomUUID } from 'node:crypto'
import { startEntra, type LocalEntra } from './entra.ts'
import { generateRsaJwk } from './keys.ts'
import { startMaskinporten, type LocalMaskinporten } from './maskinporten.ts'

export const FLOW_APP = { clientId: '11111111-2222-4333-8444-555555555555', name: 'local:team:tokenx-kit-example' }
export const FLOW_DOWNSTREAM = { clientId: '99999999-2222-4333-8444-555555555555', name: 'local:team:downstream-api' }
export const FLOW_CALLER = { clientId: '88888888-2222-4333-8444-555555555555', name: 'local:team:frontend' }
export const MASKINPORTEN_SCOPE = 'nav:example/api'

export interface FlowStandIns {
  readonly entra: LocalEntra
  readonly maskinporten: LocalMaskinporten
  /** The variables NAIS would set for the app (private keys included: local keys only). */
  readonly env: Readonly<Record<string, string>>
  close(): Promise<void>
}

export async function startFlowStandIns(options: { entraPort?: number; maskinportenPort?: number } = {}): Promise<FlowStandIns> {
  const key = await generateRsaJwk()
  const entra = await startEntra({
    port: options.entraPort,
    apps: [{ ...FLOW_APP, publicJwks: [key.publicJwk] }, FLOW_DOWNSTREAM, FLOW_CALLER],
  })
  const maskinporten = await startMaskinporten({
    port: options.maskinportenPort,
    clients: [{ clientId: FLOW_APP.clientId, publicJwks: [key.publicJwk], scopes: [MASKINPORTEN_SCOPE] }],
  })
  const env = {
    AZURE_APP_CLIENT_ID: FLOW_APP.clientId,
    AZURE_APP_JWK: JSON.stringify(key.privateJwk),
    AZURE_OPENID_CONFIG_ISSUER: entra.issuer,
    AZURE_OPENID_CONFIG_JWKS_URI: entra.jwksUri,
    AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: entra.tokenEndpoint,
    AZURE_APP_WELL_KNOWN_URL: `${entra.issuer}/.well-known/openid-configuration`,
    AZURE_APP_PRE_AUTHORIZED_APPS: JSON.stringify([FLOW_CALLER]),
    DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name,
    MASKINPORTEN_CLIENT_ID: FLOW_APP.clientId,
    MASKINPORTEN_CLIENT_JWK: JSON.stringify(key.privateJwk),
    MASKINPORTEN_ISSUER: maskinporten.issuer,
    MASKINPORTEN_TOKEN_ENDPOINT: maskinporten.tokenEndpoint,
    MASKINPORTEN_WELL_KNOWN_URL: `${maskinporten.url}/.well-known/oauth-authorization-server`,
    MASKINPORTEN_SCOPES: MASKINPORTEN_SCOPE,
  }
  return {
    entra,
    maskinporten,
    env,
    close: async () => {
      await Promise.all([entra.close(), maskinporten.close()])
    },
  }
}

if (import.meta.main) {
  const stands = await startFlowStandIns()
  for (const [name, value] of Object.entries(stands.env)) if (!name.endsWith('_JWK')) console.log(`${name}=${value}`)
  console.log('# AZURE_APP_JWK and MASKINPORTEN_CLIENT_JWK: a fresh local key, not printed')
  const user = await stands.entra.mintUserToken({ aud: FLOW_APP.clientId, azp: FLOW_CALLER.clientId, sub: randomUUID() })
  console.log(`# a user token from ${FLOW_CALLER.name} for GET /employee:\n${user}`)
  process.once('SIGINT', () => void stands.close().then(() => process.exit(0)))
}
