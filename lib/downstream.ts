/**
 * A `fetch` for one downstream app that sends the exchanged token as `Authorization: Bearer`
 * (RFC 6750 §2.1), has a timeout, honours the caller's signal, and — when the downstream answers 401
 * to a cached token — drops that token, exchanges again and retries once.
 */
import type { ExchangedToken, TokenXClient } from './client.ts'
import type { FetchLike } from './config.ts'

export interface DownstreamOptions {
  readonly client: TokenXClient
  readonly subjectToken: string
  readonly token: ExchangedToken
  /** Milliseconds a downstream request may take. */
  readonly timeout: number
  /** Aborts downstream requests and re-exchanges, e.g. when the Lambda is about to time out. */
  readonly signal?: AbortSignal | undefined
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
  let token = options.token
  const { client, subjectToken } = options

  const send = (input: string | URL, init: RequestInit, current: ExchangedToken): Promise<Response> => {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${current.accessToken}`)
    const signals = [AbortSignal.timeout(options.timeout)]
    if (options.signal !== undefined) signals.push(options.signal)
    if (init.signal) signals.push(init.signal)
    return options.fetch(input, { ...init, headers, signal: AbortSignal.any(signals) })
  }

  return {
    audience: token.audience,
    get token() {
      return token
    },
    async fetch(input, init = {}) {
      const used = token
      const response = await send(input, init, used)
      if (response.status !== 401 || !isReplayable(init.body)) return response
      // The downstream no longer accepts the token (revoked, or its keys rotated): never serve it
      // again, get a new one and try once more.
      client.evict(subjectToken, used.audience, used)
      const fresh = await client.exchange(subjectToken, used.audience, { signal: options.signal })
      if (fresh.accessToken === used.accessToken) return response
      await response.body?.cancel()
      token = fresh
      return send(input, init, fresh)
    },
  }
}

function isReplayable(body: RequestInit['body']): boolean {
  return body === undefined || body === null || typeof body === 'string' || body instanceof URLSearchParams ||
    body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof Blob || body instanceof FormData
}
