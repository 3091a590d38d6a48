/**
 * A JWT's signature and registered claims, checked locally: RS256 only (RFC 7518 §3.3), never `none`
 * or HMAC, and only with a key from the issuer's configured JWKS. `jku`, `x5u`, `jwk` and `x5c` headers
 * are never read (RFC 8725 §3.10: a token must not choose the key that verifies it).
 *
 * Signatures are verified with node:crypto (one synchronous `crypto.verify`), not jose's `jwtVerify`:
 * that goes through WebCrypto, which needs more CPU per token (figures in bench/README.md).
 *
 * Per new token the bytes are decoded into one reused buffer (`scratch`), never into fresh Buffers,
 * so that checking a token leaves no garbage to collect.
 */
import { verify as verifySignatureBytes, type KeyObject } from 'node:crypto'

/** Why a token was refused, in words that name no token content; becomes a 401. */
export class TokenRefusal extends Error {
  override name = 'TokenRefusal'
}

/** A compact JWS split and decoded, its signature not yet checked. */
export interface DecodedJwt {
  readonly kid: string | undefined
  /** The claims set. Not to be trusted until `verifySignature` said yes. */
  readonly payload: Readonly<Record<string, unknown>>
  /** `header.payload`, the text the signature covers. */
  readonly signingInput: string
  /** The signature, still base64url text (checked to be only base64url characters). */
  readonly signature: string
}

const B64URL = /^[A-Za-z0-9_-]+$/

/**
 * One buffer for decoding, reused by every token: each use (decode then `JSON.parse`, or write then
 * `crypto.verify`) is synchronous, so no two uses overlap. A token too large for it (beyond the
 * 16 KiB `maxTokenLength` default) falls back to fresh Buffers.
 */
const scratch = Buffer.allocUnsafeSlow(64 * 1024)

/**
 * Splits and decodes `token`. Throws `TokenRefusal` unless it is a three-part compact JWS (RFC 7515
 * §7.1) whose header says `alg: RS256`, names no critical extension, and whose payload is a JSON object.
 */
export function decodeJwt(token: string): DecodedJwt {
  const first = token.indexOf('.')
  const second = first < 0 ? -1 : token.indexOf('.', first + 1)
  if (first <= 0 || second < 0 || token.indexOf('.', second + 1) >= 0 || second === first + 1 || second === token.length - 1) {
    throw new TokenRefusal('not a signed JWT')
  }
  const headerPart = token.slice(0, first)
  const payloadPart = token.slice(first + 1, second)
  const signaturePart = token.slice(second + 1)
  // The payload (the longest part) is not scanned: JSON.parse refuses what does not decode to JSON,
  // and the signature covers the literal text, so a lenient decoding of it cannot be exploited.
  // The header is checked in headerKid (once per distinct header text).
  if (!B64URL.test(signaturePart)) throw new TokenRefusal('not a signed JWT')
  const kid = headerKid(headerPart)
  return {
    kid,
    payload: parseObject(payloadPart, 'payload'),
    signingInput: token.slice(0, second),
    signature: signaturePart,
  }
}

/**
 * An issuer signs every token with the same few headers: each accepted header text is remembered
 * (a handful, bounded), so a new token's header costs a map look-up instead of a decode and a parse.
 */
const acceptedHeaders = new Map<string, string | undefined>()
const MAX_ACCEPTED_HEADERS = 64

/** The `kid` of an acceptable protected header; throws `TokenRefusal` for any other header. */
function headerKid(headerPart: string): string | undefined {
  if (acceptedHeaders.has(headerPart)) return acceptedHeaders.get(headerPart)
  if (!B64URL.test(headerPart)) throw new TokenRefusal('not a signed JWT')
  const header = parseObject(headerPart, 'header')
  // The allow-list is one value: ID-porten and TokenX sign with RS256 only. `none`, HS256 (an attacker
  // "signing" with the issuer's public key as the secret) and everything else are refused here.
  if (header['alg'] !== 'RS256') throw new TokenRefusal('alg not allowed')
  // RFC 7515 §4.1.11: an extension we do not understand marked critical must be refused.
  if (header['crit'] !== undefined) throw new TokenRefusal('critical header extension')
  const kid = header['kid']
  if (kid !== undefined && typeof kid !== 'string') throw new TokenRefusal('kid not a string')
  if (acceptedHeaders.size >= MAX_ACCEPTED_HEADERS) acceptedHeaders.clear()
  acceptedHeaders.set(headerPart, kid)
  return kid
}

/** Whether `jwt`'s RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256) verifies with `key`. */
export function verifySignature(jwt: DecodedJwt, key: KeyObject): boolean {
  if (key.asymmetricKeyType !== 'rsa') return false
  const { signingInput, signature } = jwt
  try {
    // UTF-8 takes at most 3 bytes per UTF-16 unit, base64url decodes to fewer bytes than characters.
    if (signingInput.length * 3 + signature.length > scratch.length) {
      return verifySignatureBytes('sha256', Buffer.from(signingInput), key, Buffer.from(signature, 'base64url'))
    }
    const inputBytes = scratch.write(signingInput, 0, 'utf8')
    const signatureBytes = scratch.write(signature, inputBytes, 'base64url')
    return verifySignatureBytes('sha256', scratch.subarray(0, inputBytes), key, scratch.subarray(inputBytes, inputBytes + signatureBytes))
  } catch {
    return false
  }
}

export interface ClaimRules {
  /** The exact `iss` expected. */
  readonly issuer: string
  /** `aud` must be this value or an array containing it. */
  readonly audience: string
  /** Milliseconds since the epoch. */
  readonly now: number
  /** Milliseconds of clock skew allowed for `exp`, `nbf` and `iat`. */
  readonly leeway: number
}

/**
 * Checks the registered claims (RFC 7519 §4.1) and returns `exp` in seconds. `exp` is required; `nbf`
 * and `iat`, when present, must be numbers and not in the future (each with `leeway`).
 */
export function checkClaims(payload: Readonly<Record<string, unknown>>, rules: ClaimRules): number {
  if (payload['iss'] !== rules.issuer) throw new TokenRefusal('wrong iss')
  const aud = payload['aud']
  if (!(aud === rules.audience || (Array.isArray(aud) && aud.includes(rules.audience)))) throw new TokenRefusal('wrong aud')
  const exp = payload['exp']
  if (!isNumericDate(exp)) throw new TokenRefusal('no exp')
  if (exp * 1000 + rules.leeway <= rules.now) throw new TokenRefusal('expired')
  const nbf = payload['nbf']
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf * 1000 > rules.now + rules.leeway)) throw new TokenRefusal('not yet valid (nbf)')
  const iat = payload['iat']
  if (iat !== undefined && (!isNumericDate(iat) || iat * 1000 > rules.now + rules.leeway))
    throw new TokenRefusal('issued in the future (iat)')
  return exp
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function parseObject(part: string, what: string): Record<string, unknown> {
  let value: unknown
  try {
    // base64url decodes to fewer bytes than it has characters, so `part` fits when it is no longer.
    const text =
      part.length <= scratch.length
        ? scratch.toString('utf8', 0, scratch.write(part, 0, 'base64url'))
        : Buffer.from(part, 'base64url').toString('utf8')
    value = JSON.parse(text)
  } catch {
    throw new TokenRefusal(`${what} not JSON`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenRefusal(`${what} not a JSON object`)
  return value as Record<string, unknown>
}
