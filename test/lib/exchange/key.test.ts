import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import type { JWK } from 'jose'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../../dev/secrets-manager.ts'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { KeyError } from '../../../lib/errors.ts'
import { channelName } from '../../../lib/events.ts'
import { createKeyLoader, importPrivateJwk, type KeyLoaderOptions } from '../../../lib/exchange/key.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, type TestServer } from '../../helpers/servers.ts'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

let key1: TestKey
let key2: TestKey

beforeAll(async () => {
  ;[key1, key2] = await Promise.all([newTestKey('key-1'), newTestKey('key-2')])
})

/** Every text an error exposes, for checking that none of it is key material. */
function textsOf(err: unknown): string[] {
  const e = err as Error & { cause?: unknown }
  const cause = e.cause as (Error & { cause?: unknown }) | undefined
  return [e.message, String(e.stack), String(e), JSON.stringify(e), String(cause), String(cause?.stack), JSON.stringify(cause ?? null)]
}

function expectNoKeyMaterial(err: unknown, jwk: Record<string, unknown>): void {
  for (const text of textsOf(err)) {
    for (const member of [...PRIVATE_MEMBERS, 'n']) {
      const value = jwk[member]
      if (typeof value === 'string' && value.length >= 8) expect(text).not.toContain(value.slice(0, 32))
    }
  }
}

function keyError(run: () => unknown): KeyError {
  try {
    run()
  } catch (err) {
    expect(err).toBeInstanceOf(KeyError)
    return err as KeyError
  }
  throw new Error('expected a KeyError')
}

/** A JWK object that counts reads of its members, to see when (and how often) it is imported. */
function countingJwk(jwk: JWK, broken: { kty?: string } = {}): { jwk: JWK; reads: () => number } {
  let reads = 0
  const proxy = new Proxy(
    { ...jwk },
    {
      get(target, property, receiver) {
        reads += 1
        if (property === 'kty' && broken.kty !== undefined) return broken.kty
        return Reflect.get(target, property, receiver)
      },
    },
  )
  return { jwk: proxy, reads: () => reads }
}

describe('importPrivateJwk', () => {
  it('imports an RSA private JWK with a kid, as object or JSON text', () => {
    for (const source of [key1.privateJwk, JSON.stringify(key1.privateJwk)]) {
      const imported = importPrivateJwk(source)
      expect(imported.kid).toBe('key-1')
      expect(imported.key.type).toBe('private')
      expect(imported.key.asymmetricKeyType).toBe('rsa')
      expect(Object.isFrozen(imported)).toBe(true)
      // It signs with the private half of exactly this key pair.
      const signature = sign('sha256', Buffer.from('data'), imported.key)
      expect(verify('sha256', Buffer.from('data'), createPublicKey({ key: key1.publicJwk as never, format: 'jwk' }), signature)).toBe(true)
    }
  })

  it('accepts key_ops that include sign', () => {
    expect(importPrivateJwk({ ...key1.privateJwk, key_ops: ['sign'] }).kid).toBe('key-1')
  })

  it('accepts a JWK without alg and use', () => {
    const { alg: _alg, use: _use, ...bare } = key1.privateJwk
    expect(importPrivateJwk(bare).kid).toBe('key-1')
  })

  const rsa1024 = (): JWK => ({ ...generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' }), kid: 'small' })
  const ec = (): JWK => ({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'ec' })

  it.each<[string, () => string | JWK, RegExp]>([
    ['invalid JSON', () => JSON.stringify(key1.privateJwk).slice(0, -20), /^the private key is not valid JSON$/],
    ['JSON null', () => 'null', /^the private key is not a JWK object$/],
    ['a JSON string', () => JSON.stringify(JSON.stringify(key1.privateJwk)), /^the private key is not a JWK object$/],
    ['a JSON array', () => JSON.stringify([key1.privateJwk]), /^the private key is not a JWK object$/],
    ['an EC key', ec, /kty must be "RSA"/],
    ['an oct key', () => ({ kty: 'oct', k: 'c2VjcmV0LXN5bW1ldHJpYy1rZXktbWF0ZXJpYWw', kid: 'oct' }), /kty must be "RSA"/],
    ['a public RSA JWK', () => key1.publicJwk, /^the private key is not an RSA private JWK \(member "d" is missing\)$/],
    ['an RSA JWK without CRT members', () => ({ ...key1.privateJwk, qi: undefined }), /member "qi" is missing/],
    ['an RSA JWK with an empty d', () => ({ ...key1.privateJwk, d: '' }), /member "d" is missing/],
    ['no kid', () => ({ ...key1.privateJwk, kid: undefined }), /^the private key has no "kid"$/],
    ['a blank kid', () => ({ ...key1.privateJwk, kid: ' ' }), /^the private key has no "kid"$/],
    ['a numeric kid', () => ({ ...key1.privateJwk, kid: 1 as unknown as string }), /no "kid"/],
    ['alg RS512', () => ({ ...key1.privateJwk, alg: 'RS512' }), /"alg" must be RS256/],
    ['alg PS256', () => ({ ...key1.privateJwk, alg: 'PS256' }), /"alg" must be RS256/],
    ['use enc', () => ({ ...key1.privateJwk, use: 'enc' }), /"use" must be "sig"/],
    ['RSA-1024', rsa1024, /^the private key must be at least 2048 bits$/],
    ['inconsistent members', () => ({ ...key1.privateJwk, n: 'AQAB', e: 'AQAB' }), /^the private key could not be imported$/],
    // Issue #9 defect 3: key_ops is honoured (RFC 7517 §4.3), and a key whose members do not belong
    // together fails its sign/verify self-test instead of signing assertions nobody can verify.
    ['key_ops without sign', () => ({ ...key1.privateJwk, key_ops: ['verify'] }), /"key_ops" must include "sign"/],
    [
      'key_ops that is not an array',
      () => ({ ...key1.privateJwk, key_ops: 'sign' as unknown as string[] }),
      /"key_ops" must include "sign"/,
    ],
    ['a corrupted e', () => ({ ...key1.privateJwk, e: 'AQAD' }), /^the private key failed its sign\/verify self-test$/],
  ])('rejects %s with a KeyError that quotes no key material', (_label, source, message) => {
    const input = source()
    const err = keyError(() => importPrivateJwk(input as JWK))
    expect(err.detail).toMatch(message)
    expect(err.code).toBe('ERR_KEY')
    const jwk = typeof input === 'string' ? key1.privateJwk : (input as Record<string, unknown>)
    expectNoKeyMaterial(err, jwk)
    expectNoKeyMaterial(err, key1.privateJwk)
  })

  it('rejects a non-object source', () => {
    for (const source of [42, true, null]) {
      expect(() => importPrivateJwk(source as unknown as JWK)).toThrow(
        expect.objectContaining({ detail: expect.stringMatching(/not a JWK object/) }),
      )
    }
  })
})

describe('createKeyLoader with an inline key', () => {
  const options = (privateJwk: string | JWK): KeyLoaderOptions => ({ privateJwk, keyMaxAge: 3_600_000, keyTimeout: 1000, clock: Date.now })

  it('requires a key source', () => {
    expect(() => createKeyLoader({ keyMaxAge: 1, keyTimeout: 1, clock: Date.now })).toThrow(TypeError)
  })

  it('loads nothing at construction', async () => {
    const counting = countingJwk(key1.privateJwk)
    const loader = createKeyLoader(options(counting.jwk))
    expect(counting.reads()).toBe(0)
    // A broken key fails on first use, not at construction.
    const broken = createKeyLoader(options('{not json'))
    await expect(broken.get()).rejects.toThrow(KeyError)
    expect((await loader.get()).kid).toBe('key-1')
    expect(counting.reads()).toBeGreaterThan(0)
  })

  it('imports once for concurrent and later gets', async () => {
    const once = countingJwk(key1.privateJwk)
    const single = createKeyLoader(options(once.jwk))
    await single.get()
    const readsOfOneImport = once.reads()

    const counting = countingJwk(key1.privateJwk)
    const loader = createKeyLoader(options(counting.jwk))
    const keys = await Promise.all(Array.from({ length: 10 }, () => loader.get()))
    expect(new Set(keys).size).toBe(1)
    expect(await loader.get()).toBe(keys[0])
    expect(counting.reads()).toBe(readsOfOneImport)
  })

  it('does not cache a failed import', async () => {
    const broken: { kty?: string } = { kty: 'EC' }
    const counting = countingJwk(key1.privateJwk, broken)
    const loader = createKeyLoader(options(counting.jwk))
    await expect(loader.get()).rejects.toMatchObject({ detail: expect.stringMatching(/kty must be "RSA"/) })
    delete broken.kty
    expect((await loader.get()).kid).toBe('key-1')
  })

  it('has no other key to offer when refused', async () => {
    const loader = createKeyLoader(options(key1.privateJwk))
    const key = await loader.get()
    expect(await loader.refused(key)).toBeUndefined()
    expect(await loader.get()).toBe(key)
  })
})

describe('createKeyLoader with a Secrets Manager secret', () => {
  const SECRET = 'tokenx/private-jwk'
  let sm: LocalSecretsManager
  let now: number

  beforeAll(async () => {
    sm = await startSecretsManager()
  })
  beforeEach(() => {
    now = 1_700_000_000_000
    sm.putSecret(SECRET, JSON.stringify(key1.privateJwk))
    sm.stats.getSecretValue = 0
  })
  afterAll(() => sm.close())

  const client = () =>
    new SecretsManagerClient({ endpoint: sm.url, region: sm.region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } })

  const loader = (overrides: Partial<KeyLoaderOptions> = {}) =>
    createKeyLoader({
      privateJwkSecretId: SECRET,
      secretsManager: client(),
      keyMaxAge: 3_600_000,
      keyTimeout: 3000,
      clock: () => now,
      ...overrides,
    })

  it('the local endpoint answers the real SDK client', async () => {
    const output = await client().send(new GetSecretValueCommand({ SecretId: SECRET }))
    expect(JSON.parse(output.SecretString ?? '')).toEqual(key1.privateJwk)
    expect(sm.stats.getSecretValue).toBe(1)
  })

  it('makes one GetSecretValue for concurrent first gets and none for warm gets', async () => {
    const keys = loader()
    expect(sm.stats.getSecretValue).toBe(0)
    const first = await Promise.all(Array.from({ length: 10 }, () => keys.get()))
    expect(sm.stats.getSecretValue).toBe(1)
    expect(new Set(first).size).toBe(1)
    expect(first[0]?.kid).toBe('key-1')
    for (let i = 0; i < 5; i++) expect(await keys.get()).toBe(first[0])
    expect(sm.stats.getSecretValue).toBe(1)
  })

  it('finds the secret by ARN too', async () => {
    expect((await loader({ privateJwkSecretId: sm.arnOf(SECRET) }).get()).kid).toBe('key-1')
  })

  it('does not cache a failed load', async () => {
    const keys = loader()
    sm.fail({ type: 'AccessDeniedException' })
    const err = await keys.get().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyError)
    expect((err as KeyError).detail).toBe('the private key could not be loaded from Secrets Manager (AccessDeniedException)')
    expect(sm.stats.getSecretValue).toBe(1)
    expect((await keys.get()).kid).toBe('key-1')
    expect(sm.stats.getSecretValue).toBe(2)
  })

  it('does not cache a missing secret or an unusable value, and quotes neither', async () => {
    const keys = loader({ privateJwkSecretId: 'tokenx/not-yet' })
    await expect(keys.get()).rejects.toMatchObject({
      detail: 'the private key could not be loaded from Secrets Manager (ResourceNotFoundException)',
    })
    sm.putSecret('tokenx/not-yet', JSON.stringify(key1.publicJwk))
    const err = await keys.get().catch((e: unknown) => e)
    expect((err as KeyError).detail).toMatch(/member "d" is missing/)
    sm.putSecret('tokenx/not-yet', JSON.stringify(key1.privateJwk).slice(0, -30))
    const parseErr = await keys.get().catch((e: unknown) => e)
    expect((parseErr as KeyError).detail).toBe('the private key is not valid JSON')
    expectNoKeyMaterial(parseErr, key1.privateJwk)
    sm.putSecret('tokenx/not-yet', JSON.stringify(key1.privateJwk))
    expect((await keys.get()).kid).toBe('key-1')
    expect(sm.stats.getSecretValue).toBe(4)
  })

  it('reloads after keyMaxAge', async () => {
    const keys = loader({ keyMaxAge: 60_000 })
    const first = await keys.get()
    now += 59_999
    expect(await keys.get()).toBe(first)
    expect(sm.stats.getSecretValue).toBe(1)
    sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
    now += 1
    const concurrent = await Promise.all([keys.get(), keys.get(), keys.get()])
    expect(sm.stats.getSecretValue).toBe(2)
    expect(concurrent.map((k) => k.kid)).toEqual(['key-2', 'key-2', 'key-2'])
    now += 59_999
    expect(await keys.get()).toBe(concurrent[0])
    expect(sm.stats.getSecretValue).toBe(2)
  })

  it('reloads exactly once when many callers are refused with the same key', async () => {
    const keys = loader()
    const stale = await keys.get()
    keys.accepted(stale)
    sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
    const reloaded = await Promise.all(Array.from({ length: 10 }, () => keys.refused(stale)))
    expect(sm.stats.getSecretValue).toBe(2)
    expect(new Set(reloaded).size).toBe(1)
    expect(reloaded[0]?.kid).toBe('key-2')
    expect(await keys.get()).toBe(reloaded[0])
    // Late callers that still hold the stale key cause no further reload.
    expect(await keys.refused(stale)).toBe(reloaded[0])
    expect(sm.stats.getSecretValue).toBe(2)
  })

  it('picks up a rotated secret after a refusal, not before', async () => {
    const keys = loader()
    const old = await keys.get()
    keys.accepted(old)
    sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
    expect(await keys.get()).toBe(old)
    expect(sm.stats.getSecretValue).toBe(1)
    const rotated = await keys.refused(old)
    expect(rotated?.kid).toBe('key-2')
    expect(await keys.get()).toBe(rotated)
    expect(sm.stats.getSecretValue).toBe(2)
  })

  it('offers the very same key again when the reloaded secret still holds it', async () => {
    const keys = loader()
    const only = await keys.get()
    keys.accepted(only)
    expect(await keys.refused(only)).toBe(only)
    expect(sm.stats.getSecretValue).toBe(2)
    expect(await keys.get()).toBe(only)
  })

  // Issue 18 item 5: a caller whose token TokenX refuses in words like a refused assertion could
  // make the kit ask Secrets Manager (and TokenX once more) for every request.
  describe('refusal-driven reloads are rate-limited', () => {
    it('after a reload that found the key in use, none for 1 s, then 2 s, doubling', async () => {
      const keys = loader()
      const only = await keys.get()
      keys.accepted(only)
      expect(await keys.refused(only)).toBe(only)
      expect(sm.stats.getSecretValue).toBe(2)
      for (let i = 0; i < 5; i++) expect(await keys.refused(only)).toBeUndefined()
      expect(sm.stats.getSecretValue).toBe(2)
      now += 1_000
      expect(await keys.refused(only)).toBe(only)
      expect(sm.stats.getSecretValue).toBe(3)
      now += 1_999
      expect(await keys.refused(only)).toBeUndefined()
      now += 1
      expect(await keys.refused(only)).toBe(only)
      expect(sm.stats.getSecretValue).toBe(4)
      // The key in use is unaffected throughout.
      expect(await keys.get()).toBe(only)
      expect(sm.stats.getSecretValue).toBe(4)
    })

    it('waits at most 30 s between them, or keyMaxAge if shorter', async () => {
      const keys = loader()
      const only = await keys.get()
      keys.accepted(only)
      // 1, 2, 4, 8, 16 s, then 30 s instead of 32 s, and so on.
      for (const wait of [0, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]) {
        now += wait
        expect(await keys.refused(only)).toBe(only)
        now += 1
        expect(await keys.refused(only)).toBeUndefined()
        now -= 1
      }
      const short = loader({ keyMaxAge: 5_000 })
      const key = await short.get()
      short.accepted(key)
      // 1, 2, 4 s, then keyMaxAge (5 s) instead of 8 s. (Past keyMaxAge, each wait's end also
      // brings a scheduled reload: `get` is not called here.)
      for (const wait of [0, 1_000, 2_000, 4_000, 5_000, 5_000]) {
        now += wait
        expect(await short.refused(key)).toBe(key)
        now += 1
        expect(await short.refused(key)).toBeUndefined()
        now -= 1
      }
    })

    it('a reload that finds a new key ends the wait', async () => {
      const keys = loader()
      const old = await keys.get()
      keys.accepted(old)
      expect(await keys.refused(old)).toBe(old)
      sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
      // Within the wait even a rotation is not looked for.
      expect(await keys.refused(old)).toBeUndefined()
      now += 1_000
      const rotated = await keys.refused(old)
      expect(rotated?.kid).toBe('key-2')
      keys.accepted(rotated as NonNullable<typeof rotated>)
      // A refusal of the new key may reload at once.
      expect(await keys.refused(rotated as NonNullable<typeof rotated>)).toBe(rotated)
      expect(sm.stats.getSecretValue).toBe(4)
    })

    it('calls `changing` only when another key is looked for or offered', async () => {
      const keys = loader()
      const only = await keys.get()
      keys.accepted(only)
      const changing = vi.fn()
      await keys.refused(only, changing)
      expect(changing).toHaveBeenCalledTimes(1)
      await keys.refused(only, changing)
      expect(changing).toHaveBeenCalledTimes(1)
    })
  })

  // Issue #9 defect 2: the old key used to be dropped before the new load succeeded.
  describe('when keyMaxAge runs out', () => {
    it('keeps serving the last good key while Secrets Manager fails, and backs off', async () => {
      const keys = loader({ keyMaxAge: 60_000 })
      const good = await keys.get()
      now += 60_000
      // (AccessDenied, as the SDK would retry a ThrottlingException itself and blur the count.)
      sm.fail({ type: 'AccessDeniedException', times: 2 })
      expect(await keys.get()).toBe(good)
      expect(sm.stats.getSecretValue).toBe(2)
      // No new request per invocation: the next try waits for the backoff.
      for (let i = 0; i < 5; i++) expect(await keys.get()).toBe(good)
      expect(sm.stats.getSecretValue).toBe(2)
      now += 1_000
      expect(await keys.get()).toBe(good)
      expect(sm.stats.getSecretValue).toBe(3)
      // The backoff doubles.
      now += 1_000
      expect(await keys.get()).toBe(good)
      expect(sm.stats.getSecretValue).toBe(3)
      now += 1_000
      sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
      expect((await keys.get()).kid).toBe('key-2')
      expect(sm.stats.getSecretValue).toBe(4)
    })

    it('keeps serving the last good key when the new secret is broken', async () => {
      const keys = loader({ keyMaxAge: 60_000 })
      const good = await keys.get()
      now += 60_000
      sm.putSecret(SECRET, JSON.stringify({ ...key2.privateJwk, e: 'AQAD' }))
      expect(await keys.get()).toBe(good)
      sm.putSecret(SECRET, '{not json')
      now += 1_000
      expect(await keys.get()).toBe(good)
      expect(sm.stats.getSecretValue).toBe(3)
    })

    it('falls back to the previous key when TokenX refuses the new one, and tries the new one again later', async () => {
      const keys = loader({ keyMaxAge: 60_000 })
      const old = await keys.get()
      keys.accepted(old)
      now += 60_000
      sm.putSecret(SECRET, JSON.stringify(key2.privateJwk))
      const fresh = await keys.get()
      expect(fresh.kid).toBe('key-2')
      // TokenX does not know key-2 yet: back to key-1, without asking Secrets Manager.
      expect(await keys.refused(fresh)).toBe(old)
      expect(await keys.get()).toBe(old)
      expect(sm.stats.getSecretValue).toBe(2)
      // After the backoff the new key is loaded and tried again; once accepted it stays.
      now += 1_000
      const again = await keys.get()
      expect(again.kid).toBe('key-2')
      keys.accepted(again)
      now += 59_999
      expect(await keys.get()).toBe(again)
      expect(sm.stats.getSecretValue).toBe(3)
    })
  })

  // Issue 18 item 10: one request that never settled held the shared load, and every later caller, for ever.
  it('gives up at keyTimeout on a client that ignores its abort signal, and the next get loads anew', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const signals: AbortSignal[] = []
      const deaf = {
        send: (_command: object, options?: { abortSignal?: AbortSignal }) => {
          if (options?.abortSignal !== undefined) signals.push(options.abortSignal)
          return signals.length === 1 ? new Promise<never>(() => {}) : Promise.resolve({ SecretString: JSON.stringify(key1.privateJwk) })
        },
      }
      const keys = loader({ secretsManager: deaf, keyTimeout: 3000 })
      let outcome: unknown
      const first = keys.get().then(
        (key) => (outcome = key),
        (err: unknown) => (outcome = err),
      )
      await vi.advanceTimersByTimeAsync(2_999)
      expect(outcome).toBeUndefined()
      await vi.advanceTimersByTimeAsync(1)
      await first
      expect(outcome).toBeInstanceOf(KeyError)
      expect((outcome as KeyError).detail).toBe('the private key could not be loaded from Secrets Manager (TimeoutError)')
      // The signal said so too, for a client that listens.
      expect(signals[0]?.aborted).toBe(true)
      expect((await keys.get()).kid).toBe('key-1')
      expect(signals).toHaveLength(2)
      // No timer of either request is left behind.
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('gives up after keyTimeout', async () => {
    sm.fail({ type: '', delay: 2_000 })
    const keys = loader({ keyTimeout: 20 })
    const err = await keys.get().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyError)
    expect((err as KeyError).detail).toBe('the private key could not be loaded from Secrets Manager (TimeoutError)')
  })

  it.each([
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['500 characters', `${'A'.repeat(495)}Error`],
    ['a bare JWT header', 'eyJhbGciOiJSUzI1NiJ9'],
  ])('never lets a foreign error name, code or status shaped as %s into the key.load event or the KeyError', async (_label, name) => {
    const events: Array<{ errorName?: string }> = []
    const listener = (message: unknown) => events.push(message as { errorName?: string })
    subscribe(channelName('key.load'), listener)
    try {
      const foreign = Object.assign(new Error('odd'), { name, code: name, $metadata: { httpStatusCode: name } })
      const err = await loader({ secretsManager: { send: () => Promise.reject(foreign) } })
        .get()
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(KeyError)
      for (const text of [...textsOf(err), (err as KeyError).detail]) expect(text).not.toContain(name.slice(0, 20))
    } finally {
      unsubscribe(channelName('key.load'), listener)
    }
    expect(events).toEqual([expect.objectContaining({ code: 'ERR_KEY', errorName: 'UnknownError' })])
  })

  it('names an AWS error in the key.load event', async () => {
    const events: Array<{ errorName?: string }> = []
    const listener = (message: unknown) => events.push(message as { errorName?: string })
    subscribe(channelName('key.load'), listener)
    try {
      sm.fail({ type: 'AccessDeniedException' })
      await loader()
        .get()
        .catch(() => undefined)
    } finally {
      unsubscribe(channelName('key.load'), listener)
    }
    expect(events).toEqual([expect.objectContaining({ code: 'ERR_KEY', errorName: 'AccessDeniedException' })])
  })

  describe('with the default client, configured by the environment', () => {
    let tripwire: TestServer
    beforeAll(async () => {
      tripwire = await startServer(() => ({ status: 500, body: { __type: 'InternalFailure' } }))
    })
    afterAll(() => tripwire.close())
    afterEach(() => {
      vi.unstubAllEnvs()
    })

    it('honours AWS_ENDPOINT_URL_SECRETS_MANAGER', async () => {
      // The generic variable points at a loopback tripwire: were the service-specific one ignored,
      // the SDK would call the tripwire, never an AWS address.
      vi.stubEnv('AWS_ENDPOINT_URL', tripwire.url)
      vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', sm.url)
      vi.stubEnv('AWS_REGION', sm.region)
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'test')
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test')
      vi.stubEnv('AWS_SESSION_TOKEN', undefined)
      vi.stubEnv('AWS_PROFILE', undefined)
      vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', undefined)
      vi.stubEnv('AWS_CONFIG_FILE', '/nonexistent/aws-config')
      vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', '/nonexistent/aws-credentials')
      const keys = loader({ secretsManager: undefined })
      const concurrent = await Promise.all([keys.get(), keys.get(), keys.get()])
      expect(concurrent[0]?.kid).toBe('key-1')
      expect(new Set(concurrent).size).toBe(1)
      expect(await keys.get()).toBe(concurrent[0])
      expect(sm.stats.getSecretValue).toBe(1)
      expect(tripwire.requests).toHaveLength(0)
    })
  })
})
