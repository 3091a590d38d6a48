/**
 * Options of inbound validation: documented defaults, checks at construction (`TypeError`), and the
 * NAIS environment convention (`IDPORTEN_*`, `TOKEN_X_*`).
 */
import { isAcrLevel, type AcrLevel } from './acr.ts'
import { ConfigError, InvalidOptionError } from '../errors.ts'
import type { FetchLike } from '../types.ts'
import { envReader } from '../util/env.ts'
import {
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkOptionsObject,
  checkUrl,
  isClientId,
  optionKeys,
  withoutUndefined,
} from '../util/option-checks.ts'

/** One issuer whose tokens are accepted. */
export interface InboundIssuer {
  /** The exact `iss` of its tokens (`IDPORTEN_ISSUER`, `TOKEN_X_ISSUER`). Required. */
  issuer: string
  /** Its JWKS URL (`IDPORTEN_JWKS_URI`, `TOKEN_X_JWKS_URI`). One of `jwksUri` and `wellKnownUrl` is required; `jwksUri` wins when both are set. */
  jwksUri?: string | undefined
  /** Its discovery document (`IDPORTEN_WELL_KNOWN_URL`, `TOKEN_X_WELL_KNOWN_URL`); its `jwks_uri` is used. */
  wellKnownUrl?: string | undefined
  /** The `aud` its tokens must carry (`IDPORTEN_AUDIENCE`; for TokenX our own client id, `TOKEN_X_CLIENT_ID`). Required. */
  audience: string
}

export interface InboundOptions {
  /** Accept ID-porten tokens from this issuer. */
  idporten?: InboundIssuer | undefined
  /** Accept TokenX tokens from this issuer (another app exchanged its citizen token for us). */
  tokenX?: InboundIssuer | undefined
  /** The lowest login level accepted (`acr`); `Level4` meets `idporten-loa-high`, `Level3` meets `idporten-loa-substantial`. Default: none required. */
  minimumAcr?: AcrLevel | undefined
  /** Only tokens whose `client_id` (the app that obtained the token) is listed are accepted (403 otherwise). Default: any. */
  allowedClients?: readonly string[] | undefined
  /** Milliseconds of clock skew allowed when checking `exp`, `nbf` and `iat`. Default 5000; 0–300000. */
  clockTolerance?: number
  /** Milliseconds each discovery or JWKS fetch may take. Default 3000; 1–60000. */
  jwksTimeout?: number
  /** Milliseconds after a JWKS fetch during which a token with an unknown `kid` causes no other fetch. Default 30000; 0–3600000. */
  jwksCooldown?: number
  /**
   * Milliseconds after a failed discovery or JWKS fetch during which a token that needs a fetch is
   * answered at once with the same 5xx instead of fetching again (keys already fetched keep working).
   * Default 5000; 0 (off)–300000.
   */
  jwksFailureCooldown?: number
  /** Milliseconds a fetched JWKS is used before it is fetched again. Default 600000 (10 min); 1000–86400000. */
  jwksMaxAge?: number
  /** How many times an unreachable JWKS or discovery endpoint is tried again, within the deadline. Default 1; 0–5. */
  jwksRetries?: number
  /** How many verified tokens are remembered (by SHA-256) so a repeat is not verified again. Default 10000; 1–10000000. */
  verifiedCacheMaxEntries?: number
  /**
   * Milliseconds a verified token is remembered at most: after this (or at its `exp`, if sooner) it
   * is verified again, with the issuer's keys as they are then. A remembered token is also verified
   * again as soon as a fetched JWKS no longer has the key that verified it. Default 300000 (5 min);
   * 1000–86400000.
   */
  verifiedCacheMaxAge?: number
  /** Largest accepted token, in characters. Default 16384; 64–1048576. */
  maxTokenLength?: number
  /** The `fetch` for discovery and JWKS requests. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined
  /** Current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

/** Every key of `InboundOptions`, in one place (unknown keys are rejected against this list). */
export const inboundOptionKeys = optionKeys<InboundOptions>()(
  'idporten',
  'tokenX',
  'minimumAcr',
  'allowedClients',
  'clockTolerance',
  'jwksTimeout',
  'jwksCooldown',
  'jwksFailureCooldown',
  'jwksMaxAge',
  'jwksRetries',
  'verifiedCacheMaxEntries',
  'verifiedCacheMaxAge',
  'maxTokenLength',
  'fetch',
  'clock',
)

export const inboundDefaults = Object.freeze({
  clockTolerance: 5000,
  jwksTimeout: 3000,
  jwksCooldown: 30_000,
  jwksFailureCooldown: 5000,
  jwksMaxAge: 600_000,
  jwksRetries: 1,
  verifiedCacheMaxEntries: 10_000,
  verifiedCacheMaxAge: 300_000,
  maxTokenLength: 16_384,
  clock: Date.now as () => number,
})

export type ResolvedInboundOptions = Readonly<
  Required<Omit<InboundOptions, 'idporten' | 'tokenX' | 'minimumAcr' | 'allowedClients' | 'fetch'>> &
    Pick<InboundOptions, 'idporten' | 'tokenX' | 'minimumAcr' | 'allowedClients' | 'fetch'>
>

/**
 * Merges `options` over `inboundDefaults` and checks every option; throws `TypeError` naming the bad
 * one. With `requireIssuer: false` the issuers may be missing (they come from the environment later).
 */
export function resolveInboundOptions(
  options: InboundOptions,
  { requireIssuer = true }: { requireIssuer?: boolean } = {},
): ResolvedInboundOptions {
  checkOptionsObject('inbound', options, 'options must be an object')
  checkKnownKeys(options, inboundOptionKeys)
  const defined = withoutUndefined(options) as InboundOptions
  const resolved = { ...inboundDefaults, ...defined }
  if (requireIssuer && resolved.idporten === undefined && resolved.tokenX === undefined)
    throw new InvalidOptionError('inbound', 'validation needs idporten or tokenX (or both)')
  if (resolved.idporten !== undefined) checkIssuer('idporten', resolved.idporten, false)
  if (resolved.tokenX !== undefined) checkIssuer('tokenX', resolved.tokenX, true)
  if (resolved.idporten !== undefined && resolved.idporten.issuer === resolved.tokenX?.issuer) {
    throw new InvalidOptionError('idporten.issuer', 'and tokenX.issuer must differ')
  }
  if (resolved.minimumAcr !== undefined && !isAcrLevel(resolved.minimumAcr)) {
    throw new InvalidOptionError('minimumAcr', 'must be idporten-loa-substantial, idporten-loa-high, Level3 or Level4')
  }
  if (resolved.allowedClients !== undefined) {
    checkAllowedClients(resolved.allowedClients, resolved.idporten === undefined && resolved.tokenX !== undefined)
    resolved.allowedClients = Object.freeze([...resolved.allowedClients])
  }
  checkInteger('clockTolerance', resolved.clockTolerance, 0, 300_000)
  checkInteger('jwksTimeout', resolved.jwksTimeout, 1, 60_000)
  checkInteger('jwksCooldown', resolved.jwksCooldown, 0, 3_600_000)
  checkInteger('jwksFailureCooldown', resolved.jwksFailureCooldown, 0, 300_000)
  checkInteger('jwksMaxAge', resolved.jwksMaxAge, 1000, 86_400_000)
  checkInteger('jwksRetries', resolved.jwksRetries, 0, 5)
  checkInteger('verifiedCacheMaxEntries', resolved.verifiedCacheMaxEntries, 1, 10_000_000)
  checkInteger('verifiedCacheMaxAge', resolved.verifiedCacheMaxAge, 1000, 86_400_000)
  checkInteger('maxTokenLength', resolved.maxTokenLength, 64, 1_048_576)
  checkFunction('fetch', resolved.fetch)
  checkFunction('clock', resolved.clock, false)
  return Object.freeze(resolved)
}

/**
 * Throws `InvalidOptionError` unless `value` is a non-empty array of client ids. A TokenX token's
 * `client_id` is the calling app, `cluster:namespace:app`: when only TokenX tokens are accepted
 * (`tokenXOnly`), each id must be one, so a typo cannot make a silent 403. An ID-porten token's
 * `client_id` is its login client's id at ID-porten, of any form.
 */
export function checkAllowedClients(value: unknown, tokenXOnly: boolean): void {
  const isId = tokenXOnly ? isClientId : (id: unknown) => typeof id === 'string' && id.trim() !== ''
  if (!Array.isArray(value) || value.length === 0 || !value.every(isId)) {
    throw new InvalidOptionError(
      'allowedClients',
      tokenXOnly ? 'must be a non-empty array of client ids, "cluster:namespace:app"' : 'must be a non-empty array of client ids',
    )
  }
}

function checkIssuer(name: string, value: InboundIssuer, clientIdAudience: boolean): void {
  if (value === null || typeof value !== 'object') throw new InvalidOptionError(`${name}`, 'must be an object')
  checkKnownKeys(value, ['issuer', 'jwksUri', 'wellKnownUrl', 'audience'], `${name}.`)
  if (typeof value.issuer !== 'string' || value.issuer === '') throw new InvalidOptionError(`${name}.issuer`, 'must be a non-empty string')
  if (value.jwksUri === undefined && value.wellKnownUrl === undefined)
    throw new InvalidOptionError(`${name}`, 'needs jwksUri or wellKnownUrl')
  // The keys that decide which tokens are genuine: never fetched in cleartext off loopback.
  if (value.jwksUri !== undefined) checkUrl(`${name}.jwksUri`, value.jwksUri)
  if (value.wellKnownUrl !== undefined) checkUrl(`${name}.wellKnownUrl`, value.wellKnownUrl)
  if (typeof value.audience !== 'string' || value.audience === '')
    throw new InvalidOptionError(`${name}.audience`, 'must be a non-empty string')
  if (clientIdAudience && !isClientId(value.audience))
    throw new InvalidOptionError(`${name}.audience`, 'must be our client id, "cluster:namespace:app"')
}

/** Which issuers `inboundIssuersFromEnv` may configure. */
export interface IssuerSelection {
  readonly idporten: boolean
  readonly tokenX: boolean
}

/**
 * The issuers configured by NAIS-style variables. ID-porten: `IDPORTEN_ISSUER`, `IDPORTEN_AUDIENCE` and
 * `IDPORTEN_JWKS_URI` or `IDPORTEN_WELL_KNOWN_URL`. TokenX: `TOKEN_X_ISSUER` and `TOKEN_X_JWKS_URI` or
 * `TOKEN_X_WELL_KNOWN_URL`, with `TOKEN_X_CLIENT_ID` as the audience (TOKEN_X_ISSUER alone only sets
 * the client assertion's audience and accepts no tokens). Throws `ConfigError` naming the bad variable,
 * or when no selected issuer is configured.
 */
export function inboundIssuersFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  select: IssuerSelection = { idporten: true, tokenX: true },
): Pick<InboundOptions, 'idporten' | 'tokenX'> {
  const { read, url } = envReader(env)
  const result: Pick<InboundOptions, 'idporten' | 'tokenX'> = {}
  if (select.idporten) {
    const issuer = read('IDPORTEN_ISSUER')
    const jwksUri = url('IDPORTEN_JWKS_URI')
    const wellKnownUrl = url('IDPORTEN_WELL_KNOWN_URL')
    const audience = read('IDPORTEN_AUDIENCE')
    if (issuer !== undefined || jwksUri !== undefined || wellKnownUrl !== undefined) {
      if (issuer === undefined) throw new ConfigError('IDPORTEN_ISSUER must be set')
      if (jwksUri === undefined && wellKnownUrl === undefined)
        throw new ConfigError('IDPORTEN_JWKS_URI or IDPORTEN_WELL_KNOWN_URL must be set')
      if (audience === undefined) throw new ConfigError('IDPORTEN_AUDIENCE must be set')
      result.idporten = { issuer, audience, ...(jwksUri === undefined ? { wellKnownUrl } : { jwksUri }) }
    }
  }
  if (select.tokenX) {
    const jwksUri = url('TOKEN_X_JWKS_URI')
    const wellKnownUrl = url('TOKEN_X_WELL_KNOWN_URL')
    if (jwksUri !== undefined || wellKnownUrl !== undefined) {
      const issuer = read('TOKEN_X_ISSUER')
      const audience = read('TOKEN_X_CLIENT_ID')
      if (issuer === undefined) throw new ConfigError('TOKEN_X_ISSUER must be set')
      if (audience === undefined || !isClientId(audience)) throw new ConfigError('TOKEN_X_CLIENT_ID must be "cluster:namespace:app"')
      result.tokenX = { issuer, audience, ...(jwksUri === undefined ? { wellKnownUrl } : { jwksUri }) }
    }
  }
  if (result.idporten === undefined && result.tokenX === undefined) {
    const names = [
      select.idporten ? 'IDPORTEN_ISSUER (with IDPORTEN_JWKS_URI and IDPORTEN_AUDIENCE)' : '',
      select.tokenX ? 'TOKEN_X_JWKS_URI or TOKEN_X_WELL_KNOWN_URL' : '',
    ]
    throw new ConfigError(`inbound validation is on but no issuer is configured: set ${names.filter(Boolean).join(' or ')}`)
  }
  return result
}
