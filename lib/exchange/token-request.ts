/**
 * One RFC 8693 token exchange request and the reading of its answer. Retries, caching and keys live
 * elsewhere; this module turns (assertion, subject token, audience) into a token or a typed error.
 */
import { safeErrorName, TokenExchangeError, translate, type OAuthErrorBody, type TokenXError } from '../errors.ts'
import { ACCESS_TOKEN_TYPE, isUsableAccessToken, MAX_EXPIRES_IN } from '../util/access-token.ts'
import { AnswerTooLargeError, type FormBody, type HttpAnswer, type PostForm } from '../util/http.ts'
import { MalformedAnswerError } from '../util/http1.ts'
import { keptDescription } from './tokenx-descriptions.ts'

/** RFC 8693 §2.1. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
/** RFC 7523 §2.2. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
/** RFC 8693 §3: the citizen's token is a JWT. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'

export interface TokenResponse {
  readonly access_token: string
  readonly issued_token_type: string
  readonly token_type: 'Bearer'
  /** Seconds. */
  readonly expires_in: number
}

export interface ExchangeRequest {
  readonly clientAssertion: string
  readonly subjectToken: string
  /** The downstream app, `cluster:namespace:app`. */
  readonly audience: string
}

/** The six form parameters of RFC 8693 §2.1 plus RFC 7523 §2.2 client authentication. */
export function exchangeForm(request: ExchangeRequest): string {
  return new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    client_assertion_type: JWT_BEARER_ASSERTION,
    client_assertion: request.clientAssertion,
    subject_token_type: JWT_TOKEN_TYPE,
    subject_token: request.subjectToken,
    audience: request.audience,
  }).toString()
}

/**
 * Sends one token request of any flow (`form` is its whole body); every failure comes back as a
 * `TokenExchangeError`: `errorFromAnswer` reads an answer other than 200, `provider` names the
 * provider in the details.
 */
export async function requestToken(
  post: PostForm,
  tokenEndpoint: URL,
  form: FormBody,
  signal: AbortSignal,
  provider: string,
  errorFrom: (answer: HttpAnswer) => TokenExchangeError,
): Promise<TokenResponse> {
  let answer: HttpAnswer
  try {
    answer = await post(tokenEndpoint, form, signal)
  } catch (cause) {
    throw translate(cause, (foreign) => transportError(foreign, signal, provider))
  }
  if (answer.status === 200) return parseTokenResponse(answer, provider)
  throw errorFrom(answer)
}

/** What a foreign error from the HTTP client or an injected `fetch` means; the kit's own pass through `translate`. */
function transportError(cause: unknown, signal: AbortSignal, provider: string): TokenXError {
  if (cause instanceof AnswerTooLargeError) {
    return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `${provider} answered with an oversized body`, { cause })
  }
  // The server answered, but not in HTTP/1.1 we can read: its fault, as an oversized body is.
  if (cause instanceof MalformedAnswerError) {
    return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `${provider} answered with a malformed HTTP answer`, { cause })
  }
  const name = cause instanceof Error ? cause.name : ''
  if (signal.aborted || name === 'AbortError' || name === 'TimeoutError') return requestTimeout(signal, provider, signal.reason ?? cause)
  return new TokenExchangeError('ERR_TOKEN_ENDPOINT_UNAVAILABLE', `${provider} could not be reached (${safeErrorName(cause)})`, { cause })
}

/** The error a request whose caller gave up ends with; its cause is the signal's reason unless given. */
export function requestTimeout(signal: AbortSignal, provider = 'TokenX', cause: unknown = signal.reason): TokenExchangeError {
  const what = provider === 'TokenX' ? 'the token exchange' : `the ${provider} token request`
  return new TokenExchangeError('ERR_TIMEOUT', `${what} did not finish in time`, { cause })
}

/** RFC 8693 §2.2.1; anything that is not a usable Bearer token is an error and is never cached. */
export function parseTokenResponse(answer: HttpAnswer, provider = 'TokenX'): TokenResponse {
  const malformed = (why: string) =>
    new TokenExchangeError('ERR_TOKEN_ENDPOINT', `${provider} answered 200 with ${why}`, { tokenEndpointStatus: answer.status })
  const body = parseJsonObject(answer.body)
  if (body === undefined) throw malformed('a body that is not a JSON object')
  const { access_token, token_type, expires_in, issued_token_type } = body
  if (!isUsableAccessToken(access_token)) throw malformed('no usable access_token')
  // RFC 6749 §5.1: token_type is case-insensitive.
  if (typeof token_type !== 'string' || token_type.toLowerCase() !== 'bearer') throw malformed('a token_type other than Bearer')
  // Below one second the token is floored to `expires_in: 0`: expired on arrival, so no token at all.
  if (typeof expires_in !== 'number' || !Number.isFinite(expires_in) || expires_in < 1 || expires_in > MAX_EXPIRES_IN) {
    throw malformed('a missing or unusable expires_in')
  }
  if (issued_token_type !== undefined && typeof issued_token_type !== 'string') throw malformed('a malformed issued_token_type')
  return {
    access_token,
    token_type: 'Bearer',
    expires_in: Math.floor(expires_in),
    // The usual value shares the constant's string rather than keeping one copy per cached token.
    issued_token_type: issued_token_type === undefined || issued_token_type === ACCESS_TOKEN_TYPE ? ACCESS_TOKEN_TYPE : issued_token_type,
  }
}

/**
 * tokendings answers 400 `invalid_request` both for a bad subject token (the caller's problem) and for
 * an unknown audience or a denied access policy (ours); only the description tells them apart.
 * These are tokendings' own wordings (TokenRequestAuthorizer.kt) as tokenx-descriptions.ts keeps them
 * (fixed texts, values replaced by placeholders), matched whole.
 */
const CLIENT_SIDE_INVALID_REQUEST = new Set([
  'token exchange audience <audience> is invalid',
  'audience <audience> is invalid',
  "client '<client id>' is not authorized to get token with aud=<audience>",
  'client is not authenticated',
])
/** tokendings' prefix for every subject token failure (Extensions.kt `tryOrInvalidSubjectToken`). */
const SUBJECT_TOKEN_PREFIX = 'invalid subject_token: '
/**
 * tokendings verifies our client assertion with the same helper as the subject token (Extensions.kt
 * `SignedJWT.verify`): 400 `invalid_request`, "token verification failed: " and Nimbus's message,
 * URL-encoded — not RFC 6749 §5.2 `invalid_client`. These two messages, and only these, say that no
 * registered key verifies the assertion (our key was rotated). Subject token failures carry
 * SUBJECT_TOKEN_PREFIX; tokendings versions before it (2022) word a subject token signed by an unknown
 * key exactly alike, which is why refusal-driven key reloads are rate-limited (key.ts).
 */
const ASSERTION_KEY_REFUSALS = new Set([
  'token verification failed: Signed JWT rejected: Another algorithm expected, or no matching key(s) found',
  'token verification failed: Signed JWT rejected: Invalid signature',
])

/** Whether `description` is, whole, tokendings' wording for an assertion no registered key verifies. */
function refusesAssertionKey(description: string | undefined): boolean {
  if (description === undefined || description.length > 200) return false
  let decoded: string
  try {
    // application/x-www-form-urlencoded, as Java's URLEncoder wrote it; a plain text decodes to itself.
    decoded = decodeURIComponent(description.replace(/\+/g, ' '))
  } catch {
    return false
  }
  return ASSERTION_KEY_REFUSALS.has(decoded)
}

/** Whether a 400 `invalid_request` is about our request (audience, policy, our assertion), not the subject token. */
function ourInvalidRequest(description: string | undefined): boolean {
  if (description === undefined || description.startsWith(SUBJECT_TOKEN_PREFIX)) return false
  return refusesAssertionKey(description) || CLIENT_SIDE_INVALID_REQUEST.has(description)
}

/** RFC 6749 §5.2 / RFC 8693 §2.2.2 codes that say our client or its configuration is at fault. */
const CLIENT_ERRORS = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_grant',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'access_denied',
])

/**
 * Reads an error answer defensively: JSON per RFC 8693 §2.2.2, or plain text, or nothing. Of what
 * TokenX said only fixed texts are kept (`knownErrorCode`, `keptDescription`): its words may carry
 * the citizen's claims in any encoding, and no pattern can recognise them all.
 */
export function errorFromAnswer(answer: HttpAnswer): TokenExchangeError {
  const status = answer.status
  const body = parseJsonObject(answer.body)
  const upstream: OAuthErrorBody = {
    error: typeof body?.['error'] === 'string' ? knownErrorCode(body['error']) : undefined,
    error_description: typeof body?.['error_description'] === 'string' ? keptDescription(body['error_description']) : undefined,
  }
  const init = { tokenEndpointStatus: status, upstream }
  const said =
    upstream.error === undefined ? '' : `: ${upstream.error}${upstream.error_description ? ` (${upstream.error_description})` : ''}`
  if (status >= 500 || status < 400) {
    return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `TokenX answered ${status}${said}`, init)
  }
  if (upstream.error === 'invalid_request' && status === 400) {
    return ourInvalidRequest(upstream.error_description)
      ? new TokenExchangeError('ERR_CLIENT_REJECTED', `TokenX refused the request${said}`, init)
      : new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', `TokenX rejected the subject token${said}`, init)
  }
  if (status === 401 || status === 403 || (upstream.error !== undefined && CLIENT_ERRORS.has(upstream.error))) {
    return new TokenExchangeError('ERR_CLIENT_REJECTED', `TokenX refused our client${said}`, init)
  }
  // A 4xx without an RFC error body: not retryable, not the caller's fault as far as we can tell.
  return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `TokenX answered ${status}${said}`, init)
}

/**
 * The registered OAuth error codes a token endpoint may answer (IANA "OAuth Extensions Error
 * Registry"): RFC 6749 §5.2 and §4.1.2.1, RFC 8693 §2.2.2, RFC 6750 §3.1, RFC 8628 §3.5, RFC 7009
 * §2.2.1, RFC 9449 §5 and §8. Only these are kept; any other value, whatever its shape, could be data
 * (an identity number is a valid NQSCHAR word) and is logged as `[unrecognised]`.
 */
const KNOWN_ERROR_CODES: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_target',
  'invalid_token',
  'insufficient_scope',
  'authorization_pending',
  'slow_down',
  'expired_token',
  'unsupported_token_type',
  'invalid_dpop_proof',
  'use_dpop_nonce',
])
export function knownErrorCode(text: string): string {
  return KNOWN_ERROR_CODES.has(text) ? text : '[unrecognised]'
}

/**
 * Whether TokenX said our client authentication failed, so that the key may have been rotated: RFC
 * 6749 §5.2 `invalid_client` in a 4xx, or tokendings' own wording for an assertion no registered key
 * verifies. Nothing else — a bare 401 (a proxy's), `invalid_grant`, an `invalid_request` about the
 * subject token — is about our key, and none of it may cost a key reload.
 */
export function isInvalidClient(err: unknown): err is TokenExchangeError {
  if (!(err instanceof TokenExchangeError) || err.code !== 'ERR_CLIENT_REJECTED') return false
  const { error, error_description: description } = err.upstream
  return error === 'invalid_client' || (error === 'invalid_request' && err.tokenEndpointStatus === 400 && refusesAssertionKey(description))
}

export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
