/**
 * The client's key is rotated: the new private JWK is in Secrets Manager and TokenX knows only the
 * new public key, while a warm function still signs with the old one. TokenX then refuses the client
 * assertion; the kit loads the key again once (from the local Secrets Manager, through the real AWS
 * SDK client) and retries once with a fresh assertion. A second refusal is final (500).
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { decodeProtectedHeader, type JWK } from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
import { createTokenXClient, TokenExchangeError, type TokenXOptions } from '../../lib/index.ts'
import { memoryLogger } from '../helpers/logs.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type Answer, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, formOf, jtis, lambdaHandler, verifyingEndpoint } from './support.ts'

const SECRET = 'tokenx/private-jwk'

let oldKey: TestKey
let newKey: TestKey
let strayKey: TestKey
let sm: LocalSecretsManager
let tokenx: TestServer
/** The public keys TokenX accepts assertions from (jwker's registration of our client). */
let registered: JWK[]
/** How TokenX words a refused assertion. */
let refusal: 'invalid_client' | 'tokendings' = 'invalid_client'

/**
 * tokendings (Extensions.kt `SignedJWT.verify`) answers 400 invalid_request with Nimbus's message,
 * URL-encoded, when no registered key verifies the client assertion. oidc-provider, and RFC 6749
 * §5.2, answer 401 invalid_client.
 */
const TOKENDINGS_NO_MATCHING_KEY: Answer = {
  status: 400,
  body: {
    error: 'invalid_request',
    error_description: 'token verification failed: Signed+JWT+rejected%3A+Another+algorithm+expected%2C+or+no+matching+key%28s%29+found',
  },
}

beforeAll(async () => {
  ;[oldKey, newKey, strayKey] = await Promise.all([newTestKey('key-2025'), newTestKey('key-2026'), newTestKey('key-stray')])
  sm = await startSecretsManager()
  const verify = verifyingEndpoint(() => registered)
  tokenx = await startServer(async (request) => {
    const answer = await verify(request)
    return answer.status === 401 && refusal === 'tokendings' ? TOKENDINGS_NO_MATCHING_KEY : answer
  })
})
beforeEach(() => {
  sm.putSecret(SECRET, JSON.stringify(oldKey.privateJwk))
  registered = [oldKey.publicJwk]
  refusal = 'invalid_client'
})
afterEach(() => {
  tokenx.requests.length = 0
})
afterAll(async () => {
  await tokenx.close()
  await sm.close()
})

function secretsManager() {
  return new SecretsManagerClient({
    endpoint: sm.url,
    region: sm.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  })
}

function options(overrides: Partial<TokenXOptions> = {}): TokenXOptions {
  return {
    clientId: CLIENT_ID,
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwkSecretId: SECRET,
    secretsManager: secretsManager(),
    retryBackoff: 1,
    ...overrides,
  }
}

/** Moves the secret and TokenX's registration to the new key, as a rotation does. */
function rotate() {
  sm.putSecret(SECRET, JSON.stringify(newKey.privateJwk))
  registered = [newKey.publicJwk]
}

const kids = () => tokenx.requests.map((request) => decodeProtectedHeader(formOf(request).client_assertion ?? '').kid)

describe.each(['invalid_client', 'tokendings'] as const)('TokenX refusing the old key (%s)', (wording) => {
  beforeEach(() => {
    refusal = wording
  })

  it('reloads the key once and retries once with a fresh assertion', async () => {
    const kit = createTokenXClient(options())
    const loads = sm.stats.getSecretValue
    await kit.exchange(await citizenToken('1'), AUDIENCE)
    expect(sm.stats.getSecretValue).toBe(loads + 1)

    rotate()
    tokenx.requests.length = 0
    const token = await kit.exchange(await citizenToken('2'), AUDIENCE)
    expect(token.accessToken).toMatch(/^at\./)
    expect(kids()).toEqual(['key-2025', 'key-2026'])
    expect(new Set(jtis(tokenx.requests)).size).toBe(2)
    expect(sm.stats.getSecretValue).toBe(loads + 2)

    // Warm from now on: the new key is kept, nothing is loaded again.
    await kit.exchange(await citizenToken('3'), AUDIENCE)
    expect(kids()).toEqual(['key-2025', 'key-2026', 'key-2026'])
    expect(sm.stats.getSecretValue).toBe(loads + 2)
  })

  // Issue #9 defect 5: the attempt after a key reload used to count as a retry, so with `retries: 1` a
  // 503 right after the reload was final. The two budgets are separate.
  it('the attempt with the reloaded key does not use up a retry', async () => {
    const kit = createTokenXClient(options({ retries: 1 }))
    await kit.exchange(await citizenToken('1'), AUDIENCE)
    rotate()
    tokenx.requests.length = 0
    const verify = verifyingEndpoint(() => registered)
    let served = 0
    tokenx.respond = async (request) => {
      served += 1
      const answer = await verify(request)
      if (answer.status === 401 && refusal === 'tokendings') return TOKENDINGS_NO_MATCHING_KEY
      // The first request with the new key meets a TokenX hiccup.
      return served === 2 ? { status: 503, body: 'Service Unavailable' } : answer
    }
    try {
      const token = await kit.exchange(await citizenToken('2'), AUDIENCE)
      expect(token.accessToken).toMatch(/^at\./)
      expect(kids()).toEqual(['key-2025', 'key-2026', 'key-2026'])
    } finally {
      tokenx.respond = async (request) => {
        const answer = await verify(request)
        return answer.status === 401 && refusal === 'tokendings' ? TOKENDINGS_NO_MATCHING_KEY : answer
      }
    }
  })

  it('a second refusal is final: 500 ERR_CLIENT_REJECTED after exactly two requests and one reload', async () => {
    const kit = createTokenXClient(options({ retries: 3 }))
    await kit.exchange(await citizenToken('1'), AUDIENCE)
    // TokenX was told about a key the secret does not hold.
    registered = [strayKey.publicJwk]
    tokenx.requests.length = 0
    const loads = sm.stats.getSecretValue
    const err = await kit.exchange(await citizenToken('2'), AUDIENCE).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TokenExchangeError)
    expect(err).toMatchObject({ code: 'ERR_CLIENT_REJECTED', status: 500, error: 'server_error' })
    expect(tokenx.requests).toHaveLength(2)
    expect(sm.stats.getSecretValue).toBe(loads + 1)
  })

  it('a burst of invocations during the rotation reloads the key once', async () => {
    const kit = createTokenXClient(options())
    await kit.exchange(await citizenToken('0'), AUDIENCE)
    rotate()
    const loads = sm.stats.getSecretValue
    const citizens = await Promise.all(Array.from({ length: 12 }, (_, i) => citizenToken(`${100 + i}`)))
    const tokens = await Promise.all(citizens.map((citizen) => kit.exchange(citizen, AUDIENCE)))
    expect(new Set(tokens.map((token) => token.accessToken)).size).toBe(12)
    expect(sm.stats.getSecretValue).toBe(loads + 1)
  })
})

// Issue 18 item 5: tokendings before 2022 words a subject token signed by a key its issuer does not
// have exactly as it words our refused assertion. Each forged bearer used to cost a GetSecretValue
// and a second TokenX request.
describe('forged bearers that TokenX refuses in the words of a refused assertion', () => {
  /** Every subject token but the genuine citizen's is "signed by no known key". */
  let genuine: string
  beforeEach(async () => {
    genuine = await citizenToken('1')
    const verify = verifyingEndpoint(() => registered)
    tokenx.respond = async (request) => (formOf(request).subject_token === genuine ? verify(request) : TOKENDINGS_NO_MATCHING_KEY)
  })
  afterEach(() => {
    const verify = verifyingEndpoint(() => registered)
    tokenx.respond = async (request) => {
      const answer = await verify(request)
      return answer.status === 401 && refusal === 'tokendings' ? TOKENDINGS_NO_MATCHING_KEY : answer
    }
  })

  it('cost at most one key reload per rate-limit window, and one TokenX request each', async () => {
    // Behind the real clock TokenX checks assertions with, so that moving it on dates none in the future.
    let now = Date.now() - 5_000
    const kit = createTokenXClient(options({ clock: () => now }))
    await kit.exchange(genuine, AUDIENCE)
    const loads = sm.stats.getSecretValue
    tokenx.requests.length = 0
    const forged = await Promise.all(Array.from({ length: 10 }, (_, i) => citizenToken(`${200 + i}`)))
    for (const bearer of forged) await expect(kit.exchange(bearer, AUDIENCE)).rejects.toBeInstanceOf(TokenExchangeError)
    // The first refusal may be a rotation: one reload and one more try. The rest: nothing more.
    expect(sm.stats.getSecretValue).toBe(loads + 1)
    expect(tokenx.requests).toHaveLength(11)
    // The window doubles while reloads find nothing new.
    now += 1_000
    for (const bearer of forged) await kit.exchange(bearer, AUDIENCE).catch(() => undefined)
    expect(sm.stats.getSecretValue).toBe(loads + 2)
    // The genuine citizen is served throughout, with the key in use.
    const genuineAgain = await citizenToken('2')
    tokenx.respond = async (request) =>
      formOf(request).subject_token === genuineAgain ? verifyingEndpoint(() => registered)(request) : TOKENDINGS_NO_MATCHING_KEY
    expect((await kit.exchange(genuineAgain, AUDIENCE)).accessToken).toMatch(/^at\./)
  })
})

// Issue #9 defect 2, end to end: the secret is rotated before TokenX learns the new public key.
describe('the secret rotated before TokenX knows the new key', () => {
  it('falls back to the previous key when keyMaxAge brings in a key TokenX refuses', async () => {
    // TokenX checks assertions against the real clock: start in the past, so that moving the
    // function's clock past keyMaxAge does not date its assertions in the future.
    let now = Date.now() - 61_000
    const kit = createTokenXClient(options({ keyMaxAge: 60_000, assertionLifetime: 120_000, clock: () => now }))
    await kit.exchange(await citizenToken('1'), AUDIENCE)
    sm.putSecret(SECRET, JSON.stringify(newKey.privateJwk))
    now += 60_000
    tokenx.requests.length = 0
    const token = await kit.exchange(await citizenToken('2'), AUDIENCE)
    expect(token.accessToken).toMatch(/^at\./)
    expect(kids()).toEqual(['key-2026', 'key-2025'])
    // Until the backoff passes, the previous key serves without another look at the new one.
    await kit.exchange(await citizenToken('3'), AUDIENCE)
    expect(kids()).toEqual(['key-2026', 'key-2025', 'key-2025'])
    // Once TokenX knows the new key, it takes over.
    registered = [oldKey.publicJwk, newKey.publicJwk]
    now += 1_000
    await kit.exchange(await citizenToken('4'), AUDIENCE)
    expect(kids().at(-1)).toBe('key-2026')
  })

  it('keeps the working key when Secrets Manager fails at keyMaxAge', async () => {
    // TokenX checks assertions against the real clock: start in the past, so that moving the
    // function's clock past keyMaxAge does not date its assertions in the future.
    let now = Date.now() - 61_000
    const kit = createTokenXClient(options({ keyMaxAge: 60_000, assertionLifetime: 120_000, clock: () => now }))
    await kit.exchange(await citizenToken('1'), AUDIENCE)
    now += 60_000
    sm.fail({ type: 'AccessDeniedException', times: 1 })
    const loads = sm.stats.getSecretValue
    await kit.exchange(await citizenToken('2'), AUDIENCE)
    await kit.exchange(await citizenToken('3'), AUDIENCE)
    expect(sm.stats.getSecretValue).toBe(loads + 1)
    expect(kids().slice(-2)).toEqual(['key-2025', 'key-2025'])
  })
})

describe('through the middleware', () => {
  it('a rotation is invisible to callers; a refused key answers 500 and an invocation after the reload rate limit tries again', async () => {
    const logger = memoryLogger()
    // TokenX checks assertions against the real clock: the function's runs a little behind it, so
    // that moving it on past the reload rate limit does not date assertions in the future.
    let now = Date.now() - 5_000
    const { handler } = lambdaHandler({ client: options({ clock: () => now }), logger })
    const call = async (pid: string) => handler(v2Event(`Bearer ${await citizenToken(pid)}`), lambdaContext(10_000))

    expect((await call('1')).statusCode).toBe(200)
    rotate()
    expect((await call('2')).statusCode).toBe(200)

    // TokenX is updated before the secret is: the reload finds the key TokenX just dropped.
    registered = [strayKey.publicJwk]
    const refused = await call('3')
    expect(refused.statusCode).toBe(500)
    expect(JSON.parse(refused.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' })
    expect(logger.lines.at(-1)).toMatchObject({
      message: 'request failed',
      code: 'ERR_CLIENT_REJECTED',
      tokenEndpointStatus: 401,
      upstreamError: 'invalid_client',
    })
    // The rotation and the refused key were logged as reloads, naming the kid only.
    expect(logger.lines.filter((line) => line.message === 'signing key reloaded').length).toBeGreaterThanOrEqual(1)

    // Nothing stays poisoned: once the secret holds the key TokenX knows, an invocation after the
    // reload rate limit (1 s after a reload that found no new key) works; one before it does not reload.
    sm.putSecret(SECRET, JSON.stringify(strayKey.privateJwk))
    const loads = sm.stats.getSecretValue
    expect((await call('4')).statusCode).toBe(500)
    expect(sm.stats.getSecretValue).toBe(loads)
    now += 1_000
    expect((await call('5')).statusCode).toBe(200)
    expect(sm.stats.getSecretValue).toBe(loads + 1)
  })

  it('the default client, configured by AWS_* environment variables, reloads from the local endpoint', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', sm.url)
    vi.stubEnv('AWS_REGION', sm.region)
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test')
    const { handler } = lambdaHandler({ client: options({ secretsManager: undefined }) })
    const call = async (pid: string) => handler(v2Event(`Bearer ${await citizenToken(pid)}`), lambdaContext(10_000))
    expect((await call('1')).statusCode).toBe(200)
    rotate()
    const loads = sm.stats.getSecretValue
    expect((await call('2')).statusCode).toBe(200)
    expect(sm.stats.getSecretValue).toBe(loads + 1)
  })
})

describe('a key given inline cannot be reloaded', () => {
  it('answers 500 after one request', async () => {
    registered = [newKey.publicJwk]
    const kit = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwk: oldKey.privateJwk, retries: 3 })
    await expect(kit.exchange(await citizenToken('1'), AUDIENCE)).rejects.toMatchObject({ code: 'ERR_CLIENT_REJECTED', status: 500 })
    expect(tokenx.requests).toHaveLength(1)
  })
})
