/**
 * Secrets Manager failing while the kit loads its private JWK (through the real AWS SDK client and
 * the local endpoint in dev/): a clear `KeyError` (ERR_KEY, 500) whose message names the problem and
 * never the secret's content, no exchange attempted, and nothing poisoned — the next invocation loads
 * again and succeeds once the fault is gone.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { generateKeyPairSync } from 'node:crypto'
import { exportJWK, generateKeyPair } from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
import { createTokenXClient, KeyError, type SecretsManagerLike, type TokenXOptions } from '../../lib/index.ts'
import { memoryLogger } from '../helpers/logs.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, issue, lambdaHandler, settle, watchUnhandledRejections } from './support.ts'

const SECRET = 'tokenx/private-jwk'

let key: TestKey
let sm: LocalSecretsManager
let tokenx: TestServer
let subject: string

beforeAll(async () => {
  key = await newTestKey('app-key')
  sm = await startSecretsManager()
  tokenx = await startServer(issue)
  subject = await citizenToken('12345678910')
})
beforeEach(() => {
  sm.putSecret(SECRET, JSON.stringify(key.privateJwk))
})
afterEach(() => {
  tokenx.requests.length = 0
})
afterAll(async () => {
  await tokenx.close()
  await sm.close()
})

/** One attempt per call, so each injected fault reaches the kit (the SDK's own retries are shown apart). */
function secretsManager(maxAttempts = 1) {
  return new SecretsManagerClient({
    endpoint: sm.url,
    region: sm.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts,
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

/** Every string an error carries, down its `cause` chain. */
function errorText(err: unknown): string {
  const parts: string[] = []
  for (let current: unknown = err, depth = 0; current !== undefined && current !== null && depth < 10; depth++) {
    if (current instanceof Error) {
      parts.push(current.name, current.message, current.stack ?? '', JSON.stringify({ ...current }))
      current = current.cause
    } else {
      parts.push(String(current))
      current = undefined
    }
  }
  return parts.join('\n')
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

function expectNoKeyMaterial(text: string, secretValue?: string) {
  for (const member of PRIVATE_MEMBERS) {
    const value = key.privateJwk[member]
    if (typeof value === 'string') expect(text).not.toContain(value.slice(0, 24))
  }
  if (secretValue !== undefined && secretValue.length > 8) expect(text).not.toContain(secretValue)
}

describe.each([
  ['throttling', () => sm.fail({ type: 'ThrottlingException', times: 1 }), /ThrottlingException/],
  ['access denied', () => sm.fail({ type: 'AccessDeniedException', times: 1 }), /AccessDeniedException/],
  ['a 500 from the service', () => sm.fail({ type: 'InternalServiceError', status: 500, times: 1 }), /InternalServiceError/],
  ['the secret missing', () => sm.deleteSecret(SECRET), /ResourceNotFoundException/],
] as const)('Secrets Manager answering with %s', (_name, inject, named) => {
  it('gives a KeyError (ERR_KEY, 500) naming it, makes no exchange, and the next call succeeds', async () => {
    const kit = createTokenXClient(options())
    inject()
    const err = await kit.exchange(subject, AUDIENCE).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyError)
    expect(err).toMatchObject({ code: 'ERR_KEY', status: 500, error: 'server_error' })
    expect((err as { detail: string }).detail).toMatch(/Secrets Manager/)
    expect((err as { detail: string }).detail).toMatch(named)
    expectNoKeyMaterial(errorText(err))
    expect(tokenx.requests).toHaveLength(0)

    sm.putSecret(SECRET, JSON.stringify(key.privateJwk))
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).toMatch(/^at\./)
    expect(tokenx.requests).toHaveLength(1)
  })
})

describe('a secret that is not a usable private RSA JWK', () => {
  let cases: Array<[string, () => Promise<string>, RegExp]>

  beforeAll(() => {
    const { kid: _kid, ...withoutKid } = key.privateJwk
    cases = [
      ['not JSON', async () => `-----BEGIN PRIVATE KEY-----\n${key.privateJwk.d}\n-----END PRIVATE KEY-----`, /not valid JSON/],
      ['JSON but not an object', async () => JSON.stringify([key.privateJwk]), /not a JWK object/],
      ['a JWK without kid', async () => JSON.stringify(withoutKid), /no "kid"/],
      ['a public JWK', async () => JSON.stringify(key.publicJwk), /"d" is missing/],
      [
        'an EC private JWK',
        async () => {
          const { privateKey } = await generateKeyPair('ES256', { extractable: true })
          return JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'ec' })
        },
        /kty must be "RSA"/,
      ],
      [
        'a 1024-bit RSA key',
        async () => {
          const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 })
          return JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'short' })
        },
        /at least 2048 bits/,
      ],
      [
        'an RSA JWK with a corrupt d',
        async () => JSON.stringify({ ...key.privateJwk, d: `${key.privateJwk.d}AAAA` }),
        /could not be imported|private key/,
      ],
      ['an empty string', async () => '', /no SecretString|not valid JSON/],
    ]
  })

  it('answers each with a KeyError that names the problem, quotes nothing, and recovers once fixed', async () => {
    for (const [name, value, named] of cases) {
      const secretValue = await value()
      sm.putSecret(SECRET, secretValue)
      const kit = createTokenXClient(options())
      const err = await kit.exchange(subject, AUDIENCE).catch((e: unknown) => e)
      expect(err, name).toBeInstanceOf(KeyError)
      expect(err, name).toMatchObject({ code: 'ERR_KEY', status: 500 })
      expect((err as { detail: string }).detail, name).toMatch(named)
      expectNoKeyMaterial(errorText(err), secretValue)
      expect(tokenx.requests, name).toHaveLength(0)

      sm.putSecret(SECRET, JSON.stringify(key.privateJwk))
      expect((await kit.exchange(subject, AUDIENCE)).accessToken, name).toMatch(/^at\./)
      tokenx.requests.length = 0
    }
  })
})

describe('a slow Secrets Manager', () => {
  it('gives up after keyTimeout with a KeyError, and the next call loads again', async () => {
    const kit = createTokenXClient(options({ keyTimeout: 100 }))
    sm.fail({ type: '', delay: 400 })
    await expect(kit.exchange(subject, AUDIENCE)).rejects.toMatchObject({ code: 'ERR_KEY', detail: expect.stringMatching(/TimeoutError/) })
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).toMatch(/^at\./)
    // Let the abandoned, delayed request finish here rather than land in another test's counts.
    await settle(400)
  })

  it('through the middleware, the Lambda deadline comes first: 504, and the key is still loaded for the next invocation', async () => {
    sm.fail({ type: '', delay: 400 })
    const { handler } = lambdaHandler({ client: options({ keyTimeout: 3_000 }) })
    const first = await handler(v2Event(`Bearer ${subject}`), lambdaContext(600))
    expect(first.statusCode).toBe(504)
    const second = await handler(v2Event(`Bearer ${subject}`), lambdaContext(10_000))
    expect(second.statusCode).toBe(200)
  })
})

// Issue 18 item 10: a client that ignores its abort signal (a wrapper, a hung socket) used to hold
// the shared load for ever: every later invocation waited on it until its deadline (504).
describe('a Secrets Manager request that never settles', () => {
  it('is given up at keyTimeout: that invocation answers 500, and the next one loads anew', async () => {
    const real = secretsManager()
    let sends = 0
    const deaf: SecretsManagerLike = {
      send: (command, sendOptions) =>
        ++sends === 1 ? new Promise<never>(() => {}) : (real.send(command as never, sendOptions) as Promise<{ SecretString?: string }>),
    }
    const { handler } = lambdaHandler({ client: options({ secretsManager: deaf, keyTimeout: 200 }) })
    const first = await handler(v2Event(`Bearer ${subject}`), lambdaContext(1_500))
    expect(first.statusCode).toBe(500)
    const second = await handler(v2Event(`Bearer ${subject}`), lambdaContext(1_500))
    expect(second.statusCode).toBe(200)
    expect(sends).toBe(2)
  })
})

describe("the SDK's own retries", () => {
  it('ride out a single throttled request with the default, environment-configured client', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', sm.url)
    vi.stubEnv('AWS_REGION', sm.region)
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test')
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test')
    const kit = createTokenXClient(options({ secretsManager: undefined }))
    const loads = sm.stats.getSecretValue
    sm.fail({ type: 'ThrottlingException', times: 1 })
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).toMatch(/^at\./)
    expect(sm.stats.getSecretValue).toBe(loads + 2)
  })
})

describe('a burst of invocations during a Secrets Manager fault', () => {
  it('loads once, gives every invocation the same 500, and the next burst loads once more and succeeds', async () => {
    const unhandled = watchUnhandledRejections()
    try {
      const logger = memoryLogger()
      const { handler, handlerCalls } = lambdaHandler({ client: options(), logger })
      const citizens = await Promise.all(Array.from({ length: 10 }, (_, i) => citizenToken(`${i}`)))
      const burst = () => Promise.all(citizens.map((citizen) => handler(v2Event(`Bearer ${citizen}`), lambdaContext(10_000))))
      const loads = sm.stats.getSecretValue
      sm.fail({ type: 'AccessDeniedException', times: 1, delay: 50 })

      const failed = await burst()
      expect(failed.map((result) => result.statusCode)).toEqual(Array(10).fill(500))
      expect(new Set(failed.map((result) => result.body))).toEqual(
        new Set([JSON.stringify({ error: 'server_error', error_description: 'The server could not complete the request' })]),
      )
      expect(sm.stats.getSecretValue).toBe(loads + 1)
      expect(tokenx.requests).toHaveLength(0)
      expect(handlerCalls()).toBe(0)
      const answered = logger.lines.filter((line) => line.message === 'request failed')
      expect(answered).toHaveLength(10)
      expect(answered.every((line) => line.code === 'ERR_KEY' && /AccessDeniedException/.test(String(line.detail)))).toBe(true)
      // One load, one line saying why it failed, by the SDK error's name only.
      expect(logger.lines.filter((line) => line.message === 'signing key load failed')).toEqual([
        expect.objectContaining({ level: 'error', code: 'ERR_KEY', errorName: 'AccessDeniedException', source: 'secrets-manager' }),
      ])

      const recovered = await burst()
      expect(recovered.map((result) => result.statusCode)).toEqual(Array(10).fill(200))
      expect(sm.stats.getSecretValue).toBe(loads + 2)
      expect(tokenx.requests).toHaveLength(10)
      expect(unhandled.seen).toEqual([])
    } finally {
      unhandled.stop()
    }
  })
})
