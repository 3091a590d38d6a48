import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { appBinding, itemKey, open, seal, SEAL_VERSION, type SealedToken } from '../../../lib/cache/seal.ts'
import { subjectDigest, tokenCacheKey } from '../../../lib/cache/memory.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
const CLIENT_ID = 'dev-gcp:team:app'
const SUBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLW9mLWNpdGl6ZW4tb25l'
const OTHER_SUBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMDk4NzY1NDMyMSJ9.c2lnbmF0dXJlLW9mLWNpdGl6ZW4tdHdv'

const rsaKey = (): KeyObject => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
const appKey = rsaKey()
const otherKey = rsaKey()
const binding = appBinding(appKey, CLIENT_ID)
const PK = itemKey(binding, tokenCacheKey(SUBJECT, AUDIENCE))

const token: SealedToken = Object.freeze({
  accessToken: 'eyJraWQiOiJ0b2tlbngifQ.eyJhdWQiOiJkZXYtZ2NwOnRlYW06ZG93bnN0cmVhbSJ9.dG9rZW54LXNpZ25hdHVyZQ',
  audience: AUDIENCE,
  expiresAt: 1_800_000_900_000,
  freshUntil: 1_800_000_780_000,
  tokenType: 'Bearer',
  issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
})

describe('appBinding', () => {
  it('is the same for the same private key and client id in every environment (another key object, same key)', () => {
    const copy = createPrivateKey(appKey.export({ format: 'pem', type: 'pkcs8' }))
    const again = appBinding(copy, CLIENT_ID)
    expect(again).not.toBe(binding)
    expect(again.itemSecret.equals(binding.itemSecret)).toBe(true)
    expect(again.sealSecret.equals(binding.sealSecret)).toBe(true)
  })

  it('is computed once per key object and client id', () => {
    expect(appBinding(appKey, CLIENT_ID)).toBe(binding)
  })

  it('differs for another client id with the same key, and for another key with the same client id', () => {
    const secrets = [binding, appBinding(appKey, 'dev-gcp:team:other-app'), appBinding(otherKey, CLIENT_ID)]
    expect(new Set(secrets.map((b) => b.itemSecret.toString('hex'))).size).toBe(3)
    expect(new Set(secrets.map((b) => b.sealSecret.toString('hex'))).size).toBe(3)
    // Two keys of one binding, not one.
    expect(binding.itemSecret.equals(binding.sealSecret)).toBe(false)
    expect(SEAL_VERSION).toBe(2)
  })
})

describe('itemKey', () => {
  it('names no audience and shares nothing across audiences, apps or keys', () => {
    const api = itemKey(binding, tokenCacheKey(SUBJECT, 'dev-gcp:team:api'))
    const other = itemKey(binding, tokenCacheKey(SUBJECT, 'dev-gcp:team:other'))
    const otherApp = itemKey(appBinding(appKey, 'dev-gcp:team:other-app'), tokenCacheKey(SUBJECT, 'dev-gcp:team:api'))
    const otherKeyed = itemKey(appBinding(otherKey, CLIENT_ID), tokenCacheKey(SUBJECT, 'dev-gcp:team:api'))
    for (const key of [api, other, otherApp, otherKeyed]) {
      expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/)
      // A citizen's items carry no common digest.
      expect(key).not.toContain(subjectDigest(SUBJECT).slice(0, 8))
    }
    expect(new Set([api, other, otherApp, otherKeyed]).size).toBe(4)
  })
})

describe('seal / open', () => {
  it('opens what it sealed, for the same app, subject token, audience and key', () => {
    expect(open(seal(token, binding, SUBJECT, PK), binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: true, token })
  })

  it('contains nothing of the token or the subject token in the clear', () => {
    const sealed = seal(token, binding, SUBJECT, PK)
    const text = sealed.toString('latin1')
    for (const part of [...token.accessToken.split('.'), ...SUBJECT.split('.'), 'Bearer', AUDIENCE, CLIENT_ID])
      expect(text).not.toContain(part)
    // salt 16 + IV 12 + tag 16 around the ciphertext: nothing else is stored.
    expect(sealed.length).toBeGreaterThan(44 + token.accessToken.length)
  })

  it('uses a fresh salt and IV for every seal', () => {
    const a = seal(token, binding, SUBJECT, PK)
    const b = seal(token, binding, SUBJECT, PK)
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false)
    expect(a.subarray(16, 28).equals(b.subarray(16, 28))).toBe(false)
    expect(a.subarray(28).equals(b.subarray(28))).toBe(false)
  })

  it('refuses what another app sealed (another client id, or another private key), even for the same citizen and key', () => {
    const sealed = seal(token, binding, SUBJECT, PK)
    expect(open(sealed, appBinding(appKey, 'dev-gcp:team:other-app'), SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'unauthentic' })
    expect(open(sealed, appBinding(otherKey, CLIENT_ID), SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it("refuses another citizen's subject token, even under the right key", () => {
    expect(open(seal(token, binding, SUBJECT, PK), binding, OTHER_SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses another audience (bound in the HKDF info)', () => {
    const other = 'dev-gcp:team:other'
    expect(open(seal(token, binding, SUBJECT, PK), binding, SUBJECT, other, PK)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses an item moved to another key (the key is the additional authenticated data)', () => {
    const otherPk = itemKey(binding, tokenCacheKey(OTHER_SUBJECT, AUDIENCE))
    expect(open(seal(token, binding, SUBJECT, PK), binding, SUBJECT, AUDIENCE, otherPk)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses an item with any one bit flipped: salt, IV, ciphertext or tag', () => {
    const sealed = seal(token, binding, SUBJECT, PK)
    for (let i = 0; i < sealed.length; i++) {
      const altered = Buffer.from(sealed)
      altered[i] = (altered[i] as number) ^ (1 << (i % 8))
      expect(open(altered, binding, SUBJECT, AUDIENCE, PK), `byte ${i}`).toEqual({ ok: false, reason: 'unauthentic' })
    }
  })

  it('refuses truncated, extended and empty items without throwing', () => {
    const sealed = seal(token, binding, SUBJECT, PK)
    expect(open(sealed.subarray(0, sealed.length - 1), binding, SUBJECT, AUDIENCE, PK).ok).toBe(false)
    expect(open(Buffer.concat([sealed, Buffer.from([0])]), binding, SUBJECT, AUDIENCE, PK).ok).toBe(false)
    expect(open(new Uint8Array(0), binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
    expect(open(new Uint8Array(44), binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
    expect(open('not bytes' as unknown as Uint8Array, binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('refuses an authentic item whose content is not a token (e.g. fresher than it expires)', () => {
    const odd = seal({ ...token, freshUntil: token.expiresAt + 1 }, binding, SUBJECT, PK)
    expect(open(odd, binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
  })

  it.each([
    ['an access token with a line break (it would split the Authorization header)', { accessToken: 'abc\r\nX-Injected: 1' }],
    ['an access token with a space', { accessToken: 'abc def' }],
    ['an empty access token', { accessToken: '' }],
    ['an access token longer than 64 KiB', { accessToken: 'a'.repeat(64 * 1024 + 1) }],
    ['a token type other than Bearer', { tokenType: 'DPoP' as 'Bearer' }],
    ['no issued token type', { issuedTokenType: undefined as unknown as string }],
    ['an expiry that is not a number', { expiresAt: Number.NaN }],
  ])('refuses an authentic item that a TokenX answer could not have given: %s', (_label, change) => {
    const odd = seal({ ...token, ...change }, binding, SUBJECT, PK)
    expect(open(odd, binding, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('opens a seal from a subarray of a larger buffer (as the SDK may hand it back)', () => {
    const sealed = seal(token, binding, SUBJECT, PK)
    const larger = Buffer.concat([Buffer.alloc(7), sealed, Buffer.alloc(5)])
    expect(open(new Uint8Array(larger.buffer, larger.byteOffset + 7, sealed.length), binding, SUBJECT, AUDIENCE, PK)).toEqual({
      ok: true,
      token,
    })
  })
})
