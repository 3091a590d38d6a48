/**
 * The warm path, made cheap for bench/ (a cache hit neither parses the citizen's token again nor
 * creates a deadline timer), still behaves exactly as the slow path did: an expired citizen token
 * is refused even while its exchange is cached, and the caller's signal still bounds a miss.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { PromiseCache } from '../../../lib/cache/memory.ts'
import { BearerTokenError, tokenX, type Downstream } from '../../../lib/index.ts'
import { channelName } from '../../../lib/observe.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import { startTokenXEndpoint, type TokenXEndpoint } from '../../helpers/tokenx.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
let tokenx: TokenXEndpoint

beforeAll(async () => {
  tokenx = await startTokenXEndpoint('app-key-1')
})
afterEach(() => tokenx.reset())
afterAll(() => tokenx.close())

describe('a cached exchange and its citizen token', () => {
  it('is served while the citizen token is unexpired, and refused from the second it expires', async () => {
    const start = 1_900_000_000_000
    let now = start
    const kit = tokenx.client({ clock: () => now })
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
    const kit = tokenx.client({ clock: () => now, renewBefore: 120_000 })
    const subject = await citizenToken('2', { now: start / 1000, expiresIn: 3600 })
    const first = await kit.exchange(subject, AUDIENCE)
    now = start + 779_999
    expect(await kit.exchange(subject, AUDIENCE)).toBe(first)
    now = start + 780_000
    expect((await kit.exchange(subject, AUDIENCE)).accessToken).not.toBe(first.accessToken)
    expect(tokenx.requests).toHaveLength(2)
  })

  it("reads the caller's signal on a miss, and not on a hit", async () => {
    const kit = tokenx.client()
    const subject = await citizenToken('3')
    const read = vi.fn(() => undefined)
    const options = {
      get signal() {
        return read()
      },
    }
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

describe("the middleware's deadline signal", () => {
  // Issue #9, warm path: no AbortSignal.timeout/any (their timers cannot be cleared), and nothing of an
  // invocation stays alive once it has returned.
  it('leaves no timer alive after an invocation, and uses no uncancellable signal', async () => {
    const timeout = vi.spyOn(AbortSignal, 'timeout')
    const any = vi.spyOn(AbortSignal, 'any')
    const fetch = vi.fn(async () => new Response('{}', { status: 200 }))
    let callDownstream = false
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { tokenX: Downstream }>()
      .use(tokenX({ audience: { audience: AUDIENCE, url: 'http://127.0.0.1:1/' }, client: tokenx.client(), fetch, logger: false }))
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
      .use(
        tokenX({
          audience: { a: AUDIENCE, b: { audience: 'dev-gcp:team:other', url: 'http://127.0.0.1:1/' } },
          client: tokenx.client(),
          logger: false,
        }),
      )
      .handler(async () => ({ statusCode: 200, body: '' }))
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = timers()
    expect((await handler(v2Event(`Bearer ${await citizenToken('5')}`), lambdaContext(10_000))).statusCode).toBe(200)
    expect(timers()).toBeLessThanOrEqual(before)
    expect((await handler(v2Event('Bearer not-a-jwt'), lambdaContext(10_000))).statusCode).toBe(401)
    expect(timers()).toBeLessThanOrEqual(before)
  })
})

describe('a warm invocation in the middleware', () => {
  const request = (authorization: string) => ({
    event: v2Event(authorization),
    context: lambdaContext(10_000) as never,
    response: undefined as unknown,
    error: undefined as unknown,
  })

  // Issue #9, whole warm path: middy awaits only what a middleware returns; a cached caller costs no
  // promise and no microtask.
  it("returns no promise from before once the caller's token is cached, and one on a miss", async () => {
    const middleware = tokenX({ audience: AUDIENCE, client: tokenx.client(), logger: false })
    const subject = await citizenToken('6')
    const first = request(`Bearer ${subject}`)
    const miss = middleware.before(first)
    expect(miss).toBeInstanceOf(Promise)
    await miss
    const warm = request(`Bearer ${subject}`)
    expect(middleware.before(warm)).toBeUndefined()
    expect((warm.context as { tokenX: Downstream }).tokenX.token).toBe((first.context as { tokenX: Downstream }).tokenX.token)
    middleware.after(warm)
    // Another citizen is a miss again, whatever was remembered of the last caller.
    const other = middleware.before(request(`Bearer ${await citizenToken('7')}`))
    expect(other).toBeInstanceOf(Promise)
    await other
  })

  it("never serves one caller's token to another, however the callers alternate", async () => {
    const middleware = tokenX({ audience: AUDIENCE, client: tokenx.client(), logger: false })
    const alice = await citizenToken('8')
    const bob = await citizenToken('9')
    const tokenFor = async (authorization: string) => {
      const r = request(authorization)
      await middleware.before(r)
      return (r.context as { tokenX: Downstream }).tokenX.token.accessToken
    }
    const aliceToken = await tokenFor(`Bearer ${alice}`)
    const bobToken = await tokenFor(`Bearer ${bob}`)
    expect(bobToken).not.toBe(aliceToken)
    for (let i = 0; i < 3; i++) {
      expect(await tokenFor(`Bearer ${alice}`)).toBe(aliceToken)
      expect(await tokenFor(`bearer  ${alice}`)).toBe(aliceToken) // another spelling of the same credential
      expect(await tokenFor(`Bearer ${bob}`)).toBe(bobToken)
    }
    expect(tokenx.requests).toHaveLength(2)
    // One character off the last caller's value is another token (exchanged on its own), or no
    // credential at all: never the last caller's.
    expect(await tokenFor(`Bearer ${bob.slice(0, -1)}`)).not.toBe(bobToken)
    expect(tokenx.requests).toHaveLength(3)
    await expect(tokenFor(`Bearer ${bob} x`)).rejects.toBeInstanceOf(BearerTokenError)
  })

  it('counts a cached audience once when another audience of the same invocation has to be exchanged', async () => {
    const kit = tokenx.client()
    const subject = await citizenToken('10')
    await kit.exchange(subject, AUDIENCE)
    const middleware = tokenX({ audience: { a: AUDIENCE, b: 'dev-gcp:team:other' }, client: kit, logger: false })
    const hits: unknown[] = []
    const listener = (event: unknown) => hits.push(event)
    subscribe(channelName('cache'), listener)
    try {
      const r = request(`Bearer ${subject}`)
      await middleware.before(r)
      expect(hits).toEqual([
        { audience: AUDIENCE, hit: true },
        { audience: 'dev-gcp:team:other', hit: false },
      ])
      hits.length = 0
      expect(middleware.before(request(`Bearer ${subject}`))).toBeUndefined()
      expect(hits).toEqual([
        { audience: AUDIENCE, hit: true },
        { audience: 'dev-gcp:team:other', hit: true },
      ])
    } finally {
      unsubscribe(channelName('cache'), listener)
    }
  })

  it('asks a client of your own on every invocation (its cache is its own business)', async () => {
    const exchange = vi.fn(async (_subject: string, audience: string) => ({
      accessToken: 'own',
      audience,
      expiresAt: Date.now() + 60_000,
      tokenType: 'Bearer' as const,
      issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
    }))
    const own = { exchange, evict: vi.fn(), options: tokenx.client().options }
    const middleware = tokenX({ audience: AUDIENCE, client: own, logger: false })
    const subject = await citizenToken('11')
    await middleware.before(request(`Bearer ${subject}`))
    await middleware.before(request(`Bearer ${subject}`))
    expect(exchange).toHaveBeenCalledTimes(2)
    expect(exchange.mock.calls[1]?.[0]).toBe(subject)
  })
})
