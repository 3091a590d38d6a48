/**
 * A `fetch` for one downstream app that sends the exchanged token as `Authorization: Bearer`
 * (RFC 6750 §2.1) — only to the app's configured origin(s), over `https:` (or `http:` on loopback);
 * for an audience without a url, only to public `https:` URLs — has a timeout, honours the caller's
 * signal and the Lambda's deadline, and, when the downstream answers 401 to a cached token, drops
 * that token, exchanges again and retries once.
 *
 * Redirects are followed here, and only within the configured origin(s), or the first request's
 * origin when none is configured (`redirect: 'manual'`): the token must never depend on the
 * runtime's `fetch` stripping `Authorization` on a cross-origin hop. The handler's URL is read once,
 * at the start: the redirects and the retry go where the first request went, whatever the handler
 * does to its URL object meanwhile. See docs/downstream-security.md.
 */
import { bearerChallenge } from './challenge.ts'
import type { TokenXClient } from '../exchange/client.ts'
import { DownstreamError, TokenXError, InvalidOptionError, safeErrorName } from '../errors.ts'
import { kitEvents, publish, type KitEvents } from '../events.ts'
import type { ExchangedToken, FetchLike } from '../types.ts'
import { timeoutError } from '../util/abort.ts'
import { isLocalHost, isSafeUrl } from '../util/url.ts'

const downstreamEvents = kitEvents('downstream')

export interface DownstreamOptions {
  /** Where a token refused with 401 is dropped and a fresh one got: the TokenX client, or another flow's token client. */
  readonly client: Pick<TokenXClient, 'exchange' | 'evict'>
  readonly subjectToken: string
  readonly token: ExchangedToken
  /** Milliseconds a downstream request may take until its answer's headers arrive. */
  readonly timeout: number
  /**
   * Aborts downstream requests and re-exchanges, e.g. when the Lambda is about to time out. Its
   * `signal` is read when a request or re-exchange starts, never before (the middleware creates the
   * deadline signal on first use). A downstream request reads only `at` (ms since the epoch): its
   * own timer is cut to the deadline, so it needs no second timer and no listener.
   */
  readonly deadline?:
    | {
        readonly signal?: AbortSignal | undefined
        readonly at?: number | undefined
        /** Clears the deadline's timer, if it started one; called through `releaseDownstream`. */
        release?(): void
      }
    | undefined
  readonly fetch: FetchLike
  /**
   * The origins (`https://api.example`) the token may be sent to; the first one's URL is the base for
   * relative inputs. Undefined: any `https:` URL whose host is not loopback or link-local
   * (`isLocalHost`), and redirects within the first request's origin only.
   */
  readonly origins?: readonly string[] | undefined
}

export interface Downstream {
  /** The downstream app, `cluster:namespace:app`. */
  readonly audience: string
  /** The exchanged token currently in use (it changes after a 401 retry). */
  readonly token: ExchangedToken
  /**
   * `fetch` with the token attached. `input` is a URL string or `URL` (read once, when called),
   * absolute and within the configured origin(s), or relative to the first configured URL; without
   * a configured url, an absolute `https:` URL whose host is not loopback or link-local. A `Request`
   * is refused: pass its URL, and method, headers and body in `init`. Rejects with `DownstreamError`
   * (502 unreachable, 504 too slow, 500 a URL the token may not go to); any answer, whatever its
   * status, is returned. A 401 drops the token, and a request whose body can be replayed (not a
   * stream) is sent once more with a fresh token — except when the challenge says
   * `insufficient_user_authentication` (RFC 9470 §3): a fresh token would carry the same login
   * level, so the token stays and the 401 is returned. Redirects are followed within the configured
   * origin(s) (or the first request's origin) only; any other redirect is returned as it is.
   */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>
}

/** Redirects followed per request, as browsers cap them too (fetch spec: 20; a downstream API needs few). */
const MAX_REDIRECTS = 5

export function createDownstream(options: DownstreamOptions): Downstream {
  return new TokenXDownstream(options)
}

/**
 * Ends `value`'s invocation if it is a kit `Downstream`: releases its deadline (clears the timer, if
 * one was started). Returns whether it was one.
 */
export function releaseDownstream(value: unknown): boolean {
  if (!(value instanceof TokenXDownstream)) return false
  value.release()
  return true
}

/**
 * Checks downstream base URLs at construction: absolute, `https:` (or `http:` on loopback), no
 * credentials. Returns them as given (the first is the base for relative inputs); their origins are
 * what the token is bound to.
 */
export function checkDownstreamUrls(name: string, urls: readonly string[]): readonly string[] {
  for (const url of urls) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new InvalidOptionError(`${name}`, 'must be absolute URLs')
    }
    if (!isSafeUrl(parsed)) throw new InvalidOptionError(`${name}`, 'must be https: URLs (http: only on a loopback host)')
    if (parsed.username !== '' || parsed.password !== '') throw new InvalidOptionError(`${name}`, 'must not carry credentials')
  }
  return urls
}

/**
 * A class, not an object literal: one is made per invocation, and a literal with a getter (`token`)
 * is slow to build. `fetch` is an own arrow function, so `const { fetch } = context.tokenX` keeps working.
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

  /** See `releaseDownstream`. */
  release(): void {
    this.#options.deadline?.release?.()
  }

  readonly fetch = async (input: string | URL, init: RequestInit = {}): Promise<Response> => {
    // A string from here on: the redirects and the 401 retry use this copy, never the handler's URL object.
    const url = this.#target(input)
    const started = performance.now()
    const used = this.#token
    let response: Response
    // The first request inline (what `#send` does): on the warm path every async frame and promise
    // between the handler and the runtime's fetch is CPU a plain `fetch` does not spend.
    const guard = new RequestGuard(init.signal ?? undefined, this.#timeout())
    try {
      response = await this.#options.fetch(url, requestInit(init, used, guard.signal))
    } catch (err) {
      throw this.#failed(guard.failure(err, this.audience), started)
    } finally {
      guard.release()
    }
    if (response.status === 401 || (isRedirect(response.status) && followsRedirects(init))) {
      try {
        response = await this.#complete(response, url, init, used)
      } catch (err) {
        throw this.#failed(err, started)
      }
    }
    return this.#published(response, started)
  }

  /**
   * The rarer answers to the first request: a redirect within the allowed origins is followed; a 401
   * to the token (after any redirects) drops it from the cache, and a replayable request is sent
   * once more with a fresh token.
   */
  async #complete(first: Response, url: string, init: RequestInit, used: ExchangedToken): Promise<Response> {
    const { client, subjectToken, deadline } = this.#options
    const response = isRedirect(first.status) && followsRedirects(init) ? await this.#redirected(first, url, url, init, used) : first
    if (response.status !== 401) return response
    const { error } = bearerChallenge(response.headers.get('www-authenticate'))
    if (error === 'insufficient_user_authentication') {
      // RFC 9470 §3: the token is good, the citizen's login level is not enough for this call. A new
      // token would carry the same level; this one still serves calls that need no more.
      this.#tokenRefused(error, 'keep')
      return response
    }
    // The downstream no longer accepts the token (revoked, or its keys rotated): never serve it
    // again — whether or not this request can be retried. Awaited: the shared cache's tombstone
    // write must not be left running when the answer goes out (Lambda freezes it).
    await client.evict(subjectToken, used.audience, used, { signal: deadline?.signal })
    const replayable = isReplayable(init.body)
    this.#tokenRefused(error, replayable ? 'retry' : 'drop')
    if (!replayable) return response
    const fresh = await client.exchange(subjectToken, used.audience, { signal: deadline?.signal })
    if (fresh.accessToken === used.accessToken) return response
    await response.body?.cancel().catch(() => undefined)
    this.#token = fresh
    return this.#follow(url, init, fresh)
  }

  #tokenRefused(error: string | undefined, action: KitEvents['downstream.refused']['action']): void {
    publish('downstream.refused', () => ({ audience: this.audience, error: knownError(error), action }))
  }

  #failed(err: unknown, started: number): unknown {
    const durationMs = performance.now() - started
    const code = err instanceof TokenXError ? err.code : undefined
    publish('downstream', () => ({ audience: this.audience, status: 0, durationMs, code }))
    publish('downstream.failed', () => ({ audience: this.audience, durationMs, code }))
    return err
  }

  #published(response: Response, started: number): Response {
    if (downstreamEvents.hasSubscribers)
      downstreamEvents.publish({ audience: this.audience, status: response.status, durationMs: performance.now() - started })
    return response
  }

  /**
   * The URL to send to, as a string of its own (a `URL` object is read once, here), or
   * `ERR_DOWNSTREAM_URL` for one the token may not go to.
   */
  #target(input: unknown): string {
    const text = typeof input === 'string' ? input : input instanceof URL ? input.href : undefined
    if (text === undefined) {
      // A `Request`'s URL would be read as "[object Request]", and its method, headers and body lost.
      throw this.#refused(
        input instanceof Request
          ? 'a Request object (pass its URL, and method, headers and body in init)'
          : 'something that is not a URL string or URL object',
      )
    }
    const origins = this.#options.origins
    if (origins === undefined) {
      const url = parseOrUndefined(text)
      if (url === undefined || url.protocol !== 'https:') throw this.#refused('a URL that is not absolute https:')
      // Without a configured url nothing names a local service as the audience's: refuse them all.
      if (isLocalHost(url.hostname)) throw this.#refused('a loopback or link-local host (bind the audience to a url to allow one)')
      return url.href
    }
    // The common cases without parsing: a relative URL resolved (and checked) before, or an
    // absolute one that starts with an allowed origin and a path.
    const resolved = resolvedInputs(origins).get(text)
    if (resolved !== undefined) return resolved
    for (const base of origins) if (withinOrigin(text, base)) return text
    const url = parseOrUndefined(text, origins[0])
    if (url === undefined || !isHttp(url) || !origins.some((base) => sameOrigin(url, base)))
      throw this.#refused("a URL outside the audience's configured origin(s)")
    remember(resolvedInputs(origins), text, url.href)
    return url.href
  }

  #refused(what: string): DownstreamError {
    return new DownstreamError('ERR_DOWNSTREAM_URL', `the handler asked to send the ${this.audience} token to ${what}`, {
      audience: this.audience,
    })
  }

  /** Sends, following redirects within the allowed origins only. */
  async #follow(url: string, init: RequestInit, current: ExchangedToken): Promise<Response> {
    const response = await this.#send(url, init, current)
    return isRedirect(response.status) && followsRedirects(init) ? this.#redirected(response, url, url, init, current) : response
  }

  /**
   * Follows `response`, a redirect to the request sent to `url`, and those after it, within the
   * allowed origins only: the configured ones, or else `first`'s (the first request's URL).
   */
  async #redirected(response: Response, url: string, first: string, init: RequestInit, current: ExchangedToken): Promise<Response> {
    let request = init
    let target = url
    for (let hop = 0; ; hop++) {
      if (hop > 0) response = await this.#send(target, request, current)
      const location = isRedirect(response.status) ? response.headers.get('location') : null
      if (location === null || hop >= MAX_REDIRECTS) return response
      const next = parseOrUndefined(location, target)
      // Elsewhere: the handler gets the redirect itself; the token is not sent on.
      if (next === undefined || !this.#allows(next, first)) return response
      const method = (request.method ?? 'GET').toUpperCase()
      // Fetch spec §4.4 (HTTP-redirect fetch): 303, and 301/302 after a POST, become a GET without a body.
      if (response.status === 303 ? method !== 'HEAD' : (response.status === 301 || response.status === 302) && method === 'POST') {
        request = { ...request, method: 'GET', body: null }
      } else if (!isReplayable(request.body)) {
        return response
      }
      await response.body?.cancel().catch(() => undefined)
      target = next.href
    }
  }

  /** Whether a redirect may take the token to `url`: within the configured origins, or else `first`'s origin. */
  #allows(url: URL, first: string): boolean {
    if (!isHttp(url)) return false
    const origins = this.#options.origins
    return origins === undefined ? url.origin === new URL(first).origin : origins.some((base) => sameOrigin(url, base))
  }

  /** One request (`fetch` sends its first one itself, the same way). */
  async #send(url: string, init: RequestInit, current: ExchangedToken): Promise<Response> {
    const guard = new RequestGuard(init.signal ?? undefined, this.#timeout())
    try {
      return await this.#options.fetch(url, requestInit(init, current, guard.signal))
    } catch (err) {
      throw guard.failure(err, this.audience)
    } finally {
      guard.release()
    }
  }

  /** Milliseconds the next request may take: `timeout`, cut to the deadline. */
  #timeout(): number {
    const at = this.#options.deadline?.at
    return at === undefined ? this.#options.timeout : Math.max(0, Math.min(this.#options.timeout, at - Date.now()))
  }
}

/**
 * One request's timer — the request timeout, cut to the deadline — and a forwarded abort from the
 * caller's signal, both gone once the headers arrive (`release`). No AbortSignal.timeout/any (their
 * timers cannot be cleared and fire long after the request), and no listener on the deadline's signal:
 * the timer is already cut to it.
 */
class RequestGuard {
  readonly #controller = new AbortController()
  readonly #caller: AbortSignal | undefined
  readonly #timer: ReturnType<typeof setTimeout>
  #timedOut = false
  readonly #onAbort = (): void => this.#controller.abort(this.#caller?.reason)

  constructor(caller: AbortSignal | undefined, timeout: number) {
    this.#caller = caller
    if (caller !== undefined) {
      if (caller.aborted) this.#controller.abort(caller.reason)
      else caller.addEventListener('abort', this.#onAbort)
    }
    this.#timer = setTimeout(() => {
      this.#timedOut = true
      this.#controller.abort(timeoutError('The downstream request did not answer in time'))
    }, timeout)
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /**
   * What a failed request rejects with: the caller's own abort reason, unchanged, or a
   * `DownstreamError`. `err` is foreign (the runtime's or an injected `fetch`'s, which was handed the
   * token): the error names it by `safeErrorName` only and keeps a `ForeignError` stand-in as its
   * cause (errors.ts), never its message.
   */
  failure(err: unknown, audience: string): unknown {
    // The handler's own abort is its business: its reason, unchanged.
    if (this.#caller?.aborted === true && !this.#timedOut) return this.#caller.reason
    if (this.#timedOut) {
      return new DownstreamError('ERR_DOWNSTREAM_TIMEOUT', `the ${audience} request did not answer in time`, { audience, cause: err })
    }
    return new DownstreamError('ERR_DOWNSTREAM_UNAVAILABLE', `the ${audience} request failed (${safeErrorName(err)})`, {
      audience,
      cause: err,
    })
  }

  release(): void {
    clearTimeout(this.#timer)
    this.#caller?.removeEventListener('abort', this.#onAbort)
  }
}

/** What the runtime's fetch gets: the caller's init with the token, our signal, and no automatic redirects. */
function requestInit(init: RequestInit, current: ExchangedToken, signal: AbortSignal): RequestInit {
  return { ...init, headers: withAuthorization(init.headers, authorizationOf(current)), signal, redirect: 'manual' }
}

/** `Bearer <token>` per exchanged token, built once: not a new 1 KB string per request. */
const authorizations = new WeakMap<ExchangedToken, string>()

function authorizationOf(token: ExchangedToken): string {
  let value = authorizations.get(token)
  if (value === undefined) {
    value = `Bearer ${token.accessToken}`
    authorizations.set(token, value)
  }
  return value
}

/** Whether the caller leaves redirects to us (the default): 'manual' and 'error' get the redirect itself. */
function followsRedirects(init: RequestInit): boolean {
  return init.redirect !== 'manual' && init.redirect !== 'error'
}

/**
 * The request's headers with `authorization` set: a plain object is copied (cheaper than a `Headers`
 * per request), anything else goes through `Headers`.
 */
function withAuthorization(given: RequestInit['headers'], authorization: string): NonNullable<RequestInit['headers']> {
  if (given === undefined) return { authorization }
  if (given instanceof Headers || Array.isArray(given)) {
    const headers = new Headers(given)
    headers.set('authorization', authorization)
    return headers
  }
  const headers: Record<string, string> = {}
  for (const name in given) {
    if (!Object.hasOwn(given, name) || (name.length === 13 && name.toLowerCase() === 'authorization')) continue
    headers[name] = (given as Record<string, string>)[name] as string
  }
  headers['authorization'] = authorization
  return headers
}

/** Relative inputs resolved against an audience's first URL, per configured origin list; bounded. */
const resolvedByOrigins = new WeakMap<readonly string[], Map<string, string>>()
const MAX_RESOLVED = 256

function resolvedInputs(origins: readonly string[]): Map<string, string> {
  let resolved = resolvedByOrigins.get(origins)
  if (resolved === undefined) {
    resolved = new Map()
    resolvedByOrigins.set(origins, resolved)
  }
  return resolved
}

function remember(resolved: Map<string, string>, input: string, href: string): void {
  // Paths built per request (ids in them) would grow the map without end: keep the first few only.
  if (resolved.size < MAX_RESOLVED) resolved.set(input, href)
}

function parseOrUndefined(input: string, base?: string): URL | undefined {
  try {
    return new URL(input, base)
  } catch {
    return undefined
  }
}

/** `input` is `origin` itself or begins with it and a path, query or fragment (not `origin.evil.example`, `origin@x`). */
function withinOrigin(input: string, base: string): boolean {
  const origin = originOf(base)
  if (!input.startsWith(origin)) return false
  const next = input.charCodeAt(origin.length)
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f /* ? */ || next === 0x23 /* # */
}

const origins = new Map<string, string>()
function originOf(base: string): string {
  let origin = origins.get(base)
  if (origin === undefined) {
    origin = new URL(base).origin
    origins.set(base, origin)
  }
  return origin
}

function sameOrigin(url: URL, base: string): boolean {
  return url.origin === originOf(base)
}

/**
 * `http:` or `https:`: a `blob:` URL has the origin of the URL inside it, so an origin comparison
 * alone would let `blob:https://api.example/…` through.
 */
function isHttp(url: URL): boolean {
  return url.protocol === 'https:' || url.protocol === 'http:'
}

/** The `error` codes an event may carry (RFC 6750 §3.1, RFC 9470 §3); any other is `other`: no foreign text in logs. */
const KNOWN_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
  'insufficient_user_authentication',
])

function knownError(error: string | undefined): KitEvents['downstream.refused']['error'] {
  if (error === undefined) return undefined
  return KNOWN_ERRORS.has(error) ? (error as KitEvents['downstream.refused']['error']) : 'other'
}

function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308
}

function isReplayable(body: RequestInit['body']): boolean {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob ||
    body instanceof FormData
  )
}
