/**
 * Turns a kit error into the HTTP answer API Gateway (v1, v2) and ALB understand. It carries no
 * token, assertion or key material: the body has fixed texts only. (Its log line comes from the
 * `error` event, lib/observe/observer.ts.) And turns a downstream's answer into the function's
 * (`downstreamAnswer`), passing on only what the caller may see.
 */
import { acrValuesFor, isAcrLevel, satisfiesAcr, type AcrLevel } from '../inbound/acr.ts'
import { bearerChallenge } from '../downstream/challenge.ts'
import { DownstreamError, InsufficientAcrError, type TokenXError } from '../errors.ts'

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

/** A downstream's answer made the function's own: what a handler returns (API Gateway v1, v2, ALB). */
export interface DownstreamAnswer {
  readonly statusCode: number
  readonly headers: Record<string, string>
  readonly body: string
  readonly isBase64Encoded: false
}

const NOT_FOUND_BODY = JSON.stringify({ error: 'not_found', error_description: 'The resource was not found' })

/**
 * The function's answer to its caller from a `Response` of `Downstream.fetch`: what the downstream
 * says about the citizen's request is passed on, what it says about us is not.
 *
 * - 2xx: its status and body (read as text), its `Content-Type`, and `Cache-Control: no-store` (the
 *   answer is one citizen's). No other header: the downstream's cookies, caching and internal
 *   headers are not the caller's.
 * - 404: 404 with a fixed body (the downstream's may name its internals).
 * - 401 whose `Bearer` challenge says `insufficient_user_authentication` with an ID-porten level in
 *   `acr_values` (RFC 9470 §3): throws `InsufficientAcrError`, answered 401 with the step-up
 *   challenge for that level, so the client can send the citizen to log in at it.
 * - Anything else — any other 401 or a 403 (the downstream refuses *our* token or client: a 401 to
 *   the citizen would send them to log in again, in a loop), a redirect the kit did not follow,
 *   another 4xx, a 5xx — throws `DownstreamError` `ERR_DOWNSTREAM_STATUS`, answered 502 with a fixed
 *   body and logged (`request failed`, with the downstream's status in `detail`).
 *
 * The thrown errors are the kit's: the middleware answers them (the core: `respond`). A body not
 * passed on is cancelled, which frees the connection.
 */
export async function downstreamAnswer(response: Response, from: { readonly audience: string }): Promise<DownstreamAnswer> {
  const status = response.status
  if (status >= 200 && status < 300) {
    const type = response.headers.get('content-type')
    const headers: Record<string, string> =
      type === null ? { 'Cache-Control': 'no-store' } : { 'Content-Type': type, 'Cache-Control': 'no-store' }
    return { statusCode: status, headers, body: await response.text(), isBase64Encoded: false }
  }
  await response.body?.cancel().catch(() => undefined)
  if (status === 404) {
    return {
      statusCode: 404,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: NOT_FOUND_BODY,
      isBase64Encoded: false,
    }
  }
  if (status === 401) {
    const challenge = bearerChallenge(response.headers.get('www-authenticate'))
    const level = challenge.error === 'insufficient_user_authentication' ? highestLevel(challenge.acrValues) : undefined
    if (level !== undefined) {
      throw new InsufficientAcrError(`the ${from.audience} API asks for login level ${level}`, { acrValues: acrValuesFor(level) })
    }
  }
  throw new DownstreamError('ERR_DOWNSTREAM_STATUS', `the ${from.audience} API answered ${status}`, { audience: from.audience })
}

/** The highest ID-porten level named in `acr_values` (space-separated, RFC 9470 §3); unknown values are ignored. */
function highestLevel(acrValues: string | undefined): AcrLevel | undefined {
  let highest: AcrLevel | undefined
  for (const value of acrValues?.split(' ') ?? []) {
    if (isAcrLevel(value) && (highest === undefined || !satisfiesAcr(highest, value))) highest = value
  }
  return highest
}
