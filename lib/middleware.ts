/**
 * The middy middleware: a thin wrapper over `createTokenXHandlerCore`, which can be used without middy.
 *
 * Per invocation: read the caller's bearer token (no I/O), exchange it for each configured audience
 * (cached across warm invocations), and put one `Downstream` per audience on `context.tokenX`.
 * Kit errors become JSON answers with the status in docs/errors.md; other errors pass through.
 */
import { authorizationHeader, bearerFromHeader } from './bearer.ts'
import { cachedToken, createTokenXClient, exchangeDigested, type ExchangedToken, type TokenXClient } from './client.ts'
import { cacheKeyFor, subjectDigest } from './cache.ts'
import { defaults, isClientId, optionsFromEnv, type FetchLike, type TokenXOptions } from './config.ts'
import { checkDownstreamUrls, createDownstream, releaseDownstream, type Downstream } from './downstream.ts'
import { ConfigError, InvalidOptionError, TokenExchangeError, TokenXError, translate } from './errors.ts'
import { publish, type KitEvents } from './events.ts'
import { createLogger, isKitLogger, serviceNameFromEnv, type KitLogger } from './logger.ts'
import { isMetricsLike, type MetricsLike } from './metrics.ts'
import { createObserver, metricsNamespace, type Observer } from './observe.ts'
import type { LambdaContext, LambdaContextLike } from './lambda-context.ts'
import { inboundValidatorGetter, rememberedClaims, validateDigested, type InboundValidator, type VerifiedClaims } from './inbound.ts'
import type { InboundOptions } from './inbound-config.ts'
import { checkKnownKeys, checkNonNegativeInteger } from './option-checks.ts'
import { errorResponse, type ErrorResponse } from './response.ts'
import { isTracerLike, type TracerLike } from './tracing.ts'

/**
 * One downstream app: its TokenX audience (`cluster:namespace:app`) and the base URL(s) its token may
 * be sent to. `Downstream.fetch` refuses any URL outside their origins, and resolves a relative input
 * against the first one.
 */
export interface AudienceTarget {
  readonly audience: string
  readonly url: string | readonly string[]
}

/**
 * One audience, or named audiences; each a target with its URL(s), or only the `cluster:namespace:app`
 * (then its token may go to any `https:` URL, or `http:` on loopback: prefer a target). An object with
 * an `audience` member is one target, so no name in a record may be `audience`.
 */
export type AudienceOption = string | AudienceTarget | Readonly<Record<string, string | AudienceTarget>>

/** What the handler finds on `context.tokenX`: one `Downstream`, or one per name. */
export type TokenXContext<A extends AudienceOption> = A extends string | AudienceTarget ? Downstream : { readonly [K in keyof A]: Downstream }

/**
 * What the middleware reads and sets on middy's `request`. Structural, so that middy's `Request` of
 * every supported major (4 to 7) fits without the kit's types importing `@middy/core`.
 */
export interface TokenXMiddlewareRequest<A extends AudienceOption> {
  event: unknown
  /** `citizen`: the verified claims when inbound validation is on (`inbound`), else `undefined`. */
  context: LambdaContext & { tokenX: TokenXContext<A>; citizen?: VerifiedClaims | undefined }
  response: unknown
  error: unknown
}

/**
 * The middleware object `tokenX()` returns, for `middy().use()`. middy 7 infers `context.tokenX`
 * from it; older majors take the context type you declare (`middy<Event, Result, Error, Ctx>()`).
 */
export interface TokenXMiddleware<A extends AudienceOption> {
  readonly name: 'tokenX'
  /** Returns a promise only when it has to wait (validation or an exchange); a warm invocation returns nothing. */
  before: (request: TokenXMiddlewareRequest<A>) => Promise<void> | void
  after: (request: TokenXMiddlewareRequest<A>) => void
  onError: (request: TokenXMiddlewareRequest<A>) => void
}

export interface TokenXCoreOptions<A extends AudienceOption> {
  /** The downstream app(s) to exchange for. Required. */
  audience: A
  /**
   * A client, or options for one. Default: a client built on the first invocation from the
   * `TOKEN_X_*` environment variables (a `ConfigError` names the bad one and is answered as 500).
   */
  client?: TokenXClient | TokenXOptions | undefined
  /** Where the default client's configuration is read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>> | undefined
  /** The `fetch` the downstream calls go through. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined
  /** Milliseconds a downstream request may take. Default 10000. */
  downstreamTimeout?: number
  /** Milliseconds kept free before the Lambda's deadline: exchanges abort by then. Default 500. */
  deadlineMargin?: number
  /**
   * Where the kit logs (key loads, exchange failures and retries, refused tokens, one line per kit
   * error answered): a Powertools `Logger`, or anything with `debug`/`info`/`warn`/`error`; `false`
   * logs nothing. Default: `createLogger()`, JSON lines on stdout in Powertools' shape, level from
   * `POWERTOOLS_LOG_LEVEL` / `AWS_LAMBDA_LOG_LEVEL` (default INFO).
   */
  logger?: KitLogger | false | undefined
  /**
   * Where the per-invocation metrics go: a Powertools `Metrics` instance (the kit adds its metrics and
   * calls `publishStoredMetrics()` when the invocation ends), or `false` for none. Default: one EMF
   * record per invocation on stdout when `POWERTOOLS_METRICS_NAMESPACE` is set, none otherwise.
   */
  metrics?: MetricsLike | false | undefined
  /**
   * Spans for key loads, exchanges and downstream calls: an OpenTelemetry `Tracer`, or `false` for
   * none. Default: the tracer provider registered with `@opentelemetry/api` 1.x (e.g. by the ADOT
   * layer), looked up per invocation; none when nothing is registered.
   */
  tracer?: TracerLike | false | undefined
  /** The `service` of log lines and the metrics dimension. Default `POWERTOOLS_SERVICE_NAME`, else `service_undefined`. */
  serviceName?: string | undefined
  /**
   * Inbound validation of the caller's token before any key load or exchange. Default `false`:
   * TokenX alone judges the token. `true`: the issuers from the
   * environment (`IDPORTEN_*`, `TOKEN_X_JWKS_URI`/`TOKEN_X_WELL_KNOWN_URL`), read on the first
   * invocation, with `inboundDefaults`. An `InboundOptions` object: those options; without `idporten`
   * and `tokenX` the issuers still come from the environment. Or a validator of your own making.
   * The verified claims are put on `context.citizen` (docs/inbound-validation.md).
   */
  inbound?: boolean | InboundOptions | InboundValidator | undefined
}

/** Every key of `TokenXCoreOptions`, in one list: any other key is refused. */
export const coreOptionKeys = Object.freeze(['audience', 'client', 'env', 'fetch', 'downstreamTimeout', 'deadlineMargin', 'logger', 'metrics', 'tracer', 'serviceName', 'inbound'] as const satisfies ReadonlyArray<keyof TokenXCoreOptions<string>>)
const everyCoreKeyListed: Exclude<keyof TokenXCoreOptions<string>, (typeof coreOptionKeys)[number]> extends never ? true : never = true
void everyCoreKeyListed

export const middlewareDefaults = Object.freeze({
  downstreamTimeout: 10_000,
  deadlineMargin: 500,
})

/** What one invocation gets: the downstream(s), and the verified claims when inbound validation is on. */
export interface AuthorizedRequest<A extends AudienceOption> {
  readonly tokenX: TokenXContext<A>
  /** The caller's verified claims; `undefined` when inbound validation is off. */
  readonly citizen: VerifiedClaims | undefined
}

export interface TokenXHandlerCore<A extends AudienceOption> {
  /** Exchanges the event's bearer token; rejects with a `TokenXError` for the caller's or our faults. */
  authorize(event: unknown, context?: Partial<LambdaContext>): Promise<TokenXContext<A>>
  /** As `authorize`, and also returns the verified claims (inbound validation on). */
  authorizeRequest(event: unknown, context?: Partial<LambdaContext>): Promise<AuthorizedRequest<A>>
  /**
   * The HTTP answer for a kit error (and logs and counts it: the `error` event); `undefined` for
   * any other error. The answer equals what @middy/http-error-handler renders from the same error.
   */
  respond(err: unknown): ReturnType<typeof errorResponse> | undefined
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
}

/** The middleware's core, for handlers that do not use middy. Bad options throw `TypeError` here. */
export function createTokenXHandlerCore<A extends AudienceOption>(options: TokenXCoreOptions<A>): TokenXHandlerCore<A> {
  const { authorize, authorizeRequest, respond, end, release } = buildCore(options)
  return { authorize, authorizeRequest, respond, end, release }
}

/** The core and, for the middleware, `authorizeNow`: `authorizeRequest` without a promise when nothing has to wait. */
interface Core<A extends AudienceOption> extends TokenXHandlerCore<A> {
  authorizeNow(event: unknown, context: Partial<LambdaContext> | undefined): AuthorizedRequest<A> | Promise<AuthorizedRequest<A>>
}

function buildCore<A extends AudienceOption>(options: TokenXCoreOptions<A>): Core<A> {
  if (options === null || typeof options !== 'object') throw new InvalidOptionError('options', 'must be an object')
  checkKnownKeys(options, coreOptionKeys)
  const audiences = audienceEntries(options.audience)
  const downstreamTimeout = options.downstreamTimeout ?? middlewareDefaults.downstreamTimeout
  const deadlineMargin = options.deadlineMargin ?? middlewareDefaults.deadlineMargin
  checkNonNegativeInteger('downstreamTimeout', downstreamTimeout)
  checkNonNegativeInteger('deadlineMargin', deadlineMargin)
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new InvalidOptionError('fetch', 'must be a function')
  const observer = observerFor(options, audiences)

  // Options in code are checked now; the environment is read on the first invocation, so that a
  // misconfigured function answers 500 with a JSON body instead of failing its init phase.
  let client: TokenXClient | undefined = isClient(options.client)
    ? options.client
    : options.client !== undefined ? createTokenXClient(options.client) : undefined
  const getClient = (): TokenXClient => {
    client ??= clientFromEnv(options.env ?? process.env)
    return client
  }

  const getValidator = inboundValidatorGetter(options.inbound, () => options.env ?? process.env)

  const single = audiences.length === 1 && audiences[0]?.[0] === ''
  type Deadline = ReturnType<typeof lazyDeadline>

  const authorized = (downstreams: Downstream[], citizen: VerifiedClaims | undefined): AuthorizedRequest<A> => {
    const tokenX = (single ? downstreams[0] : Object.freeze(
      Object.fromEntries(audiences.map(([name], i) => [name, downstreams[i]])),
    )) as TokenXContext<A> & object
    return { tokenX, citizen }
  }

  const downstream = (tokenX: TokenXClient, subjectToken: string, token: ExchangedToken, deadline: Deadline, origins: readonly string[] | undefined): Downstream =>
    createDownstream({ client: tokenX, subjectToken, token, timeout: downstreamTimeout, deadline, fetch: options.fetch ?? globalThis.fetch, origins })

  /**
   * A warm invocation, synchronously: the caller's token was validated before (when validation is
   * on) and every audience's token is cached. Otherwise `undefined` and the tokens found so far
   * (so that no hit is looked up, and counted, twice).
   */
  const fromCache = ({ token: subjectToken, digest, keys }: Caller, deadline: Deadline): AuthorizedRequest<A> | Array<ExchangedToken | undefined> | undefined => {
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
    return authorized(audiences.map(([, , origins], i) => downstream(tokenX, subjectToken, tokens[i] as ExchangedToken, deadline, origins)), citizen)
  }

  /** The rest: validation, exchanges (or joining ones in flight), each audience's token not found in the cache. */
  const authorizeLater = async (subjectToken: string, digest: string, deadline: Deadline, found: ReadonlyArray<ExchangedToken | undefined> | undefined): Promise<AuthorizedRequest<A>> => {
    try {
      // Inbound validation runs before the client is even built: a refused token costs no key load.
      const citizen = getValidator === undefined ? undefined : await validateDigested(getValidator(), subjectToken, digest, deadline)
      const tokenX = getClient()
      const downstreams = await Promise.all(
        audiences.map(async ([, audience, origins], i) =>
          downstream(tokenX, subjectToken, found?.[i] ?? await exchangeDigested(tokenX, subjectToken, digest, audience, deadline), deadline, origins)),
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
   * citizen's session — then costs one string comparison instead of the syntax check and the hash,
   * which were the largest part of a warm invocation (bench/function.ts). One value only: it is
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
  const authorizeNow = (event: unknown, context: Partial<LambdaContext> | undefined): AuthorizedRequest<A> | Promise<AuthorizedRequest<A>> => {
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

  const authorizeRequest = async (event: unknown, context: Partial<LambdaContext> | undefined): Promise<AuthorizedRequest<A>> => authorizeNow(event, context)

  return {
    async authorize(event, context) {
      // One async frame on a warm invocation, as the middleware has none.
      const authorized = authorizeNow(event, context)
      return (authorized instanceof Promise ? await authorized : authorized).tokenX
    },
    release(tokenX) {
      // Each Downstream holds its invocation's deadline (no per-invocation WeakMap entry: bench/).
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

/**
 * The HTTP answer for a kit error, published as an 'error' event (so it is logged and counted once);
 * `undefined` for any other error. An error answered outside an invocation (no `authorize` before)
 * is still logged and counted. Shared by `tokenX` and `tokenXApi`.
 */
export function respondTo(err: unknown, observer: Observer): ErrorResponse | undefined {
  if (!(err instanceof TokenXError)) return undefined
  const outside = !observer.isOpen
  if (outside) observer.begin(undefined)
  publish('error', () => errorEvent(err))
  if (outside) observer.end()
  return errorResponse(err)
}

export function errorEvent(err: TokenXError): KitEvents['error'] {
  // `detail` is the internal, token-free explanation; `message` is the public answer (errors.ts).
  return {
    code: err.code,
    statusCode: err.statusCode,
    detail: err.detail,
    ...(err instanceof TokenExchangeError ? {
          tokenEndpointStatus: err.tokenEndpointStatus,
          upstreamError: err.upstream.error,
          upstreamErrorDescription: err.upstream.error_description,
        } : {}),
  }
}

/** Logger, metrics and tracer from the options and the environment; checked now, `TypeError` when bad. */
export function observerFor(
  options: Pick<TokenXCoreOptions<AudienceOption>, 'env' | 'serviceName' | 'logger' | 'metrics' | 'tracer'>,
  audiences: ReadonlyArray<readonly [string, string, ...unknown[]]>,
): Observer {
  const env = options.env ?? process.env
  if (options.serviceName !== undefined && (typeof options.serviceName !== 'string' || options.serviceName === '')) {
    throw new InvalidOptionError('serviceName', 'must be a non-empty string')
  }
  const serviceName = options.serviceName ?? serviceNameFromEnv(env)
  if (options.logger !== undefined && options.logger !== false && !isKitLogger(options.logger)) {
    throw new InvalidOptionError('logger', 'must have debug, info, warn and error methods, or be false')
  }
  if (options.metrics !== undefined && options.metrics !== false && !isMetricsLike(options.metrics)) {
    throw new InvalidOptionError('metrics', 'must have addMetric and publishStoredMetrics methods (a Powertools Metrics), or be false')
  }
  if (options.tracer !== undefined && options.tracer !== false && !isTracerLike(options.tracer)) {
    throw new InvalidOptionError('tracer', 'must be an OpenTelemetry Tracer, or false')
  }
  const logger = options.logger === false ? undefined : (options.logger ?? createLogger({ serviceName, env }))
  const namespace = metricsNamespace(env)
  const metrics = options.metrics === false ? undefined : (options.metrics ?? (namespace === undefined ? undefined : { namespace }))
  return createObserver({
    logger,
    metrics,
    tracer: options.tracer === false ? undefined : (options.tracer ?? 'global'),
    serviceName,
    audience: audiences.length === 1 ? audiences[0]?.[1] : undefined,
  })
}

/**
 * The middy middleware. Usage: `middy(handler).use(tokenX({ audience: 'cluster:namespace:app' }))`,
 * then `context.tokenX.fetch(url)` in the handler.
 *
 * Kit errors carry their answer (`statusCode`, `message`, `headers`), so the answer is the same
 * whether this `onError` renders it or an @middy/http-error-handler that runs before it does; a
 * response someone else already set is left alone. What cannot work is in docs/middlewares.md: when
 * successful answers carry CORS or security headers that middlewares used after `tokenX()` added,
 * their `onError` has already run when this one renders a kit error, so the answer
 * lacks them; this middleware then warns once (`process.emitWarning`, code `TOKENX_MIDDLEWARE_ORDER`).
 */
export function tokenX<A extends AudienceOption>(
  options: TokenXCoreOptions<A>,
): TokenXMiddleware<A> {
  const core = buildCore(options)
  const order = new OrderCheck()
  const admit = (request: TokenXMiddlewareRequest<A>, { tokenX: downstream, citizen }: AuthorizedRequest<A>): void => {
    request.context.tokenX = downstream
    request.context.citizen = citizen
  }
  return {
    name: 'tokenX',
    // No promise on a warm invocation: middy awaits only what a middleware returns (bench/function.ts).
    before: (request) => {
      const authorized = core.authorizeNow(request.event, request.context)
      if (!(authorized instanceof Promise)) return admit(request, authorized)
      return authorized.then((later) => admit(request, later))
    },
    after: (request) => {
      core.release(request.context.tokenX)
      order.sawAnswer(request.response)
      core.end()
    },
    onError: (request) => {
      // (`tokenX` is unset when `before` itself failed; `authorize` released its deadline then.)
      if (request.context.tokenX !== undefined) core.release(request.context.tokenX)
      try {
        if (!(request.error instanceof TokenXError)) return
        if (request.response === undefined) {
          request.response = core.respond(request.error)
        } else {
          // An error handler used after tokenX() rendered the kit's error already (middy runs onError
          // in reverse order), from the error's own statusCode, message and headers. Log and publish
          // it all the same; keep what it and the middlewares between built.
          core.respond(request.error)
          order.sawRendered(request.response, request.error)
        }
        order.sawErrorAnswer(request.response)
        if (request.error.code === 'ERR_BEARER_TOKEN' && isPreflight(request.event)) order.sawPreflight()
      } finally {
        // The invocation's metrics record, whatever the error.
        core.end()
      }
    },
  }
}

/**
 * Headers (lower case) that middlewares add to every answer in `after` and, only when an answer is
 * already set, in `onError`; the middleware named is the usual source.
 */
const LATE_HEADERS: ReadonlyArray<readonly [header: string, adder: string]> = [
  ['access-control-allow-origin', 'CORS headers (@middy/http-cors)'],
  ['x-content-type-options', 'security headers (@middy/http-security-headers)'],
]

/**
 * Detects the stack orders in which the kit's error answers lack what the function's successful
 * answers carry, and warns about each once per middleware instance. Detection needs one successful
 * invocation first: only then is it known that something used after tokenX() adds headers.
 */
class OrderCheck {
  /** Headers (lower case) seen on a successful answer when tokenX()'s `after` ran, i.e. added by middlewares used after it. */
  readonly #late = new Set<string>()
  readonly #warned = new Set<string>()

  /** A successful answer, as it is when tokenX()'s `after` runs: after those of middlewares used after it. */
  sawAnswer(response: unknown): void {
    if (this.#late.size === LATE_HEADERS.length) return
    const headers = headersOf(response)
    if (headers === undefined) return
    for (const name in headers) {
      // On the warm path of every successful invocation: compare lengths before lower-casing, and no
      // iterator or destructuring per name.
      for (let i = 0; i < LATE_HEADERS.length; i++) {
        const header = (LATE_HEADERS[i] as readonly [string, string])[0]
        if (name.length === header.length && name.toLowerCase() === header) this.#late.add(header)
      }
    }
  }

  /**
   * The answer to a kit error, as it is when tokenX()'s `onError` has run. Middlewares used after
   * tokenX() whose `onError` ran before anyone rendered the error skipped it, and will not run again.
   */
  sawErrorAnswer(response: unknown): void {
    if (this.#late.size === 0) return
    const present = new Set(Object.keys(headersOf(response) ?? {}).map((name) => name.toLowerCase()))
    for (const [header, adder] of LATE_HEADERS) {
      if (!this.#late.has(header) || present.has(header)) continue
      this.#warn(
        header,
        `tokenX(): successful answers carry ${adder}, added after tokenX() ran (by a middleware used after it, or by the handler), ` +
          `but the kit's error answers (401, 503, ...) do not: middy runs onError in reverse order, and that middleware's onError ` +
          `ran before the error was answered. Use tokenX() after it, or @middy/http-error-handler after it (docs/middlewares.md).`,
      )
    }
  }

  /** Someone else rendered a kit error; warn when it is not the kit's answer. */
  sawRendered(response: unknown, err: TokenXError): void {
    const statusCode = (response as { statusCode?: unknown } | null)?.statusCode
    if (statusCode === err.statusCode) return
    this.#warn(
      'renderer',
      `tokenX(): a middleware used after tokenX() answered a ${err.code} error with status ${String(statusCode)} instead of ${err.statusCode}. ` +
        `Use tokenX() after it (docs/middlewares.md).`,
    )
  }

  /** A CORS preflight (it never carries credentials) was refused for want of a token. */
  sawPreflight(): void {
    this.#warn(
      'preflight',
      `tokenX(): a CORS preflight (OPTIONS with Access-Control-Request-Method) reached tokenX() and was refused: preflights carry no token. ` +
        `Answer them before it: @middy/http-cors with { disableBeforePreflightResponse: false } used before tokenX(), or CORS at API Gateway ` +
        `(docs/middlewares.md).`,
    )
  }

  #warn(key: string, message: string): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    process.emitWarning(message, { code: 'TOKENX_MIDDLEWARE_ORDER' })
  }
}

/** An OPTIONS request with Access-Control-Request-Method (Fetch standard, CORS-preflight request), API Gateway v1/v2 or ALB. */
function isPreflight(event: unknown): boolean {
  const { httpMethod, requestContext, headers } = (event ?? {}) as {
    httpMethod?: unknown
    requestContext?: { http?: { method?: unknown } }
    headers?: unknown
  }
  const method = httpMethod ?? requestContext?.http?.method
  if (typeof method !== 'string' || method.toUpperCase() !== 'OPTIONS' || headers === null || typeof headers !== 'object') return false
  return Object.keys(headers).some((name) => name.toLowerCase() === 'access-control-request-method')
}

function headersOf(response: unknown): Readonly<Record<string, unknown>> | undefined {
  const headers = (response as { headers?: unknown } | null | undefined)?.headers
  return headers !== null && typeof headers === 'object' ? (headers as Record<string, unknown>) : undefined
}

function clientFromEnv(env: Readonly<Record<string, string | undefined>>): TokenXClient {
  try {
    return createTokenXClient(optionsFromEnv(env))
  } catch (err) {
    throw translate(err, (foreign) =>
      new ConfigError(`the TOKEN_X_* configuration is invalid: ${foreign instanceof Error ? foreign.message : 'unknown error'}`, { cause: foreign }))
  }
}

const NO_DEADLINE: { readonly signal: AbortSignal | undefined; readonly at: number | undefined } = Object.freeze({ signal: undefined, at: undefined })

/**
 * Aborts `deadlineMargin` ms before the Lambda would time out, created on first use; none outside
 * Lambda. Whoever creates one releases it when the invocation ends (`releaseDeadline`).
 */
export function lazyDeadline(
  context: Partial<LambdaContextLike> | undefined,
  margin: number,
): { readonly signal: AbortSignal | undefined; readonly at: number | undefined } {
  const remaining = context?.getRemainingTimeInMillis?.()
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return NO_DEADLINE
  return new LazyDeadline(Date.now() + remaining - margin)
}

/** Clears the timer a deadline from `lazyDeadline` may have started; a no-op for none. */
export function releaseDeadline(deadline: { readonly signal: AbortSignal | undefined }): void {
  if (deadline instanceof LazyDeadline) deadline.release()
}

/**
 * The deadline's signal, created on first use: a warm invocation served from the cache whose handler
 * calls no downstream needs none. An AbortController and a timer that `release()` clears when the
 * invocation ends (an AbortSignal.timeout cannot be cleared, and fired at the deadline, long after
 * its invocation ended; bench/). A class, as V8 builds an object literal with a getter some twenty
 * times slower.
 */
class LazyDeadline {
  readonly #at: number
  #controller: AbortController | undefined
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(at: number) {
    this.#at = at
  }

  /** Milliseconds since the epoch: downstream requests cut their own timer to it (no signal needed). */
  get at(): number {
    return this.#at
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController()
      this.#controller = controller
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        controller.abort(new DOMException('The Lambda deadline is near', 'TimeoutError'))
      }, Math.max(1, this.#at - Date.now()))
      // Never what keeps a process alive (outside Lambda, a forgotten release()).
      this.#timer.unref?.()
    }
    return this.#controller.signal
  }

  release(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
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

/** `[name, audience, origins]`; the name is '' for a single audience. */
type AudienceEntry = [name: string, audience: string, origins: readonly string[] | undefined]

function audienceEntries(option: AudienceOption): AudienceEntry[] {
  if (typeof option === 'string' || isTarget(option)) return [['', ...audienceTarget('audience', option)]]
  if (option === null || typeof option !== 'object' || Object.keys(option).length === 0) {
    throw new InvalidOptionError('audience', 'must be "cluster:namespace:app", { audience, url } or a non-empty record of them')
  }
  return Object.entries(option).map(([name, target]) => [name, ...audienceTarget(`audience.${name}`, target)])
}

function isTarget(value: unknown): value is AudienceTarget {
  return value !== null && typeof value === 'object' && 'audience' in value
}

function audienceTarget(name: string, target: string | AudienceTarget): [string, readonly string[] | undefined] {
  if (typeof target === 'string') {
    if (!isClientId(target)) throw new InvalidOptionError(name, 'must be "cluster:namespace:app"')
    return [target, undefined]
  }
  if (target === null || typeof target !== 'object') throw new InvalidOptionError(name, 'must be "cluster:namespace:app" or { audience, url }')
  checkKnownKeys(target, ['audience', 'url'], `${name}.`)
  if (!isClientId(target.audience)) throw new InvalidOptionError(`${name}.audience`, 'must be "cluster:namespace:app"')
  const urls = typeof target.url === 'string' ? [target.url] : target.url
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((url) => typeof url === 'string')) {
    throw new InvalidOptionError(`${name}.url`, 'must be a URL or a non-empty array of URLs')
  }
  try {
    return [target.audience, Object.freeze([...checkDownstreamUrls(`${name}.url`, urls)])]
  } catch (err) {
    throw err instanceof TypeError && !(err instanceof InvalidOptionError)
      ? new InvalidOptionError(`${name}.url`, err.message.slice(`${name}.url `.length))
      : err
  }
}

function isClient(value: unknown): value is TokenXClient {
  return value !== null && typeof value === 'object' && typeof (value as TokenXClient).exchange === 'function'
}
