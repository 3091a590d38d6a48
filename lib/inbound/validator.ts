/**
 * Inbound validation: is the caller's token one we accept? Picks the configured issuer by the token's
 * `iss` (before any signature check, so that a token names no URL we would fetch), checks the
 * registered claims, verifies the RS256 signature with that issuer's keys only, then the calling app
 * (`client_id` allow-list) and the login level (`acr`). Runs before any key load or exchange.
 *
 * A token that passed is remembered by its SHA-256 (bounded), so a warm invocation with the same token
 * costs one map look-up: the middleware hashes the token once per invocation, for this cache and the
 * token cache (`rememberedClaims`, `validateDigested`). It is remembered until its `exp`, for at most
 * `verifiedCacheMaxAge`, and only while the issuer's key set in use holds the key that verified it:
 * once a fetched JWKS no longer has that key, the token is verified again (and refused). The bounded
 * lifetime makes that happen in an environment that serves only remembered tokens too, whose JWKS
 * would otherwise never be fetched again.
 */
import { subjectDigest } from '../cache/memory.ts'
import { acrValuesFor, satisfiesAcr } from './acr.ts'
import {
  BearerTokenError,
  ConfigError,
  ForbiddenCallerError,
  InsufficientAcrError,
  InvalidOptionError,
  JwksError,
  safeErrorName,
  translate,
} from '../errors.ts'
import { publish } from '../events.ts'
import {
  inboundIssuersFromEnv,
  resolveInboundOptions,
  type InboundIssuer,
  type IssuerSelection,
  type InboundOptions,
  type ResolvedInboundOptions,
} from './config.ts'
import { createIssuerKeys, failedFast, type IssuerKeys } from './jwks.ts'
import type { KeyObject } from 'node:crypto'
import { checkClaims, decodeJwt, TokenRefusal, verifySignature, type DecodedJwt } from './verify.ts'
import { sleep } from '../util/abort.ts'

/** Which configured issuer a token came from. */
export type TokenSource = 'idporten' | 'tokenx'

/**
 * The claims of a verified token, for the handler. Never built from an unverified token. Holds the
 * citizen's identity (`pid`): do not log it.
 */
export interface VerifiedClaims {
  /** Which configured issuer signed it. */
  readonly source: TokenSource
  readonly iss: string
  readonly sub: string | undefined
  readonly aud: string | readonly string[]
  /** Seconds since the epoch. */
  readonly exp: number
  /** Seconds since the epoch, when present. */
  readonly iat: number | undefined
  /** The citizen's national identity number. */
  readonly pid: string | undefined
  /** The login level, e.g. `idporten-loa-high` or `Level4`. */
  readonly acr: string | undefined
  /** The app that obtained the token (ID-porten: the login client; TokenX: the calling app). */
  readonly client_id: string | undefined
  /** TokenX tokens: the issuer of the original citizen token. */
  readonly idp: string | undefined
  readonly jti: string | undefined
  /** Every claim of the verified token. */
  readonly claims: Readonly<Record<string, unknown>>
}

export interface InboundValidator {
  /**
   * The verified claims of `token`. Throws `BearerTokenError` (401) for a token we do not accept,
   * `InsufficientAcrError` (401, step-up) for a login level too low, `ForbiddenCallerError` (403) for
   * an app not on the allow-list, and `JwksError` (5xx) when the issuer's keys cannot be had.
   * `deadline.signal` is read only when a fetch is needed (it may be a lazy getter).
   */
  validate(token: string, deadline?: { readonly signal: AbortSignal | undefined }): Promise<VerifiedClaims>
  readonly options: ResolvedInboundOptions
}

interface Issuer {
  readonly source: TokenSource
  readonly config: InboundIssuer
  readonly keys: IssuerKeys
}

/** A token verified before: its claims, until when they are served, and the key that verified them. */
interface Verified {
  readonly claims: VerifiedClaims
  /** Milliseconds since the epoch: the token's `exp`, or `verifiedCacheMaxAge` after verification if sooner. */
  readonly until: number
  readonly keys: IssuerKeys
  readonly kid: string | undefined
  readonly key: KeyObject
  /** `keys.generation` when the issuer's key set was last seen to hold `key`. */
  generation: number
}

/** Builds a validator; throws `TypeError` for a bad option. Nothing is fetched until the first token. */
export function createInboundValidator(options: InboundOptions): InboundValidator {
  const resolved = resolveInboundOptions(options)
  const issuers = new Map<string, Issuer>()
  const addIssuer = (source: TokenSource, config: InboundIssuer | undefined): void => {
    if (config === undefined) return
    const keys = createIssuerKeys({
      issuer: config.issuer,
      jwksUri: config.jwksUri,
      wellKnownUrl: config.jwksUri === undefined ? config.wellKnownUrl : undefined,
      timeout: resolved.jwksTimeout,
      cooldown: resolved.jwksCooldown,
      failureCooldown: resolved.jwksFailureCooldown,
      maxAge: resolved.jwksMaxAge,
      fetch: resolved.fetch,
      clock: resolved.clock,
    })
    issuers.set(config.issuer, Object.freeze({ source, config, keys }))
  }
  addIssuer('idporten', resolved.idporten)
  addIssuer('tokenx', resolved.tokenX)
  // Verified tokens by their SHA-256.
  const verified = new Map<string, Verified>()
  const { clock, clockTolerance: leeway, minimumAcr, allowedClients, maxTokenLength, verifiedCacheMaxAge } = resolved

  const refuse = (reason: string, issuer?: string): BearerTokenError => {
    publish('validation.refused', () => ({ code: 'ERR_BEARER_TOKEN', reason, issuer }))
    return new BearerTokenError(`the bearer token was refused: ${reason}`)
  }

  const refusal = (err: unknown, issuer: Issuer | undefined): unknown =>
    err instanceof TokenRefusal ? refuse(err.message, issuer?.config.issuer) : err

  /** A token whose signature checks out, to remember; synchronous when the issuer's key is at hand. */
  const verify = (token: string, deadline: { readonly signal: AbortSignal | undefined } | undefined): Verified | Promise<Verified> => {
    let issuer: Issuer | undefined
    try {
      const jwt = decodeJwt(token)
      const iss = jwt.payload['iss']
      issuer = typeof iss === 'string' ? issuers.get(iss) : undefined
      if (issuer === undefined) throw new TokenRefusal('unknown issuer')
      // Claims before the signature: an expired or misaddressed token costs no JWKS fetch.
      const exp = checkClaims(jwt.payload, { issuer: issuer.config.issuer, audience: issuer.config.audience, now: clock(), leeway })
      // Taken before the look-up: a set replaced while it waits is checked (`holds`) at the first hit.
      const generation = issuer.keys.generation
      const known = issuer.keys.cached(jwt.kid)
      if (known !== undefined) return signed(jwt, known, issuer, exp, generation)
      const from = issuer
      return keyWithRetry(from.keys, jwt.kid, deadline, resolved.jwksRetries).then((key) => {
        try {
          if (key === null) throw new TokenRefusal('unknown kid')
          return signed(jwt, key, from, exp, generation)
        } catch (err) {
          throw refusal(err, from)
        }
      })
    } catch (err) {
      throw refusal(err, issuer)
    }
  }

  const admit = (claims: VerifiedClaims): void => {
    // The calling app first: a citizen logging in again at a higher level would not help it.
    if (allowedClients !== undefined && (claims.client_id === undefined || !allowedClients.includes(claims.client_id))) {
      publish('validation.refused', () => ({ code: 'ERR_CALLER_NOT_ALLOWED', reason: 'caller not allowed', issuer: claims.iss }))
      throw new ForbiddenCallerError('the calling application is not on the allow-list')
    }
    if (minimumAcr !== undefined && !satisfiesAcr(claims.acr, minimumAcr)) {
      publish('validation.refused', () => ({ code: 'ERR_INSUFFICIENT_ACR', reason: 'acr too low', issuer: claims.iss }))
      throw new InsufficientAcrError(`the login level is below ${minimumAcr}`, { acrValues: acrValuesFor(minimumAcr) })
    }
  }

  const signed = (jwt: DecodedJwt, key: KeyObject, issuer: Issuer, exp: number, generation: number): Verified => ({
    claims: signedClaims(jwt, key, issuer.source, exp),
    until: Math.min(exp * 1000, clock() + verifiedCacheMaxAge),
    keys: issuer.keys,
    kid: jwt.kid,
    key,
    generation,
  })

  /**
   * The claims verified before for the token with `digest`: while unexpired, within its verification
   * lifetime, and while the issuer's key set still holds the key that verified it (checked only when
   * that set has changed since: a warm hit is a look-up and two comparisons).
   */
  const remembered = (digest: string): VerifiedClaims | undefined => {
    const entry = verified.get(digest)
    if (entry === undefined) return undefined
    if (clock() < entry.until && (entry.generation === entry.keys.generation || stillHeld(entry))) return entry.claims
    verified.delete(digest)
    return undefined
  }

  const validate = async (
    token: string,
    digest: string | undefined,
    deadline: { readonly signal: AbortSignal | undefined } | undefined,
  ): Promise<VerifiedClaims> => {
    if (typeof token !== 'string' || token.length > maxTokenLength) throw refuse('too long')
    const key = digest ?? subjectDigest(token)
    const known = remembered(key)
    if (known !== undefined) return known
    const verifying = verify(token, deadline)
    // Awaited only when a key had to be fetched: the warm path stays free of extra microtask hops.
    const entry = verifying instanceof Promise ? await verifying : verifying
    admit(entry.claims)
    if (verified.size >= resolved.verifiedCacheMaxEntries) {
      // Oldest first (insertion order): bounded, and a flood of new tokens cannot grow it.
      const oldest = verified.keys().next()
      if (oldest.done !== true) verified.delete(oldest.value)
    }
    verified.set(key, entry)
    return entry.claims
  }

  const validator: InboundValidator = {
    options: resolved,
    validate: (token, deadline) => validate(token, undefined, deadline),
  }
  internals.set(validator, { remembered, validate })
  return validator
}

/** What the middleware uses of a validator the kit made: the token's digest, computed once per invocation. */
interface ValidatorInternals {
  remembered(digest: string): VerifiedClaims | undefined
  validate(token: string, digest: string, deadline: { readonly signal: AbortSignal | undefined } | undefined): Promise<VerifiedClaims>
}

const internals = new WeakMap<InboundValidator, ValidatorInternals>()

/**
 * The claims `validator` verified before for the token whose `subjectDigest` is `digest` (and has
 * admitted: allow-list, login level), while the token is unexpired; `undefined` otherwise, or for a
 * validator the kit did not make. Synchronous: a warm invocation needs no promise for it.
 */
export function rememberedClaims(validator: InboundValidator, digest: string): VerifiedClaims | undefined {
  return internals.get(validator)?.remembered(digest)
}

/** `validator.validate`, reusing the token's `digest` when the kit made the validator. */
export function validateDigested(
  validator: InboundValidator,
  token: string,
  digest: string,
  deadline: { readonly signal: AbortSignal | undefined } | undefined,
): Promise<VerifiedClaims> {
  const own = internals.get(validator)
  return own === undefined ? validator.validate(token, deadline) : own.validate(token, digest, deadline)
}

/**
 * The key for `kid`; an unreachable JWKS is tried again (`retries` times, 100 ms apart) within the
 * deadline. An answer from the failure cooldown (no fetch was made) is final: the endpoint just failed.
 */
async function keyWithRetry(
  keys: IssuerKeys,
  kid: string | undefined,
  deadline: { readonly signal: AbortSignal | undefined } | undefined,
  retries: number,
) {
  let previous: unknown
  for (let attempt = 0; ; attempt++) {
    try {
      return await keys.key({ alg: 'RS256', kid }, deadline, previous)
    } catch (err) {
      if (!(err instanceof JwksError) || !err.retryable || err.code === 'ERR_JWKS_TIMEOUT' || attempt >= retries || failedFast(err))
        throw err
      previous = err
      if (aborted(deadline)) throw err
      await sleep(100)
      if (aborted(deadline)) throw err
    }
  }
}

/** Whether the issuer's key set, replaced since `entry` was last checked, still holds its key; re-stamps it if so. */
function stillHeld(entry: Verified): boolean {
  if (!entry.keys.holds(entry.kid, entry.key)) return false
  entry.generation = entry.keys.generation
  return true
}

function signedClaims(jwt: DecodedJwt, key: KeyObject, source: TokenSource, exp: number): VerifiedClaims {
  if (!verifySignature(jwt, key)) throw new TokenRefusal('bad signature')
  return claimsOf(source, jwt.payload, exp)
}

function aborted(deadline: { readonly signal: AbortSignal | undefined } | undefined): boolean {
  return deadline?.signal?.aborted === true
}

function text(payload: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = payload[name]
  return typeof value === 'string' ? value : undefined
}

function claimsOf(source: TokenSource, payload: Readonly<Record<string, unknown>>, exp: number): VerifiedClaims {
  const aud = payload['aud'] as string | string[]
  const iat = payload['iat']
  return Object.freeze({
    source,
    iss: payload['iss'] as string,
    sub: text(payload, 'sub'),
    aud: Array.isArray(aud) ? Object.freeze([...aud]) : aud,
    exp,
    iat: typeof iat === 'number' ? iat : undefined,
    pid: text(payload, 'pid'),
    acr: text(payload, 'acr'),
    client_id: text(payload, 'client_id'),
    idp: text(payload, 'idp'),
    jti: text(payload, 'jti'),
    // A fresh object from JSON.parse, held by nothing else.
    claims: Object.freeze(payload),
  })
}

/**
 * A validator with `given` options and the issuers from `env` (see `inboundIssuersFromEnv`); a bad or
 * missing variable is a `ConfigError` (answered 500), never a `TypeError` in the init phase.
 */
export function inboundFromEnv(
  given: InboundOptions,
  env: Readonly<Record<string, string | undefined>>,
  select: IssuerSelection = { idporten: true, tokenX: true },
): InboundValidator {
  try {
    return createInboundValidator({ ...given, ...inboundIssuersFromEnv(env, select) })
  } catch (err) {
    throw translate(
      err,
      (foreign) =>
        new ConfigError(
          `the inbound validation configuration is invalid: ${foreign instanceof InvalidOptionError ? foreign.message : safeErrorName(foreign)}`,
          { cause: foreign },
        ),
    )
  }
}

/**
 * The validator for `option` (`inbound` of `tokenX()`, or the API side's options), or `undefined` when
 * inbound validation is off. Options in code are checked now (`TypeError`); issuers from the
 * environment (those `select` allows) are read on first use (`ConfigError`).
 */
export function inboundValidatorGetter(
  option: InboundOptions,
  env: () => Readonly<Record<string, string | undefined>>,
  select?: IssuerSelection,
): () => InboundValidator
export function inboundValidatorGetter(
  option: boolean | InboundOptions | InboundValidator | undefined,
  env: () => Readonly<Record<string, string | undefined>>,
  select?: IssuerSelection,
): (() => InboundValidator) | undefined
export function inboundValidatorGetter(
  option: boolean | InboundOptions | InboundValidator | undefined,
  env: () => Readonly<Record<string, string | undefined>>,
  select?: IssuerSelection,
): (() => InboundValidator) | undefined {
  if (option === undefined || option === false) return undefined
  if (option !== true && (option === null || typeof option !== 'object'))
    throw new InvalidOptionError('inbound', 'must be a boolean, inbound options or a validator')
  if (option !== true && typeof (option as InboundValidator).validate === 'function') {
    const validator = option as InboundValidator
    return () => validator
  }
  const given: InboundOptions = option === true ? {} : (option as InboundOptions)
  if (given.idporten !== undefined || given.tokenX !== undefined) {
    const validator = createInboundValidator(given)
    return () => validator
  }
  resolveInboundOptions(given, { requireIssuer: false })
  let validator: InboundValidator | undefined
  return () => {
    validator ??= inboundFromEnv(given, env(), select)
    return validator
  }
}
