/**
 * A `fetch` for one downstream app that sends the exchanged token as `Authorization: Bearer`
 * (RFC 6750 §2.1), has a timeout, honours the caller's signal, and — when the downstream answers 401
 * to a cached token — drops that token, exchanges again and retries once.
 */
import type { ExchangedToken, TokenXClient } from './client.ts'
import type { FetchLike } from './config.ts'
import { publish } from './events.ts'

export interface DownstreamOptions {
  readonly client: TokenXClient
  readonly subjectToken: string
  readonly token: ExchangedToken
  /** Milliseconds a downstream request may take. */
  readonly timeout: number
  /**
   * Aborts downstream requests and re-exchanges, e.g. when the Lambda is about to time out. Its
   * `signal` is read when a request or re-exchange starts, never before (the middleware creates the
   * deadline signal on first use).
   */
  readonly deadline?: { readonly signal?: AbortSignal | undefined } | undefined
  readonly fetch: FetchLike
}

export interface Downstream {
  /** The downstream app, `cluster:namespace:app`. */
  readonly audience: string
  /** The exchanged token currently in use (it changes after a 401 retry). */
  readonly token: ExchangedToken
  /** `fetch` with the token attached. A body that cannot be replayed (a stream) is not retried. */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>
}

export function createDownstream(options: DownstreamOptions): Downstream {
  return new TokenXDownstream(options)
}

/**
 * A class, not an object literal: one is made per invocation, and V8 builds a literal that has a
 * getter (`token`) some twenty times slower than a class instance (bench/). `fetch` is an own arrow
 * function, so `const { fetch } = context.tokenX` keeps working.
 */
class TokenXDownstream implements Downstream {
  readonly audience: string
  #token: ExchangedToken
  readonly #options: DownstreamOptions

  constructor(options: DownstreamOptions) {
    this.#options = options
    this.#token = options.token
    this.audience = options.token.audience
  }

  get token(): ExchangedToken {
    return this.#token
  }

  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    const { client, subjectToken, deadline } = this.#options
    const used = this.#token
    const response = await this.#send(input, init, used)
    if (response.status !== 401 || !isReplayable(init.body)) return response
    // The downstream no longer accepts the token (revoked, or its keys rotated): never serve it
    // again, get a new one and try once more.
    client.evict(subjectToken, used.audience, used)
    const fresh = await client.exchange(subjectToken, used.audience, { signal: deadline?.signal })
    if (fresh.accessToken === used.accessToken) return response
    await response.body?.cancel()
    this.#token = fresh
    return this.#send(input, init, fresh)
  }

  #send(input: string | URL, init: RequestInit, current: ExchangedToken): Promise<Response> {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${current.accessToken}`)
    const signals = [AbortSignal.timeout(this.#options.timeout)]
    const deadline = this.#options.deadline?.signal
    if (deadline !== undefined) signals.push(deadline)
    if (init.signal) signals.push(init.signal)
    const started = performance.now()
    const audience = this.audience
    return this.#options.fetch(input, { ...init, headers, signal: AbortSignal.any(signals) }).then(
      (response) => {
        publish('downstream', () => ({ audience, status: response.status, durationMs: performance.now() - started }))
        return response
      },
      (err: unknown) => {
        const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
        publish('downstream', () => ({ audience, status: 0, durationMs: performance.now() - started, ...(timedOut ? { code: 'ERR_TIMEOUT' as const } : {}) }))
        throw err
      },
    )
  }
}

function isReplayable(body: RequestInit['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof URLSearchParams ||
    body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof Blob || body instanceof FormData
}
