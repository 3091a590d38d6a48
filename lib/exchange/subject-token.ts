/**
 * Cheap local checks on the caller's token before anything is loaded or exchanged. TokenX verifies
 * the signature; here we only refuse what TokenX would certainly refuse, so a bad caller costs no
 * key load, no assertion and no round trip.
 */
import { decodeJwt } from 'jose'
import { BearerTokenError } from '../errors.ts'

/** A JWS in compact serialization (RFC 7515 §7.1): three base64url parts. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * Throws `BearerTokenError` unless `token` looks like a signed JWT that has not expired; returns its
 * `exp` (seconds since the epoch), which bounds how long an exchange made with it is served from the
 * cache.
 * @param now seconds since the epoch
 */
export function subjectTokenExpiry(token: unknown, now: number, maxLength: number): number {
  if (typeof token !== 'string' || token === '') throw new BearerTokenError('no bearer token', { problem: 'missing' })
  if (token.length > maxLength) throw new BearerTokenError(`the bearer token is longer than ${maxLength} characters`)
  if (!COMPACT_JWS.test(token)) throw new BearerTokenError('the bearer token is not a signed JWT')
  let exp: unknown
  try {
    exp = decodeJwt(token).exp
  } catch {
    // jose's message does not quote the token; dropping the cause altogether keeps it that way.
    throw new BearerTokenError("the bearer token's payload is not a JWT claims set")
  }
  if (typeof exp !== 'number') throw new BearerTokenError('the bearer token has no exp claim')
  if (exp <= now) throw new BearerTokenError('the bearer token has expired')
  return exp
}
