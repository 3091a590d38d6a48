/**
 * The local TokenX (dev/tokenx.ts) against tokendings' rules, driven over HTTP with assertions
 * signed here with jose (independent of lib/).
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLocalJWKSet, decodeJwt, importJWK, jwtVerify, SignJWT, type JWK } from 'jose'
import { startIdPorten, type IdPorten } from '../../dev/idporten.ts'
import { generateRsaJwk, type RsaJwkPair } from '../../dev/keys.ts'
import {
  ACCESS_TOKEN_TYPE,
  JWT_BEARER_ASSERTION,
  JWT_TOKEN_TYPE,
  startTokenX,
  TOKEN_EXCHANGE_GRANT,
  type TokenX,
} from '../../dev/tokenx.ts'
import { createTokenXClient } from '../../lib/exchange/client.ts'
import type { TokenXOptions } from '../../lib/exchange/config.ts'

const CLIENT = 'local:team:client-app'
const OTHER_CLIENT = 'local:team:other-app'
const TARGET = 'local:team:target-api'
const PID = '12345678910'

let idporten: IdPorten
let tokenx: TokenX
let clientKey: RsaJwkPair
let otherKey: RsaJwkPair

beforeAll(async () => {
  ;[clientKey, otherKey] = await Promise.all([generateRsaJwk(), generateRsaJwk()])
  idporten = await startIdPorten()
  tokenx = await startTokenX({
    clients: [
      { clientId: CLIENT, jwks: [clientKey.publicJwk] },
      { clientId: OTHER_CLIENT, jwks: [otherKey.publicJwk] },
    ],
    accessPolicy: { [TARGET]: [CLIENT] },
    subjectIssuers: [idporten.discoveryUrl],
  })
})

afterAll(async () => {
  await tokenx?.close()
  await idporten?.close()
})

beforeEach(() => {
  tokenx.resetStats()
})

interface AssertionOverrides {
  readonly clientId?: string
  readonly key?: JWK
  readonly kid?: string
  readonly alg?: string
  readonly aud?: string | string[]
  readonly lifetime?: number
  readonly iat?: number
  readonly omit?: readonly string[]
  readonly jti?: string
  readonly sub?: string
}

async function assertion(overrides: AssertionOverrides = {}, server: TokenX = tokenx): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const clientId = overrides.clientId ?? CLIENT
  const jwk = overrides.key ?? clientKey.privateJwk
  const iat = overrides.iat ?? now
  const claims: Record<string, unknown> = {
    iss: clientId,
    sub: overrides.sub ?? clientId,
    aud: overrides.aud ?? server.tokenEndpoint,
    jti: overrides.jti ?? randomUUID(),
    iat,
    nbf: iat,
    exp: iat + (overrides.lifetime ?? 30),
  }
  for (const claim of overrides.omit ?? []) delete claims[claim]
  const alg = overrides.alg ?? 'RS256'
  return new SignJWT(claims)
    .setProtectedHeader({ alg, kid: overrides.kid ?? jwk.kid, typ: 'JWT' })
    .sign(await importJWK({ ...jwk, alg }, alg))
}

/**
 * Runs `run` with `Date` stopped, so the assertion's `iat` and the server's "now" fall in the same
 * second: the 120 s lifetime rule counts from the server's now, and on a loaded machine a second can
 * tick between signing and checking (a 121 s assertion then has 120 s left, and passes).
 */
async function inOneSecond<T>(run: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() })
  try {
    return await run()
  } finally {
    vi.useRealTimers()
  }
}

async function exchange(
  form: Record<string, string | undefined>,
  server: TokenX = tokenx,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(form)) if (value !== undefined) body.set(name, value)
  const response = await fetch(server.tokenEndpoint, { method: 'POST', body })
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers }
}

async function request(
  overrides: Record<string, string | undefined> = {},
  assertionOverrides: AssertionOverrides = {},
  server: TokenX = tokenx,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  return exchange(
    {
      grant_type: TOKEN_EXCHANGE_GRANT,
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: await assertion(assertionOverrides, server),
      subject_token_type: JWT_TOKEN_TYPE,
      subject_token: await idporten.mint({ pid: PID }),
      audience: TARGET,
      ...overrides,
    },
    server,
  )
}

/** A citizen-like token from an issuer nobody registered (signed by a throwaway key). */
async function signedBy(issuer: string): Promise<string> {
  const key = await generateRsaJwk()
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ pid: PID })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(issuer)
    .setSubject('someone')
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(await importJWK(key.privateJwk, 'RS256'))
}

describe('metadata', () => {
  it('publishes RFC 8414 metadata and a public JWKS', async () => {
    const metadata = (await (await fetch(tokenx.metadataUrl)).json()) as Record<string, unknown>
    expect(metadata).toMatchObject({
      issuer: tokenx.issuer,
      token_endpoint: tokenx.tokenEndpoint,
      jwks_uri: tokenx.jwksUri,
      grant_types_supported: [TOKEN_EXCHANGE_GRANT],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    })
    const jwks = (await (await fetch(tokenx.jwksUri)).json()) as { keys: JWK[] }
    expect(jwks.keys).toHaveLength(1)
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' })
    expect(jwks.keys[0]?.kid).toBeTypeOf('string')
    expect(jwks.keys[0]).not.toHaveProperty('d')
  })

  it('binds to 127.0.0.1', () => {
    expect(new URL(tokenx.issuer).hostname).toBe('127.0.0.1')
  })
})

describe('a correct exchange', () => {
  it('issues a JWT for the audience, copying the citizen claims', async () => {
    const subjectToken = await idporten.mint({ pid: PID, acr: 'idporten-loa-substantial' })
    const subject = decodeJwt(subjectToken)
    const { status, body, headers } = await request({ subject_token: subjectToken })

    expect(status).toBe(200)
    expect(headers.get('cache-control')).toBe('no-store')
    expect(body).toMatchObject({ issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: 900 })
    const jwks = createLocalJWKSet((await (await fetch(tokenx.jwksUri)).json()) as { keys: JWK[] })
    const { payload, protectedHeader } = await jwtVerify(String(body.access_token), jwks, {
      issuer: tokenx.issuer,
      audience: TARGET,
    })
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' })
    expect(protectedHeader.kid).toBeTypeOf('string')
    expect(payload).toMatchObject({
      pid: PID,
      acr: 'idporten-loa-substantial',
      sub: subject.sub,
      client_id: CLIENT,
      idp: idporten.issuer,
      aud: TARGET,
      iss: tokenx.issuer,
    })
    expect(payload.jti).not.toBe(subject.jti)
    expect(Number(payload.exp) - Number(payload.iat)).toBe(900)
    expect(tokenx.stats).toMatchObject({ exchanges: 1, failures: 0, byAudience: { [TARGET]: 1 }, byClient: { [CLIENT]: 1 } })
  })

  it('accepts the issuer as the assertion audience', async () => {
    expect((await request({}, { aud: tokenx.issuer })).status).toBe(200)
  })

  it('accepts a lifetime of exactly 120 s', async () => {
    expect((await request({}, { lifetime: 120 })).status).toBe(200)
  })

  it('accepts its own tokens as subject tokens (re-exchange)', async () => {
    const first = await request()
    const second = await request({ subject_token: String(first.body.access_token) })
    expect(second.status).toBe(200)
    expect(decodeJwt(String(second.body.access_token))).toMatchObject({ pid: PID, idp: idporten.issuer, iss: tokenx.issuer })
  })
})

describe('client assertion rules (401 invalid_client)', () => {
  // Overrides are functions: keys and endpoints exist only once beforeAll has run.
  const cases: Array<[string, () => AssertionOverrides, RegExp]> = [
    [
      'signed by an unregistered key (with the registered kid)',
      () => ({ key: otherKey.privateJwk, kid: clientKey.kid }),
      /token verification failed/,
    ],
    ['from an unknown client', () => ({ clientId: 'local:team:stranger' }), /client_id=local:team:stranger, client not registered\.$/],
    ['expired', () => ({ iat: Math.floor(Date.now() / 1000) - 60, lifetime: 30 }), /jwt expired/],
    ['with a lifetime over 120 s', () => ({ lifetime: 121 }), /client assertion exceeded max lifetime \(120s\)\.$/],
    ['for another audience', () => ({ aud: 'http://127.0.0.1:1/token' }), /audience/],
    ['with two audiences', () => ({ aud: ['http://127.0.0.1:1/token', tokenx.tokenEndpoint] }), /aud claim/],
    ['without nbf', () => ({ omit: ['nbf'] }), /nbf/],
    ['without iat', () => ({ omit: ['iat'] }), /iat/],
    ['with sub other than iss', () => ({ sub: OTHER_CLIENT }), /iss|sub/],
    ['signed HS256', () => ({ alg: 'HS256', key: { kty: 'oct', k: Buffer.from('a'.repeat(32)).toString('base64url') } }), /alg mismatch/],
  ]

  it.each(cases)('rejects an assertion %s', async (_name, overrides, description) => {
    const { status, body } = await inOneSecond(() => request({}, overrides()))
    expect(status).toBe(401)
    expect(body.error).toBe('invalid_client')
    expect(String(body.error_description)).toMatch(description)
    expect(body).not.toHaveProperty('access_token')
    expect(tokenx.stats).toMatchObject({ exchanges: 0, failures: 1, errors: { invalid_client: 1 } })
  })

  it('rejects a replayed jti', async () => {
    const replayed = await assertion()
    const form = {
      grant_type: TOKEN_EXCHANGE_GRANT,
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: replayed,
      subject_token_type: JWT_TOKEN_TYPE,
      subject_token: await idporten.mint({ pid: PID }),
      audience: TARGET,
    }
    expect((await exchange(form)).status).toBe(200)
    const again = await exchange(form)
    expect(again.status).toBe(401)
    expect(again.body).toMatchObject({ error: 'invalid_client' })
    expect(String(again.body.error_description)).toMatch(/only be used once/)
  })

  it('rejects a wrong client_assertion_type with 400', async () => {
    const { status, body } = await request({ client_assertion_type: 'urn:example:other' })
    expect(status).toBe(400)
    expect(body.error).toBe('invalid_request')
  })

  it('follows key rotation: the new key works, the removed one does not', async () => {
    const next = await generateRsaJwk()
    tokenx.setClientJwks(CLIENT, [next.publicJwk])
    try {
      expect((await request({}, { key: clientKey.privateJwk })).status).toBe(401)
      expect((await request({}, { key: next.privateJwk })).status).toBe(200)
    } finally {
      tokenx.setClientJwks(CLIENT, [clientKey.publicJwk])
    }
    expect((await request()).status).toBe(200)
  })
})

describe('token request rules (400 invalid_request)', () => {
  it('rejects an unknown audience', async () => {
    const { status, body } = await request({ audience: 'local:team:nobody' })
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'invalid_request', error_description: 'audience local:team:nobody is invalid' })
  })

  it('rejects a client the access policy does not allow', async () => {
    const { status, body } = await request({}, { clientId: OTHER_CLIENT, key: otherKey.privateJwk })
    expect(status).toBe(400)
    expect(body).toEqual({
      error: 'invalid_request',
      error_description: `client '${OTHER_CLIENT}' is not authorized to get token with aud=${TARGET}`,
    })
  })

  it('rejects an expired subject token', async () => {
    const { status, body } = await request({ subject_token: await idporten.mintExpired({ pid: PID }, 600) })
    expect(status).toBe(400)
    expect(body.error).toBe('invalid_request')
    expect(String(body.error_description)).toMatch(/^token verification failed: /)
  })

  it('rejects a badly signed subject token', async () => {
    const { status, body } = await request({ subject_token: await idporten.mintBadlySigned({ pid: PID }) })
    expect(status).toBe(400)
    expect(String(body.error_description)).toMatch(/^token verification failed: /)
  })

  it('rejects a subject token from an unknown issuer', async () => {
    const stranger = await startIdPorten()
    try {
      const { status, body } = await request({ subject_token: await stranger.mint({ pid: PID }) })
      expect(status).toBe(400)
      expect(body).toEqual({
        error: 'invalid_request',
        error_description: `invalid request, validator for issuer=${stranger.issuer} not found`,
      })
    } finally {
      await stranger.close()
    }
  })

  it('rejects a subject token that is not a JWT', async () => {
    const { status, body } = await request({ subject_token: 'not-a-jwt' })
    expect(status).toBe(400)
    expect(body).toEqual({ error: 'invalid_request', error_description: 'invalid request, cannot parse token' })
  })

  it('requires subject_token_type jwt and the parameters', async () => {
    expect((await request({ subject_token_type: ACCESS_TOKEN_TYPE })).body).toEqual({
      error: 'invalid_request',
      error_description: `Parameter subject_token_type must be ${JWT_TOKEN_TYPE}`,
    })
    expect((await request({ audience: undefined })).body).toEqual({
      error: 'invalid_request',
      error_description: 'Parameter audience missing',
    })
  })

  it('supports no other grant type', async () => {
    const { status, body } = await request({ grant_type: 'client_credentials' })
    expect(status).toBe(400)
    expect(body.error).toBe('unsupported_grant_type')
  })

  it('counts failures by error', async () => {
    await request({ audience: 'local:team:nobody' })
    await request({}, { clientId: 'local:team:stranger' })
    expect(tokenx.stats).toMatchObject({
      exchanges: 0,
      failures: 2,
      errors: { invalid_request: 1, invalid_client: 1 },
      lastError: { status: 401, error: 'invalid_client' },
    })
  })
})

describe('options', () => {
  it("words errors as tokendings' main branch does with errorStyle: 'tokendings'", async () => {
    const strict = await startTokenX({
      clients: [{ clientId: CLIENT, jwks: [clientKey.publicJwk] }],
      accessPolicy: { [TARGET]: [CLIENT] },
      subjectIssuers: [idporten.discoveryUrl],
      errorStyle: 'tokendings',
    })
    try {
      // Assertion verification failures: 400 invalid_request with Nimbus' message, URL-encoded.
      const badSignature = await request({}, { key: otherKey.privateJwk, kid: clientKey.kid }, strict)
      expect(badSignature).toMatchObject({
        status: 400,
        body: { error: 'invalid_request', error_description: 'token verification failed: Signed+JWT+rejected%3A+Invalid+signature' },
      })
      const unknownKid = await request({}, { key: otherKey.privateJwk }, strict)
      expect(unknownKid.body.error_description).toBe(
        'token verification failed: Signed+JWT+rejected%3A+Another+algorithm+expected%2C+or+no+matching+key%28s%29+found',
      )
      const expired = await request({}, { iat: Math.floor(Date.now() / 1000) - 60, lifetime: 30 }, strict)
      expect(expired.body.error_description).toBe('token verification failed: Expired+JWT')
      // Unknown clients and over-long lifetimes stay 401 invalid_client, as in tokendings.
      expect((await request({}, { clientId: 'local:team:stranger' }, strict)).status).toBe(401)
      expect((await inOneSecond(() => request({}, { lifetime: 121 }, strict))).status).toBe(401)

      // Subject token failures carry the "invalid subject_token: " prefix.
      const badSubject = await request({ subject_token: await idporten.mintBadlySigned({ pid: PID }) }, {}, strict)
      expect(badSubject.body).toEqual({
        error: 'invalid_request',
        error_description: 'invalid subject_token: token verification failed: Signed+JWT+rejected%3A+Invalid+signature',
      })
      const expiredSubject = await request({ subject_token: await idporten.mintExpired({ pid: PID }, 600) }, {}, strict)
      expect(expiredSubject.body.error_description).toBe('invalid subject_token: token verification failed: Expired+JWT')
      const stranger = await request({ subject_token: await signedBy('http://127.0.0.1:1') }, {}, strict)
      expect(stranger.body.error_description).toBe(
        'invalid subject_token: invalid request, cannot validate token from issuer=http://127.0.0.1:1',
      )

      // Switchable at run time.
      strict.errorStyle = 'oauth'
      expect((await request({}, { key: otherKey.privateJwk, kid: clientKey.kid }, strict)).status).toBe(401)
    } finally {
      await strict.close()
    }
  })

  it('serves an issuer with a path', async () => {
    const mounted = await startTokenX({
      path: '/tokenx',
      clients: [{ clientId: CLIENT, jwks: [clientKey.publicJwk] }],
      accessPolicy: { [TARGET]: [CLIENT] },
      subjectIssuers: [idporten.discoveryUrl],
    })
    try {
      expect(mounted.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/tokenx$/)
      const metadata = (await (await fetch(mounted.metadataUrl)).json()) as Record<string, unknown>
      expect(metadata).toMatchObject({ issuer: mounted.issuer, token_endpoint: `${mounted.issuer}/token` })
      const { status, body } = await request({}, { aud: mounted.issuer }, mounted)
      expect(status).toBe(200)
      expect(decodeJwt(String(body.access_token)).iss).toBe(mounted.issuer)
    } finally {
      await mounted.close()
    }
  })
})

describe('the kit against the local TokenX: both assertion audiences tokendings accepts today', () => {
  const kit = (overrides: Partial<TokenXOptions>) =>
    createTokenXClient({
      clientId: CLIENT,
      tokenEndpoint: tokenx.tokenEndpoint,
      issuer: tokenx.issuer,
      privateJwk: clientKey.privateJwk,
      ...overrides,
    })

  it.each([
    ['the issuer (the default when TOKEN_X_ISSUER is set)', {}],
    ['the token endpoint (TOKEN_X_ASSERTION_AUDIENCE=token_endpoint)', { assertionAudience: 'token_endpoint' as const }],
    ['the token endpoint (no issuer configured)', { issuer: undefined }],
  ])('exchanges with aud = %s', async (_, overrides) => {
    const token = await kit(overrides).exchange(await idporten.mint({ pid: PID }), TARGET)
    const { payload } = await jwtVerify(
      token.accessToken,
      createLocalJWKSet((await (await fetch(tokenx.jwksUri)).json()) as { keys: JWK[] }),
      {
        issuer: tokenx.issuer,
        audience: TARGET,
      },
    )
    expect(payload.client_id).toBe(CLIENT)
    expect(tokenx.stats.exchanges).toBe(1)
  })
})
