/**
 * The shared second level against dynalite (a DynamoDB implementation) on 127.0.0.1, through the
 * real `@aws-sdk/client-dynamodb` client and `AWS_ENDPOINT_URL_DYNAMODB`; two module instances of
 * the kit stand for two Lambda environments. Only access denied uses an injected client (dynalite
 * has no IAM).
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { LOCAL_CREDENTIALS, startDynamoDB, type LocalDynamoDB } from '../../../dev/dynamodb.ts'
import { sharedItemKey, tokenCacheKey } from '../../../lib/cache/memory.ts'
import type { KitEvents } from '../../../lib/events.ts'
import type * as Kit from '../../../lib/index.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../../helpers/servers.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
type SharedEvent = KitEvents['shared-cache']

let db: LocalDynamoDB
let tokenx: TestServer
let key: TestKey
let issued = 0
const events: SharedEvent[] = []
const onEvent = (message: unknown) => events.push(message as SharedEvent)
const savedEnv: Record<string, string | undefined> = {}
const awsEnv = () => ({
  AWS_ENDPOINT_URL_DYNAMODB: db.url,
  AWS_REGION: 'eu-north-1',
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
})

beforeAll(async () => {
  key = await newTestKey('app-key-1')
  db = await startDynamoDB()
  tokenx = await startServer(() => tokenAnswer(`access-${++issued}`))
  // The kit's own SDK client finds the endpoint the way it would on a developer's machine. (Set for
  // the whole file, not with vi.stubEnv, which this project's config undoes after each test.)
  for (const [name, value] of Object.entries(awsEnv())) {
    savedEnv[name] = process.env[name]
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  subscribe('tokenx-handler-kit:shared-cache', onEvent)
})
afterEach(() => {
  tokenx.requests.length = 0
  tokenx.respond = () => tokenAnswer(`access-${++issued}`)
  events.length = 0
})
afterAll(async () => {
  unsubscribe('tokenx-handler-kit:shared-cache', onEvent)
  for (const [name, value] of Object.entries(savedEnv)) {
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  await tokenx?.close()
  await db?.close()
})

/** A fresh instance of the kit's modules: what another Lambda execution environment would load. */
async function environment(): Promise<typeof Kit> {
  vi.resetModules()
  return import('../../../lib/index.ts')
}

type Options = Parameters<typeof Kit.createTokenXClient>[0]

function options(overrides: Partial<Options> = {}): Options {
  return {
    clientId: 'dev-gcp:team:app',
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwk: key.privateJwk,
    retries: 0,
    // Generous budgets where a test is not about them: this machine's load must not turn hits into misses.
    sharedCache: { table: db.table, readTimeout: 2000, writeTimeout: 2000 },
    ...overrides,
  }
}

async function item(pk: string): Promise<Record<string, AttributeValue> | undefined> {
  return (await db.client.send(new GetItemCommand({ TableName: db.table, Key: { pk: { S: pk } } }))).Item
}

const outcomes = () => events.map((event) => `${event.operation}:${event.outcome}`)

describe('shared cache across environments', () => {
  it('serves a token one environment exchanged to another, without a second exchange', async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')

    const first = await a.exchange(subject, AUDIENCE)
    expect(tokenx.requests).toHaveLength(1)
    expect(outcomes()).toEqual(['get:miss', 'put:written'])

    const second = await b.exchange(subject, AUDIENCE)
    expect(tokenx.requests).toHaveLength(1)
    expect(second).toEqual(first)
    expect(outcomes()).toEqual(['get:miss', 'put:written', 'get:hit'])

    // B now has it in memory: no further table read.
    await b.exchange(subject, AUDIENCE)
    expect(events).toHaveLength(3)
    expect(events.every((event) => event.audience === AUDIENCE && event.durationMs >= 0)).toBe(true)
  })

  it('stores only the key, the expiry and ciphertext; ttl is never after the renewal point nor the subject token\'s exp', async () => {
    const now = Math.floor(Date.now() / 1000)
    const a = (await environment()).createTokenXClient(options())
    const longLived = await citizenToken('10000000001', { expiresIn: 3600 })
    const shortLived = await citizenToken('10000000002', { expiresIn: 300 })
    await a.exchange(longLived, AUDIENCE)
    await a.exchange(shortLived, AUDIENCE)

    const long = await item(sharedItemKey(tokenCacheKey(longLived, AUDIENCE)))
    expect(Object.keys(long ?? {}).sort()).toEqual(['data', 'pk', 'ttl', 'v'])
    expect(long?.pk?.S).toBe(sharedItemKey(tokenCacheKey(longLived, AUDIENCE)))
    expect(long?.v?.N).toBe('1')
    // 900 s token, renewed 120 s early.
    const longTtl = Number(long?.ttl?.N)
    expect(longTtl).toBeGreaterThanOrEqual(now + 780 - 2)
    expect(longTtl).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 780)
    // The citizen's token expires first.
    expect(Number((await item(sharedItemKey(tokenCacheKey(shortLived, AUDIENCE))))?.ttl?.N)).toBeLessThanOrEqual(now + 300 + 1)
    expect(Number((await item(sharedItemKey(tokenCacheKey(shortLived, AUDIENCE))))?.ttl?.N)).toBeGreaterThanOrEqual(now + 300 - 2)
  })

  it('ignores an item with a flipped byte, exchanges, and replaces it', async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const c = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')
    const pk = sharedItemKey(tokenCacheKey(subject, AUDIENCE))
    const first = await a.exchange(subject, AUDIENCE)

    const stored = await item(pk)
    const data = Buffer.from(stored?.data?.B as Uint8Array)
    data[40] = (data[40] as number) ^ 0x01
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...stored, data: { B: data } } }))
    events.length = 0

    const second = await b.exchange(subject, AUDIENCE)
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
    expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
      ['get', 'rejected', 'UnauthenticItem'],
      ['put', 'written', undefined],
    ])
    // B's exchange replaced the tampered item.
    expect((await c.exchange(subject, AUDIENCE)).accessToken).toBe(second.accessToken)
    expect(tokenx.requests).toHaveLength(2)
  })

  it('ignores an item moved to another citizen\'s key: never serves one citizen\'s token to another', async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const alice = await citizenToken('11111111111')
    const bob = await citizenToken('22222222222')
    const alicesToken = await a.exchange(alice, AUDIENCE)
    await a.exchange(bob, AUDIENCE)

    const alicesItem = await item(sharedItemKey(tokenCacheKey(alice, AUDIENCE)))
    const bobsPk = sharedItemKey(tokenCacheKey(bob, AUDIENCE))
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...alicesItem, pk: { S: bobsPk } } }))
    events.length = 0

    const bobsToken = await b.exchange(bob, AUDIENCE)
    expect(bobsToken.accessToken).not.toBe(alicesToken.accessToken)
    expect(tokenx.requests).toHaveLength(3)
    expect(events[0]).toMatchObject({ operation: 'get', outcome: 'rejected', errorName: 'UnauthenticItem' })
  })

  it('ignores an item left for another audience under this audience\'s key', async () => {
    const a = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')
    const other = 'dev-gcp:team:other'
    await a.exchange(subject, other)
    const moved = await item(sharedItemKey(tokenCacheKey(subject, other)))
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...moved, pk: { S: sharedItemKey(tokenCacheKey(subject, AUDIENCE)) } } }))
    events.length = 0
    const b = (await environment()).createTokenXClient(options())
    const token = await b.exchange(subject, AUDIENCE)
    expect(token.audience).toBe(AUDIENCE)
    expect(tokenx.requests).toHaveLength(2)
    expect(events[0]).toMatchObject({ outcome: 'rejected' })
  })

  it('ignores items that are not in the sealed format (wrong types, missing data)', async () => {
    const subject = await citizenToken('12345678910')
    const pk = sharedItemKey(tokenCacheKey(subject, AUDIENCE))
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { pk: { S: pk }, ttl: { N: '9999999999' }, v: { N: '1' }, data: { S: 'plain text' } } }))
    const b = (await environment()).createTokenXClient(options())
    await b.exchange(subject, AUDIENCE)
    expect(tokenx.requests).toHaveLength(1)
    expect(events[0]).toMatchObject({ outcome: 'rejected', errorName: 'MalformedItem' })
  })

  it('does not serve from the table what the downstream refused (evict), and the next exchange replaces it', async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')
    const refused = await a.exchange(subject, AUDIENCE)
    a.evict(subject, AUDIENCE, refused)
    const renewed = await a.exchange(subject, AUDIENCE)
    expect(renewed.accessToken).not.toBe(refused.accessToken)
    expect(tokenx.requests).toHaveLength(2)
    expect((await b.exchange(subject, AUDIENCE)).accessToken).toBe(renewed.accessToken)
  })
})

describe('expiry (fake time)', () => {
  it('serves an item until its renewal point, then exchanges anew', async () => {
    let now = Date.now()
    const clock = () => now
    const start = now
    const subject = await citizenToken('12345678910', { now: Math.floor(start / 1000), expiresIn: 7200 })
    const a = (await environment()).createTokenXClient(options({ clock }))
    const first = await a.exchange(subject, AUDIENCE)

    now = start + 700_000
    const b = (await environment()).createTokenXClient(options({ clock }))
    expect(await b.exchange(subject, AUDIENCE)).toEqual(first)
    expect(tokenx.requests).toHaveLength(1)

    // 900 s token renewed 120 s early: past 780 s, neither B's memory nor the table serves it.
    now = start + 781_000
    const renewed = await b.exchange(subject, AUDIENCE)
    expect(renewed.accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
    expect(events.filter((event) => event.operation === 'get').map((event) => event.outcome)).toEqual(['miss', 'hit', 'miss'])

    const c = (await environment()).createTokenXClient(options({ clock }))
    expect(await c.exchange(subject, AUDIENCE)).toEqual(renewed)
    expect(tokenx.requests).toHaveLength(2)
  })

  it('never serves an item past the subject token\'s exp, even while the item itself is fresh', async () => {
    let now = Date.now()
    const clock = () => now
    const start = now
    const subject = await citizenToken('12345678910', { now: Math.floor(start / 1000), expiresIn: 7200 })
    const a = (await environment()).createTokenXClient(options({ clock }))
    await a.exchange(subject, AUDIENCE)
    // Another environment's clock runs 10 min ahead: the subject token has 7190 s left there... but
    // an item written with a shorter-lived subject token must not outlive it: write one by hand.
    const short = await citizenToken('10987654321', { now: Math.floor(start / 1000), expiresIn: 200 })
    await a.exchange(short, AUDIENCE)
    now = start + 201_000
    const b = (await environment()).createTokenXClient(options({ clock }))
    await expect(b.exchange(short, AUDIENCE)).rejects.toMatchObject({ code: 'ERR_BEARER_TOKEN' })
    expect(tokenx.requests).toHaveLength(2)
  })
})

/** A TCP server that accepts connections and never answers: a table that does not respond. */
async function blackhole(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let count = 0
  const server: Server = createServer((socket) => {
    count += 1
    sockets.add(socket)
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    }),
  }
}

describe('never worse than no cache', () => {
  it('exchanges within the budgets when the table does not answer, then opens the breaker and skips the table', async () => {
    const hole = await blackhole()
    let now = Date.now()
    const clock = () => now
    const dynamodb = new DynamoDBClient({ endpoint: hole.url, region: 'eu-north-1', credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 })
    try {
      const kit = await environment()
      const a = kit.createTokenXClient(options({
        clock,
        sharedCache: { table: db.table, client: dynamodb, readTimeout: 40, writeTimeout: 40, coldTimeout: 40, failureThreshold: 3, breakerCooldown: 30_000 },
      }))
      const started = performance.now()
      await a.exchange(await citizenToken('10000000001'), AUDIENCE)
      // One read and one write budget, plus the exchange on 127.0.0.1: far from the SDK's own timeouts.
      expect(performance.now() - started).toBeLessThan(1000)
      expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
        ['get', 'error', 'TimeoutError'],
        ['put', 'error', 'TimeoutError'],
      ])
      // The third failure in a row opens the breaker; the put after it is skipped.
      await a.exchange(await citizenToken('10000000002'), AUDIENCE)
      expect(events.slice(2).map((event) => [event.operation, event.outcome, event.breaker])).toEqual([
        ['get', 'error', 'opened'],
        ['put', 'skipped', undefined],
      ])
      const connections = hole.connections()
      await a.exchange(await citizenToken('10000000003'), AUDIENCE)
      expect(events.slice(4).map((event) => event.outcome)).toEqual(['skipped', 'skipped'])
      expect(hole.connections()).toBe(connections)
      expect(tokenx.requests).toHaveLength(3)

      // After the cooldown, one probe goes to the table; it fails again, and the breaker stays open.
      now += 30_001
      await a.exchange(await citizenToken('10000000004'), AUDIENCE)
      expect(events.slice(6).map((event) => [event.operation, event.outcome, event.breaker])).toEqual([
        ['get', 'error', 'opened'],
        ['put', 'skipped', undefined],
      ])
    } finally {
      dynamodb.destroy()
      await hole.close()
    }
  })

  it('exchanges when nothing listens at the table\'s endpoint, naming the system error', async () => {
    const closed = await blackhole()
    await closed.close()
    const dynamodb = new DynamoDBClient({ endpoint: closed.url, region: 'eu-north-1', credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 })
    try {
      const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client: dynamodb } }))
      expect((await a.exchange(await citizenToken('12345678910'), AUDIENCE)).accessToken).toMatch(/^access-/)
      expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
        ['get', 'error', 'ECONNREFUSED'],
        ['put', 'error', 'ECONNREFUSED'],
      ])
    } finally {
      dynamodb.destroy()
    }
  })

  it('closes the breaker when the table answers again', async () => {
    let now = Date.now()
    const clock = () => now
    let failing = true
    const real = new DynamoDBClient({ endpoint: db.url, region: 'eu-north-1', credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 })
    const flaky = {
      send: (command: object, sendOptions?: { abortSignal?: AbortSignal }) =>
        failing
          ? Promise.reject(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 } }))
          : real.send(command as GetItemCommand, sendOptions),
    }
    try {
      const a = (await environment()).createTokenXClient(options({ clock, sharedCache: { table: db.table, client: flaky, readTimeout: 2000, writeTimeout: 2000, failureThreshold: 2, breakerCooldown: 1000 } }))
      await a.exchange(await citizenToken('10000000001'), AUDIENCE)
      expect(events.map((event) => [event.outcome, event.errorName, event.breaker])).toEqual([
        ['error', 'ThrottlingException', undefined],
        ['error', 'ThrottlingException', 'opened'],
      ])
      failing = false
      now += 1001
      const subject = await citizenToken('10000000002')
      await a.exchange(subject, AUDIENCE)
      expect(events.slice(2).map((event) => [event.operation, event.outcome, event.breaker])).toEqual([
        ['get', 'miss', 'closed'],
        ['put', 'written', undefined],
      ])
      const b = (await environment()).createTokenXClient(options())
      await b.exchange(subject, AUDIENCE)
      expect(tokenx.requests).toHaveLength(2)
    } finally {
      real.destroy()
    }
  })

  it('exchanges when the table refuses access (AccessDeniedException), naming only the error', async () => {
    const denied = Object.assign(new Error('User: arn:aws:sts::123456789012:assumed-role/fn/x is not authorized to perform: dynamodb:GetItem'), {
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400, requestId: 'R1' },
    })
    const client = { send: vi.fn(() => Promise.reject(denied)) }
    const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client } }))
    const token = await a.exchange(await citizenToken('12345678910'), AUDIENCE)
    expect(token.accessToken).toMatch(/^access-/)
    expect(client.send).toHaveBeenCalledTimes(2)
    expect(events).toEqual([
      expect.objectContaining({ operation: 'get', outcome: 'error', errorName: 'AccessDeniedException' }),
      expect.objectContaining({ operation: 'put', outcome: 'error', errorName: 'AccessDeniedException' }),
    ])
    expect(JSON.stringify(events)).not.toContain('not authorized')
  })

  it.each([
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['500 characters', `${'A'.repeat(495)}Error`],
  ])('never lets an SDK error\'s name shaped as %s into the event', async (_label, name) => {
    const client = { send: vi.fn(() => Promise.reject(Object.assign(new Error('odd'), { name }))) }
    const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client } }))
    await a.exchange(await citizenToken('12345678910'), AUDIENCE)
    expect(events).toEqual([
      expect.objectContaining({ operation: 'get', outcome: 'error', errorName: 'UnknownError' }),
      expect.objectContaining({ operation: 'put', outcome: 'error', errorName: 'UnknownError' }),
    ])
  })

  it('keeps the write within its budget even if a client ignores the abort signal', async () => {
    const real = new DynamoDBClient({ endpoint: db.url, region: 'eu-north-1', credentials: { ...LOCAL_CREDENTIALS }, maxAttempts: 1 })
    const stuckWrites = {
      send: (command: object, sendOptions?: { abortSignal?: AbortSignal }) =>
        command instanceof PutItemCommand ? new Promise<never>(() => undefined) : real.send(command as GetItemCommand, sendOptions),
    }
    try {
      const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client: stuckWrites, readTimeout: 2000, writeTimeout: 30, coldTimeout: 30 } }))
      const started = performance.now()
      await a.exchange(await citizenToken('12345678910'), AUDIENCE)
      expect(performance.now() - started).toBeLessThan(1000)
      expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
        ['get', 'miss', undefined],
        ['put', 'error', 'TimeoutError'],
      ])
    } finally {
      real.destroy()
    }
  })

  it('gives an environment\'s requests coldTimeout until one succeeds, then readTimeout', async () => {
    const slow = { send: vi.fn((_command: object, _options?: { abortSignal?: AbortSignal }) => new Promise((resolve) => setTimeout(() => resolve({}), 120))) }
    const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client: slow, readTimeout: 30, writeTimeout: 30, coldTimeout: 1000 } }))
    await a.exchange(await citizenToken('10000000001'), AUDIENCE)
    expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
      ['get', 'miss', undefined],
      ['put', 'error', 'TimeoutError'],
    ])
    // The signal the SDK call got is aborted at the budget.
    expect(slow.send.mock.calls[1]?.[1]?.abortSignal?.aborted).toBe(true)
  })

  it('lets a cold request it stopped waiting for finish (to warm the client), aborting it only later', async () => {
    const slow = { send: vi.fn((_command: object, _options?: { abortSignal?: AbortSignal }) => new Promise((resolve) => setTimeout(() => resolve({}), 100))) }
    const a = (await environment()).createTokenXClient(options({ sharedCache: { table: db.table, client: slow, readTimeout: 20, writeTimeout: 1000, coldTimeout: 50 } }))
    await a.exchange(await citizenToken('10000000001'), AUDIENCE)
    expect(events[0]).toMatchObject({ operation: 'get', outcome: 'error', errorName: 'TimeoutError' })
    const coldSignal = slow.send.mock.calls[0]?.[1]?.abortSignal
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(coldSignal?.aborted).toBe(false)
    // It did finish: the client counts as warm, and the next read is a warm one — aborted as soon
    // as it is given up on.
    events.length = 0
    await a.exchange(await citizenToken('10000000002'), AUDIENCE)
    expect(events[0]).toMatchObject({ operation: 'get', outcome: 'error', errorName: 'TimeoutError' })
    expect(slow.send.mock.calls[2]?.[1]?.abortSignal?.aborted).toBe(true)
  })

  it('is off without a table: no DynamoDB call, no event', async () => {
    const client = { send: vi.fn(() => Promise.resolve({})) }
    const kit = await environment()
    const a = kit.createTokenXClient(options({ sharedCache: undefined }))
    await a.exchange(await citizenToken('12345678910'), AUDIENCE)
    expect(events).toEqual([])
    expect(client.send).not.toHaveBeenCalled()
    expect(kit.optionsFromEnv({ TOKEN_X_CLIENT_ID: 'a:b:c', TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx/token', TOKEN_X_PRIVATE_JWK: '{}' }).sharedCache).toBeUndefined()
  })
})

describe('configuration', () => {
  it('TOKEN_X_CACHE_TABLE turns it on; a malformed name is a ConfigError', async () => {
    const kit = await environment()
    const env = { TOKEN_X_CLIENT_ID: 'a:b:c', TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx/token', TOKEN_X_PRIVATE_JWK: '{}' }
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'app-token-cache' }).sharedCache).toEqual({ table: 'app-token-cache' })
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'arn:aws:dynamodb:eu-north-1:123456789012:table/app-token-cache' }).sharedCache)
      .toEqual({ table: 'arn:aws:dynamodb:eu-north-1:123456789012:table/app-token-cache' })
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: '  ' }).sharedCache).toBeUndefined()
    expect(() => kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'no spaces allowed' })).toThrow(kit.ConfigError)
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'tokens', TOKEN_X_CACHE_READ_TIMEOUT: '80', TOKEN_X_CACHE_WRITE_TIMEOUT: '120' }).sharedCache)
      .toEqual({ table: 'tokens', readTimeout: 80, writeTimeout: 120 })
    // Without a table the budgets mean nothing, and are not checked.
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_READ_TIMEOUT: '80' }).sharedCache).toBeUndefined()
    for (const bad of ['0', '1.5', '50ms', '6000']) {
      expect(() => kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'tokens', TOKEN_X_CACHE_WRITE_TIMEOUT: bad }))
        .toThrow(expect.objectContaining({ code: 'ERR_CONFIG', detail: expect.stringMatching(/TOKEN_X_CACHE_WRITE_TIMEOUT/) }))
    }
  })

  it('checks the options at construction with a TypeError', async () => {
    const kit = await environment()
    const bad: Array<[unknown, RegExp]> = [
      [{ table: 'x' }, /table/],
      [{}, /table/],
      [{ table: 'tokens', readTimeout: 0 }, /readTimeout/],
      [{ table: 'tokens', writeTimeout: 1.5 }, /writeTimeout/],
      [{ table: 'tokens', failureThreshold: 0 }, /failureThreshold/],
      [{ table: 'tokens', breakerCooldown: -1 }, /breakerCooldown/],
      [{ table: 'tokens', client: {} }, /client/],
      [{ table: 'tokens', ttl: 5 }, /sharedCache\.ttl is not a known option/],
      ['tokens', /object/],
    ]
    for (const [sharedCache, message] of bad) {
      expect(() => kit.createTokenXClient(options({ sharedCache: sharedCache as Kit.SharedCacheOptions })), String(message)).toThrow(TypeError)
      expect(() => kit.createTokenXClient(options({ sharedCache: sharedCache as Kit.SharedCacheOptions }))).toThrow(message)
    }
    // The offending key itself is named, as for every other options object.
    expect(() => kit.createTokenXClient(options({ sharedCache: { table: 'tokens', ttl: 5 } as Kit.SharedCacheOptions }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'sharedCache.ttl' }),
    )
    expect(() => kit.createTokenXClient(options({ sharedCache: { table: 'tokens', readTimeout: 5001 } }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'sharedCache.readTimeout' }),
    )
    expect(kit.createTokenXClient(options({ sharedCache: { table: 'tokens' } })).options.sharedCache).toEqual({ table: 'tokens', ...kit.sharedCacheDefaults })
  })
})

describe('the table as a whole', () => {
  it('holds nothing token-like: a copy of it without the citizens\' tokens yields nothing', async () => {
    const a = (await environment()).createTokenXClient(options())
    const subjects = await Promise.all(['31111111111', '32222222222', '33333333333'].map((pid) => citizenToken(pid)))
    const tokens = []
    for (const subject of subjects) tokens.push(await a.exchange(subject, AUDIENCE))
    const items = (await db.client.send(new ScanCommand({ TableName: db.table }))).Items ?? []
    const dump = JSON.stringify(items, (_, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value))
    for (const secret of [...subjects.flatMap((s) => s.split('.').slice(1)), ...tokens.map((t) => t.accessToken), '3111111111']) {
      expect(dump).not.toContain(secret)
    }
    // A JWT's start: a base64url JSON header and its dot (`eyJ` alone turns up in random bytes now and then).
    expect(dump).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./)
  })
})
