/**
 * The core of the middleware, usable without middy (`createTokenXHandlerCore`); the middy middleware
 * (lib/middy/tokenx.ts) is a thin wrapper over it.
 *
 * Per invocation: read the caller's bearer token (no I/O), exchange it for each configured audience
 * (cached across warm invocations), and hand out one `Downstream` per audience.
 * Kit errors become JSON answers with the status in docs/errors.md; other errors pass through.
 */
import { authorizationHeader, bearerFromHeader } from '../inbound/bearer.ts'
import { cachedToken, createTokenXClient, exchangeDigested, type TokenXClient } from '../exchange/client.ts'
import { cacheKeyFor, subjectDigest } from '../cache/memory.ts'
import { defaults, optionsFromEnv } from '../exchange/config.ts'
import { createDownstream, releaseDownstream, type Downstream } from '../downstream/fetch.ts'
import { ConfigError, InvalidOptionError, safeErrorName, translate } from '../errors.ts'
import type { ExchangedToken, LambdaContext } from '../types.ts'
import { inboundValidatorGetter, rememberedClaims, validateDigested, type VerifiedClaims } from '../inbound/validator.ts'
import { checkFunction, checkKnownKeys, checkNonNegativeInteger, checkOptionsObject } from '../util/option-checks.ts'
import { respondTo } from './respond.ts'
import type { ErrorResponse } from './response.ts'
import { audienceEntries, type AudienceEntry, type AudienceOption, type TokenXContext } from './audience.ts'
import type { CitizenOf, InboundOption, TokenXFields } from './context.ts'
import { lazyDeadline, releaseDeadline } from './deadline.ts'
import { coreOptionKeys, middlewareDefaults, observerFor, type TokenXCoreOptions } from './options.ts'

/**
 * What one invocation gets: the downstream(s), and the verified claims when inbound validation is on
 * (`VerifiedClaims` when the `inbound` option's type says it is on, `undefined` when off).
 */
export interface AuthorizedRequest<A extends AudienceOption, I extends InboundOption = InboundOption> {
  readonly tokenX: TokenXContext<A>
  /** The caller's verified claims; `undefined` when inbound validation is off. */
  readonly citizen: CitizenOf<I>
}

/**
 * A Lambda handler `wrap` serves: its context has `tokenX` and, with inbound validation on, `citizen`,
 * as the middleware's handler has.
 */
export type TokenXWrappedHandler<A extends AudienceOption, I extends InboundOption, E, R> = (
  event: E,
  context: LambdaContext & TokenXFields<A, I>,
) => R | Promise<R>

export interface TokenXHandlerCore<A extends AudienceOption, I extends InboundOption = InboundOption> {
  /** Exchanges the event's bearer token; rejects with a `TokenXError` for the caller's or our faults. */
  authorize(event: unknown, context?: Partial<LambdaContext>): Promise<TokenXContext<A>>
  /** As `authorize`, and also returns the verified claims (inbound validation on). */
  authorizeRequest(event: unknown, context?: Partial<LambdaContext>): Promise<AuthorizedRequest<A, I>>
  /**
   * The HTTP answer for a kit error (and logs and counts it: the `error` event); `undefined` for
   * any other error. The answer equals what @middy/http-error-handler renders from the same error.
   */
  respond(err: unknown): ErrorResponse | undefined
  /**
   * Ends the invocation `authorize` began: writes its metrics record (one stdout write, or the
   * Metrics instance's publish). The middleware calls it in `after` and `onError`; without middy,
   * call it once per invocation, e.g. in a `finally`.
   */
  end(): void
  /**
   * Ends an invocation: clears the deadline timer `authorize` may have started for it, so nothing of
   * it stays alive. The middleware calls it after the handler; idempotent.
   */
  release(tokenX: TokenXContext<A>): void
  /**
   * A Lambda handler that does per invocation what the middleware does: authorizes the event, puts
   * `tokenX` (and `citizen`) on the context and calls `handler`; answers a kit error, the handler's
   * included, with `respond`'s answer (any other error is thrown on); then releases and ends the
   * invocation, whatever happened.
   */
  wrap<E, R>(handler: TokenXWrappedHandler<A, I, E, R>): (event: E, context: LambdaContext) => Promise<R | ErrorResponse>
}

/** The middleware's core, for handlers that do not use middy. Bad options throw `TypeError` here. */
export function createTokenXHandlerCore<A extends AudienceOption, I extends InboundOption = undefined>(
  options: TokenXCoreOptions<A, I>,
): TokenXHandlerCore<A, I> {
  const core = buildCore(options)
  const { authorize, authorizeRequest, respond, end, release } = core
  return { authorize, authorizeRequest, respond, end, release, wrap: (handler) => wrapped(core, handler) }
}

/**
 * `wrap`: the middleware's before, after and onError (lib/middy/tokenx.ts) around one handler call.
 * Apart from `buildCore`, so that a bundle with the middleware only does not carry it.
 */
function wrapped<A extends AudienceOption, I extends InboundOption, E, R>(core: Core<A, I>, handler: TokenXWrappedHandler<A, I, E, R>) {
  return async (event: E, context: LambdaContext): Promise<R | ErrorResponse> => {
    let admitted: AuthorizedRequest<A, I> | undefined
    try {
      const now = core.authorizeNow(event, context)
      admitted = now instanceof Promise ? await now : now
      const served = context as LambdaContext & { tokenX?: unknown; citizen?: unknown }
      served.tokenX = admitted.tokenX
      served.citizen = admitted.citizen
      return await handler(event, served as LambdaContext & TokenXFields<A, I>)
    } catch (err) {
      const answer = core.respond(err)
      if (answer === undefined) throw err
      return answer
    } finally {
      // (`admitted` is unset when authorizing failed; it released its deadline then.)
      if (admitted !== undefined) core.release(admitted.tokenX)
      core.end()
    }
  }
}

/** The core and, for the middleware, `authorizeNow`: `authorizeRequest` without a promise when nothing has to wait. */
export interface Core<A extends AudienceOption, I extends InboundOption = InboundOption> extends Omit<TokenXHandlerCore<A, I>, 'wrap'> {
  authorizeNow(event: unknown, context: Partial<LambdaContext> | undefined): AuthorizedRequest<A, I> | Promise<AuthorizedRequest<A, I>>
}

export function buildCore<A extends AudienceOption, I extends InboundOption = InboundOption>(options: TokenXCoreOptions<A, I>): Core<A, I> {
  checkOptionsObject('options', options)
  checkKnownKeys(options, coreOptionKeys)
  const audiences = audienceEntries(options.audience)
  const downstreamTimeout = options.downstreamTimeout ?? middlewareDefaults.downstreamTimeout
  const deadlineMargin = options.deadlineMargin ?? middlewareDefaults.deadlineMargin
  checkNonNegativeInteger('downstreamTimeout', downstreamTimeout)
  checkNonNegativeInteger('deadlineMargin', deadlineMargin)
  checkFunction('fetch', options.fetch)
  const observer = observerFor(options, audiences)

  // Options in code are checked now; the environment is read on the first invocation, so that a
  // misconfigured function answers 500 with a JSON body instead of failing its init phase.
  let client: TokenXClient | undefined = isClient(options.client)
    ? options.client
    : options.client !== undefined
      ? createTokenXClient(options.client)
      : undefined
  const getClient = (): TokenXClient => {
    client ??= clientFromEnv(options.env ?? process.env)
    return client
  }

  const getValidator = inboundValidatorGetter(options.inbound, () => options.env ?? process.env)

  const single = audiences.length === 1 && audiences[0]?.[0] === ''
  type Deadline = ReturnType<typeof lazyDeadline>

  const authorized = (downstreams: Downstream[], citizen: VerifiedClaims | undefined): AuthorizedRequest<A, I> => {
    const tokenX = (
      single ? downstreams[0] : Object.freeze(Object.fromEntries(audiences.map(([name], i) => [name, downstreams[i]])))
    ) as TokenXContext<A> & object
    // `citizen` is set exactly when a validator is (getValidator), which is what CitizenOf<I> says.
    return { tokenX, citizen: citizen as CitizenOf<I> }
  }

  const downstream = (
    tokenX: TokenXClient,
    subjectToken: string,
    token: ExchangedToken,
    deadline: Deadline,
    origins: readonly string[] | undefined,
  ): Downstream =>
    createDownstream({
      client: tokenX,
      subjectToken,
      token,
      timeout: downstreamTimeout,
      deadline,
      fetch: options.fetch ?? globalThis.fetch,
      origins,
    })

  /**
   * A warm invocation, synchronously: the caller's token was validated before (when validation is
   * on) and every audience's token is cached. Otherwise `undefined` and the tokens found so far
   * (so that no hit is looked up, and counted, twice).
   */
  const fromCache = (
    { token: subjectToken, digest, keys }: Caller,
    deadline: Deadline,
  ): AuthorizedRequest<A, I> | Array<ExchangedToken | undefined> | undefined => {
    let citizen: VerifiedClaims | undefined
    if (getValidator !== undefined) {
      citizen = rememberedClaims(getValidator(), digest)
      if (citizen === undefined) return undefined
    }
    const tokenX = getClient()
    if (single) {
      const [, audience, origins] = audiences[0] as AudienceEntry
      const token = cachedToken(tokenX, keys[0] as string, audience)
      return token === undefined ? undefined : authorized([downstream(tokenX, subjectToken, token, deadline, origins)], citizen)
    }
    const tokens = audiences.map(([, audience], i) => cachedToken(tokenX, keys[i] as string, audience))
    if (tokens.includes(undefined)) return tokens
    return authorized(
      audiences.map(([, , origins], i) => downstream(tokenX, subjectToken, tokens[i] as ExchangedToken, deadline, origins)),
      citizen,
    )
  }

  /** The rest: validation, exchanges (or joining ones in flight), each audience's token not found in the cache. */
  const authorizeLater = async (
    subjectToken: string,
    digest: string,
    deadline: Deadline,
    found: ReadonlyArray<ExchangedToken | undefined> | undefined,
  ): Promise<AuthorizedRequest<A, I>> => {
    try {
      // Inbound validation runs before the client is even built: a refused token costs no key load.
      const citizen = getValidator === undefined ? undefined : await validateDigested(getValidator(), subjectToken, digest, deadline)
      const tokenX = getClient()
      const downstreams = await Promise.all(
        audiences.map(async ([, audience, origins], i) =>
          downstream(
            tokenX,
            subjectToken,
            found?.[i] ?? (await exchangeDigested(tokenX, subjectToken, digest, audience, deadline)),
            deadline,
            origins,
          ),
        ),
      )
      return authorized(downstreams, citizen)
    } catch (err) {
      releaseDeadline(deadline)
      throw err
    }
  }

  /**
   * The last Authorization value seen, with its token and the token's SHA-256 (what the validator's
   * cache and the token cache key on). The same caller's next request — a warm instance serving one
   * citizen's session — then costs one string comparison instead of the syntax check and the hash
   * (the largest part of a warm invocation). One value only: it is
   * replaced by the next caller's, and nothing is ever looked up by it.
   */
  let last: Caller | undefined
  const caller = (event: unknown): Caller => {
    const header = authorizationHeader(event)
    const maxLength = client?.options.maxSubjectTokenLength ?? defaults.maxSubjectTokenLength
    if (last !== undefined && last.header === header && last.token.length <= maxLength) return last
    const token = bearerFromHeader(header, maxLength)
    const digest = subjectDigest(token)
    last = { header, token, digest, keys: audiences.map(([, audience]) => cacheKeyFor(digest, audience)) }
    return last
  }

  /** Synchronous on a warm invocation (no promise, no microtask): the middleware's `before` returns nothing then. */
  const authorizeNow = (
    event: unknown,
    context: Partial<LambdaContext> | undefined,
  ): AuthorizedRequest<A, I> | Promise<AuthorizedRequest<A, I>> => {
    observer.begin(context)
    // Bearer problems are answered before configuration is even read: no key load, no exchange.
    const seen = caller(event)
    // Read by the validation and the exchange only when they must wait, and by the downstream only when it sends.
    const deadline = lazyDeadline(context, deadlineMargin)
    let cached: ReturnType<typeof fromCache>
    try {
      cached = fromCache(seen, deadline)
    } catch (err) {
      releaseDeadline(deadline)
      throw err
    }
    return cached === undefined || Array.isArray(cached) ? authorizeLater(seen.token, seen.digest, deadline, cached) : cached
  }

  const authorizeRequest = async (event: unknown, context: Partial<LambdaContext> | undefined): Promise<AuthorizedRequest<A, I>> =>
    authorizeNow(event, context)

  return {
    async authorize(event, context) {
      // One async frame on a warm invocation, as the middleware has none.
      const authorized = authorizeNow(event, context)
      return (authorized instanceof Promise ? await authorized : authorized).tokenX
    },
    release(tokenX) {
      // Each Downstream holds its invocation's deadline: no per-invocation WeakMap entry.
      if (tokenX === null || typeof tokenX !== 'object') return
      if (releaseDownstream(tokenX)) return
      for (const name in tokenX) releaseDownstream((tokenX as Record<string, unknown>)[name])
    },
    authorizeRequest,
    authorizeNow,
    respond: (err) => respondTo(err, observer),
    end() {
      observer.end()
    },
  }
}

function clientFromEnv(env: Readonly<Record<string, string | undefined>>): TokenXClient {
  try {
    return createTokenXClient(optionsFromEnv(env))
  } catch (err) {
    throw translate(
      err,
      (foreign) =>
        new ConfigError(
          `the TOKEN_X_* configuration is invalid: ${foreign instanceof InvalidOptionError ? foreign.message : safeErrorName(foreign)}`,
          { cause: foreign },
        ),
    )
  }
}

/** A caller's Authorization value, its bearer token, and what the caches key on. */
interface Caller {
  readonly header: string
  readonly token: string
  readonly digest: string
  /** The token cache's key for each audience, in the order of the audience entries. */
  readonly keys: readonly string[]
}

function isClient(value: unknown): value is TokenXClient {
  return value !== null && typeof value === 'object' && typeof (value as TokenXClient).exchange === 'function'
}
