/**
 * One issuer's signing keys: found through OpenID Connect discovery (OpenID Connect Discovery 1.0 §4)
 * or given as a JWKS URI, fetched lazily on the first token, cached across warm invocations, fetched
 * again at most once per cooldown when a token names an unknown `kid` (the issuer rotated its key),
 * and with a timeout on every fetch. After a failed fetch, lookups that would fetch fail fast for
 * `failureCooldown` instead of each waiting on an endpoint that is down; keys at hand keep working.
 *
 * The JWKS itself is jose's `createRemoteJWKSet` (cooldown, max age, timeout, one fetch in flight),
 * fetched through our `fetch` so that its body, as a discovery document's, is read within 256 KiB;
 * its errors are translated here: an unknown `kid` is the token's fault (`null` is returned, the caller
 * answers 401), a JWKS or discovery endpoint that is down, slow or broken is ours (`JwksError`, 5xx).
 *
 * `generation` counts the key sets put in use, and `holds` says whether the set in use still has a
 * given key: what lets a verification remembered earlier (inbound.ts) be dropped once the issuer has
 * removed the key that made it, at the cost of one comparison per warm look-up.
 */
import { createPublicKey, KeyObject } from 'node:crypto'
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwksCache, type JWKSCacheInput } from 'jose'
import { JwksError, safeErrorName, TokenXError } from '../errors.ts'
import { publish } from '../events.ts'
import { AnswerTooLargeError, DocumentError, getJsonObject, readLimited } from '../util/http.ts'
import type { FetchLike } from '../types.ts'
import { untilAborted } from '../util/abort.ts'
import { isSafeUrlString } from '../util/url.ts'

export interface IssuerKeysOptions {
  /** The issuer (`iss`) whose keys these are. */
  readonly issuer: string
  /** The JWKS URL. Exactly one of `jwksUri` and `wellKnownUrl`. */
  readonly jwksUri?: string | undefined
  /** The discovery document's URL; its `issuer` must equal `issuer`, its `jwks_uri` is used. */
  readonly wellKnownUrl?: string | undefined
  /** Milliseconds each fetch (discovery, JWKS) may take. */
  readonly timeout: number
  /** Milliseconds after a JWKS fetch during which an unknown `kid` does not cause another. */
  readonly cooldown: number
  /** Milliseconds a fetched JWKS is used before it is fetched again. */
  readonly maxAge: number
  /**
   * Milliseconds after a failed discovery or JWKS fetch during which a lookup that would fetch fails
   * fast with that failure's `JwksError` code instead (0: no failure cooldown). Lookups that need no
   * fetch (a fresh key set that has the `kid`) are never affected.
   */
  readonly failureCooldown: number
  /**
   * Milliseconds since the epoch, for the failure cooldown. Default `Date.now`. (jose times `maxAge`
   * and `cooldown` on its own `Date.now`, which takes no clock: tests fake those with fake timers.)
   */
  readonly clock?: (() => number) | undefined
  /** Default `globalThis.fetch`. */
  readonly fetch?: FetchLike | undefined
}

/** The `kid` and `alg` of a token's protected header: all that is used to pick a key. */
export interface KeyHint {
  readonly kid?: string | undefined
  readonly alg: 'RS256'
}

export interface IssuerKeys {
  readonly issuer: string
  /**
   * The verification key for `hint`, or `null` when the issuer has no such key (after at most one
   * refetch per cooldown). Throws `JwksError` when the keys cannot be had; stops waiting when
   * `deadline.signal` aborts (the fetch itself ends by its own timeout). `deadline.signal` is read
   * only when a fetch may be needed, so it may be a getter that creates the signal lazily.
   *
   * Within `failureCooldown` of a failed fetch, a lookup that would fetch rejects at once with a
   * `JwksError` of the failure's code (`failedFast(err)` is true), unless `retryOf` is the error this
   * caller got from that very failure: a caller's own retry (see validator.ts) is still made.
   */
  key(hint: KeyHint, deadline?: { readonly signal: AbortSignal | undefined }, retryOf?: unknown): Promise<KeyObject | null>
  /**
   * The key for `kid` without waiting, when the JWKS is fresh and the key was handed out before;
   * otherwise `undefined` (then call `key`). The warm path's shortcut past jose's asynchronous look-up.
   */
  cached(kid: string | undefined): KeyObject | undefined
  /**
   * How many fetched key sets have been put in use (0 before the first). It changes exactly when the
   * set `holds` answers from is replaced; between two changes, `holds` answers the same.
   */
  readonly generation: number
  /** Whether the key set in use has `key` as an RS256 verification key (under `kid`, when given). */
  holds(kid: string | undefined, key: KeyObject): boolean
}

type JwksCode = ConstructorParameters<typeof JwksError>[0]

/** Errors thrown by the failure cooldown without any fetch. */
const failedFastErrors = new WeakSet<object>()
/**
 * What each failed fetch's error was made from: the foreign error jose or the fetch threw, which the
 * error itself does not keep (its `cause` is a name-and-code stand-in, errors.ts). Callers that waited
 * on the same fetch each get their own error from the same foreign one.
 */
const rawOf = new WeakMap<object, unknown>()

/** Whether `err` was thrown by a failure cooldown (no fetch was made for it): retrying at once is pointless. */
export function failedFast(err: unknown): boolean {
  return typeof err === 'object' && err !== null && failedFastErrors.has(err)
}

/** A discovery document or a JWKS is a few KB; anything much larger is not one. */
const MAX_DOCUMENT_BYTES = 256 * 1024

export function createIssuerKeys(options: IssuerKeysOptions): IssuerKeys {
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const issuer = options.issuer
  // Keys handed out, by kid, since the last JWKS fetch: any fetch (rotation, max age) empties it.
  const byKid = new Map<string, KeyObject>()
  // Every fetch made for this issuer: a 200's body read here, within the cap (jose would read a
  // chunked answer whole with `response.json()`), and one `jwks.fetch` event once the body
  // is in, or not (a body that is too large or stops coming is a failed fetch). jose's timeout
  // signal aborts the read too.
  const observedFetch: FetchLike = async (input, init) => {
    const started = performance.now()
    const report = (ok: boolean, err?: unknown): void =>
      publish('jwks.fetch', () => ({
        issuer,
        durationMs: performance.now() - started,
        ok,
        ...(err === undefined ? {} : { errorName: safeErrorName(err) }),
      }))
    let response: Response
    try {
      response = await fetchImpl(input, init)
    } catch (err) {
      report(false, err)
      throw err
    }
    byKid.clear()
    // jose reads nothing of another status (it throws); discovery cancels it.
    if (response.status !== 200) {
      report(false)
      return response
    }
    try {
      const text = await readLimited(response, MAX_DOCUMENT_BYTES)
      report(true)
      return new Response(text, { status: 200, headers: { 'content-type': response.headers.get('content-type') ?? 'application/json' } })
    } catch (err) {
      report(false, err)
      throw err
    }
  }

  const limitedFetch: FetchLike = async (input, init) => {
    try {
      return await observedFetch(input, init)
    } catch (err) {
      if (err instanceof AnswerTooLargeError) throw new JwksError('ERR_JWKS_INVALID', 'the JWKS is too large', { cause: err })
      throw err
    }
  }

  // The key set in use, as jose writes it into its `jwksCache` object (meant for persisting the set)
  // each time it puts a fetched set in use: observing that write says exactly when the set changed,
  // without the clone that jose's `jwks()` makes per call.
  let inUse: unknown
  // Its verification keys, imported on the first `holds` after each change: by kid, and all under ''.
  let verifiers: Map<string, KeyObject[]> | undefined
  const observed = {
    uat: undefined as number | undefined,
    get jwks(): unknown {
      return inUse
    },
    set jwks(value: unknown) {
      inUse = value
      verifiers = undefined
      issuerKeys.generation += 1
    },
  }

  type RemoteSet = ReturnType<typeof createRemoteJWKSet>
  let remote: Promise<RemoteSet> | undefined
  const remoteSet = (): Promise<RemoteSet> => {
    remote ??= jwksUrl().then((url) =>
      createRemoteJWKSet(url, {
        timeoutDuration: options.timeout,
        cooldownDuration: options.cooldown,
        cacheMaxAge: options.maxAge,
        [customFetch]: limitedFetch,
        [jwksCache]: observed as unknown as JWKSCacheInput,
      }),
    )
    // Never cache a failure: the next token tries discovery again.
    remote.catch(() => {
      remote = undefined
    })
    return remote
  }

  const jwksUrl = async (): Promise<URL> => {
    if (options.jwksUri !== undefined) return new URL(options.jwksUri)
    const document = await fetchDiscovery(observedFetch, options.wellKnownUrl as string, options.timeout)
    // OpenID Connect Discovery 1.0 §4.3: the issuer in the document must be exactly the one expected.
    if (document['issuer'] !== issuer) throw new JwksError('ERR_JWKS_INVALID', 'the discovery document names another issuer')
    const uri = document['jwks_uri']
    // A cleartext jwks_uri off loopback would let anyone on the path hand us the keys that decide which tokens are genuine.
    if (!isSafeUrlString(uri)) throw new JwksError('ERR_JWKS_INVALID', 'the discovery document has no usable jwks_uri')
    return new URL(uri)
  }

  // jose imports each JWK once and hands out the same CryptoKey; node:crypto verifies with a KeyObject.
  const keyObjects = new WeakMap<object, KeyObject>()

  // The set once discovery is done, so that a warm lookup can tell whether it may have to fetch.
  let ready: RemoteSet | undefined
  // The last failed fetch: what it threw (shared by every caller that waited on it) and its error code.
  const clock = options.clock ?? Date.now
  let failure: { readonly raw: unknown; readonly code: JwksCode; readonly until: number } | undefined
  const failed = (raw: unknown, err: TokenXError): TokenXError => {
    rawOf.set(err, raw)
    if (err instanceof JwksError && options.failureCooldown > 0) {
      failure = { raw, code: err.code as JwksCode, until: clock() + options.failureCooldown }
    }
    return err
  }
  /** The fail-fast error when a lookup that may fetch falls within the failure cooldown. */
  const coolingDownAfterFailure = (retryOf: unknown): JwksError | undefined => {
    if (failure === undefined) return undefined
    if (clock() >= failure.until) {
      failure = undefined
      return undefined
    }
    // The caller's own retry of the failure it saw (never of a fail-fast answer) may fetch once more.
    if (
      retryOf !== undefined &&
      !failedFast(retryOf) &&
      (retryOf === failure.raw || (retryOf instanceof Error && rawOf.get(retryOf) === failure.raw))
    )
      return undefined
    const err = new JwksError(
      failure.code,
      "the issuer's keys could not be fetched a moment ago; not fetched again until the failure cooldown ends",
    )
    failedFastErrors.add(err)
    return err
  }

  const lookup = async (hint: KeyHint): Promise<KeyObject | null> => {
    let set = ready
    if (set === undefined) {
      try {
        set = ready = await remoteSet()
      } catch (err) {
        throw failed(err, translateFetchError(err, 'the discovery document'))
      }
    }
    let found: Awaited<ReturnType<RemoteSet>>
    try {
      found = await set({ alg: hint.alg, ...(hint.kid === undefined ? {} : { kid: hint.kid }) })
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return null
      throw failed(err, translateFetchError(err, 'the JWKS'))
    }
    // A fetch that worked ends the failure cooldown at once.
    failure = undefined
    let keyObject = keyObjects.get(found)
    if (keyObject === undefined) {
      keyObject = KeyObject.from(found)
      keyObjects.set(found, keyObject)
    }
    if (hint.kid !== undefined && !set.reloading) byKid.set(hint.kid, keyObject)
    return keyObject
  }

  const issuerKeys: { -readonly [K in keyof IssuerKeys]: IssuerKeys[K] } = {
    issuer,
    generation: 0,
    holds(kid, key) {
      verifiers ??= verificationKeys(inUse)
      return (verifiers.get(kid ?? '') ?? []).some((candidate) => candidate.equals(key))
    },
    cached(kid) {
      if (kid === undefined || ready === undefined || !ready.fresh) return undefined
      return byKid.get(kid)
    },
    key(hint, deadline, retryOf) {
      // The deadline's signal is read (and so created, see lib/core/deadline.ts) only when this lookup may
      // fetch: a warm lookup of a known key never waits on the network, nor on the failure cooldown.
      if (ready !== undefined && !mayFetch(ready, hint)) return lookup(hint)
      const coolingDown = coolingDownAfterFailure(retryOf)
      if (coolingDown !== undefined) return Promise.reject(coolingDown)
      if (deadline === undefined) return lookup(hint)
      const signal = deadline.signal
      return signal === undefined ? lookup(hint) : raceSignal(lookup(hint), signal)
    },
  }
  return issuerKeys
}

/**
 * The RS256 verification keys of a JWKS, by `kid` and all of them under '' (for a token without one),
 * as jose would pick them (RFC 7517 §4.2–4.4: `use`, `key_ops`, `alg`); a member it cannot import is
 * no key.
 */
function verificationKeys(jwks: unknown): Map<string, KeyObject[]> {
  const byKid = new Map<string, KeyObject[]>()
  const members = (jwks as { keys?: unknown } | null | undefined)?.keys
  if (!Array.isArray(members)) return byKid
  const add = (kid: string, key: KeyObject) => byKid.set(kid, [...(byKid.get(kid) ?? []), key])
  for (const jwk of members as unknown[]) {
    if (jwk === null || typeof jwk !== 'object') continue
    const { kty, kid, use, alg, key_ops: ops } = jwk as Record<string, unknown>
    if (kty !== 'RSA' || (use !== undefined && use !== 'sig') || (alg !== undefined && alg !== 'RS256')) continue
    if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) continue
    let key: KeyObject
    try {
      key = createPublicKey({ key: jwk as JsonWebKeyInput['key'], format: 'jwk' })
    } catch {
      continue
    }
    add('', key)
    if (typeof kid === 'string' && kid !== '') add(kid, key)
  }
  return byKid
}

type JsonWebKeyInput = Extract<Parameters<typeof createPublicKey>[0], { format: 'jwk' }>

type RemoteSetState = ReturnType<typeof createRemoteJWKSet>

/** Whether jose would fetch to answer `hint`: a stale set, a fetch in flight, or an unknown kid past the cooldown. */
function mayFetch(set: RemoteSetState, hint: KeyHint): boolean {
  if (!set.fresh || set.reloading) return true
  if (set.coolingDown) return false
  const keys = set.jwks()?.keys
  return hint.kid === undefined || keys === undefined || !keys.some((jwk) => jwk.kid === hint.kid)
}

async function fetchDiscovery(fetchImpl: FetchLike, url: string, timeout: number): Promise<Record<string, unknown>> {
  try {
    return await getJsonObject(fetchImpl, url, AbortSignal.timeout(timeout), MAX_DOCUMENT_BYTES)
  } catch (err) {
    // (observedFetch reads a 200's body within the cap already: its AnswerTooLargeError comes from the fetch.)
    if (err instanceof AnswerTooLargeError) throw new JwksError('ERR_JWKS_INVALID', 'the discovery document is too large', { cause: err })
    if (err instanceof DocumentError)
      throw new JwksError(
        err.problem === 'status' && err.status >= 500 ? 'ERR_JWKS_UNAVAILABLE' : 'ERR_JWKS_INVALID',
        `the discovery ${err.message}`,
      )
    throw translateFetchError(err, 'the discovery document')
  }
}

/** What went wrong fetching `what`, as our error; our own errors pass unchanged. */
function translateFetchError(err: unknown, what: string): TokenXError {
  if (err instanceof TokenXError) return err
  if (err instanceof joseErrors.JWKSTimeout || (err as { name?: unknown } | null)?.name === 'TimeoutError') {
    return new JwksError('ERR_JWKS_TIMEOUT', `${what} did not arrive in time`, { cause: err })
  }
  if (err instanceof joseErrors.JWKSInvalid || err instanceof joseErrors.JOSENotSupported || err instanceof joseErrors.JWKInvalid) {
    return new JwksError('ERR_JWKS_INVALID', `${what} is not a usable key set`, { cause: err })
  }
  if (err instanceof joseErrors.JOSEError) {
    // jose says "Expected 200 OK" or "Failed to parse ... as JSON": the endpoint is broken or down.
    return new JwksError('ERR_JWKS_UNAVAILABLE', `${what} could not be fetched: ${err.message}`, { cause: err })
  }
  return new JwksError('ERR_JWKS_UNAVAILABLE', `${what} could not be fetched (${safeErrorName(err)})`, { cause: err })
}

/** Settles with `promise`, or rejects with a timeout `JwksError` as soon as `signal` aborts. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return untilAborted(
    promise,
    signal,
    () => new JwksError('ERR_JWKS_TIMEOUT', "the issuer's keys did not arrive before the deadline", { cause: signal.reason }),
  )
}
