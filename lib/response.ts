/**
 * Turns a kit error into the HTTP answer API Gateway (v1, v2) and ALB understand, and into one log
 * line. Neither carries a token, an assertion or key material: the body has fixed texts only, and
 * the log line has TokenX's redacted error fields.
 */
import { TokenExchangeError, type TokenXError } from './errors.ts'

export interface ErrorResponse {
  readonly statusCode: number
  readonly headers: Record<string, string>
  readonly body: string
  readonly isBase64Encoded: false
}

/**
 * The answer for a kit error: the error's `statusCode`, its `headers` (RFC 6750 §3 challenge on 401
 * and bearer 400 answers) and its `message`, the RFC 6749 §5.2-style JSON body — exactly what
 * @middy/http-error-handler renders from the same error. `headers` is a fresh object, as middlewares
 * after the kit (CORS, security headers) add to it in place.
 */
export function errorResponse(err: TokenXError): ErrorResponse {
  return { statusCode: err.statusCode, headers: { ...err.headers }, body: err.message, isBase64Encoded: false }
}

export interface LogEntry {
  readonly level: 'warn' | 'error'
  readonly message: string
  readonly code: TokenXError['code']
  readonly status: number
  readonly tokenEndpointStatus?: number
  readonly upstreamError?: string | undefined
  readonly upstreamErrorDescription?: string | undefined
}

export type Logger = (entry: LogEntry) => void

/** One JSON line on stderr (CloudWatch keeps it as one event). */
export const defaultLogger: Logger = (entry) => console.error(JSON.stringify(entry))

/** What is worth logging of an error: 5xx as `error`, the caller's bad tokens as `warn`. */
export function logEntry(err: TokenXError): LogEntry {
  const base = { level: err.status >= 500 ? 'error' : 'warn', message: err.detail, code: err.code, status: err.statusCode } as const
  if (!(err instanceof TokenExchangeError)) return base
  return {
    ...base,
    tokenEndpointStatus: err.tokenEndpointStatus,
    upstreamError: err.upstream.error,
    upstreamErrorDescription: err.upstream.error_description,
  }
}
