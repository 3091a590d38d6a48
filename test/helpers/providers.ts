/**
 * The Entra ID and Maskinporten stand-ins (dev/entra.ts, dev/maskinporten.ts) on 127.0.0.1 for the
 * provider clients' tests: the app registered at both with one key, and an API it may ask for.
 */
import { startEntra, type EntraApp, type LocalEntra } from '../../dev/entra.ts'
import { startMaskinporten, type LocalMaskinporten } from '../../dev/maskinporten.ts'
import type { FetchLike } from '../../lib/types.ts'
import { newTestKey, type TestKey } from './keys.ts'

/** The app's Entra ID client id (`dev-gcp:team:app`). */
export const CLIENT_ID = '11111111-2222-4333-8444-555555555555'
/** The API's Entra ID client id (`dev-gcp:team:api`). */
export const API_ID = '99999999-2222-4333-8444-555555555555'
export const API_SCOPE = 'api://dev-gcp.team.api/.default'
/** The app's Maskinporten client id; it may be given `nav:test/api`. */
export const MASKINPORTEN_CLIENT = 'c0ffee00-maskinporten-client'

export interface ProviderStandIns {
  /** The app's key, registered at both. */
  readonly key: TestKey
  readonly entra: LocalEntra
  readonly maskinporten: LocalMaskinporten
}

export async function startProviderStandIns(options: {
  /** The key's `kid`. */
  readonly kid: string
  /** The stand-ins' clock, seconds since the epoch. Default: the real one. */
  readonly now?: () => number
  /** Entra ID apps besides the app and the API. */
  readonly moreApps?: readonly EntraApp[]
  /** Scopes whose on-behalf-of requests need MFA. */
  readonly mfaScopes?: readonly string[]
  /** Maskinporten scopes the app may be given besides `nav:test/api`. */
  readonly moreScopes?: readonly string[]
}): Promise<ProviderStandIns> {
  const key = await newTestKey(options.kid)
  const now = options.now === undefined ? {} : { now: options.now }
  const entra = await startEntra({
    ...now,
    ...(options.mfaScopes === undefined ? {} : { mfaScopes: options.mfaScopes }),
    apps: [
      { clientId: CLIENT_ID, name: 'dev-gcp:team:app', publicJwks: [key.publicJwk] },
      { clientId: API_ID, name: 'dev-gcp:team:api' },
      ...(options.moreApps ?? []),
    ],
  })
  const maskinporten = await startMaskinporten({
    ...now,
    clients: [{ clientId: MASKINPORTEN_CLIENT, publicJwks: [key.publicJwk], scopes: ['nav:test/api', ...(options.moreScopes ?? [])] }],
  })
  return { key, entra, maskinporten }
}

/** The real fetch, recording the URLs asked for; `discovery` answers the well-known URL instead when given. */
export function recordingFetch(discovery?: () => Promise<Response>): { fetch: FetchLike; urls: string[] } {
  const urls: string[] = []
  const fetch: FetchLike = async (input, init) => {
    urls.push(String(input))
    if (discovery !== undefined && String(input).includes('/.well-known/')) return discovery()
    return globalThis.fetch(input, init)
  }
  return { fetch, urls }
}
