/**
 * The kit's one error module.
 *
 * Every error the kit throws is a `TokenXError` with a typed `code`, the HTTP `status` the caller of
 * the function should see, and the OAuth `error` / `error_description` pair to answer with. Messages
 * never contain a token, an assertion or key material: callers can log them as they are.
 *
 * `name` is set as a literal in each class because minifiers rename classes.
 */

export type TokenXErrorCode =
  /** The kit is misconfigured (missing or malformed environment variable or option). */
  | 'ERR_CONFIG'
  /** The private JWK could not be loaded from its source or is not an RSA private key with a `kid`. */
  | 'ERR_KEY'
  /** The caller sent no usable bearer token (missing, malformed, expired). */
  | 'ERR_BEARER_TOKEN'
  /** TokenX rejected the caller's token (the subject token) — the caller must authenticate again. */
  | 'ERR_SUBJECT_TOKEN_REJECTED'
  /** TokenX refused our client: assertion rejected, client unknown, audience unknown or access denied. */
  | 'ERR_CLIENT_REJECTED'
  /** TokenX answered, but not with a usable token (5xx, malformed body). */
  | 'ERR_TOKEN_ENDPOINT'
  /** TokenX could not be reached (connection refused, reset, DNS). */
  | 'ERR_TOKEN_ENDPOINT_UNAVAILABLE'
  /** An outbound call did not finish in time, or was aborted. */
  | 'ERR_TIMEOUT'

/** Fields of an RFC 8693 §2.2.2 / RFC 6749 §5.2 error response, as received from TokenX. */
export interface OAuthErrorBody {
  readonly error?: string | undefined
  readonly error_description?: string | undefined
}

interface TokenXErrorInit {
  readonly cause?: unknown
  readonly status?: number
  readonly error?: string
  readonly error_description?: string
}

/** Base class of every error the kit throws. */
export class TokenXError extends Error {
  override name = 'TokenXError'
  /** Stable machine-readable code. */
  readonly code: TokenXErrorCode
  /** The HTTP status the function answers its caller with. */
  readonly status: number
  /** The OAuth error code answered to the caller (RFC 6750 §3.1 / RFC 6749 §5.2). */
  readonly error: string
  /** A fixed, human-readable description answered to the caller; reveals nothing internal. */
  readonly error_description: string

  constructor(code: TokenXErrorCode, message: string, init: TokenXErrorInit = {}) {
    super(message, { cause: init.cause })
    this.code = code
    this.status = init.status ?? 500
    this.error = init.error ?? 'server_error'
    this.error_description = init.error_description ?? 'The server could not complete the request'
  }
}

/** Missing or malformed configuration. Answered as 500: it is our fault, not the caller's. */
export class ConfigError extends TokenXError {
  override name = 'ConfigError'
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CONFIG', message, { ...options, status: 500 })
  }
}

/** The private key could not be loaded or is unusable. Answered as 500. */
export class KeyError extends TokenXError {
  override name = 'KeyError'
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_KEY', message, { ...options, status: 500 })
  }
}

/** How a bearer token failed: absent (or another scheme), present but unusable, or sent ambiguously. */
export type BearerProblem = 'missing' | 'invalid' | 'malformed_request'

/**
 * The caller's bearer token is missing or unusable (RFC 6750 §3.1). Answered as 401 with
 * `WWW-Authenticate: Bearer` — without an error code when no token was sent at all, as §3.1 asks —
 * or as 400 `invalid_request` when the request itself is malformed (a repeated Authorization header).
 */
export class BearerTokenError extends TokenXError {
  override name = 'BearerTokenError'
  readonly problem: BearerProblem
  constructor(message: string, options: { cause?: unknown; problem?: BearerProblem } = {}) {
    const problem = options.problem ?? 'invalid'
    super('ERR_BEARER_TOKEN', message, { cause: options.cause, ...BEARER_VIEWS[problem] })
    this.problem = problem
  }
}

const BEARER_VIEWS = {
  missing: { status: 401, error: '', error_description: 'A bearer token is required' },
  invalid: { status: 401, error: 'invalid_token', error_description: 'The bearer token is malformed, expired or not accepted' },
  malformed_request: { status: 400, error: 'invalid_request', error_description: 'The request must carry exactly one bearer token' },
} as const

/**
 * TokenX answered with an error. Carries what TokenX said (`tokenEndpointStatus` and the RFC 8693
 * §2.2.2 `upstream` body, with anything token-shaped redacted) for logs; the caller sees only
 * `status`, `error` and a fixed `error_description`.
 */
export class TokenExchangeError extends TokenXError {
  override name = 'TokenExchangeError'
  /** HTTP status TokenX answered with (0 when it never answered). */
  readonly tokenEndpointStatus: number
  /** TokenX's error body, redacted and truncated; never sent to the caller. */
  readonly upstream: OAuthErrorBody

  constructor(
    code: Extract<
      TokenXErrorCode,
      'ERR_SUBJECT_TOKEN_REJECTED' | 'ERR_CLIENT_REJECTED' | 'ERR_TOKEN_ENDPOINT' | 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' | 'ERR_TIMEOUT'
    >,
    message: string,
    init: { cause?: unknown; tokenEndpointStatus?: number; upstream?: OAuthErrorBody } = {},
  ) {
    super(code, message, { cause: init.cause, ...callerView(code) })
    this.tokenEndpointStatus = init.tokenEndpointStatus ?? 0
    this.upstream = init.upstream ?? {}
  }

  /** Whether trying again with a fresh assertion may succeed (never for 4xx answers). */
  get retryable(): boolean {
    return this.code === 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' || this.code === 'ERR_TIMEOUT' ||
      (this.code === 'ERR_TOKEN_ENDPOINT' && this.tokenEndpointStatus >= 500)
  }
}

/** What the caller of the function sees for each TokenX failure; see the README's status table. */
function callerView(code: TokenExchangeError['code']): Required<Omit<TokenXErrorInit, 'cause'>> {
  switch (code) {
    case 'ERR_SUBJECT_TOKEN_REJECTED':
      return { status: 401, error: 'invalid_token', error_description: 'The bearer token is malformed, expired or not accepted' }
    case 'ERR_CLIENT_REJECTED':
      return { status: 500, error: 'server_error', error_description: 'The server could not complete the request' }
    case 'ERR_TOKEN_ENDPOINT':
      return { status: 502, error: 'temporarily_unavailable', error_description: 'An upstream service answered unexpectedly' }
    case 'ERR_TOKEN_ENDPOINT_UNAVAILABLE':
      return { status: 503, error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' }
    default:
      return { status: 504, error: 'temporarily_unavailable', error_description: 'An upstream service did not answer in time' }
  }
}

/**
 * A JWT (RFC 7519 §3: base64url parts joined by dots), also with its signature stripped — as a
 * careful server quotes a token — or any base64url-encoded JSON object (`eyJ` is `{"`), which a
 * token's header and payload are even when cut short. A subject token's payload alone carries the
 * citizen's identity number.
 */
const JWT_LIKE = /[\w-]{8,}\.[\w-]{8,}(?:\.[\w-]*)?|eyJ[\w-]*/g
const MAX_DESCRIPTION = 300

/**
 * TokenX's `error_description` goes into logs only; still, never trust it not to echo a token back.
 * Redact anything JWT-shaped and cut it short.
 */
export function redact(text: string): string {
  const cleaned = text.replace(JWT_LIKE, '[redacted]')
  return cleaned.length > MAX_DESCRIPTION ? `${cleaned.slice(0, MAX_DESCRIPTION)}…` : cleaned
}

/** Re-throws our own errors unchanged; anything else is wrapped by `wrap`. */
export function translate(err: unknown, wrap: (err: unknown) => TokenXError): TokenXError {
  return err instanceof TokenXError ? err : wrap(err)
}
