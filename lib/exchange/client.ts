/**
 * The kit's core, usable without middy: exchange a citizen's token for a downstream audience,
 * with the key loaded lazily, a fresh assertion per attempt, bounded retries, and a shared cache.
 */
import { signAssertion } from './assertion.ts'
import { cacheKeyFor, PromiseCache, subjectDigest, tokenCacheKey } from '../cache/memory.ts'
import { resolveOptions, withoutKey, type ResolvedTokenXOptions, type TokenXOptions } from './config.ts'
import { ConfigError, TokenXError } from '../errors.ts'
import { kitEvents, publish } from '../events.ts'
import { errorFromAnswer, exchangeForm, isInvalidClient, requestTimeout } from './token-request.ts'
import { createTokenRunner, loadedToken, type Grant } from './engine.ts'
import { fetchPost, type PostForm } from '../util/http.ts'
import { http1Post } from '../util/http1.ts'
import { isClientId } from '../util/option-checks.ts'
import { createKeyLoader, type KeyLoader } from './key.ts'
import { exchangeTargets, type ExchangeTarget } from './discovery.ts'
import { createSharedCache } from '../cache/shared.ts'
import { subjectTokenExpiry } from './subject-token.ts'
import type { ExchangedToken, Loaded, SigningKey } from '../types.ts'

export interface ExchangeOptions {
  /**
   * Stops waiting (and, once no caller waits, stops the exchange) when aborted. Read only when the
   * call has to wait, never on a cache hit (so it may be a getter that creates the signal lazily).
   */
  readonly signal?: AbortSignal | undefined
}

export interface TokenXClient {
  /**
   * The token for `audience` on behalf of the citizen whose token is `subjectToken`: from the cache,
   * or from the exchange already in flight for the same pair, or from a new exchange.
   * Throws `BearerTokenError` (without any I/O) for a token that is not an unexpired JWT.
   */
  exchange(subjectToken: string, audience: string, options?: ExchangeOptions): Promise<ExchangedToken>
  /**
   * Forgets `token` (e.g. the downstream API answered 401 to it); a newer cached token is kept. With
   * a shared cache, the table's copy is made unusable for every environment too: the returned promise
   * settles when that write is done or given up on (`sharedCache.writeTimeout`, or `options.signal`),
   * and never rejects. A client of your own may return nothing.
   */
  evict(subjectToken: string, audience: string, token: ExchangedToken, options?: ExchangeOptions): Promise<void> | void
  /** The options in force, defaults applied; an inline `privateJwk` shows as `'[redacted]'`. */
  readonly options: ResolvedTokenXOptions
}

/** Builds a client; throws `TypeError` for a bad option, before any request. */
export function createTokenXClient(options: TokenXOptions): TokenXClient {
  const resolved = resolveOptions(options)
  const targets = exchangeTargets(resolved)
  const post: PostForm = resolved.fetch === undefined ? http1Post : fetchPost(resolved.fetch)
  const keys: KeyLoader = createKeyLoader(resolved)
  const cache = new PromiseCache<ExchangedToken>(resolved.cacheMaxEntries, resolved.clock)
  // The shared second level (DynamoDB), when configured: read before an exchange, written after one.
  const secondLevel =
    resolved.sharedCache === undefined ? undefined : createSharedCache(resolved.sharedCache, resolved.clientId, resolved.clock)

  // TokenX is one grant among the flows (engine.ts): RFC 8693 §2.1 with an RFC 7523 client assertion.
  const tokenX: Grant<ExchangeRequestOf> = {
    provider: 'TokenX',
    target: (request) => request.audience,
    form: (request, key) =>
      exchangeForm({
        clientAssertion: signAssertion(key, {
          clientId: resolved.clientId,
          audience: request.target.assertionAudience,
          lifetime: resolved.assertionLifetime / 1000,
          clock: resolved.clock,
        }),
        subjectToken: request.subjectToken,
        audience: request.audience,
      }),
    errorFromAnswer,
    refusesKey: isInvalidClient,
  }
  const run = createTokenRunner(tokenX, {
    post,
    tokenEndpoint: (request) => request.target.tokenEndpoint,
    keys,
    timeout: resolved.timeout,
    retries: resolved.retries,
    retryBackoff: resolved.retryBackoff,
  })

  const load = async (
    subjectToken: string,
    subjectExp: number,
    audience: string,
    signal: AbortSignal,
    firstKey?: Promise<SigningKey>,
  ): Promise<Loaded<ExchangedToken>> => {
    // The token endpoint and the assertion's audience: configured, or from the discovery document
    // (fetched once, on the first exchange).
    const target = await targets.get(signal)
    return loadedToken(await run({ subjectToken, audience, target }, signal, firstKey), audience, subjectExp, resolved)
  }

  /** A fresh token cached under `key` (`cacheKeyFor`), published as a hit; `undefined` (nothing published) otherwise. */
  const hit = (key: string, audience: string): ExchangedToken | undefined => {
    const cached = cache.hit(key)
    if (cached !== undefined && cacheEvents.hasSubscribers) cacheEvents.publish({ audience, hit: true })
    return cached
  }

  const exchange = async (
    subjectToken: string,
    digest: string | undefined,
    audience: string,
    exchangeOptions: ExchangeOptions,
  ): Promise<ExchangedToken> => {
    if (!isClientId(audience)) throw new ConfigError('the audience must be "cluster:namespace:app"')
    // The warm path: a fresh entry was stored for this very token (a SHA-256 match) after it passed
    // the checks below, and is fresh no longer than the token is unexpired (loadedToken), so serving
    // it needs no second parse of the token.
    const known =
      digest ??
      (typeof subjectToken === 'string' && subjectToken.length <= resolved.maxSubjectTokenLength ? subjectDigest(subjectToken) : undefined)
    const knownKey = known === undefined ? undefined : cacheKeyFor(known, audience)
    const cached = knownKey === undefined ? undefined : hit(knownKey, audience)
    if (cached !== undefined) return cached
    const subjectExp = subjectTokenExpiry(subjectToken, Math.floor(resolved.clock() / 1000), resolved.maxSubjectTokenLength)
    publish('cache', () => ({ audience, hit: false }))
    const signal = exchangeOptions.signal
    try {
      // (After the checks the token is a string of bounded length; `??` only satisfies the compiler.)
      const key = knownKey ?? tokenCacheKey(subjectToken, audience)
      return await cache.get(
        key,
        (shared) => {
          if (secondLevel === undefined) return load(subjectToken, subjectExp, audience, shared)
          // The table's item key needs the signing key: one load, for the table and the exchange alike,
          // so a failed load fails the exchange exactly as it would without a table.
          const signingKey = keys.get()
          return secondLevel.through({ cacheKey: key, subjectToken, audience }, subjectExp, signingKey, shared, () =>
            load(subjectToken, subjectExp, audience, shared, signingKey),
          )
        },
        signal,
      )
    } catch (err) {
      // The cache rejects a waiter whose own signal aborted with the signal's reason.
      if (!(err instanceof TokenXError) && signal?.aborted === true) throw requestTimeout(signal)
      throw err
    }
  }

  const client: TokenXClient = {
    // The key stays with the key loader: nothing a caller can print or serialise reaches it.
    options: withoutKey(resolved),
    exchange: (subjectToken, audience, exchangeOptions = {}) => exchange(subjectToken, undefined, audience, exchangeOptions),
    async evict(subjectToken, audience, token, evictOptions = {}) {
      const key = tokenCacheKey(subjectToken, audience)
      cache.delete(key, token)
      if (secondLevel !== undefined)
        await secondLevel.evict({ cacheKey: key, subjectToken, audience }, token, keys.get(), evictOptions.signal)
    },
  }
  internals.set(client, { hit, exchange })
  return client
}

const cacheEvents = kitEvents('cache')

/** What one TokenX exchange is asked for. */
interface ExchangeRequestOf {
  readonly subjectToken: string
  readonly audience: string
  /** The token endpoint and the assertion's audience in force. */
  readonly target: ExchangeTarget
}

/** What the middleware uses of a client the kit made, beyond `TokenXClient`: the subject token's digest, computed once. */
interface ClientInternals {
  hit(key: string, audience: string): ExchangedToken | undefined
  exchange(subjectToken: string, digest: string, audience: string, options: ExchangeOptions): Promise<ExchangedToken>
}

const internals = new WeakMap<TokenXClient, ClientInternals>()

/**
 * The fresh token cached under `key` (`cacheKeyFor(subjectDigest(token), audience)`), published as a
 * cache hit; `undefined` when there is none, or `client` is not one `createTokenXClient` made.
 * Synchronous: a warm invocation needs no promise for it.
 */
export function cachedToken(client: TokenXClient, key: string, audience: string): ExchangedToken | undefined {
  return internals.get(client)?.hit(key, audience)
}

/** `client.exchange`, reusing the subject token's `digest` when the kit made the client. */
export function exchangeDigested(
  client: TokenXClient,
  subjectToken: string,
  digest: string,
  audience: string,
  options: ExchangeOptions,
): Promise<ExchangedToken> {
  const own = internals.get(client)
  return own === undefined ? client.exchange(subjectToken, audience, options) : own.exchange(subjectToken, digest, audience, options)
}
