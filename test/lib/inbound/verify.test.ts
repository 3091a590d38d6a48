import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { checkClaims, decodeJwt, TokenRefusal, verifySignature } from '../../../lib/inbound/verify.ts'
import { mint } from '../../helpers/issuer.ts'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'k1' }
const other = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'k1' }
const NOW = 1_800_000_000_000
const claims = { iss: 'https://issuer', aud: 'me', exp: NOW / 1000 + 60, iat: NOW / 1000, nbf: NOW / 1000 }
const rules = { issuer: 'https://issuer', audience: 'me', now: NOW, leeway: 5000 }

function refusal(run: () => unknown): string {
  try {
    run()
  } catch (err) {
    if (err instanceof TokenRefusal) return err.message
    throw err
  }
  return 'accepted'
}

describe('decodeJwt', () => {
  it('decodes an RS256 JWS and verifies its signature with the right key only', () => {
    const jwt = decodeJwt(mint({ key: jwk, claims }))
    expect(jwt.kid).toBe('k1')
    expect(jwt.payload).toEqual(claims)
    expect(verifySignature(jwt, publicKey)).toBe(true)
    expect(verifySignature(decodeJwt(mint({ key: other, claims })), publicKey)).toBe(false)
  })

  it('refuses every algorithm but RS256, and critical extensions', () => {
    expect(refusal(() => decodeJwt(mint({ sign: 'none', claims })))).toBe('not a signed JWT')
    expect(refusal(() => decodeJwt(`${mint({ sign: 'none', claims })}AAAA`))).toBe('alg not allowed')
    const pem = publicKey.export({ format: 'pem', type: 'spki' })
    expect(refusal(() => decodeJwt(mint({ sign: 'HS256', secret: pem, claims })))).toBe('alg not allowed')
    expect(refusal(() => decodeJwt(mint({ key: jwk, header: { alg: 'RS384' }, claims })))).toBe('alg not allowed')
    expect(refusal(() => decodeJwt(mint({ key: jwk, header: { crit: ['exp'] }, claims })))).toBe('critical header extension')
    expect(refusal(() => decodeJwt(mint({ key: jwk, header: { kid: 7 }, claims })))).toBe('kid not a string')
  })

  it('refuses what is not a compact JWS with JSON object parts', () => {
    for (const token of ['', 'a.b', 'a.b.c.d', '.b.c', 'a..c', 'a.b.', 'a b.c.d', 'eyJ.eyJ.sig']) {
      expect(refusal(() => decodeJwt(token))).not.toBe('accepted')
    }
    const arrayPayload = mint({ key: jwk, claims: [1] as unknown as Record<string, unknown> })
    expect(refusal(() => decodeJwt(arrayPayload))).toBe('payload not a JSON object')
  })

  it('never looks at jku, x5u, jwk or x5c headers', () => {
    const attacker = createPublicKey({ key: other as never, format: 'jwk' }).export({ format: 'jwk' })
    const jwt = decodeJwt(
      mint({ key: other, header: { jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/x5u', jwk: attacker }, claims }),
    )
    expect(verifySignature(jwt, publicKey)).toBe(false)
  })

  it('decodes and verifies tokens of any size and non-ASCII claims, the reused decode buffer leaving no trace', () => {
    const named = { ...claims, name: 'Ærlige Åse Østby 🙂' }
    const big = { ...claims, blob: 'x'.repeat(70_000) }
    const small = decodeJwt(mint({ key: jwk, claims: named }))
    // Larger than the reused buffer: decoded and verified through fresh Buffers instead.
    const large = decodeJwt(mint({ key: jwk, claims: big }))
    expect(small.payload).toEqual(named)
    expect(large.payload).toEqual(big)
    expect(verifySignature(large, publicKey)).toBe(true)
    expect(verifySignature(small, publicKey)).toBe(true)
    expect(verifySignature(decodeJwt(mint({ key: other, claims: big })), publicKey)).toBe(false)
    // One token's bytes in the buffer never make another's signature verify.
    const forged = decodeJwt(mint({ key: other, claims: named }))
    expect(verifySignature(forged, publicKey)).toBe(false)
    expect(verifySignature(small, publicKey)).toBe(true)
    expect(verifySignature({ ...small, signature: forged.signature }, publicKey)).toBe(false)
  })

  it('refuses a key that is not RSA', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    expect(verifySignature(decodeJwt(mint({ key: jwk, claims })), ec)).toBe(false)
  })
})

describe('checkClaims', () => {
  it('returns exp for a valid claims set, with aud as a string or an array', () => {
    expect(checkClaims(claims, rules)).toBe(claims.exp)
    expect(checkClaims({ ...claims, aud: ['other', 'me'] }, rules)).toBe(claims.exp)
  })

  it('refuses wrong iss and aud, a missing or non-numeric exp', () => {
    expect(refusal(() => checkClaims({ ...claims, iss: 'https://issuer/' }, rules))).toBe('wrong iss')
    expect(refusal(() => checkClaims({ ...claims, aud: 'you' }, rules))).toBe('wrong aud')
    expect(refusal(() => checkClaims({ ...claims, aud: ['you', 'them'] }, rules))).toBe('wrong aud')
    expect(refusal(() => checkClaims({ ...claims, aud: undefined }, rules))).toBe('wrong aud')
    expect(refusal(() => checkClaims({ ...claims, exp: undefined }, rules))).toBe('no exp')
    expect(refusal(() => checkClaims({ ...claims, exp: String(claims.exp) }, rules))).toBe('no exp')
  })

  it('allows the leeway and not a millisecond more for exp, nbf and iat', () => {
    const exp = NOW / 1000 - 4
    expect(checkClaims({ ...claims, exp }, rules)).toBe(exp)
    expect(refusal(() => checkClaims({ ...claims, exp: NOW / 1000 - 5 }, rules))).toBe('expired')
    expect(checkClaims({ ...claims, nbf: NOW / 1000 + 5 }, rules)).toBe(claims.exp)
    expect(refusal(() => checkClaims({ ...claims, nbf: NOW / 1000 + 5.001 }, rules))).toBe('not yet valid (nbf)')
    expect(refusal(() => checkClaims({ ...claims, iat: NOW / 1000 + 6 }, rules))).toBe('issued in the future (iat)')
    expect(refusal(() => checkClaims({ ...claims, nbf: 'soon' }, rules))).toBe('not yet valid (nbf)')
  })
})
