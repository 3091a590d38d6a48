import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTokenXClient, BearerTokenError, TokenExchangeError, type TokenXOptions } from '../../../lib/index.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { startServer, tokenAnswer } from '../../helpers/servers.ts'
import { expectExchangeForm, startTokenXEndpoint, type TokenXEndpoint } from '../../helpers/tokenx.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
let tokenx: TokenXEndpoint

beforeAll(async () => {
  tokenx = await startTokenXEndpoint('app-key-1')
})
afterEach(() => tokenx.reset())
afterAll(() => tokenx.close())

const client = (overrides: Partial<TokenXOptions> = {}) => tokenx.client({ issuer: tokenx.url, ...overrides })

describe('createTokenXClient', () => {
  it('signs with a key from a privateJwk loader function, loaded on the first exchange and kept out of client.options', async () => {
    let calls = 0
    const loaded = client({
      privateJwk: async () => {
        calls += 1
        return JSON.stringify(tokenx.key.privateJwk)
      },
    })
    expect(calls).toBe(0)
    expect(loaded.options.privateJwk).toBe('[redacted]')
    const subject = await citizenToken('12345678910')
    expect((await loaded.exchange(subject, AUDIENCE)).accessToken).toMatch(/^access-/)
    await loaded.exchange(await citizenToken('10987654321'), AUDIENCE)
    expect(calls).toBe(1)
    const assertion = new URLSearchParams(tokenx.requests[0]!.body).get('client_assertion')!
    expect(decodeProtectedHeader(assertion).kid).toBe('app-key-1')
    await jwtVerify(assertion, await importJWK(tokenx.key.publicJwk, 'RS256'), { audience: tokenx.url, algorithms: ['RS256'] })
  })

  it('posts the six RFC 8693 parameters with a valid client assertion', async () => {
    const subject = await citizenToken('12345678910')
    const before = Math.floor(Date.now() / 1000)
    const token = await client().exchange(subject, AUDIENCE)
    expect(token.accessToken).toMatch(/^access-/)
    expect(token.audience).toBe(AUDIENCE)
    expect(tokenx.requests).toHaveLength(1)
    const request = tokenx.requests[0]!
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/token')
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded')
    const form = expectExchangeForm(request.body, { subject_token: subject, audience: AUDIENCE })
    const assertion = form.client_assertion!
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', kid: 'app-key-1', typ: 'JWT' })
    const { payload } = await jwtVerify(assertion, await importJWK(tokenx.key.publicJwk, 'RS256'), {
      issuer: 'dev-gcp:team:app',
      subject: 'dev-gcp:team:app',
      // The issuer is known (the helper sets it): the assertion is addressed to it, as tokendings wants.
      audience: tokenx.url,
      algorithms: ['RS256'],
    })
    expect(payload.iat).toBeGreaterThanOrEqual(before)
    expect(payload.nbf).toBe(payload.iat)
    expect(payload.exp! - payload.iat!).toBe(30)
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/)
  })

  it.each([
    ['the token endpoint when asked', { assertionAudience: 'token_endpoint' as const }, () => `${tokenx.url}/token`],
    ['the token endpoint when the issuer is unknown', { issuer: undefined }, () => `${tokenx.url}/token`],
    ['the issuer when asked', { assertionAudience: 'issuer' as const }, () => tokenx.url],
  ])('addresses the assertion to %s', async (_, overrides, expected) => {
    await client(overrides).exchange(await citizenToken('1'), AUDIENCE)
    const assertion = new URLSearchParams(tokenx.requests[0]!.body).get('client_assertion')!
    const { payload } = await jwtVerify(assertion, await importJWK(tokenx.key.publicJwk, 'RS256'))
    expect(payload.aud).toBe(expected())
  })

  it('exchanges once per citizen and audience, and serves warm calls from the cache', async () => {
    const kit = client()
    const alice = await citizenToken('11111111111')
    const bob = await citizenToken('22222222222')
    const a1 = await kit.exchange(alice, AUDIENCE)
    const a2 = await kit.exchange(alice, AUDIENCE)
    const b1 = await kit.exchange(bob, AUDIENCE)
    const a3 = await kit.exchange(alice, 'dev-gcp:team:other')
    expect(a2).toBe(a1)
    expect(b1.accessToken).not.toBe(a1.accessToken)
    expect(a3.accessToken).not.toBe(a1.accessToken)
    expect(tokenx.requests).toHaveLength(3)
    const subjects = tokenx.requests.map((r) => new URLSearchParams(r.body).get('subject_token'))
    expect(subjects).toEqual([alice, bob, alice])
  })

  it('shares one exchange among concurrent callers', async () => {
    tokenx.respond = () => ({ ...tokenx.nextAnswer(), delay: 50 })
    const kit = client()
    const subject = await citizenToken('3')
    const tokens = await Promise.all(Array.from({ length: 20 }, () => kit.exchange(subject, AUDIENCE)))
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1)
    expect(tokenx.requests).toHaveLength(1)
  })

  it('renews a cached token renewBefore milliseconds before it expires', async () => {
    let now = Date.now()
    const kit = client({ clock: () => now, renewBefore: 120_000 })
    const subject = await citizenToken('4', { expiresIn: 7200 })
    const first = await kit.exchange(subject, AUDIENCE)
    expect(first.expiresAt).toBe(now + 900_000)
    now += 779_000
    expect(await kit.exchange(subject, AUDIENCE)).toBe(first)
    now += 2_000
    const renewed = await kit.exchange(subject, AUDIENCE)
    expect(renewed.accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
  })

  it('never caches a failure', async () => {
    tokenx.respond = (_r, i) => (i === 0 ? { status: 500, body: 'boom' } : tokenAnswer('recovered'))
    const kit = client({ retries: 0 })
    const subject = await citizenToken('5')
    await expect(kit.exchange(subject, AUDIENCE)).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 502 })
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).toBe('recovered')
  })

  it('rejects an unusable subject token without any request', async () => {
    const kit = client()
    const expired = await citizenToken('6', { now: Math.floor(Date.now() / 1000) - 7200, expiresIn: 60 })
    for (const bad of ['', 'not-a-jwt', 'a.b', expired, `${'x'.repeat(20_000)}.y.z`]) {
      await expect(kit.exchange(bad, AUDIENCE)).rejects.toBeInstanceOf(BearerTokenError)
    }
    expect(tokenx.requests).toHaveLength(0)
  })

  it.each([
    [
      { status: 400, body: { error: 'invalid_request', error_description: 'token verification failed: expired' } },
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
    ],
    [
      { status: 400, body: { error: 'invalid_request', error_description: 'invalid request, validator for issuer=x not found' } },
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
    ],
    [
      { status: 400, body: { error: 'invalid_request', error_description: 'audience dev-gcp:team:downstream is invalid' } },
      'ERR_CLIENT_REJECTED',
      500,
    ],
    [
      {
        status: 400,
        body: { error: 'invalid_request', error_description: "client 'dev-gcp:team:app' is not authorized to get token with aud=x" },
      },
      'ERR_CLIENT_REJECTED',
      500,
    ],
    [{ status: 401, body: { error: 'invalid_client', error_description: 'invalid client authentication' } }, 'ERR_CLIENT_REJECTED', 500],
    [{ status: 403, body: { error: 'access_denied' } }, 'ERR_CLIENT_REJECTED', 500],
    [{ status: 400, body: 'Bad Request' }, 'ERR_TOKEN_ENDPOINT', 502],
    [{ status: 500, body: 'Internal Server Error' }, 'ERR_TOKEN_ENDPOINT', 502],
    [{ status: 503, body: { error: 'temporarily_unavailable' } }, 'ERR_TOKEN_ENDPOINT', 502],
  ] as const)('maps TokenX answer %j to %s (%i)', async (answer, code, status) => {
    tokenx.respond = () => answer
    const subject = await citizenToken('7')
    const err = await client({ retries: 0 })
      .exchange(subject, AUDIENCE)
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenExchangeError)
    expect(err).toMatchObject({ code, status, tokenEndpointStatus: answer.status })
    expect(String((err as { detail: string }).detail)).not.toContain(subject)
  })

  it('reports an unreachable TokenX as 503 and a slow one as 504', async () => {
    const closed = await startServer(() => tokenAnswer('x'))
    await closed.close()
    const subject = await citizenToken('8')
    await expect(client({ tokenEndpoint: `${closed.url}/token`, retries: 0 }).exchange(subject, AUDIENCE)).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      status: 503,
    })
    tokenx.respond = () => ({ ...tokenAnswer('late'), delay: 500 })
    await expect(client({ timeout: 50, retries: 0 }).exchange(subject, AUDIENCE)).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      status: 504,
    })
  })

  it('throws TypeError for bad options at construction', () => {
    const good = { clientId: 'a:b:c', tokenEndpoint: 'https://tokenx/token', privateJwk: tokenx.key.privateJwk }
    expect(() => createTokenXClient({ ...good, clientId: 'app' })).toThrow(TypeError)
    expect(() => createTokenXClient({ ...good, tokenEndpoint: 'not a url' })).toThrow(TypeError)
    expect(() => createTokenXClient({ ...good, assertionLifetime: 121_000 })).toThrow(/assertionLifetime/)
    expect(() => createTokenXClient({ ...good, assertionLifetime: 0 })).toThrow(TypeError)
    expect(() => createTokenXClient({ ...good, assertionAudience: 'issuer' })).toThrow(/issuer/)
    expect(() => createTokenXClient({ ...good, privateJwkSecretId: 'secret' })).toThrow(/exactly one/)
    expect(() => createTokenXClient({ ...good, cacheMaxEntries: 0 })).toThrow(TypeError)
  })
})
