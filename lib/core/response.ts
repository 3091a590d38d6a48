/**
 * Turns a kit error into the HTTP answer API Gateway (v1, v2) and ALB understand. It carries no
 * token, assertion or key material: the body has fixed texts only. (Its log line comes from the
 * `error` event, lib/observe/observer.ts.)
 */
import type { TokenXError } from '../errors.ts'

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
