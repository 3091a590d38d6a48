/**
 * Client assertions for `private_key_jwt` client authentication (RFC 7523 §2.2, §3; OpenID Connect
 * Core §9), shaped exactly as tokendings checks them.
 *
 * The JWS is assembled here over `node:crypto` rather than through jose's `SignJWT`: the assertion is
 * signed on every exchange, and a synchronous `crypto.sign` with one imported `KeyObject` and a
 * precomputed header needs less CPU (figures in bench/README.md). The output is an ordinary
 * compact JWS (RFC 7515 §7.1) that jose verifies in the tests.
 */
import { randomUUID, sign } from 'node:crypto'
import type { SigningKey } from '../types.ts'

export interface AssertionClaims {
  readonly iss: string
  readonly sub: string
  readonly aud: string
  readonly jti: string
  readonly iat: number
  readonly nbf: number
  readonly exp: number
}

export interface AssertionOptions {
  /** Our client id: both `iss` and `sub` (RFC 7523 §3 items 1–2). */
  readonly clientId: string
  /** The token endpoint, or TokenX's issuer (RFC 7523 §3 item 3). */
  readonly audience: string
  /** Seconds from `iat` to `exp`; tokendings rejects more than 120 and allows no clock skew. */
  readonly lifetime: number
  /** Milliseconds since the epoch. */
  readonly clock: () => number
  /** Source of `jti`; each assertion is used once (RFC 7523 §3 item 7). */
  readonly newJti?: () => string
}

const headers = new WeakMap<SigningKey, string>()

/** The protected header never changes for a key: encode it once. */
function encodedHeader(key: SigningKey): string {
  let header = headers.get(key)
  if (header === undefined) {
    header = base64url(JSON.stringify({ alg: 'RS256', kid: key.kid, typ: 'JWT' }))
    headers.set(key, header)
  }
  return header
}

export function assertionClaims(options: AssertionOptions): AssertionClaims {
  const now = Math.floor(options.clock() / 1000)
  return {
    iss: options.clientId,
    sub: options.clientId,
    aud: options.audience,
    jti: (options.newJti ?? randomUUID)(),
    iat: now,
    nbf: now,
    exp: now + options.lifetime,
  }
}

/** A fresh, signed client assertion. Never reuse one: each carries a new `jti`. */
export function signAssertion(key: SigningKey, options: AssertionOptions): string {
  return signClaims(key, assertionClaims(options))
}

/**
 * `claims` as an RS256 compact JWS with the key's `kid`: the one signer of every flow's assertions
 * (a client assertion, or Maskinporten's RFC 7523 §2.1 grant assertion).
 */
export function signClaims(key: SigningKey, claims: object): string {
  const signingInput = `${encodedHeader(key)}.${base64url(JSON.stringify(claims))}`
  // RS256 = RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), node's default padding for RSA keys.
  const signature = sign('sha256', Buffer.from(signingInput), key.key)
  return `${signingInput}.${signature.toString('base64url')}`
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url')
}
