/**
 * Turns a kit error into the HTTP answer API Gateway (v1, v2) and ALB understand, and into one log
 * line. Neither carries a token, an assertion or key material: the body has fixed texts only, and
 * the log line has TokenX's redacted error fields.
 */
import { TokenExchangeError, type TokenXError } from './errors.ts'

export interface ErrorResponse {
  readonly statusCode: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly isBase64Encoded: false
}

/** RFC 6750 §3 for 401 and 400 answers, RFC 6749 §5.2-style JSON body for all. */
export function errorResponse(err: TokenXError): ErrorResponse {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
  }
  if (err.status === 401 || (err.status === 400 && err.code === 'ERR_BEARER_TOKEN')) {
    headers['www-authenticate'] = err.error === ''
      ? 'Bearer'
      : `Bearer error="${err.error}", error_description="${err.error_description}"`
  }
  const body = err.error === ''
    ? { error_description: err.error_description }
    : { error: err.error, error_description: err.error_description }
  return { statusCode: err.status, headers, body: JSON.stringify(body), isBase64Encoded: false }
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
  const base = { level: err.status >= 500 ? 'error' : 'warn', message: err.message, code: err.code, status: err.status } as const
  if (!(err instanceof TokenExchangeError)) return base
  return {
    ...base,
    tokenEndpointStatus: err.tokenEndpointStatus,
    upstreamError: err.upstream.error,
    upstreamErrorDescription: err.upstream.error_description,
  }
}
