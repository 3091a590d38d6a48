/**
 * Sealing exchanged tokens for the shared cache (lib/cache/shared.ts), so the table knows nothing.
 *
 * - The key is derived from the citizen's own subject token with HKDF-SHA256 (RFC 5869), a random
 *   salt per item, and an `info` naming this format's version and the audience: only a caller who
 *   holds the very subject token can open what was sealed for it. A copy of the table, or of the
 *   whole account, without the citizens' tokens yields ciphertext and nothing else.
 * - AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per seal (§8.2.2; with a fresh key per
 *   item the IV could even repeat harmlessly, but it costs nothing to keep the rule), and the item's
 *   partition key as additional authenticated data: an item moved to another key, or changed in any
 *   byte, fails authentication.
 * - Opening never throws: a rejected item is a cache miss with a reason, counted by the caller.
 *
 * Sealed bytes: salt (16) ‖ IV (12) ‖ ciphertext ‖ GCM tag (16). The plaintext is a small JSON
 * object; the format version is bound through HKDF's `info`, so a version change is a clean miss.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** The sealed format's version; part of the key derivation, and stored beside the item as `v`. */
export const SEAL_VERSION = 1

const SALT_BYTES = 16
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
/** Salt, IV and tag: no sealed item is shorter than this plus a few bytes of JSON. */
const OVERHEAD = SALT_BYTES + IV_BYTES + TAG_BYTES

/** What is sealed: the exchanged token and when it stops being served. */
export interface SealedToken {
  readonly accessToken: string
  readonly audience: string
  /** Milliseconds since the epoch at which TokenX says the token expires. */
  readonly expiresAt: number
  /** Milliseconds since the epoch after which it is not served (renewal margin, subject token's exp). */
  readonly freshUntil: number
  readonly tokenType: 'Bearer'
  readonly issuedTokenType: string
}

/** Why an item was refused: it is not in the sealed format, or it fails authentication. */
export type OpenRejection = 'malformed' | 'unauthentic'

export type OpenResult = { readonly ok: true; readonly token: SealedToken } | { readonly ok: false; readonly reason: OpenRejection }

/** HKDF `info`: the format, its version and the audience (RFC 5869 §3.2: binds the key to its use). */
function info(audience: string): string {
  return `tokenx-handler-kit shared-cache v${SEAL_VERSION}\0${audience}`
}

function deriveKey(subjectToken: string, audience: string, salt: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', subjectToken, salt, info(audience), KEY_BYTES))
}

/** Seals `token` for the holder of `subjectToken`, bound to the item key `pk`. */
export function seal(token: SealedToken, subjectToken: string, pk: string): Buffer {
  const salt = randomBytes(SALT_BYTES)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', deriveKey(subjectToken, token.audience, salt), iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(pk, 'utf8'))
  const plaintext = JSON.stringify({
    a: token.accessToken,
    u: token.audience,
    e: token.expiresAt,
    f: token.freshUntil,
    t: token.tokenType,
    i: token.issuedTokenType,
  })
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([salt, iv, ciphertext, cipher.getAuthTag()])
}

/**
 * Opens what `seal` made with the same subject token, audience and `pk`; anything else (another
 * citizen's token, another audience, another key, a flipped bit, a truncated item) is refused.
 */
export function open(sealed: Uint8Array, subjectToken: string, audience: string, pk: string): OpenResult {
  if (!(sealed instanceof Uint8Array) || sealed.length <= OVERHEAD) return { ok: false, reason: 'malformed' }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const salt = bytes.subarray(0, SALT_BYTES)
  const iv = bytes.subarray(SALT_BYTES, SALT_BYTES + IV_BYTES)
  const ciphertext = bytes.subarray(SALT_BYTES + IV_BYTES, bytes.length - TAG_BYTES)
  const tag = bytes.subarray(bytes.length - TAG_BYTES)
  let plaintext: string
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(subjectToken, audience, salt), iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(pk, 'utf8'))
    decipher.setAuthTag(tag)
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8')
  } catch {
    // GCM's "unable to authenticate data": the only failure left once the sizes are right.
    return { ok: false, reason: 'unauthentic' }
  }
  const token = parse(plaintext, audience)
  // Authentic but not ours to read (a future writer's shape): refuse it as malformed.
  return token === undefined ? { ok: false, reason: 'malformed' } : { ok: true, token }
}

function parse(plaintext: string, audience: string): SealedToken | undefined {
  let value: unknown
  try {
    value = JSON.parse(plaintext)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  const { a, u, e, f, t, i } = value as Record<string, unknown>
  if (typeof a !== 'string' || a === '' || u !== audience || t !== 'Bearer' || typeof i !== 'string') return undefined
  if (typeof e !== 'number' || !Number.isFinite(e) || typeof f !== 'number' || !Number.isFinite(f) || f > e) return undefined
  return { accessToken: a, audience, expiresAt: e, freshUntil: f, tokenType: 'Bearer', issuedTokenType: i }
}
