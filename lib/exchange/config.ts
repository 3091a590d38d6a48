/**
 * Options of the TokenX client: documented defaults, validation at construction, and the
 * `TOKEN_X_*` environment convention.
 */
import type { JWK } from 'jose'
import { ConfigError, InvalidOptionError } from '../errors.ts'
import type { FetchLike, SecretsManagerLike } from '../types.ts'
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
import { envReader, type EnvReader } from '../util/env.ts'
import { isTableName, resolveSharedCacheOptions, type SharedCacheOptions } from '../cache/shared.ts'
import type { PrivateJwkLoader } from './key.ts'
import { checkWellKnownUrl, checkWellKnownUrlVariable } from './discovery.ts'

/** Where the assertion's `aud` points. tokendings accepts both and says it will later accept only the issuer. */
export type AssertionAudience = 'token_endpoint' | 'issuer'

/** The request, cache and key options every token client takes (TokenX, Entra ID, Maskinporten). */
export interface TokenClientOptions {
  /**
   * Milliseconds from `iat` to `exp` of each client assertion, in whole seconds (a multiple of 1000).
   * Default 30000 (as texas); 1000–120000 (tokendings allows no more, and no skew).
   */
  assertionLifetime?: number
  /** Milliseconds one request to the token endpoint may take before it is aborted. Default 3000. */
  timeout?: number
  /**
   * How many times a failed attempt is retried (unreachable, timeout, 5xx only). Default 2; 0–10. The
   * one extra attempt with another key after the provider refuses ours is not counted here
   * (docs/configuration.md, "Retries").
   */
  retries?: number
  /** Milliseconds of the first retry's backoff; doubles per attempt, with jitter. Default 100. */
  retryBackoff?: number
  /**
   * Milliseconds before `expires_in` runs out at which a cached token is fetched anew. Default 120000
   * (texas); 0–3600000. A token that lives no longer than twice this is renewed at half its life.
   */
  renewBefore?: number
  /** How many tokens the cache holds; the least recently used goes first. Default 10000. */
  cacheMaxEntries?: number
  /**
   * Milliseconds a key loaded from Secrets Manager is used before it is loaded again (rotation).
   * Default 3600000; 1000–31536000000. A failed reload keeps the old key (docs/configuration.md).
   */
  keyMaxAge?: number
  /** Milliseconds the Secrets Manager request may take. Default 3000. */
  keyTimeout?: number
  /** Replaces the built-in HTTP client for calls to the token endpoint (tests, tracing). */
  fetch?: FetchLike | undefined
  /** Replaces the lazily created Secrets Manager client. */
  secretsManager?: SecretsManagerLike | undefined
  /** Current time in milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

/** The documented defaults of `TokenClientOptions`. */
export const tokenClientDefaults = Object.freeze({
  assertionLifetime: 30_000,
  timeout: 3000,
  retries: 2,
  retryBackoff: 100,
  renewBefore: 120_000,
  cacheMaxEntries: 10_000,
  keyMaxAge: 3_600_000,
  keyTimeout: 3000,
  clock: Date.now,
})

/** Every key of `TokenClientOptions`, for each client's list of known keys. */
export const tokenClientOptionKeys = optionKeys<TokenClientOptions>()(
  'assertionLifetime',
  'timeout',
  'retries',
  'retryBackoff',
  'renewBefore',
  'cacheMaxEntries',
  'keyMaxAge',
  'keyTimeout',
  'fetch',
  'secretsManager',
  'clock',
)

export interface TokenXOptions extends TokenClientOptions {
  /** Our client id at TokenX, `cluster:namespace:app` (`TOKEN_X_CLIENT_ID`). Required. */
  clientId: string
  /** TokenX's token endpoint URL (`TOKEN_X_TOKEN_ENDPOINT`). Required unless `wellKnownUrl` is given; wins over it. */
  tokenEndpoint?: string | undefined
  /** TokenX's issuer URL (`TOKEN_X_ISSUER`). Required when `assertionAudience` is `'issuer'`, unless `wellKnownUrl` gives it. */
  issuer?: string | undefined
  /**
   * TokenX's discovery document (`TOKEN_X_WELL_KNOWN_URL`, RFC 8414 or OpenID Connect Discovery):
   * without `tokenEndpoint`, the token endpoint and issuer are read from it on the first exchange
   * (lib/exchange/discovery.ts). Not read when `tokenEndpoint` is given.
   */
  wellKnownUrl?: string | undefined
  /**
   * The private RSA JWK (`TOKEN_X_PRIVATE_JWK`): inline, as JSON text or object; or a function that
   * loads it (`PrivateJwkLoader`: a key the application reads another way, such as Powertools
   * Parameters, with no Secrets Manager client in the kit), called as a Secrets Manager key is loaded.
   */
  privateJwk?: string | JWK | PrivateJwkLoader | undefined
  /** Name or ARN of a Secrets Manager secret whose SecretString is the JWK JSON (`TOKEN_X_PRIVATE_JWK_SECRET_ID`). */
  privateJwkSecretId?: string | undefined
  /**
   * The assertion's `aud` (`TOKEN_X_ASSERTION_AUDIENCE`): `'issuer'` (the default when `issuer` is set:
   * tokendings' README says `aud` "must be exactly equal to the issuer" and will stop accepting the
   * token endpoint) or `'token_endpoint'` (the default without `issuer`).
   */
  assertionAudience?: AssertionAudience
  /** Largest accepted subject token, in bytes. Default 16384. */
  maxSubjectTokenLength?: number
  /** The shared second cache level on DynamoDB (lib/cache/shared.ts; `TOKEN_X_CACHE_TABLE`). Default: off. */
  sharedCache?: SharedCacheOptions | undefined
}

/** What `client.options.privateJwk` says of an inline key: the key itself is never shown. */
export const REDACTED_KEY = '[redacted]'

/**
 * The options in force (`client.options`), defaults applied. An inline `privateJwk` shows as
 * `'[redacted]'`: the key is held where neither `JSON.stringify` nor `util.inspect` can reach it.
 */
export type ResolvedTokenXOptions = Readonly<
  Required<
    Omit<
      TokenXOptions,
      'tokenEndpoint' | 'issuer' | 'wellKnownUrl' | 'privateJwk' | 'privateJwkSecretId' | 'fetch' | 'secretsManager' | 'sharedCache'
    >
  > &
    Pick<TokenXOptions, 'tokenEndpoint' | 'issuer' | 'wellKnownUrl' | 'privateJwkSecretId' | 'fetch' | 'secretsManager' | 'sharedCache'> & {
      privateJwk?: typeof REDACTED_KEY | undefined
    }
>

/** `resolveOptions`' answer: the options in force with the inline key itself, for the key loader only. */
export type ResolvedWithKey = Readonly<Omit<ResolvedTokenXOptions, 'privateJwk'> & Pick<TokenXOptions, 'privateJwk'>>

export const defaults = Object.freeze({
  ...tokenClientDefaults,
  assertionAudience: 'token_endpoint' as AssertionAudience,
  maxSubjectTokenLength: 16_384,
})

/** The keys that name the client, its token endpoint and its key, which every token client takes (each types and documents them its own way). */
export const clientIdentityKeys = ['clientId', 'tokenEndpoint', 'issuer', 'wellKnownUrl', 'privateJwk', 'privateJwkSecretId'] as const

/** Every key of `TokenXOptions`, in one list: any other key is refused (a typo must not pass silently). */
export const tokenXOptionKeys = optionKeys<TokenXOptions>()(
  ...clientIdentityKeys,
  'assertionAudience',
  'maxSubjectTokenLength',
  'sharedCache',
  ...tokenClientOptionKeys,
)

/**
 * Merges `options` over `defaults` and checks every option; throws `TypeError` naming the bad one.
 * The answer holds the inline key: hand it to the key loader, and show only `withoutKey` of it.
 */
export function resolveOptions(options: TokenXOptions): ResolvedWithKey {
  checkOptionsObject('options', options)
  checkKnownKeys(options, tokenXOptionKeys)
  // With TokenX's issuer known, address assertions to it (see `assertionAudience`).
  const discovers = options.tokenEndpoint === undefined && options.wellKnownUrl !== undefined
  const audienceDefault: AssertionAudience = options.issuer !== undefined || discovers ? 'issuer' : defaults.assertionAudience
  const resolved = { ...defaults, assertionAudience: audienceDefault, ...withoutUndefined(options) }
  if (!isClientId(resolved.clientId)) {
    throw new InvalidOptionError('clientId', 'must be "cluster:namespace:app"')
  }
  if (resolved.tokenEndpoint === undefined && resolved.wellKnownUrl === undefined)
    throw new InvalidOptionError('tokenEndpoint', 'or wellKnownUrl is required')
  if (resolved.tokenEndpoint !== undefined) checkUrl('tokenEndpoint', resolved.tokenEndpoint)
  if (resolved.issuer !== undefined) checkUrl('issuer', resolved.issuer)
  if (resolved.wellKnownUrl !== undefined) checkWellKnownUrl('wellKnownUrl', resolved.wellKnownUrl)
  if (resolved.assertionAudience !== 'token_endpoint' && resolved.assertionAudience !== 'issuer') {
    throw new InvalidOptionError('assertionAudience', 'must be "token_endpoint" or "issuer"')
  }
  if (resolved.assertionAudience === 'issuer' && resolved.issuer === undefined && !discovers) {
    throw new InvalidOptionError('assertionAudience', '"issuer" needs issuer')
  }
  checkKeyAndRequestOptions(resolved, true)
  checkInteger('maxSubjectTokenLength', resolved.maxSubjectTokenLength, 64, 1_048_576)
  if (resolved.sharedCache !== undefined) resolved.sharedCache = resolveSharedCacheOptions(resolved.sharedCache)
  return Object.freeze(resolved) as ResolvedWithKey
}

/** The key and request options every token client takes (TokenX, Entra ID, Maskinporten), with defaults applied. */
interface KeyAndRequestOptions {
  readonly privateJwk?: unknown
  readonly privateJwkSecretId?: unknown
  readonly assertionLifetime: number
  readonly timeout: number
  readonly retries: number
  readonly retryBackoff: number
  readonly renewBefore: number
  readonly cacheMaxEntries: number
  readonly keyMaxAge: number
  readonly keyTimeout: number
  readonly clock: unknown
  readonly fetch?: unknown
  readonly secretsManager?: { readonly send?: unknown } | undefined
}

/**
 * The signing key's source in the environment: exactly one of the inline JWK variable `jwkName` and
 * the Secrets Manager secret id variable `secretIdName`; a `ConfigError` naming both otherwise.
 */
export function keySourceFromEnv(
  read: EnvReader['read'],
  jwkName: string,
  secretIdName: string,
): { readonly privateJwk: string | undefined; readonly privateJwkSecretId: string | undefined } {
  const privateJwk = read(jwkName)
  const privateJwkSecretId = read(secretIdName)
  if (privateJwk === undefined && privateJwkSecretId === undefined) throw new ConfigError(`${jwkName} or ${secretIdName} must be set`)
  if (privateJwk !== undefined && privateJwkSecretId !== undefined) throw new ConfigError(`set only one of ${jwkName} and ${secretIdName}`)
  return { privateJwk, privateJwkSecretId }
}

/**
 * Checks the options every token client shares: exactly one key source, and each duration and count
 * within its documented range. `loader`: whether `privateJwk` may be a function that loads the key.
 * Throws `InvalidOptionError` naming the bad one.
 */
export function checkKeyAndRequestOptions(resolved: KeyAndRequestOptions, loader: boolean): void {
  const hasJwk = resolved.privateJwk !== undefined
  const hasSecret = resolved.privateJwkSecretId !== undefined
  if (hasJwk === hasSecret) throw new InvalidOptionError('privateJwk', 'or privateJwkSecretId is required, exactly one of them')
  if (hasSecret && (typeof resolved.privateJwkSecretId !== 'string' || resolved.privateJwkSecretId.trim() === '')) {
    throw new InvalidOptionError('privateJwkSecretId', 'must be a non-empty string')
  }
  const jwk: unknown = resolved.privateJwk
  if (
    hasJwk &&
    typeof jwk !== 'string' &&
    !(loader && typeof jwk === 'function') &&
    (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk))
  ) {
    throw new InvalidOptionError(
      'privateJwk',
      loader ? 'must be JWK JSON text, a JWK object or a function that loads it' : 'must be JWK JSON text or a JWK object',
    )
  }
  // `{ ...client.options }` carries the placeholder, not the key: say so now, not at the first request.
  if (jwk === REDACTED_KEY)
    throw new InvalidOptionError('privateJwk', 'is the "[redacted]" placeholder of client.options; pass the key itself')
  checkInteger('assertionLifetime', resolved.assertionLifetime, 1000, 120_000)
  if (resolved.assertionLifetime % 1000 !== 0)
    throw new InvalidOptionError('assertionLifetime', 'must be whole seconds (a multiple of 1000 ms)')
  checkInteger('timeout', resolved.timeout, 1, 60_000)
  checkInteger('retries', resolved.retries, 0, 10)
  checkInteger('retryBackoff', resolved.retryBackoff, 0, 10_000)
  checkInteger('renewBefore', resolved.renewBefore, 0, 3_600_000)
  checkInteger('cacheMaxEntries', resolved.cacheMaxEntries, 1, 10_000_000)
  checkInteger('keyMaxAge', resolved.keyMaxAge, 1000, 31_536_000_000)
  checkInteger('keyTimeout', resolved.keyTimeout, 1, 60_000)
  checkFunction('clock', resolved.clock, false)
  checkFunction('fetch', resolved.fetch)
  if (resolved.secretsManager !== undefined && typeof resolved.secretsManager?.send !== 'function') {
    throw new InvalidOptionError('secretsManager', 'must have a send() method')
  }
}

/** `resolved` as `client.options` shows it (any token client's): the inline key replaced by `'[redacted]'`. */
export function withoutKey<T extends { readonly privateJwk?: unknown }>(
  resolved: T,
): Readonly<Omit<T, 'privateJwk'> & { privateJwk?: typeof REDACTED_KEY | undefined }> {
  const { privateJwk, ...rest } = resolved
  return Object.freeze(privateJwk === undefined ? rest : { ...rest, privateJwk: REDACTED_KEY })
}

/**
 * Reads the `TOKEN_X_*` variables. Throws `ConfigError` naming the variable that is missing or
 * malformed; values are never echoed (one of them is a private key).
 */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): TokenXOptions {
  const { read, required, url } = envReader(env)
  const clientId = required('TOKEN_X_CLIENT_ID')
  if (!isClientId(clientId)) throw new ConfigError('TOKEN_X_CLIENT_ID must be "cluster:namespace:app"')
  const tokenEndpoint = url('TOKEN_X_TOKEN_ENDPOINT')
  // Explicit variables win: with TOKEN_X_TOKEN_ENDPOINT set, the discovery document is not read.
  const wellKnownUrl = tokenEndpoint === undefined ? read('TOKEN_X_WELL_KNOWN_URL') : undefined
  if (tokenEndpoint === undefined && wellKnownUrl === undefined)
    throw new ConfigError('TOKEN_X_TOKEN_ENDPOINT or TOKEN_X_WELL_KNOWN_URL must be set')
  if (wellKnownUrl !== undefined) checkWellKnownUrlVariable('TOKEN_X_WELL_KNOWN_URL', wellKnownUrl)
  const issuer = url('TOKEN_X_ISSUER')
  const assertionAudience = read('TOKEN_X_ASSERTION_AUDIENCE')
  if (assertionAudience !== undefined && assertionAudience !== 'token_endpoint' && assertionAudience !== 'issuer') {
    throw new ConfigError('TOKEN_X_ASSERTION_AUDIENCE must be "token_endpoint" or "issuer"')
  }
  if (assertionAudience === 'issuer' && issuer === undefined && wellKnownUrl === undefined) {
    throw new ConfigError('TOKEN_X_ASSERTION_AUDIENCE=issuer needs TOKEN_X_ISSUER')
  }
  const { privateJwk, privateJwkSecretId } = keySourceFromEnv(read, 'TOKEN_X_PRIVATE_JWK', 'TOKEN_X_PRIVATE_JWK_SECRET_ID')
  const cacheTable = read('TOKEN_X_CACHE_TABLE')
  if (cacheTable !== undefined && !isTableName(cacheTable))
    throw new ConfigError('TOKEN_X_CACHE_TABLE must be a DynamoDB table name or ARN')
  const budget = (name: string): { readonly [key: string]: number } => {
    const value = read(name)
    if (value === undefined) return {}
    const ms = Number(value)
    if (!Number.isInteger(ms) || ms < 1 || ms > 5000) throw new ConfigError(`${name} must be a whole number of milliseconds from 1 to 5000`)
    return { [name === 'TOKEN_X_CACHE_READ_TIMEOUT' ? 'readTimeout' : 'writeTimeout']: ms }
  }
  const budgets = { ...budget('TOKEN_X_CACHE_READ_TIMEOUT'), ...budget('TOKEN_X_CACHE_WRITE_TIMEOUT') }
  const sharedCache = cacheTable === undefined ? {} : { sharedCache: { table: cacheTable, ...budgets } }
  return {
    clientId,
    tokenEndpoint,
    issuer,
    ...(wellKnownUrl === undefined ? {} : { wellKnownUrl }),
    privateJwk,
    privateJwkSecretId,
    ...(assertionAudience ? { assertionAudience } : {}),
    ...sharedCache,
  }
}
