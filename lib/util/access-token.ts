/**
 * What an issued access token must look like, whether it comes from TokenX's answer
 * (exchange/token-request.ts) or back from the shared cache (cache/shared.ts): one rule for both.
 */

/** RFC 8693 §3: the token type TokenX issues. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

/** The longest `expires_in` we believe (a day); tokendings issues about 900 s. */
export const MAX_EXPIRES_IN = 86_400

const MAX_ACCESS_TOKEN_LENGTH = 64 * 1024

/**
 * Whether `value` can be sent as a Bearer token: it goes into an Authorization header, so visible
 * ASCII only (it cannot split the header), and of bounded length.
 */
export function isUsableAccessToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_ACCESS_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(value)
}
