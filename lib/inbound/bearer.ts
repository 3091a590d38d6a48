/**
 * Reads the caller's bearer token (RFC 6750 §2.1) from API Gateway REST (v1), HTTP API (v2) and ALB
 * events. Only the Authorization header is read: RFC 6750 §2.2–2.3 form and query transport are not
 * accepted, since query strings end up in access logs.
 */
import { BearerTokenError } from '../errors.ts'

/** The parts of an API Gateway v1/v2 or ALB event this module reads; anything else is ignored. */
export interface HttpEventLike {
  readonly headers?: Readonly<Record<string, string | undefined>> | null
  readonly multiValueHeaders?: Readonly<Record<string, readonly string[] | undefined>> | null
}

/**
 * `Bearer` (any case: auth schemes are case-insensitive, RFC 9110 §11.1), one or more spaces, then a
 * b64token (RFC 6750 §2.1), then nothing but optional trailing spaces.
 */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i
const SCHEME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?: |$)/

/**
 * The bearer token of `event`. Throws `BearerTokenError`: `missing` when there is no Authorization
 * header or it uses another scheme, `malformed_request` when there are several, `invalid` when the
 * value is not a well-formed bearer credential or is longer than `maxLength`.
 */
export function bearerToken(event: unknown, maxLength: number): string {
  return bearerFromHeader(authorizationHeader(event), maxLength)
}

/**
 * The one Authorization value of `event` (trimmed), as `bearerToken` reads it. Throws
 * `BearerTokenError`: `missing` when there is none, `malformed_request` when there are several.
 */
export function authorizationHeader(event: unknown): string {
  if (event === null || typeof event !== 'object') throw new BearerTokenError('no Authorization header', { problem: 'missing' })
  const { headers, multiValueHeaders } = event as HttpEventLike
  // No Set, array or closure per invocation (this runs on every warm one): the first value, and
  // whether another, different one follows.
  let found: string | undefined
  if (isRecord(headers)) {
    for (const name in headers) {
      if (name.length === 13 && name.toLowerCase() === 'authorization') found = withValue(found, headers[name])
    }
  }
  if (isRecord(multiValueHeaders)) {
    for (const name in multiValueHeaders) {
      if (name.length !== 13 || name.toLowerCase() !== 'authorization') continue
      const list = multiValueHeaders[name]
      if (Array.isArray(list)) for (const value of list) found = withValue(found, value)
      else found = withValue(found, list)
    }
  }
  if (found === undefined) throw new BearerTokenError('no Authorization header', { problem: 'missing' })
  return found
}

/** `found`, or `value` trimmed if it is the first; throws when it is a second, different one. */
function withValue(found: string | undefined, value: unknown): string | undefined {
  // An empty header is no header; a non-string value is an event of an unknown shape.
  if (typeof value !== 'string') return found
  const trimmed = value.trim()
  if (trimmed === '' || trimmed === found) return found
  if (found !== undefined) throw new BearerTokenError('more than one Authorization header', { problem: 'malformed_request' })
  return trimmed
}

/** The token of one Authorization value (`authorizationHeader`); throws `BearerTokenError` as `bearerToken` does. */
export function bearerFromHeader(value: string, maxLength: number): string {
  // "Bearer " plus the token; checked before any regular expression runs over a huge value.
  if (value.length > maxLength + 64) throw new BearerTokenError('the Authorization header is too long')
  const match = BEARER.exec(value)
  if (match === null) {
    // Another scheme (Basic, DPoP, ...) is not a bearer token at all: RFC 6750 §3.1 says to answer
    // without an error code. Garbage, or Bearer with a bad token, is an invalid token.
    const scheme = SCHEME.exec(value)?.[0].trim().toLowerCase()
    if (scheme !== undefined && scheme !== 'bearer' && value.length > scheme.length) {
      throw new BearerTokenError('the Authorization header uses another scheme', { problem: 'missing' })
    }
    throw new BearerTokenError('the Authorization header is not a well-formed bearer credential')
  }
  return match[1] as string
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
