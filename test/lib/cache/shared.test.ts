/**
 * The shared second level against dynalite (a DynamoDB implementation) on 127.0.0.1, through the
 * real `@aws-sdk/client-dynamodb` client and `AWS_ENDPOINT_URL_DYNAMODB`; two module instances of
 * the kit stand for two Lambda environments. Only access denied uses an injected client (dynalite
 * has no IAM).
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb'
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { createCipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { createServer, type Server, type Socket } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { LOCAL_CREDENTIALS, startDynamoDB, type LocalDynamoDB } from '../../../dev/dynamodb.ts'
import { startSecretsManager } from '../../../dev/secrets-manager.ts'
import { tokenCacheKey } from '../../../lib/cache/memory.ts'
import { appBinding, itemKey, seal, SEAL_VERSION, type AppBinding, type SealedToken } from '../../../lib/cache/seal.ts'
import type { KitEvents } from '../../../lib/events.ts'
import type * as KitConfig from '../../../lib/config.ts'
import type * as Kit from '../../../lib/index.ts'
import { importPrivateJwk } from '../../../lib/exchange/key.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../../helpers/servers.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
const CLIENT_ID = 'dev-gcp:team:app'
type SharedEvent = KitEvents['shared-cache']

let db: LocalDynamoDB
let tokenx: TestServer
let key: TestKey
/** A key of a table writer's own (another function's): not the app's. */
const attackerKey = newTestKey('another-functions-key')
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
async function environment(): Promise<typeof Kit & typeof KitConfig> {
  vi.resetModules()
  return { ...(await import('../../../lib/index.ts')), ...(await import('../../../lib/config.ts')) }
}

type Options = Parameters<typeof Kit.createTokenXClient>[0]

function options(overrides: Partial<Options> = {}): Options {
  return {
    clientId: CLIENT_ID,
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

/** The app's shared-cache secrets: what only the holder of its private key can compute. */
function bindingOf(jwk: TestKey['privateJwk'] = key.privateJwk, clientId = CLIENT_ID): AppBinding {
  return appBinding(importPrivateJwk(jwk).key, clientId)
}

/** The item key of `subject`'s token for `audience` in the table of the app (`options()`'s client id and key). */
function pkOf(subject: string, audience = AUDIENCE): string {
  return itemKey(bindingOf(), tokenCacheKey(subject, audience))
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

  it("stores only the key, the expiry and ciphertext; ttl is never after the renewal point nor the subject token's exp", async () => {
    const now = Math.floor(Date.now() / 1000)
    const a = (await environment()).createTokenXClient(options())
    const longLived = await citizenToken('10000000001', { expiresIn: 3600 })
    const shortLived = await citizenToken('10000000002', { expiresIn: 300 })
    await a.exchange(longLived, AUDIENCE)
    await a.exchange(shortLived, AUDIENCE)

    const long = await item(pkOf(longLived))
    expect(Object.keys(long ?? {}).sort()).toEqual(['data', 'pk', 'ttl', 'v'])
    expect(long?.pk?.S).toBe(pkOf(longLived))
    expect(long?.v?.N).toBe('2')
    // 900 s token, renewed 120 s early.
    const longTtl = Number(long?.ttl?.N)
    expect(longTtl).toBeGreaterThanOrEqual(now + 780 - 2)
    expect(longTtl).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 780)
    // The citizen's token expires first.
    expect(Number((await item(pkOf(shortLived)))?.ttl?.N)).toBeLessThanOrEqual(now + 300 + 1)
    expect(Number((await item(pkOf(shortLived)))?.ttl?.N)).toBeGreaterThanOrEqual(now + 300 - 2)
  })

  it('ignores an item with a flipped byte, exchanges, and replaces it', async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const c = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')
    const pk = pkOf(subject)
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

  it("ignores an item moved to another citizen's key: never serves one citizen's token to another", async () => {
    const a = (await environment()).createTokenXClient(options())
    const b = (await environment()).createTokenXClient(options())
    const alice = await citizenToken('11111111111')
    const bob = await citizenToken('22222222222')
    const alicesToken = await a.exchange(alice, AUDIENCE)
    await a.exchange(bob, AUDIENCE)

    const alicesItem = await item(pkOf(alice))
    const bobsPk = pkOf(bob)
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...alicesItem, pk: { S: bobsPk } } }))
    events.length = 0

    const bobsToken = await b.exchange(bob, AUDIENCE)
    expect(bobsToken.accessToken).not.toBe(alicesToken.accessToken)
    expect(tokenx.requests).toHaveLength(3)
    expect(events[0]).toMatchObject({ operation: 'get', outcome: 'rejected', errorName: 'UnauthenticItem' })
  })

  it("ignores an item left for another audience under this audience's key", async () => {
    const a = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('12345678910')
    const other = 'dev-gcp:team:other'
    await a.exchange(subject, other)
    const moved = await item(pkOf(subject, other))
    await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...moved, pk: { S: pkOf(subject) } } }))
    events.length = 0
    const b = (await environment()).createTokenXClient(options())
    const token = await b.exchange(subject, AUDIENCE)
    expect(token.audience).toBe(AUDIENCE)
    expect(tokenx.requests).toHaveLength(2)
    expect(events[0]).toMatchObject({ outcome: 'rejected' })
  })

  it('ignores items that are not in the sealed format (wrong types, missing data)', async () => {
    const subject = await citizenToken('12345678910')
    const pk = pkOf(subject)
    await db.client.send(
      new PutItemCommand({
        TableName: db.table,
        Item: { pk: { S: pk }, ttl: { N: '9999999999' }, v: { N: '2' }, data: { S: 'plain text' } },
      }),
    )
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

  it("never serves an item past the subject token's exp, even while the item itself is fresh", async () => {
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
    close: () =>
      new Promise<void>((resolve) => {
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
      const a = kit.createTokenXClient(
        options({
          clock,
          sharedCache: {
            table: db.table,
            client: dynamodb,
            readTimeout: 40,
            writeTimeout: 40,
            coldTimeout: 40,
            failureThreshold: 3,
            breakerCooldown: 30_000,
          },
        }),
      )
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

  it("exchanges when nothing listens at the table's endpoint, naming the system error", async () => {
    const closed = await blackhole()
    await closed.close()
    const dynamodb = new DynamoDBClient({
      endpoint: closed.url,
      region: 'eu-north-1',
      credentials: { ...LOCAL_CREDENTIALS },
      maxAttempts: 1,
    })
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
          ? Promise.reject(
              Object.assign(new Error('Rate exceeded'), {
                name: 'ThrottlingException',
                $fault: 'client',
                $metadata: { httpStatusCode: 400 },
              }),
            )
          : real.send(command as GetItemCommand, sendOptions),
    }
    try {
      const a = (await environment()).createTokenXClient(
        options({
          clock,
          sharedCache: {
            table: db.table,
            client: flaky,
            readTimeout: 2000,
            writeTimeout: 2000,
            failureThreshold: 2,
            breakerCooldown: 1000,
          },
        }),
      )
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
    const denied = Object.assign(
      new Error('User: arn:aws:sts::123456789012:assumed-role/fn/x is not authorized to perform: dynamodb:GetItem'),
      {
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400, requestId: 'R1' },
      },
    )
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
  ])("never lets an SDK error's name shaped as %s into the event", async (_label, name) => {
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
      const a = (await environment()).createTokenXClient(
        options({ sharedCache: { table: db.table, client: stuckWrites, readTimeout: 2000, writeTimeout: 30, coldTimeout: 30 } }),
      )
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

  it("gives an environment's requests coldTimeout until one succeeds, then readTimeout", async () => {
    const slow = {
      send: vi.fn(
        (_command: object, _options?: { abortSignal?: AbortSignal }) => new Promise((resolve) => setTimeout(() => resolve({}), 120)),
      ),
    }
    const a = (await environment()).createTokenXClient(
      options({ sharedCache: { table: db.table, client: slow, readTimeout: 30, writeTimeout: 30, coldTimeout: 1000 } }),
    )
    await a.exchange(await citizenToken('10000000001'), AUDIENCE)
    expect(events.map((event) => [event.operation, event.outcome, event.errorName])).toEqual([
      ['get', 'miss', undefined],
      ['put', 'error', 'TimeoutError'],
    ])
    // The signal the SDK call got is aborted at the budget.
    expect(slow.send.mock.calls[1]?.[1]?.abortSignal?.aborted).toBe(true)
  })

  it('lets a cold request it stopped waiting for finish (to warm the client), aborting it only later', async () => {
    const slow = {
      send: vi.fn(
        (_command: object, _options?: { abortSignal?: AbortSignal }) => new Promise((resolve) => setTimeout(() => resolve({}), 100)),
      ),
    }
    const a = (await environment()).createTokenXClient(
      options({ sharedCache: { table: db.table, client: slow, readTimeout: 20, writeTimeout: 1000, coldTimeout: 50 } }),
    )
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
    const kit = await environment()
    const a = kit.createTokenXClient(options({ sharedCache: undefined }))
    await a.exchange(await citizenToken('12345678910'), AUDIENCE)
    expect(events).toEqual([])
    expect(
      kit.optionsFromEnv({ TOKEN_X_CLIENT_ID: 'a:b:c', TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx/token', TOKEN_X_PRIVATE_JWK: '{}' })
        .sharedCache,
    ).toBeUndefined()
  })
})

describe('configuration', () => {
  it('TOKEN_X_CACHE_TABLE turns it on; a malformed name is a ConfigError', async () => {
    const kit = await environment()
    const env = { TOKEN_X_CLIENT_ID: 'a:b:c', TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx/token', TOKEN_X_PRIVATE_JWK: '{}' }
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'app-token-cache' }).sharedCache).toEqual({ table: 'app-token-cache' })
    expect(
      kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'arn:aws:dynamodb:eu-north-1:123456789012:table/app-token-cache' }).sharedCache,
    ).toEqual({ table: 'arn:aws:dynamodb:eu-north-1:123456789012:table/app-token-cache' })
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: '  ' }).sharedCache).toBeUndefined()
    expect(() => kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'no spaces allowed' })).toThrow(kit.ConfigError)
    expect(
      kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'tokens', TOKEN_X_CACHE_READ_TIMEOUT: '80', TOKEN_X_CACHE_WRITE_TIMEOUT: '120' })
        .sharedCache,
    ).toEqual({ table: 'tokens', readTimeout: 80, writeTimeout: 120 })
    // Without a table the budgets mean nothing, and are not checked.
    expect(kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_READ_TIMEOUT: '80' }).sharedCache).toBeUndefined()
    for (const bad of ['0', '1.5', '50ms', '6000']) {
      expect(() => kit.optionsFromEnv({ ...env, TOKEN_X_CACHE_TABLE: 'tokens', TOKEN_X_CACHE_WRITE_TIMEOUT: bad })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG', detail: expect.stringMatching(/TOKEN_X_CACHE_WRITE_TIMEOUT/) }),
      )
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
      expect(() => kit.createTokenXClient(options({ sharedCache: sharedCache as Kit.SharedCacheOptions })), String(message)).toThrow(
        TypeError,
      )
      expect(() => kit.createTokenXClient(options({ sharedCache: sharedCache as Kit.SharedCacheOptions }))).toThrow(message)
    }
    // The offending key itself is named, as for every other options object.
    expect(() => kit.createTokenXClient(options({ sharedCache: { table: 'tokens', ttl: 5 } as Kit.SharedCacheOptions }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'sharedCache.ttl' }),
    )
    expect(() => kit.createTokenXClient(options({ sharedCache: { table: 'tokens', readTimeout: 5001 } }))).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'sharedCache.readTimeout' }),
    )
    expect(kit.createTokenXClient(options({ sharedCache: { table: 'tokens' } })).options.sharedCache).toEqual({
      table: 'tokens',
      ...kit.sharedCacheDefaults,
    })
  })
})

describe('the table as a whole', () => {
  it("holds nothing token-like: a copy of it without the citizens' tokens yields nothing", async () => {
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

describe('issue 18: the table is bound to the app that wrote it', () => {
  /** The client id a client assertion names (`sub`, RFC 7523 §3). */
  const clientOf = (request: { body: string }) =>
    (
      JSON.parse(Buffer.from(new URLSearchParams(request.body).get('client_assertion')!.split('.')[1]!, 'base64url').toString()) as {
        sub: string
      }
    ).sub
  const subjectOf = (request: { body: string }) => new URLSearchParams(request.body).get('subject_token')

  it("never serves app A's token to app B on one table, whether TokenX refuses B (access policy) or not", async () => {
    const keyB = await newTestKey('app-b-key')
    tokenx.respond = (request) =>
      clientOf(request) === 'dev-gcp:team:app-b'
        ? {
            status: 400,
            body: {
              error: 'invalid_request',
              error_description: "client 'dev-gcp:team:app-b' is not authorized to get token with aud=dev-gcp:team:downstream",
            },
          }
        : tokenAnswer(`${clientOf(request)}-${++issued}`)
    const appA = (await environment()).createTokenXClient(options({ clientId: 'dev-gcp:team:app-a' }))
    const appB = (await environment()).createTokenXClient(options({ clientId: 'dev-gcp:team:app-b', privateJwk: keyB.privateJwk }))
    const subject = await citizenToken('12345678910')
    expect((await appA.exchange(subject, AUDIENCE)).accessToken).toMatch(/^dev-gcp:team:app-a-/)

    await expect(appB.exchange(subject, AUDIENCE)).rejects.toMatchObject({ code: 'ERR_CLIENT_REJECTED' })
    expect(tokenx.requests.map(clientOf)).toEqual(['dev-gcp:team:app-a', 'dev-gcp:team:app-b'])

    // Even with the very same private key (a misconfiguration), another client id is another cache.
    const appC = (await environment()).createTokenXClient(options({ clientId: 'dev-gcp:team:app-c' }))
    expect((await appC.exchange(subject, AUDIENCE)).accessToken).toMatch(/^dev-gcp:team:app-c-/)
    expect(tokenx.requests.map(clientOf)).toEqual(['dev-gcp:team:app-a', 'dev-gcp:team:app-b', 'dev-gcp:team:app-c'])
  })

  /** A function (the middleware, inbound validation off: tokenX()'s default) that calls `downstream` with its token. */
  const functionWith = (kit: typeof Kit, downstream: TestServer, init: () => RequestInit = () => ({})) =>
    middy<unknown, APIGatewayProxyResult, Error, Context & { tokenX: Kit.Downstream }>()
      .use(kit.tokenX({ audience: { audience: AUDIENCE, url: downstream.url }, client: options(), logger: false }))
      .handler(async (_event, context) => {
        const response = await context.tokenX.fetch(`${downstream.url}/resource`, init())
        return { statusCode: response.status, body: await response.text() }
      })

  it.each([
    // Everything public: the kit's v1 recipe, keyed on the audience and the token alone.
    [
      'the v1 recipe (keyed on the audience and the subject token alone)',
      (forged: string, now: number) => writeV1Forgery(forged, 'attacker-chosen-token', now),
    ],
    // The kit's own code and a private key of the writer's own, e.g. another function's on the same table.
    [
      "the kit's own recipe with another private key (another function's)",
      async (forged: string, now: number) => {
        const binding = bindingOf((await attackerKey).privateJwk)
        const pk = itemKey(binding, tokenCacheKey(forged, AUDIENCE))
        const token = {
          accessToken: 'attacker-chosen-token',
          audience: AUDIENCE,
          expiresAt: (now + 900) * 1000,
          freshUntil: (now + 780) * 1000,
          tokenType: 'Bearer' as const,
          issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
        }
        await db.client.send(
          new PutItemCommand({
            TableName: db.table,
            Item: {
              pk: { S: pk },
              ttl: { N: String(now + 780) },
              v: { N: String(SEAL_VERSION) },
              data: { B: seal(token, binding, forged, pk) },
            },
          }),
        )
      },
    ],
  ])(
    'serves no item a table writer without the private key forged for an unsigned token (%s): 401, TokenX decides',
    async (_label, forge) => {
      const kit = await environment()
      const downstream = await startServer((request) => ({ status: 200, body: { authorization: request.headers.authorization } }))
      try {
        const now = Math.floor(Date.now() / 1000)
        const forged = unsignedToken({ pid: '66666666666', exp: now + 3600, jti: crypto.randomUUID() })
        tokenx.respond = (request) =>
          subjectOf(request) === forged
            ? { status: 400, body: { error: 'invalid_request', error_description: 'invalid subject_token: signature verification failed' } }
            : tokenAnswer(`access-${++issued}`)
        await forge(forged, now)
        const result = await functionWith(kit, downstream)(v2Event(`Bearer ${forged}`), lambdaContext())
        expect(result.statusCode).toBe(401)
        expect(downstream.requests).toHaveLength(0)
        expect(tokenx.requests.map(subjectOf)).toEqual([forged])
      } finally {
        await downstream.close()
      }
    },
  )

  it('refuses an authentic item whose token would fail the checks of a TokenX answer (expiry beyond any TokenX lifetime)', async () => {
    const subject = await citizenToken('77777777777', { expiresIn: 7200 })
    const now = Date.now()
    // Sealed as the kit seals (so it authenticates), but with a token no TokenX answer could give:
    // it expires in two days.
    await writeOwnItem(subject, {
      accessToken: 'too-long-lived',
      audience: AUDIENCE,
      expiresAt: now + 2 * 86_400_000,
      freshUntil: now + 3_600_000,
      tokenType: 'Bearer',
      issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
    })
    const b = (await environment()).createTokenXClient(options())
    expect((await b.exchange(subject, AUDIENCE)).accessToken).toMatch(/^access-/)
    expect(tokenx.requests).toHaveLength(1)
    expect(events[0]).toMatchObject({ operation: 'get', outcome: 'rejected' })
  })

  it("overwrites the table's copy before the function answers, when the downstream refuses a token it cannot retry with", async () => {
    const kit = await environment()
    const downstream = await startServer(() => ({ status: 401, body: 'no' }))
    try {
      const subject = await citizenToken('99999999999')
      // A stream body cannot be sent twice: the 401 goes back to the caller, with no new exchange.
      const stream = () =>
        ({ method: 'POST', duplex: 'half', body: new ReadableStream({ start: (controller) => controller.close() }) }) as RequestInit
      const result = await functionWith(kit, downstream, stream)(v2Event(`Bearer ${subject}`), lambdaContext())
      expect(result.statusCode).toBe(401)
      expect(tokenx.requests).toHaveLength(1)
      const refused = downstream.requests[0]?.headers.authorization
      // Already a tombstone when the answer left: nothing is left running into the frozen environment.
      const stored = await item(pkOf(subject))
      expect(stored).toEqual({
        pk: { S: pkOf(subject) },
        ttl: { N: expect.stringMatching(/^\d+$/) },
        v: { N: '2' },
        refused: { BOOL: true },
      })
      expect(Number(stored?.ttl?.N)).toBeGreaterThan(Date.now() / 1000 + 800)
      const b = (await environment()).createTokenXClient(options())
      expect(`Bearer ${(await b.exchange(subject, AUDIENCE)).accessToken}`).not.toBe(refused)
      expect(tokenx.requests).toHaveLength(2)
      expect(outcomes()).toEqual(['get:miss', 'put:written', 'put:written', 'get:miss', 'put:written'])
    } finally {
      await downstream.close()
    }
  })

  it('does not let a fresh environment serve a token the downstream refused in another (a 401 there)', async () => {
    const a = (await environment()).createTokenXClient(options())
    const subject = await citizenToken('88888888888')
    const refused = await a.exchange(subject, AUDIENCE)
    await a.evict(subject, AUDIENCE, refused)
    const b = (await environment()).createTokenXClient(options())
    const fresh = await b.exchange(subject, AUDIENCE)
    expect(fresh.accessToken).not.toBe(refused.accessToken)
    expect(tokenx.requests).toHaveLength(2)
  })
})

describe('the signing key and the table', () => {
  it('loads the key once for the table and the exchange; a failed load fails the exchange as it would without a table', async () => {
    const sm = await startSecretsManager({ secrets: { 'tokenx/private-jwk': JSON.stringify(key.privateJwk) } })
    const secretsManager = new SecretsManagerClient({
      endpoint: sm.url,
      region: sm.region,
      credentials: { ...LOCAL_CREDENTIALS },
      maxAttempts: 1,
    })
    try {
      const kit = await environment()
      const fromSecret = { privateJwk: undefined, privateJwkSecretId: 'tokenx/private-jwk', secretsManager }
      const withTable = kit.createTokenXClient(options(fromSecret))
      const withoutTable = kit.createTokenXClient(options({ ...fromSecret, sharedCache: undefined }))
      const subject = await citizenToken('12121212121')
      sm.fail({ type: 'AccessDeniedException', times: 2 })
      const failed = await withTable.exchange(subject, AUDIENCE).catch((err: unknown) => err)
      const failedWithout = await withoutTable.exchange(subject, AUDIENCE).catch((err: unknown) => err)
      expect(failed).toBeInstanceOf(kit.KeyError)
      expect(failed).toMatchObject({ code: 'ERR_KEY', statusCode: 500, message: (failedWithout as Error).message })
      // One load each, the table not read, TokenX not asked.
      expect(sm.stats.getSecretValue).toBe(2)
      expect(events).toEqual([])
      expect(tokenx.requests).toHaveLength(0)

      // The next request loads the key, once, and uses the table again.
      expect((await withTable.exchange(subject, AUDIENCE)).accessToken).toMatch(/^access-/)
      expect(sm.stats.getSecretValue).toBe(3)
      expect(outcomes()).toEqual(['get:miss', 'put:written'])
    } finally {
      secretsManager.destroy()
      await sm.close()
    }
  })

  it('starts a new cache with a new private key: what the old key wrote is a miss, not an error', async () => {
    const subject = await citizenToken('13131313131')
    const before = (await environment()).createTokenXClient(options())
    const first = await before.exchange(subject, AUDIENCE)
    const rotated = (await environment()).createTokenXClient(options({ privateJwk: (await newTestKey('app-key-2')).privateJwk }))
    expect((await rotated.exchange(subject, AUDIENCE)).accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
    expect(outcomes()).toEqual(['get:miss', 'put:written', 'get:miss', 'put:written'])
  })
})

/** A JWT-shaped token with no valid signature: what inbound validation (off by default) would refuse. */
function unsignedToken(claims: object): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from('not-a-signature').toString('base64url')}`
}

/**
 * The sealed format v1 written from scratch, as a table writer who read the kit's code would, labelled
 * with the version the kit reads: pk = SHA-256(audience, SHA-256(token)), data = AES-256-GCM under
 * HKDF-SHA256(subject token), with pk as AAD. Everything in it is public but the subject token,
 * which the writer made up.
 */
async function writeV1Forgery(subjectToken: string, accessToken: string, now: number): Promise<void> {
  const pk = createHash('sha256')
    .update(`${AUDIENCE} ${createHash('sha256').update(subjectToken).digest('base64url')}`)
    .digest('base64url')
  const salt = randomBytes(16)
  const iv = randomBytes(12)
  const key = Buffer.from(hkdfSync('sha256', subjectToken, salt, `tokenx-handler-kit shared-cache v${SEAL_VERSION}\0${AUDIENCE}`, 32))
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(pk))
  const plaintext = JSON.stringify({
    a: accessToken,
    u: AUDIENCE,
    e: (now + 900) * 1000,
    f: (now + 780) * 1000,
    t: 'Bearer',
    i: 'urn:ietf:params:oauth:token-type:access_token',
  })
  const data = Buffer.concat([salt, iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
  await db.client.send(
    new PutItemCommand({
      TableName: db.table,
      Item: { pk: { S: pk }, ttl: { N: String(now + 780) }, v: { N: String(SEAL_VERSION) }, data: { B: data } },
    }),
  )
}

/** An item sealed with the kit's own code and the app's own key (a writer who holds the key, or a bug). */
async function writeOwnItem(subjectToken: string, token: SealedToken): Promise<void> {
  const pk = pkOf(subjectToken)
  const data = seal(token, bindingOf(), subjectToken, pk)
  await db.client.send(
    new PutItemCommand({
      TableName: db.table,
      Item: { pk: { S: pk }, ttl: { N: String(Math.floor(token.freshUntil / 1000)) }, v: { N: String(SEAL_VERSION) }, data: { B: data } },
    }),
  )
}
