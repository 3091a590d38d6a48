/**
 * The one token request loop every flow runs (TokenX, Entra ID on-behalf-of and client credentials,
 * Maskinporten): a fresh assertion per attempt, a deadline per attempt, bounded retries of what may
 * succeed again (unreachable, timeout, 5xx), one change of key when the provider refuses ours, and
 * the `exchange` / `exchange.retry` events. What differs between flows — the form, the assertion's
 * claims, the reading of an error answer — is a `Grant`; caching stays with each client.
 */
import { TokenExchangeError, TokenXError } from '../errors.ts'
import { publish, type KitEvents } from '../events.ts'
import { loadTimeTimers, sleep, within } from '../util/abort.ts'
import type { HttpAnswer, PostForm } from '../util/http.ts'
import type { ExchangedToken, Loaded, SigningKey } from '../types.ts'
import type { KeyLoader } from './key.ts'
import { requestTimeout, requestToken, type TokenResponse } from './token-request.ts'

/** One flow's request shape: what is sent, and how an answer other than 200 reads. */
export interface Grant<R> {
  /** The provider, as error details name it: `TokenX`, `Entra ID`, `Maskinporten`. */
  readonly provider: string
  /** What events carry as `audience`: the downstream app or scope asked for (never a token). */
  target(request: R): string
  /** The form body of one attempt; `key` signs a fresh assertion (a new `jti`) each time. */
  form(request: R, key: SigningKey): string
  /** A typed error for any answer but 200 (descriptions kept only from the flow's allow-list). */
  errorFromAnswer(answer: HttpAnswer, request: R): TokenExchangeError
  /** Whether the provider said it does not know our key (it was probably rotated): worth one other key. */
  refusesKey(err: TokenExchangeError): boolean
}

export interface EngineSettings<R> {
  readonly post: PostForm
  /** The token endpoint for `request` (resolved before the run, e.g. by metadata discovery); read once per attempt. */
  readonly tokenEndpoint: (request: R) => URL
  readonly keys: KeyLoader
  /** Milliseconds one attempt may take. */
  readonly timeout: number
  /** Retries of retryable failures (the change of key is not counted). */
  readonly retries: number
  /** Milliseconds of the first retry's backoff; doubles per retry, with full jitter. */
  readonly retryBackoff: number
}

/** Runs one token request of `grant` to completion: a token response or a typed error, never cached here. */
export type TokenRunner<R> = (request: R, signal: AbortSignal, firstKey?: Promise<SigningKey>) => Promise<TokenResponse>

export function createTokenRunner<R>(grant: Grant<R>, settings: EngineSettings<R>): TokenRunner<R> {
  const { keys } = settings

  const attempt = async (key: SigningKey, request: R, signal: AbortSignal): Promise<TokenResponse> => {
    // Signed here (a key that cannot sign fails now, as itself), and again if the HTTP client has
    // to send the request again: each assertion is used once (FormBody).
    let first: string | undefined = grant.form(request, key)
    const form = (): string => {
      const body = first ?? grant.form(request, key)
      first = undefined
      return body
    }
    // Each attempt has its own timeout, and all attempts together stop when `signal` aborts. The
    // timeout runs on real time even while a test fakes the global timers (which `backoff` does use).
    return within(
      { abortAfter: settings.timeout, outer: signal, message: 'The operation was aborted due to timeout', timers: loadTimeTimers },
      (attemptSignal) =>
        requestToken(settings.post, settings.tokenEndpoint(request), form, attemptSignal, grant.provider, (answer) =>
          grant.errorFromAnswer(answer, request),
        ),
    )
  }

  /** The retry policy, in one place: another key, a retry, or `undefined` to give up. */
  const nextStep = async (
    err: unknown,
    key: SigningKey,
    keyChanged: boolean,
    retries: number,
    signal: AbortSignal,
    announce: () => void,
  ): Promise<SigningKey | 'retry' | undefined> => {
    if (signal.aborted || !(err instanceof TokenExchangeError)) return undefined
    // The provider does not know our key: it was probably rotated. Another key, once per request
    // (and none while the loader's reload rate limit holds: then no retry is announced either).
    if (grant.refusesKey(err)) {
      if (keyChanged || !keys.reloadable) return undefined
      return await keys.refused(key, announce)
    }
    if (!err.retryable || retries >= settings.retries) return undefined
    announce()
    return 'retry'
  }

  /**
   * Two separate budgets (docs/configuration.md, "Retries"): at most one change of key when the
   * provider refuses ours (a reload or a fall-back to the previous key; not a retry), and at most
   * `retries` retries of attempts that failed retryably.
   */
  return async (request, signal, firstKey) => {
    const audience = grant.target(request)
    const started = performance.now()
    let attempts = 0
    let keyChanged = false
    let retries = 0
    try {
      let key = await (firstKey ?? keys.get())
      for (;;) {
        try {
          attempts += 1
          const response = await attempt(key, request, signal)
          keys.accepted(key)
          publish('exchange', () => ({ audience, durationMs: performance.now() - started, attempts, tokenEndpointStatus: 200 }))
          return response
        } catch (err) {
          // The retry event goes out before a key reload, so that logs read in the order things happen.
          const announce = () => publish('exchange.retry', () => retryEvent(audience, attempts, err as TokenExchangeError))
          const next = await nextStep(err, key, keyChanged, retries, signal, announce)
          if (next === undefined) throw err
          if (next === 'retry') {
            retries += 1
            await backoff(settings.retryBackoff, retries - 1, signal, grant.provider)
            key = await keys.get()
          } else {
            keyChanged = true
            key = next
          }
        }
      }
    } catch (err) {
      publish('exchange', () => ({
        audience,
        durationMs: performance.now() - started,
        attempts,
        code: err instanceof TokenXError ? err.code : 'ERR_TOKEN_ENDPOINT',
        tokenEndpointStatus: err instanceof TokenExchangeError ? err.tokenEndpointStatus : 0,
        upstreamError: err instanceof TokenExchangeError ? err.upstream.error : undefined,
      }))
      throw err
    }
  }
}

/** Exponential backoff with full jitter (AWS Architecture Blog), cut short by `signal`. */
function backoff(base: number, retry: number, signal: AbortSignal, provider: string): Promise<void> {
  return sleep(Math.random() * base * 2 ** retry, signal, () => requestTimeout(signal, provider))
}

function retryEvent(audience: string, attempt: number, err: TokenExchangeError): KitEvents['exchange.retry'] {
  return { audience, attempt, code: err.code, tokenEndpointStatus: err.tokenEndpointStatus, upstreamError: err.upstream.error }
}

/**
 * An issued token as the cache keeps it: renewed `renewBefore` ms early, as texas does, or at half its
 * life when that is shorter; and never served once the subject's (citizen's or caller's) token has
 * expired: a cache hit skips the subject token checks, and `now < ceil(exp) * 1000` is exactly their
 * `floor(now / 1000) < exp`. `issuedTokenType`: the flow's reading of `issued_token_type`.
 */
export function loadedToken(
  response: TokenResponse,
  audience: string,
  subjectExp: number,
  options: { readonly clock: () => number; readonly renewBefore: number },
  issuedTokenType: string = response.issued_token_type,
): Loaded<ExchangedToken> {
  const expiresAt = options.clock() + response.expires_in * 1000
  const margin = Math.min(options.renewBefore, (response.expires_in * 1000) / 2)
  return {
    value: Object.freeze({ accessToken: response.access_token, audience, expiresAt, tokenType: response.token_type, issuedTokenType }),
    freshUntil: Math.min(expiresAt - margin, Math.ceil(subjectExp) * 1000),
  }
}
