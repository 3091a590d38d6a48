/**
 * The middleware order check of `tokenX()`: middy runs `onError` in reverse order, so middlewares
 * used after `tokenX()` may never see the kit's error answers. Detected from the answers themselves,
 * and warned about (`process.emitWarning`, code `TOKENX_MIDDLEWARE_ORDER`).
 */
import type { TokenXError } from '../errors.ts'

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
export class OrderCheck {
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
export function isPreflight(event: unknown): boolean {
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
