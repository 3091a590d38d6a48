import { compactVerify, decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey } from 'jose'
import { beforeAll, describe, expect, it } from 'vitest'
import { assertionClaims, signAssertion, type AssertionOptions } from '../../../lib/exchange/assertion.ts'
import { importPrivateJwk } from '../../../lib/exchange/key.ts'
import type { SigningKey } from '../../../lib/types.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'

const CLIENT_ID = 'dev-gcp:team:app'
const TOKEN_ENDPOINT = 'http://127.0.0.1:1/token'
const NOW_MS = 1_700_000_000_987

let testKey: TestKey
let otherKey: TestKey
let signingKey: SigningKey
let publicKey: CryptoKey

beforeAll(async () => {
  ;[testKey, otherKey] = await Promise.all([newTestKey('assertion-key'), newTestKey('other-key')])
  signingKey = importPrivateJwk(testKey.privateJwk)
  publicKey = (await importJWK(testKey.publicJwk, 'RS256')) as CryptoKey
})

const options = (overrides: Partial<AssertionOptions> = {}): AssertionOptions => ({
  clientId: CLIENT_ID,
  audience: TOKEN_ENDPOINT,
  lifetime: 30,
  clock: () => NOW_MS,
  ...overrides,
})

describe('assertionClaims', () => {
  it('has exactly the RFC 7523 claims, in whole seconds of the injected clock', () => {
    const claims = assertionClaims(options({ newJti: () => 'jti-1' }))
    expect(claims).toStrictEqual({
      iss: CLIENT_ID,
      sub: CLIENT_ID,
      aud: TOKEN_ENDPOINT,
      jti: 'jti-1',
      iat: 1_700_000_000,
      nbf: 1_700_000_000,
      exp: 1_700_000_030,
    })
  })

  it('uses the lifetime', () => {
    for (const lifetime of [1, 30, 120]) {
      const claims = assertionClaims(options({ lifetime }))
      expect(claims.exp - claims.iat).toBe(lifetime)
    }
  })

  it('follows the clock', () => {
    let now = NOW_MS
    const opts = options({ clock: () => now })
    expect(assertionClaims(opts).iat).toBe(1_700_000_000)
    now += 61_000
    expect(assertionClaims(opts).iat).toBe(1_700_000_061)
  })
})

describe('signAssertion', () => {
  it('is a compact JWS whose header is exactly alg, kid and typ', () => {
    const assertion = signAssertion(signingKey, options())
    expect(assertion.split('.')).toHaveLength(3)
    expect(assertion).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(decodeProtectedHeader(assertion)).toStrictEqual({ alg: 'RS256', kid: 'assertion-key', typ: 'JWT' })
  })

  it('verifies with the public key and carries exactly the claims', async () => {
    const assertion = signAssertion(signingKey, options())
    const { payload, protectedHeader } = await jwtVerify(assertion, publicKey, {
      algorithms: ['RS256'],
      issuer: CLIENT_ID,
      subject: CLIENT_ID,
      audience: TOKEN_ENDPOINT,
      typ: 'JWT',
      currentDate: new Date(NOW_MS),
      clockTolerance: 0,
    })
    expect(protectedHeader.kid).toBe('assertion-key')
    expect(Object.keys(payload).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'sub'])
    expect(payload).toMatchObject({ iat: 1_700_000_000, nbf: 1_700_000_000, exp: 1_700_000_030 })
    expect(payload.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it('is no longer valid once its lifetime has passed', async () => {
    const assertion = signAssertion(signingKey, options({ lifetime: 30 }))
    await expect(jwtVerify(assertion, publicKey, { currentDate: new Date(NOW_MS + 29_000) })).resolves.toBeDefined()
    await expect(jwtVerify(assertion, publicKey, { currentDate: new Date(NOW_MS + 31_000) })).rejects.toMatchObject({
      code: 'ERR_JWT_EXPIRED',
    })
  })

  it('does not verify with another key, nor once tampered with', async () => {
    const assertion = signAssertion(signingKey, options())
    const other = await importJWK(otherKey.publicJwk, 'RS256')
    await expect(compactVerify(assertion, other)).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' })
    const [header, , signature] = assertion.split('.')
    const forged = Buffer.from(JSON.stringify({ ...assertionClaims(options()), sub: 'dev-gcp:team:evil' })).toString('base64url')
    await expect(compactVerify(`${header}.${forged}.${signature}`, publicKey)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    })
  })

  it('has a fresh jti on every call', async () => {
    const jtis = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const { payload } = await compactVerify(signAssertion(signingKey, options()), publicKey)
      jtis.add(JSON.parse(new TextDecoder().decode(payload)).jti as string)
    }
    expect(jtis.size).toBe(200)
  })

  it('uses an injected jti source and audience', async () => {
    let n = 0
    const assertion = signAssertion(signingKey, options({ newJti: () => `jti-${++n}`, audience: 'http://127.0.0.1:1' }))
    const { payload } = await jwtVerify(assertion, publicKey, { currentDate: new Date(NOW_MS) })
    expect(payload.jti).toBe('jti-1')
    expect(payload.aud).toBe('http://127.0.0.1:1')
  })

  it('names the signing key in the header, per key', async () => {
    const other = importPrivateJwk(otherKey.privateJwk)
    const first = signAssertion(signingKey, options())
    const second = signAssertion(other, options())
    const third = signAssertion(signingKey, options())
    expect(decodeProtectedHeader(first).kid).toBe('assertion-key')
    expect(decodeProtectedHeader(second).kid).toBe('other-key')
    expect(decodeProtectedHeader(third).kid).toBe('assertion-key')
    await expect(jwtVerify(second, await importJWK(otherKey.publicJwk, 'RS256'), { currentDate: new Date(NOW_MS) })).resolves.toBeDefined()
  })
})
