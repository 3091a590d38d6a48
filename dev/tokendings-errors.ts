/**
 * tokendings' error wording, for the local TokenX (dev/tokenx.ts).
 *
 * tokendings verifies both the client assertion and the subject token with Nimbus JOSE+JWT and puts
 * Nimbus' message, URL-encoded, into the description (Extensions.kt `SignedJWT.verify`:
 * "token verification failed: " + URLEncoder.encode(message)). The local TokenX verifies with
 * oidc-provider and jose, whose messages differ; these functions translate them so a client can be
 * tested against the exact texts it will see from tokendings.
 */
import { errors as joseErrors } from 'jose'

/**
 * - `'oauth'` (default): a failed client assertion (signature, `exp`, `aud`, replayed `jti`) gets
 *   RFC 6749 §5.2 401 `invalid_client`, as oidc-provider answers; subject token failures are worded
 *   "token verification failed: ...", "invalid request, validator for issuer=X not found",
 *   "invalid request, cannot parse token" (earlier tokendings versions).
 * - `'tokendings'`: as tokendings' main branch answers: a failed assertion verification is 400
 *   `invalid_request` "token verification failed: <Nimbus message>" (only an unknown client and an
 *   over-long lifetime are 401 `invalid_client`), and subject token failures are prefixed
 *   "invalid subject_token: " (Extensions.kt `tryOrInvalidSubjectToken`), the unknown issuer worded
 *   "invalid request, cannot validate token from issuer=X" (TokenIssuer.kt).
 */
export type ErrorStyle = 'oauth' | 'tokendings'

/** `URLEncoder.encode` (application/x-www-form-urlencoded: spaces become `+`). */
export function formEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

const NO_MATCHING_KEY = 'Signed JWT rejected: Another algorithm expected, or no matching key(s) found'
const INVALID_SIGNATURE = 'Signed JWT rejected: Invalid signature'

/** Nimbus' message for an oidc-provider client authentication failure detail. */
export function nimbusMessageForAssertion(detail: string, aud: unknown): string {
  if (detail === 'signature verification failed') return INVALID_SIGNATURE
  if (/no applicable key found|no matching key|alg mismatch/i.test(detail)) return NO_MATCHING_KEY
  if (detail === 'jwt expired') return 'Expired JWT'
  if (detail === 'jwt not active yet') return 'JWT before use time'
  if (/audience \(aud\)/.test(detail)) return `JWT audience rejected: [${[aud].flat().join(', ')}]`
  return detail
}

/** Nimbus' message for a jose verification error of a subject token. */
export function nimbusMessageForSubjectToken(error: unknown, expectedIssuer: string, actualIssuer: unknown): string {
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return INVALID_SIGNATURE
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JOSEAlgNotAllowed) return NO_MATCHING_KEY
  if (error instanceof joseErrors.JWTExpired) return 'Expired JWT'
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return `JWT missing required claims: [${error.claim}]`
    if (error.claim === 'nbf') return 'JWT before use time'
    if (error.claim === 'iss') return `JWT iss claim has value ${String(actualIssuer)}, must be ${expectedIssuer}`
    if (error.claim === 'iat') return 'JWT issue time ahead of current time'
  }
  return error instanceof Error ? error.message : 'unknown error'
}
