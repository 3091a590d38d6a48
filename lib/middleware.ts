/**
 * The middy middleware: a thin wrapper over `createTokenXHandlerCore`, which can be used without middy.
 *
 * Per invocation: read the caller's bearer token (no I/O), exchange it for each configured audience
 * (cached across warm invocations), and put one `Downstream` per audience on `context.tokenX`.
 * Kit errors become JSON answers with the status in the README's table; other errors pass through.
 */
import type { MiddlewareObj } from '@middy/core'
import type { Context } from 'aws-lambda'
import { bearerToken } from './bearer.ts'
import { createTokenXClient, type TokenXClient } from './client.ts'
import { defaults, isClientId, optionsFromEnv, type FetchLike, type TokenXOptions } from './config.ts'
import { createDownstream, type Downstream } from './downstream.ts'
import { ConfigError, TokenXError, translate } from './errors.ts'
import { defaultLogger, errorResponse, logEntry, type Logger } from './response.ts'

/** One audience (`cluster:namespace:app`), or named audiences. */
export type AudienceOption = string | Readonly<Record<string, string>>

/** What the handler finds on `context.tokenX`: one `Downstream`, or one per name. */
export type TokenXContext<A extends AudienceOption> = A extends string ? Downstream : { readonly [K in keyof A]: Downstream }

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
  /** Receives one entry per kit error; `false` logs nothing. Default: a JSON line on stderr. */
  logger?: Logger | false
}

export const middlewareDefaults = Object.freeze({
  downstreamTimeout: 10_000,
  deadlineMargin: 500,
})

export interface TokenXHandlerCore<A extends AudienceOption> {
  /** Exchanges the event's bearer token; rejects with a `TokenXError` for the caller's or our faults. */
  authorize(event: unknown, context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>): Promise<TokenXContext<A>>
  /** The HTTP answer for a kit error (and logs it); `undefined` for any other error. */
  respond(err: unknown): ReturnType<typeof errorResponse> | undefined
}

/** The middleware's core, for handlers that do not use middy. Bad options throw `TypeError` here. */
export function createTokenXHandlerCore<A extends AudienceOption>(options: TokenXCoreOptions<A>): TokenXHandlerCore<A> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object')
  const audiences = audienceEntries(options.audience)
  const downstreamTimeout = options.downstreamTimeout ?? middlewareDefaults.downstreamTimeout
  const deadlineMargin = options.deadlineMargin ?? middlewareDefaults.deadlineMargin
  checkNonNegativeInteger('downstreamTimeout', downstreamTimeout)
  checkNonNegativeInteger('deadlineMargin', deadlineMargin)
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new TypeError('fetch must be a function')
  const log = options.logger === false ? undefined : (options.logger ?? defaultLogger)
  if (log !== undefined && typeof log !== 'function') throw new TypeError('logger must be a function or false')

  // Options in code are checked now; the environment is read on the first invocation, so that a
  // misconfigured function answers 500 with a JSON body instead of failing its init phase.
  let client: TokenXClient | undefined = isClient(options.client)
    ? options.client
    : options.client !== undefined ? createTokenXClient(options.client) : undefined
  const getClient = (): TokenXClient => {
    client ??= clientFromEnv(options.env ?? process.env)
    return client
  }

  return {
    async authorize(event, context) {
      // Bearer problems are answered before configuration is even read: no key load, no exchange.
      const subjectToken = bearerToken(event, client?.options.maxSubjectTokenLength ?? defaults.maxSubjectTokenLength)
      const tokenX = getClient()
      // Read by the exchange only when it must wait, and by the downstream only when it sends.
      const deadline = lazyDeadline(context, deadlineMargin)
      const fetch = options.fetch ?? globalThis.fetch
      const downstreams = await Promise.all(
        audiences.map(async ([, audience]) =>
          createDownstream({
            client: tokenX,
            subjectToken,
            token: await tokenX.exchange(subjectToken, audience, deadline),
            timeout: downstreamTimeout,
            deadline,
            fetch,
          }),
        ),
      )
      if (typeof options.audience === 'string') return downstreams[0] as TokenXContext<A>
      return Object.freeze(Object.fromEntries(audiences.map(([name], i) => [name, downstreams[i]]))) as TokenXContext<A>
    },
    respond(err) {
      if (!(err instanceof TokenXError)) return undefined
      log?.(logEntry(err))
      return errorResponse(err)
    },
  }
}

/**
 * The middy middleware. Usage: `middy(handler).use(tokenX({ audience: 'cluster:namespace:app' }))`,
 * then `context.tokenX.fetch(url)` in the handler.
 */
export function tokenX<A extends AudienceOption>(
  options: TokenXCoreOptions<A>,
): MiddlewareObj<unknown, unknown, Error, Context & { tokenX: TokenXContext<A> }> {
  const core = createTokenXHandlerCore(options)
  return {
    name: 'tokenX',
    before: async (request) => {
      request.context.tokenX = await core.authorize(request.event, request.context)
    },
    onError: (request) => {
      const response = core.respond(request.error)
      if (response !== undefined) request.response = response
    },
  }
}

function clientFromEnv(env: Readonly<Record<string, string | undefined>>): TokenXClient {
  try {
    return createTokenXClient(optionsFromEnv(env))
  } catch (err) {
    throw translate(err, (foreign) =>
      new ConfigError(`the TOKEN_X_* configuration is invalid: ${foreign instanceof Error ? foreign.message : 'unknown error'}`, { cause: foreign }))
  }
}

const NO_DEADLINE: { readonly signal: AbortSignal | undefined } = Object.freeze({ signal: undefined })

/** Aborts `deadlineMargin` ms before the Lambda would time out, created on first use; none outside Lambda. */
function lazyDeadline(context: Partial<Pick<Context, 'getRemainingTimeInMillis'>> | undefined, margin: number): { readonly signal: AbortSignal | undefined } {
  const remaining = context?.getRemainingTimeInMillis?.()
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return NO_DEADLINE
  return new LazyDeadline(Date.now() + remaining - margin)
}

/**
 * The deadline's signal, created on first use. A warm invocation served from the cache whose handler
 * calls no downstream needs none, and each one is an AbortSignal.timeout: a timer that cannot be
 * cleared and fires at the deadline, long after the invocation ended (bench/). A class, as V8 builds
 * an object literal with a getter some twenty times slower.
 */
class LazyDeadline {
  readonly #at: number
  #signal: AbortSignal | undefined

  constructor(at: number) {
    this.#at = at
  }

  get signal(): AbortSignal {
    this.#signal ??= AbortSignal.timeout(Math.max(1, this.#at - Date.now()))
    return this.#signal
  }
}

function audienceEntries(option: AudienceOption): Array<[string, string]> {
  if (typeof option === 'string') {
    if (!isClientId(option)) throw new TypeError('audience must be "cluster:namespace:app"')
    return [['', option]]
  }
  if (option === null || typeof option !== 'object' || Object.keys(option).length === 0) {
    throw new TypeError('audience must be "cluster:namespace:app" or a non-empty record of them')
  }
  return Object.entries(option).map(([name, audience]) => {
    if (!isClientId(audience)) throw new TypeError(`audience.${name} must be "cluster:namespace:app"`)
    return [name, audience]
  })
}

function isClient(value: unknown): value is TokenXClient {
  return value !== null && typeof value === 'object' && typeof (value as TokenXClient).exchange === 'function'
}

function checkNonNegativeInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`)
}
