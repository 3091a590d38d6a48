/**
 * Sealing exchanged tokens for the shared cache (lib/cache/shared.ts): the table can neither read
 * an item nor make one the kit accepts. docs/shared-cache-security.md has the threat model.
 *
 * - The app's cache secret (`appBinding`): an RS256 signature — RSASSA-PKCS1-v1_5 (RFC 8017 §8.2),
 *   deterministic — with the app's private key over a fixed label naming this format and the client
 *   id, from which HKDF-SHA256 (RFC 5869) derives two keys. Only the holder of the private key can
 *   compute it; the label cannot collide with a JWS signing input (no `.`-separated base64url), so no
 *   client assertion is ever this signature. A new key is a new secret: a new, empty cache.
 * - The item key (`itemKey`): HMAC-SHA256 (RFC 2104) under the first key over the client id, the
 *   audience and the subject token's digest. It names no audience, links no two items of a citizen,
 *   and without the secret nobody can compute it — not even to confirm that a citizen has an item
 *   for an audience.
 * - The sealing key: HKDF-SHA256 over the second key and the citizen's own subject token, a random
 *   salt per item, and an `info` naming the format's version, the client id and the audience. Opening
 *   an item needs both the app's secret and the very subject token; forging one needs the secret.
 * - AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per seal (§8.2.2; with a fresh key per
 *   item the IV could even repeat harmlessly, but it costs nothing to keep the rule), and the item's
 *   key as additional authenticated data: an item moved to another key, or changed in any byte, fails
 *   authentication.
 * - Opening never throws: a rejected item is a cache miss with a reason, counted by the caller.
 *
 * Sealed bytes: salt (16) ‖ IV (12) ‖ ciphertext ‖ GCM tag (16). The plaintext is a small JSON
 * object; the format version is bound through the label and HKDF's `info`, so a version change is a
 * clean miss.
 */
import { constants, createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { isUsableAccessToken } from '../util/access-token.ts'

/** The sealed format's version; part of every derivation, and stored beside the item as `v`. */
export const SEAL_VERSION = 2

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

/** The shared-cache secrets of one app (client id) with one signing key; see `appBinding`. */
export interface AppBinding {
  readonly clientId: string
  /** HMAC key of the item keys. */
  readonly itemSecret: Buffer
  /** HKDF input, with the subject token, of the sealing keys. */
  readonly sealSecret: Buffer
}

/** Why an item was refused: it is not in the sealed format, or it fails authentication. */
export type OpenRejection = 'malformed' | 'unauthentic'

export type OpenResult = { readonly ok: true; readonly token: SealedToken } | { readonly ok: false; readonly reason: OpenRejection }

const LABEL = `tokenx-handler-kit shared-cache v${SEAL_VERSION}`

/** Per private key (the loader keeps one object per key), per client id: one RSA signature per key. */
const bindings = new WeakMap<KeyObject, Map<string, AppBinding>>()

/**
 * The shared-cache secrets of the app `clientId` whose private key is `privateKey` (an RSA key, as
 * key.ts imports it). Computed once per key object and client id.
 */
export function appBinding(privateKey: KeyObject, clientId: string): AppBinding {
  let perClient = bindings.get(privateKey)
  const known = perClient?.get(clientId)
  if (known !== undefined) return known
  // PKCS#1 v1.5 padding, not PSS: the same key and label must give the same secret in every environment.
  const signature = sign('sha256', Buffer.from(`${LABEL} ${clientId}`, 'utf8'), { key: privateKey, padding: constants.RSA_PKCS1_PADDING })
  const derive = (use: string) => Buffer.from(hkdfSync('sha256', signature, Buffer.alloc(0), `${LABEL}\0${use}\0${clientId}`, KEY_BYTES))
  const binding = Object.freeze({ clientId, itemSecret: derive('item key'), sealSecret: derive('sealing key') })
  if (perClient === undefined) {
    perClient = new Map()
    bindings.set(privateKey, perClient)
  }
  perClient.set(clientId, binding)
  return binding
}

/**
 * The table's item key for the in-memory cache key `cacheKey` (`cacheKeyFor`: the audience and the
 * subject token's digest), base64url. The space cannot occur in a client id, so the input is unambiguous.
 */
export function itemKey(binding: AppBinding, cacheKey: string): string {
  return createHmac('sha256', binding.itemSecret).update(`${binding.clientId} ${cacheKey}`, 'utf8').digest('base64url')
}

/** HKDF `info`: the format, its version, the app and the audience (RFC 5869 §3.2: binds the key to its use). */
function info(clientId: string, audience: string): string {
  return `${LABEL}\0${clientId}\0${audience}`
}

function deriveKey(binding: AppBinding, subjectToken: string, audience: string, salt: Uint8Array): Buffer {
  // The secret has a fixed length, so secret ‖ token splits one way only.
  const input = Buffer.concat([binding.sealSecret, Buffer.from(subjectToken, 'utf8')])
  return Buffer.from(hkdfSync('sha256', input, salt, info(binding.clientId, audience), KEY_BYTES))
}

/** Seals `token` for this app and the holder of `subjectToken`, bound to the item key `pk`. */
export function seal(token: SealedToken, binding: AppBinding, subjectToken: string, pk: string): Buffer {
  const salt = randomBytes(SALT_BYTES)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', deriveKey(binding, subjectToken, token.audience, salt), iv, { authTagLength: TAG_BYTES })
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
 * Opens what `seal` made with the same app binding, subject token, audience and `pk`; anything else
 * (another app or key, another citizen's token, another audience, another item key, a flipped bit, a
 * truncated item) is refused, and so is an authentic item whose content is not a usable token.
 */
export function open(sealed: Uint8Array, binding: AppBinding, subjectToken: string, audience: string, pk: string): OpenResult {
  if (!(sealed instanceof Uint8Array) || sealed.length <= OVERHEAD) return { ok: false, reason: 'malformed' }
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const salt = bytes.subarray(0, SALT_BYTES)
  const iv = bytes.subarray(SALT_BYTES, SALT_BYTES + IV_BYTES)
  const ciphertext = bytes.subarray(SALT_BYTES + IV_BYTES, bytes.length - TAG_BYTES)
  const tag = bytes.subarray(bytes.length - TAG_BYTES)
  let plaintext: string
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(binding, subjectToken, audience, salt), iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(pk, 'utf8'))
    decipher.setAuthTag(tag)
    plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8')
  } catch {
    // GCM's "unable to authenticate data": the only failure left once the sizes are right.
    return { ok: false, reason: 'unauthentic' }
  }
  const token = parse(plaintext, audience)
  // Authentic but not a token we would have accepted from TokenX: refuse it as malformed.
  return token === undefined ? { ok: false, reason: 'malformed' } : { ok: true, token }
}

/** The sealed token, if its fields pass the checks a TokenX answer gets (lib/exchange.ts); times are checked by the reader. */
function parse(plaintext: string, audience: string): SealedToken | undefined {
  let value: unknown
  try {
    value = JSON.parse(plaintext)
  } catch {
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  const { a, u, e, f, t, i } = value as Record<string, unknown>
  if (!isUsableAccessToken(a) || u !== audience || t !== 'Bearer' || typeof i !== 'string') return undefined
  if (typeof e !== 'number' || !Number.isFinite(e) || typeof f !== 'number' || !Number.isFinite(f) || f > e) return undefined
  return { accessToken: a, audience, expiresAt: e, freshUntil: f, tokenType: 'Bearer', issuedTokenType: i }
}
