import { describe, expect, it } from 'vitest'
import { open, seal, type SealedToken } from '../../../lib/cache/seal.ts'
import { tokenCacheKey } from '../../../lib/cache/memory.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
const SUBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLW9mLWNpdGl6ZW4tb25l'
const OTHER_SUBJECT = 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMDk4NzY1NDMyMSJ9.c2lnbmF0dXJlLW9mLWNpdGl6ZW4tdHdv'
const PK = tokenCacheKey(SUBJECT, AUDIENCE)

const token: SealedToken = Object.freeze({
  accessToken: 'eyJraWQiOiJ0b2tlbngifQ.eyJhdWQiOiJkZXYtZ2NwOnRlYW06ZG93bnN0cmVhbSJ9.dG9rZW54LXNpZ25hdHVyZQ',
  audience: AUDIENCE,
  expiresAt: 1_800_000_900_000,
  freshUntil: 1_800_000_780_000,
  tokenType: 'Bearer',
  issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
})

describe('seal / open', () => {
  it('opens what it sealed, for the same subject token, audience and key', () => {
    expect(open(seal(token, SUBJECT, PK), SUBJECT, AUDIENCE, PK)).toEqual({ ok: true, token })
  })

  it('contains nothing of the token or the subject token in the clear', () => {
    const sealed = seal(token, SUBJECT, PK)
    const text = sealed.toString('latin1')
    for (const part of [...token.accessToken.split('.'), ...SUBJECT.split('.'), 'Bearer', AUDIENCE]) expect(text).not.toContain(part)
    // salt 16 + IV 12 + tag 16 around the ciphertext: nothing else is stored.
    expect(sealed.length).toBeGreaterThan(44 + token.accessToken.length)
  })

  it('uses a fresh salt and IV for every seal', () => {
    const a = seal(token, SUBJECT, PK)
    const b = seal(token, SUBJECT, PK)
    expect(a.subarray(0, 16).equals(b.subarray(0, 16))).toBe(false)
    expect(a.subarray(16, 28).equals(b.subarray(16, 28))).toBe(false)
    expect(a.subarray(28).equals(b.subarray(28))).toBe(false)
  })

  it('refuses another citizen\'s subject token, even under the right key', () => {
    expect(open(seal(token, SUBJECT, PK), OTHER_SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses another audience (bound in the HKDF info)', () => {
    const other = 'dev-gcp:team:other'
    expect(open(seal(token, SUBJECT, PK), SUBJECT, other, PK)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses an item moved to another key (the key is the additional authenticated data)', () => {
    const otherPk = tokenCacheKey(OTHER_SUBJECT, AUDIENCE)
    expect(open(seal(token, SUBJECT, PK), SUBJECT, AUDIENCE, otherPk)).toEqual({ ok: false, reason: 'unauthentic' })
  })

  it('refuses an item with any one bit flipped: salt, IV, ciphertext or tag', () => {
    const sealed = seal(token, SUBJECT, PK)
    for (let i = 0; i < sealed.length; i++) {
      const altered = Buffer.from(sealed)
      altered[i] = (altered[i] as number) ^ (1 << (i % 8))
      expect(open(altered, SUBJECT, AUDIENCE, PK), `byte ${i}`).toEqual({ ok: false, reason: 'unauthentic' })
    }
  })

  it('refuses truncated, extended and empty items without throwing', () => {
    const sealed = seal(token, SUBJECT, PK)
    expect(open(sealed.subarray(0, sealed.length - 1), SUBJECT, AUDIENCE, PK).ok).toBe(false)
    expect(open(Buffer.concat([sealed, Buffer.from([0])]), SUBJECT, AUDIENCE, PK).ok).toBe(false)
    expect(open(new Uint8Array(0), SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
    expect(open(new Uint8Array(44), SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
    expect(open('not bytes' as unknown as Uint8Array, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('refuses an authentic item whose content is not a token (e.g. fresher than it expires)', () => {
    const odd = seal({ ...token, freshUntil: token.expiresAt + 1 }, SUBJECT, PK)
    expect(open(odd, SUBJECT, AUDIENCE, PK)).toEqual({ ok: false, reason: 'malformed' })
  })

  it('opens a seal from a subarray of a larger buffer (as the SDK may hand it back)', () => {
    const sealed = seal(token, SUBJECT, PK)
    const larger = Buffer.concat([Buffer.alloc(7), sealed, Buffer.alloc(5)])
    expect(open(new Uint8Array(larger.buffer, larger.byteOffset + 7, sealed.length), SUBJECT, AUDIENCE, PK)).toEqual({ ok: true, token })
  })
})
