/**
 * The warm path, made cheap for bench/ (a cache hit neither parses the citizen's token again nor
 * creates a deadline timer), still behaves exactly as the slow path did: an expired citizen token
 * is refused even while its exchange is cached, and the caller's signal still bounds a miss.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { PromiseCache } from '../../lib/cache.ts'
import { BearerTokenError, createTokenXClient, tokenX, type Downstream, type TokenXOptions } from '../../lib/index.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../helpers/servers.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
let key: TestKey
let tokenx: TestServer
let issued = 0

beforeAll(async () => {
  key = await newTestKey('app-key-1')
  tokenx = await startServer(() => tokenAnswer(`access-${++issued}`, 900))
})
afterEach(() => {
  tokenx.requests.length = 0
})
afterAll(() => tokenx.close())

function client(overrides: Partial<TokenXOptions> = {}) {
  return createTokenXClient({
    clientId: 'dev-gcp:team:app',
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwk: key.privateJwk,
    retryBackoff: 1,
    ...overrides,
  })
}

describe('a cached exchange and its citizen token', () => {
  it('is served while the citizen token is unexpired, and refused from the second it expires', async () => {
    const start = 1_900_000_000_000
    let now = start
    const kit = client({ clock: () => now })
    // TokenX's token would stay fresh for 780 s; the citizen's expires after 100 s.
    const subject = await citizenToken('1', { now: start / 1000, expiresIn: 100 })
    const first = await kit.exchange(subject, AUDIENCE)
    now = start + 99_999
    expect(await kit.exchange(subject, AUDIENCE)).toBe(first)
    now = start + 100_000
    await expect(kit.exchange(subject, AUDIENCE)).rejects.toBeInstanceOf(BearerTokenError)
    expect(tokenx.requests).toHaveLength(1)
  })

  it('keeps the renewal margin when the citizen token outlives the exchanged one', async () => {
    const start = 1_900_000_000_000
    let now = start
    const kit = client({ clock: () => now, renewBefore: 120_000 })
    const subject = await citizenToken('2', { now: start / 1000, expiresIn: 3600 })
    const first = await kit.exchange(subject, AUDIENCE)
    now = start + 779_999
    expect(await kit.exchange(subject, AUDIENCE)).toBe(first)
    now = start + 780_000
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
  })

  it('reads the caller\'s signal on a miss, and not on a hit', async () => {
    const kit = client()
    const subject = await citizenToken('3')
    const read = vi.fn(() => undefined)
    const options = { get signal() { return read() } }
    await kit.exchange(subject, AUDIENCE, options)
    expect(read).toHaveBeenCalled()
    read.mockClear()
    await kit.exchange(subject, AUDIENCE, options)
    expect(read).not.toHaveBeenCalled()
  })
})

describe('PromiseCache.hit', () => {
  it('returns only a fresh value, and counts as a use for the LRU order', async () => {
    let now = 0
    const cache = new PromiseCache<string>(2, () => now)
    const load = (value: string) => async () => ({ value, freshUntil: 100 })
    await cache.get('a', load('A'))
    await cache.get('b', load('B'))
    expect(cache.hit('a')).toBe('A')
    await cache.get('c', load('C')) // b is now the least recently used
    expect(cache.peek('b')).toBeUndefined()
    expect(cache.hit('a')).toBe('A')
    expect(cache.hit('a')).toBe('A') // already the most recent: the order stays a after c
    await cache.get('d', load('D'))
    expect(cache.peek('c')).toBeUndefined()
    expect(cache.hit('missing')).toBeUndefined()
    now = 100
    expect(cache.hit('a')).toBeUndefined()
  })

  it('does not return a load still in flight', () => {
    const cache = new PromiseCache<string>(2, () => 0)
    void cache.get('a', () => new Promise(() => undefined))
    expect(cache.hit('a')).toBeUndefined()
  })
})

describe('the middleware\'s deadline signal', () => {
  // Issue #9, warm path: no AbortSignal.timeout/any (their timers cannot be cleared), and nothing of an
  // invocation stays alive once it has returned.
  it('leaves no timer alive after an invocation, and uses no uncancellable signal', async () => {
    const timeout = vi.spyOn(AbortSignal, 'timeout')
    const any = vi.spyOn(AbortSignal, 'any')
    const fetch = vi.fn(async () => new Response('{}', { status: 200 }))
    let callDownstream = false
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { tokenX: Downstream }>()
      .use(tokenX({ audience: { audience: AUDIENCE, url: 'http://127.0.0.1:1/' }, client: client(), fetch, logger: false }))
      .handler(async (_event, context) => {
        if (callDownstream) await context.tokenX.fetch('resource')
        return { statusCode: 200, body: '' }
      })
    const event = v2Event(`Bearer ${await citizenToken('4')}`)
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = timers()

    await handler(event, lambdaContext(10_000)) // a miss: the exchange waits under the deadline
    expect(timers()).toBeLessThanOrEqual(before)
    await handler(event, lambdaContext(10_000)) // a hit, no downstream call
    expect(timers()).toBeLessThanOrEqual(before)
    callDownstream = true
    await handler(event, lambdaContext(10_000)) // a hit, then the downstream call
    expect(timers()).toBeLessThanOrEqual(before)
    expect(fetch).toHaveBeenCalledTimes(1)
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit]
    expect(String(url)).toBe('http://127.0.0.1:1/resource')
    expect(init.signal?.aborted).toBe(false)
    expect(timeout).not.toHaveBeenCalled()
    expect(any).not.toHaveBeenCalled()
  })

  it('leaves no timer alive with named audiences either, nor after a failed invocation', async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { tokenX: { a: Downstream; b: Downstream } }>()
      .use(tokenX({ audience: { a: AUDIENCE, b: { audience: 'dev-gcp:team:other', url: 'http://127.0.0.1:1/' } }, client: client(), logger: false }))
      .handler(async () => ({ statusCode: 200, body: '' }))
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = timers()
    expect((await handler(v2Event(`Bearer ${await citizenToken('5')}`), lambdaContext(10_000))).statusCode).toBe(200)
    expect(timers()).toBeLessThanOrEqual(before)
    expect((await handler(v2Event('Bearer not-a-jwt'), lambdaContext(10_000))).statusCode).toBe(401)
    expect(timers()).toBeLessThanOrEqual(before)
  })
})
