/**
 * The kit's one error module.
 *
 * Every error the kit throws while serving an invocation is a `TokenXError` in the http-errors
 * convention every middy middleware follows: `statusCode`, `expose`, `headers` and a `message` that is the public answer body, so that
 * `@middy/http-error-handler` (or any handler of that convention) renders exactly the answer the kit
 * itself gives (see `errorResponse`). Next to them: a typed `code`, the OAuth `error` /
 * `error_description` pair, and `detail`, the internal explanation for operators.
 *
 * Nothing on an error — `message`, `detail`, `stack`, other properties, `cause` — contains a token,
 * an assertion, key material or a claim of the citizen's token: other middlewares log errors whole
 * (`console.error(error)`). A foreign error (a library's, a runtime's, an injected `fetch`'s) is never
 * kept: a `cause` that is not the kit's own becomes a `ForeignError` that holds its name and code only
 * (`safeErrorName` below), whoever constructs the error.
 *
 * Bad options found at construction are `InvalidOptionError`s (a `TypeError` with
 * `code: 'ERR_INVALID_OPTION'`), programming errors never answered to a caller.
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
  /**
   * Entra ID refused the on-behalf-of exchange until the caller's token carries more claims
   * (conditional access): answered 401 with the claims challenge for the caller's client.
   */
  | 'ERR_CLAIMS_CHALLENGE'
  /** TokenX answered, but not with a usable token (5xx, malformed body). */
  | 'ERR_TOKEN_ENDPOINT'
  /** TokenX could not be reached (connection refused, reset, DNS). */
  | 'ERR_TOKEN_ENDPOINT_UNAVAILABLE'
  /** An outbound call did not finish in time, or was aborted. */
  | 'ERR_TIMEOUT'
  /** The downstream API could not be reached (connection refused, reset, DNS, TLS). Answered as 502. */
  | 'ERR_DOWNSTREAM_UNAVAILABLE'
  /** The downstream API did not answer (headers) within `downstreamTimeout` or the Lambda's deadline. Answered as 504. */
  | 'ERR_DOWNSTREAM_TIMEOUT'
  /** The handler asked to send the token to a URL outside the audience's configured origin(s), or in cleartext. Answered as 500. */
  | 'ERR_DOWNSTREAM_URL'
  /** The downstream API answered with a status the function does not pass on to its caller (401, 403, 5xx, ...; `downstreamAnswer`). Answered as 502. */
  | 'ERR_DOWNSTREAM_STATUS'
  /** Inbound validation: see `InboundErrorCode` at the end of this module. */
  | InboundErrorCode

/** Fields of an RFC 8693 §2.2.2 / RFC 6749 §5.2 error response, as received from TokenX. */
export interface OAuthErrorBody {
  readonly error?: string | undefined
  readonly error_description?: string | undefined
}

/** What a subclass tells the base class about the answer; every field has a default. */
export interface TokenXErrorInit {
  /** Kept as it is when it is the kit's own error; any other value is kept as a `ForeignError` (its sanitised name and code only). */
  readonly cause?: unknown
  /** The HTTP status the function answers its caller with. Default 500. */
  readonly statusCode?: number | undefined
  /** Alias of `statusCode` (the name before 0.2); `statusCode` wins when both are given. */
  readonly status?: number | undefined
  /** The OAuth error code answered (RFC 6750 §3.1 / RFC 6749 §5.2); `''` answers none. Default `server_error`. */
  readonly error?: string | undefined
  /** A fixed, public description; never interpolate anything into it. Default: a generic server error text. */
  readonly error_description?: string | undefined
  /**
   * The `WWW-Authenticate` challenge (RFC 6750 §3): `true` builds `Bearer` with `error` and
   * `error_description` (a bare `Bearer` when `error` is `''`), a string is sent as it is, `false`
   * sends none. Default: `true` for 401 answers, `false` otherwise.
   */
  readonly challenge?: boolean | string | undefined
  /** More answer headers, canonically cased; they override the defaults. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** What the caller is answered for an error: the HTTP status, the OAuth `error` code and a fixed public description. */
interface PublicAnswer {
  readonly statusCode: number
  readonly error: string
  readonly error_description: string
}

// The public descriptions, each written once. Fixed texts: nothing is ever interpolated into them.
const SERVER_FAILED = 'The server could not complete the request'
const TOKEN_REFUSED = 'The bearer token is malformed, expired or not accepted'
const UPSTREAM_UNAVAILABLE = 'An upstream service is unavailable'
const UPSTREAM_UNEXPECTED = 'An upstream service answered unexpectedly'
const UPSTREAM_SLOW = 'An upstream service did not answer in time'
const INSUFFICIENT_ACR_DESCRIPTION = 'A higher authentication level is required'

const SERVER_ERROR = { statusCode: 500, error: 'server_error', error_description: SERVER_FAILED } as const

/**
 * The one table from error code to public answer (docs/errors.md). Every kit error takes its
 * `statusCode`, `error` and `error_description` from here, and its `message` (the answer body, with
 * `expose: true`) is made of them. `ERR_BEARER_TOKEN` is the answer for a bearer token that was sent
 * but is unusable; the other bearer problems are answered as `BEARER_ANSWERS` says.
 */
const PUBLIC_ANSWERS = {
  ERR_CONFIG: SERVER_ERROR,
  ERR_KEY: SERVER_ERROR,
  ERR_BEARER_TOKEN: { statusCode: 401, error: 'invalid_token', error_description: TOKEN_REFUSED },
  ERR_SUBJECT_TOKEN_REJECTED: { statusCode: 401, error: 'invalid_token', error_description: TOKEN_REFUSED },
  ERR_CLIENT_REJECTED: SERVER_ERROR,
  ERR_CLAIMS_CHALLENGE: { statusCode: 401, error: 'insufficient_claims', error_description: 'The bearer token needs additional claims' },
  ERR_TOKEN_ENDPOINT: { statusCode: 502, error: 'temporarily_unavailable', error_description: UPSTREAM_UNEXPECTED },
  ERR_TOKEN_ENDPOINT_UNAVAILABLE: { statusCode: 503, error: 'temporarily_unavailable', error_description: UPSTREAM_UNAVAILABLE },
  ERR_TIMEOUT: { statusCode: 504, error: 'temporarily_unavailable', error_description: UPSTREAM_SLOW },
  ERR_DOWNSTREAM_UNAVAILABLE: { statusCode: 502, error: 'temporarily_unavailable', error_description: UPSTREAM_UNAVAILABLE },
  ERR_DOWNSTREAM_TIMEOUT: { statusCode: 504, error: 'temporarily_unavailable', error_description: UPSTREAM_SLOW },
  ERR_DOWNSTREAM_URL: SERVER_ERROR,
  ERR_DOWNSTREAM_STATUS: { statusCode: 502, error: 'server_error', error_description: UPSTREAM_UNEXPECTED },
  ERR_INSUFFICIENT_ACR: { statusCode: 401, error: 'insufficient_user_authentication', error_description: INSUFFICIENT_ACR_DESCRIPTION },
  ERR_CALLER_NOT_ALLOWED: { statusCode: 403, error: 'insufficient_scope', error_description: 'The calling application is not allowed' },
  ERR_JWKS_UNAVAILABLE: { statusCode: 503, error: 'temporarily_unavailable', error_description: UPSTREAM_UNAVAILABLE },
  ERR_JWKS_INVALID: { statusCode: 502, error: 'temporarily_unavailable', error_description: UPSTREAM_UNEXPECTED },
  ERR_JWKS_TIMEOUT: { statusCode: 504, error: 'temporarily_unavailable', error_description: UPSTREAM_SLOW },
} as const satisfies Readonly<Record<TokenXErrorCode, PublicAnswer>>

/** The public answer for `code` (the table above), for tests and docs checks; the classes read the table themselves. */
export function publicAnswer(code: TokenXErrorCode): PublicAnswer {
  return PUBLIC_ANSWERS[code]
}

/**
 * Base class of every error the kit throws. Its `message` is the public answer body, JSON:
 * `{"error":…,"error_description":…}` (no `error` member when it is `''`), fixed texts only; the
 * internal explanation is `detail`. Subclasses keep the `(detail, options)` constructor shape and pass
 * their answer (`statusCode`, `error`, `error_description`, `challenge`, `headers`) in `init`.
 */
export class TokenXError extends Error {
  override name = 'TokenXError'
  /** Stable machine-readable code. */
  readonly code: TokenXErrorCode
  /** The HTTP status the function answers its caller with (http-errors convention). */
  readonly statusCode: number
  /**
   * Always `true`: `message` is the public answer body, safe to send (http-errors convention; with
   * `false`, @middy/http-error-handler would replace the answer with a bare 500).
   */
  readonly expose: boolean = true
  /** Answer headers, canonically cased: `Content-Type`, `Cache-Control`, `WWW-Authenticate` when due. */
  readonly headers: Readonly<Record<string, string>>
  /** The OAuth error code answered to the caller (RFC 6750 §3.1 / RFC 6749 §5.2); `''` for none. */
  readonly error: string
  /** A fixed, human-readable description answered to the caller; reveals nothing internal. */
  readonly error_description: string
  /** The internal explanation, for logs: names what went wrong, never a token, assertion or key. */
  readonly detail: string
  constructor(code: TokenXErrorCode, detail: string, init: TokenXErrorInit = {}) {
    const error = init.error ?? SERVER_ERROR.error
    const description = init.error_description ?? SERVER_ERROR.error_description
    super(JSON.stringify(error === '' ? { error_description: description } : { error, error_description: description }), {
      cause: ownOrStandIn(init.cause),
    })
    this.code = code
    this.statusCode = init.statusCode ?? init.status ?? 500
    this.error = error
    this.error_description = description
    this.detail = detail
    this.headers = Object.freeze({
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      ...challengeHeader(init.challenge ?? this.statusCode === 401, error, description),
      ...init.headers,
    })
  }

  /** Alias of `statusCode`. */
  get status(): number {
    return this.statusCode
  }
}

/** RFC 6750 §3: the challenge, with the error code and description as auth-params. */
function challengeHeader(challenge: boolean | string, error: string, description: string): Record<string, string> {
  if (challenge === false) return {}
  if (typeof challenge === 'string') return { 'WWW-Authenticate': challenge }
  return { 'WWW-Authenticate': error === '' ? 'Bearer' : `Bearer error="${error}", error_description="${description}"` }
}

/** Missing or malformed configuration. Answered as 500: it is our fault, not the caller's. */
export class ConfigError extends TokenXError {
  override name = 'ConfigError'
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('ERR_CONFIG', detail, { cause: options.cause, ...PUBLIC_ANSWERS.ERR_CONFIG })
  }
}

/** The private key could not be loaded or is unusable. Answered as 500. */
export class KeyError extends TokenXError {
  override name = 'KeyError'
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('ERR_KEY', detail, { cause: options.cause, ...PUBLIC_ANSWERS.ERR_KEY })
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
  constructor(detail: string, options: { cause?: unknown; problem?: BearerProblem } = {}) {
    const problem = options.problem ?? 'invalid'
    super('ERR_BEARER_TOKEN', detail, { cause: options.cause, ...BEARER_ANSWERS[problem], challenge: true })
    this.problem = problem
  }
}

// The answers of `ERR_BEARER_TOKEN` by problem. Every one carries a challenge, the 400 too (RFC 6750
// §3.1 lists invalid_request); with no token sent at all, no error code (§3.1).
const BEARER_ANSWERS = {
  missing: { statusCode: 401, error: '', error_description: 'A bearer token is required' },
  invalid: PUBLIC_ANSWERS.ERR_BEARER_TOKEN,
  malformed_request: { statusCode: 400, error: 'invalid_request', error_description: 'The request must carry exactly one bearer token' },
} as const satisfies Readonly<Record<BearerProblem, PublicAnswer>>

/**
 * TokenX answered with an error. Carries what TokenX said (`tokenEndpointStatus` and the RFC 8693
 * §2.2.2 `upstream` body, as fixed texts only: tokenx-descriptions.ts) for logs; the caller sees only
 * `statusCode`, `error` and a fixed `error_description`.
 */
export class TokenExchangeError extends TokenXError {
  override name = 'TokenExchangeError'
  /** HTTP status TokenX answered with (0 when it never answered). */
  readonly tokenEndpointStatus: number
  /** What the kit keeps of TokenX's error body: a registered `error` code and a fixed description; never sent to the caller. */
  readonly upstream: OAuthErrorBody

  constructor(
    code: Extract<
      TokenXErrorCode,
      | 'ERR_SUBJECT_TOKEN_REJECTED'
      | 'ERR_CLIENT_REJECTED'
      | 'ERR_TOKEN_ENDPOINT'
      | 'ERR_TOKEN_ENDPOINT_UNAVAILABLE'
      | 'ERR_TIMEOUT'
      | 'ERR_CLAIMS_CHALLENGE'
    >,
    detail: string,
    init: { cause?: unknown; tokenEndpointStatus?: number; upstream?: OAuthErrorBody; challenge?: string | undefined } = {},
  ) {
    super(code, detail, { cause: init.cause, ...PUBLIC_ANSWERS[code], challenge: init.challenge })
    this.tokenEndpointStatus = init.tokenEndpointStatus ?? 0
    this.upstream = init.upstream ?? {}
  }

  /** Whether trying again with a fresh assertion may succeed (never for 4xx answers). */
  get retryable(): boolean {
    return (
      this.code === 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' ||
      this.code === 'ERR_TIMEOUT' ||
      (this.code === 'ERR_TOKEN_ENDPOINT' && this.tokenEndpointStatus >= 500)
    )
  }
}

/** Re-throws our own errors unchanged; anything else is wrapped by `wrap`. */
export function translate(err: unknown, wrap: (err: unknown) => TokenXError): TokenXError {
  return err instanceof TokenXError ? err : wrap(err)
}

// ---- Foreign errors: the one sanitiser ------------------------------------------------------------
//
// What a foreign error carries is foreign text: its message may quote whatever it was given (a
// token, the `Authorization` header, a key), and its `name` and `code` are just as free (a library
// may put anything there). So the kit never keeps the message, and keeps a name or code only in the
// narrow shapes runtimes and SDKs use, which leave no room for the data it must not log: a name is
// PascalCase words of letters only, at most 64 characters — no digit (so no identity number, date or
// serial), no `.`, `-`, `_`, `+`, `/` or `=` (so no JWT or URL, and base64 text only if it happens to
// be letters only and to fall into capitalised words); a code is an upper-case Node, undici or
// OpenSSL code with no two digits in a row. Anything else is reported as `UnknownError`. Every place
// a foreign error enters (TokenX transport, downstream fetch, JWKS fetch, Secrets Manager, DynamoDB,
// crypto, a logger) names it through `safeErrorName` (`loadFailureText` when the AWS SDK cannot
// even be loaded), and every kit error keeps a `ForeignError` stand-in as its `cause` (the
// constructor below sees to it, whoever builds the error).

/** PascalCase words, or acronyms of 2–6 capitals before a word or at the end: `TypeError`, `DOMException`, `JWKSTimeout`, `ThrottlingException`. */
const ERROR_NAME = /^(?:[A-Z][a-z]+|[A-Z]{2,6}(?=[A-Z][a-z]|$))+$/
/** Node.js system codes (`ECONNREFUSED`, `ENOTFOUND`) and `..._ERR_...` codes (`ERR_OSSL_EVP_BAD_DECRYPT`, `UND_ERR_SOCKET`, `ABORT_ERR`). */
const ERROR_CODE = /^(?:E[A-Z]{2,20}|(?:[A-Z]{1,10}_)*ERR(?:_[A-Z][A-Z0-9]{0,19})*)$/
/** Longer than any real name or code; a bound before any pattern runs. */
const MAX_NAME_LENGTH = 64
/** What a name of any other shape is reported as. */
const UNKNOWN_ERROR_NAME = 'UnknownError'

function nameOf(err: object): string | undefined {
  const { name } = err as { name?: unknown }
  return typeof name === 'string' && name.length <= MAX_NAME_LENGTH && ERROR_NAME.test(name) ? name : undefined
}

function ownCodeOf(err: object): string | undefined {
  const { code } = err as { code?: unknown }
  // Two digits in a row are data (an identity number, a date), not part of any code.
  return typeof code === 'string' && code.length <= MAX_NAME_LENGTH && ERROR_CODE.test(code) && !/\d\d/.test(code) ? code : undefined
}

/** The error's own code, else its cause's (undici's `fetch failed` carries `ECONNREFUSED` there). */
function codeOf(err: object): string | undefined {
  const own = ownCodeOf(err)
  if (own !== undefined) return own
  const { cause } = err as { cause?: unknown }
  return cause !== null && typeof cause === 'object' ? ownCodeOf(cause) : undefined
}

/**
 * A foreign error's code (`ECONNREFUSED`: more telling than its name, `TypeError`) or name
 * (`ThrottlingException`, `TimeoutError`), for details, events and log lines; never its message.
 * Only a value of the shapes above is passed on, else `UnknownError`. For lib/ only; not exported
 * from index.ts.
 */
export function safeErrorName(err: unknown): string {
  if (err === null || typeof err !== 'object') return UNKNOWN_ERROR_NAME
  return codeOf(err) ?? nameOf(err) ?? UNKNOWN_ERROR_NAME
}

/** `safeErrorName` where an abort can only mean a time budget ran out (the SDK calls the kit cuts short). */
export function budgetErrorName(err: unknown): string {
  return (err as { name?: unknown } | null)?.name === 'AbortError' ? 'TimeoutError' : safeErrorName(err)
}

/**
 * A module-load failure's sanitised name and its message, on one line and bounded: `Error: Dynamic
 * require of "node:https" is not supported`. Only for failures before anything secret exists (an SDK
 * that a bundler broke), where the message is what an operator needs; never for a request's error.
 */
export function loadFailureText(err: unknown): string {
  if (!(err instanceof Error)) return 'non-error thrown'
  return `${nameOf(err) ?? UNKNOWN_ERROR_NAME}: ${err.message}`.replace(/\s+/g, ' ').slice(0, 300)
}

/**
 * What a kit error keeps of a foreign error as its `cause`: the name, the code and (AWS SDK) the
 * HTTP status, each only in a shape that cannot carry data; never the message, the stack, other
 * properties or the foreign error's own cause. `name` is the foreign error's, sanitised, so that
 * loggers print `TypeError [ECONNREFUSED]`-like lines; `instanceof ForeignError` tells it apart.
 */
export class ForeignError extends Error {
  /** The foreign error's code (`ECONNREFUSED`, `ERR_OSSL_...`), when it had one of that shape. */
  readonly code: string | undefined
  /** The HTTP status an AWS SDK error reported (`$metadata.httpStatusCode`), when a number. */
  readonly httpStatusCode: number | undefined
  constructor(err: unknown) {
    const isObject = err !== null && typeof err === 'object'
    const name = (isObject ? nameOf(err) : undefined) ?? UNKNOWN_ERROR_NAME
    const code = isObject ? codeOf(err) : undefined
    super(code === undefined ? 'a foreign error; its message is not kept' : `a foreign error (${code}); its message is not kept`)
    this.name = name
    this.code = code
    const status = isObject ? (err as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode : undefined
    this.httpStatusCode = typeof status === 'number' && Number.isInteger(status) ? status : undefined
  }
}

/** The kit's own errors pass as they are (they carry nothing foreign); anything else becomes a `ForeignError`. */
function ownOrStandIn(cause: unknown): unknown {
  if (cause === undefined || cause instanceof TokenXError || cause instanceof InvalidOptionError || cause instanceof ForeignError)
    return cause
  return new ForeignError(cause)
}

/**
 * A bad option, found at construction (a factory's options object, or a value in it). A `TypeError`,
 * as Node's own argument errors are, with a stable `code` and the offending `option` named; it is a
 * programming error, never answered to a caller, so it is not a `TokenXError`.
 */
export class InvalidOptionError extends TypeError {
  override name = 'TypeError'
  readonly code = 'ERR_INVALID_OPTION'
  /** The option at fault, e.g. `retries` or `audience.api`. */
  readonly option: string
  constructor(option: string, problem: string) {
    super(`${option} ${problem}`)
    this.option = option
  }
}

/**
 * A request through `Downstream.fetch` failed before the downstream answered: unreachable (502),
 * too slow (504), or aimed at a URL the token may not go to (500). A downstream that answers, with any
 * status, is not an error: the handler gets its `Response` — unless the handler hands it to
 * `downstreamAnswer`, which turns a status the caller must not see into this error (502).
 */
export class DownstreamError extends TokenXError {
  override name = 'DownstreamError'
  /** The downstream app, `cluster:namespace:app`. */
  readonly audience: string

  constructor(
    code: Extract<
      TokenXErrorCode,
      'ERR_DOWNSTREAM_UNAVAILABLE' | 'ERR_DOWNSTREAM_TIMEOUT' | 'ERR_DOWNSTREAM_URL' | 'ERR_DOWNSTREAM_STATUS'
    >,
    message: string,
    init: { cause?: unknown; audience: string },
  ) {
    super(code, message, { cause: init.cause, ...PUBLIC_ANSWERS[code] })
    this.audience = init.audience
  }
}
// ---- Inbound validation ----------------------------------------------------------------------

/** The codes of the inbound-validation errors below (kept apart so `TokenXErrorCode` merges stay line-local). */
export type InboundErrorCode =
  /** The caller's token was validly signed, but its login level (`acr`) is below the required one. */
  | 'ERR_INSUFFICIENT_ACR'
  /** The caller's token is valid, but the calling application (`client_id`) is not allowed. */
  | 'ERR_CALLER_NOT_ALLOWED'
  /** An issuer's JWKS or discovery document could not be fetched (connection refused, reset, 5xx). */
  | 'ERR_JWKS_UNAVAILABLE'
  /** An issuer's JWKS or discovery document was fetched but is unusable (not JSON, wrong shape, wrong issuer). */
  | 'ERR_JWKS_INVALID'
  /** An issuer's JWKS or discovery document did not arrive in time (its own timeout or the deadline). */
  | 'ERR_JWKS_TIMEOUT'

/**
 * RFC 9470 §3 step-up: the token is valid but its `acr` is too low. Answered 401 with
 * `WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values="<required>"`, so
 * the client can send the citizen back to ID-porten with `acr_values`.
 */
export class InsufficientAcrError extends TokenXError {
  override name = 'InsufficientAcrError'
  /** The `acr` value(s) that would satisfy the requirement (space-separated, RFC 9470 §3). */
  readonly acrValues: string
  constructor(detail: string, options: { cause?: unknown; acrValues: string }) {
    super('ERR_INSUFFICIENT_ACR', detail, {
      cause: options.cause,
      ...PUBLIC_ANSWERS.ERR_INSUFFICIENT_ACR,
      challenge: `Bearer error="insufficient_user_authentication", error_description="${INSUFFICIENT_ACR_DESCRIPTION}", acr_values="${options.acrValues}"`,
    })
    this.acrValues = options.acrValues
  }
}

/**
 * The token is valid but the application that sent it (its `client_id` claim) is not on the
 * allow-list. Answered 403 with `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1).
 */
export class ForbiddenCallerError extends TokenXError {
  override name = 'ForbiddenCallerError'
  constructor(detail: string, options: { cause?: unknown } = {}) {
    super('ERR_CALLER_NOT_ALLOWED', detail, {
      cause: options.cause,
      ...PUBLIC_ANSWERS.ERR_CALLER_NOT_ALLOWED,
      // RFC 6750 §3.1: insufficient_scope is answered 403 with the challenge.
      challenge: true,
    })
  }
}

/**
 * An issuer's keys could not be had: our infrastructure's fault, never the caller's, so 5xx (never a
 * 401 that would send the citizen to log in again). 503 unreachable, 502 unusable answer, 504 too slow.
 */
export class JwksError extends TokenXError {
  override name = 'JwksError'
  constructor(
    code: Extract<InboundErrorCode, 'ERR_JWKS_UNAVAILABLE' | 'ERR_JWKS_INVALID' | 'ERR_JWKS_TIMEOUT'>,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, detail, { cause: options.cause, ...PUBLIC_ANSWERS[code] })
  }

  /** Whether fetching again may succeed (unreachable or slow; a malformed document stays malformed). */
  get retryable(): boolean {
    return this.code !== 'ERR_JWKS_INVALID'
  }
}
