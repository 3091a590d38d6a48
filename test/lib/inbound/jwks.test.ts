import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { JwksError } from '../../../lib/errors.ts'
import { channelName } from '../../../lib/events.ts'
import { createIssuerKeys, failedFast } from '../../../lib/inbound/jwks.ts'
import { rejection } from '../../helpers/errors.ts'
import { startIssuer, type TestIssuer } from '../../helpers/issuer.ts'
import { newTestKey } from '../../helpers/keys.ts'

let issuer: TestIssuer

beforeEach(async () => {
  issuer = await startIssuer()
})
afterEach(async () => {
  await issuer.close()
})

// Fake time for the failure cooldown: tests move `now` by hand.
let now = 1_700_000_000_000
const clock = () => now
const options = (extra: object = {}) => ({
  issuer: issuer.issuer,
  jwksUri: issuer.jwksUri,
  timeout: 1000,
  cooldown: 60_000,
  maxAge: 600_000,
  failureCooldown: 0,
  clock,
  ...extra,
})

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (err) {
    expect(err).toBeInstanceOf(JwksError)
    return (err as JwksError).code
  }
  return 'resolved'
}

describe('createIssuerKeys', () => {
  it('fetches nothing until asked, then once for many lookups', async () => {
    const keys = createIssuerKeys(options())
    expect(issuer.server.requests).toHaveLength(0)
    const [a, b] = await Promise.all([
      keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid }),
      keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid }),
    ])
    const c = await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })
    expect(a?.asymmetricKeyType).toBe('rsa')
    expect(b).toBe(a)
    expect(c).toBe(a)
    expect(issuer.jwksFetches()).toBe(1)
  })

  it('finds the JWKS through discovery, and checks the document names the issuer', async () => {
    const keys = createIssuerKeys(options({ jwksUri: undefined, wellKnownUrl: issuer.wellKnownUrl }))
    expect(await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })).not.toBeNull()
    expect(issuer.server.requests.map((r) => r.url)).toEqual(['/.well-known/openid-configuration', '/jwks'])
    const impostor = createIssuerKeys(options({ issuer: 'https://someone.else', jwksUri: undefined, wellKnownUrl: issuer.wellKnownUrl }))
    expect(await codeOf(impostor.key({ alg: 'RS256', kid: 'x' }))).toBe('ERR_JWKS_INVALID')
  })

  it('refuses a discovery document over 256 KiB without reading it whole, even when it declares no length', async () => {
    let pulled = 0
    let cancelled = false
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 16 * 1024
        controller.enqueue(new Uint8Array(16 * 1024).fill(0x20))
      },
      cancel() {
        cancelled = true
      },
    })
    const fetch = async () => new Response(endless, { status: 200, headers: { 'content-type': 'application/json' } })
    const keys = createIssuerKeys(
      options({ jwksUri: undefined, wellKnownUrl: 'https://idporten.example/.well-known/openid-configuration', fetch }),
    )
    expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_INVALID')
    expect(cancelled).toBe(true)
    expect(pulled).toBeLessThanOrEqual(256 * 1024 + 2 * 16 * 1024)
  })

  describe('a JWKS larger than 256 KiB', () => {
    const HUGE = 32 * 1024 * 1024
    const CHUNK = new Uint8Array(64 * 1024).fill(0x61)

    /** A real server on 127.0.0.1 whose JWKS holds the issuer's key and 32 MiB of padding; counts what it sent. */
    async function hugeJwks(declareLength: boolean) {
      let sent = 0
      const closed: Promise<unknown>[] = []
      const server = createServer((_request, response: ServerResponse) => {
        closed.push(once(response, 'close'))
        const head = `{"keys":[${JSON.stringify(issuer.key.publicJwk)}],"padding":"`
        const tail = '"}'
        response.writeHead(200, {
          'content-type': 'application/json',
          ...(declareLength ? { 'content-length': String(head.length + HUGE + tail.length) } : {}),
        })
        response.write(head)
        const pump = () => {
          while (sent < HUGE && !response.destroyed) {
            sent += CHUNK.byteLength
            if (!response.write(CHUNK)) return void response.once('drain', pump)
          }
          if (!response.destroyed) response.end(tail)
        }
        pump()
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
      return {
        url,
        sent: () => sent,
        async close() {
          await Promise.all(closed)
          server.closeAllConnections()
          await new Promise((resolve) => server.close(resolve))
        },
      }
    }

    it.each([
      ['chunked, declaring no length', false],
      ['declaring its length', true],
    ])('is refused (%s) as an invalid key set, not read whole', async (_label, declareLength) => {
      const huge = await hugeJwks(declareLength)
      const events: unknown[] = []
      const listener = (event: unknown) => events.push(event)
      subscribe(channelName('jwks.fetch'), listener)
      try {
        const keys = createIssuerKeys(options({ jwksUri: huge.url, timeout: 10_000 }))
        const err = await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid }).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(JwksError)
        expect((err as JwksError).code).toBe('ERR_JWKS_INVALID')
        expect((err as JwksError).detail).toMatch(/too large/)
        // A fetch whose body was refused is a failed fetch, not an `ok` one.
        expect(events).toEqual([expect.objectContaining({ ok: false, errorName: expect.any(String) })])
      } finally {
        unsubscribe(channelName('jwks.fetch'), listener)
        await huge.close()
      }
      // The reader let go long before the end: at most the cap and what socket buffers held.
      expect(huge.sent()).toBeLessThan(HUGE / 2)
    })
  })

  it('times out a JWKS whose body stalls after the headers (ERR_JWKS_TIMEOUT)', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.write('{"keys":[')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`
      expect(await codeOf(createIssuerKeys(options({ jwksUri, timeout: 200 })).key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_TIMEOUT')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('refetches once for an unknown kid after the cooldown (rotation), and answers null when still unknown', async () => {
    const keys = createIssuerKeys(options({ cooldown: 0 }))
    await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })
    const next = await issuer.rotate()
    expect(await keys.key({ alg: 'RS256', kid: next.publicJwk.kid })).not.toBeNull()
    expect(issuer.jwksFetches()).toBe(2)
    expect(await keys.key({ alg: 'RS256', kid: 'nowhere' })).toBeNull()
    expect(issuer.jwksFetches()).toBe(3)
  })

  it('counts the key sets put in use (generation), and says whether the one in use holds a key', async () => {
    const keys = createIssuerKeys(options({ cooldown: 0 }))
    expect(keys.generation).toBe(0)
    const kid = issuer.key.publicJwk.kid
    const first = await keys.key({ alg: 'RS256', kid })
    if (first === null) throw new Error('no key')
    expect(keys.generation).toBe(1)
    expect(keys.holds(kid, first)).toBe(true)
    // A token without kid: any key of the set.
    expect(keys.holds(undefined, first)).toBe(true)
    expect(keys.holds('another-kid', first)).toBe(false)
    // Answered from the set in use: no fetch, no new generation.
    await keys.key({ alg: 'RS256', kid })
    expect(keys.generation).toBe(1)

    // The same kid, another key; then a set without the kid; then a key not meant for signatures.
    const impostor = await newTestKey(kid)
    for (const published of [[impostor.publicJwk], [(await newTestKey()).publicJwk], [{ ...issuer.key.publicJwk, use: 'enc' }]]) {
      issuer.jwksAnswer = () => ({ status: 200, body: { keys: published } })
      const generation = keys.generation
      await keys.key({ alg: 'RS256', kid: 'unknown' })
      expect(keys.generation).toBe(generation + 1)
      expect(keys.holds(kid, first)).toBe(false)
    }
    // A failed fetch puts no set in use: the last one stays, and so does the generation.
    issuer.jwksAnswer = () => ({ status: 503, body: 'down' })
    const generation = keys.generation
    await codeOf(keys.key({ alg: 'RS256', kid: 'unknown' }))
    expect(keys.generation).toBe(generation)
    issuer.jwksAnswer = undefined
    await keys.key({ alg: 'RS256', kid: 'unknown' })
    expect(keys.generation).toBe(generation + 1)
    expect(keys.holds(kid, first)).toBe(true)
  })

  it('fetches at most once per cooldown however many unknown kids arrive', async () => {
    const keys = createIssuerKeys(options({ cooldown: 60_000 }))
    await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })
    const found = await Promise.all(Array.from({ length: 50 }, (_, i) => keys.key({ alg: 'RS256', kid: `flood-${i}` })))
    expect(found.every((key) => key === null)).toBe(true)
    expect(issuer.jwksFetches()).toBe(1)
  })

  it('translates an endpoint that is down, unreachable, broken or slow into JwksError (5xx)', async () => {
    issuer.jwksAnswer = () => ({ status: 503, body: 'down' })
    expect(await codeOf(createIssuerKeys(options()).key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
    issuer.jwksAnswer = () => ({ status: 200, body: { keys: 'nope' } })
    expect(await codeOf(createIssuerKeys(options()).key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_INVALID')
    issuer.jwksAnswer = () => ({ status: 200, body: '<html>' })
    expect(await codeOf(createIssuerKeys(options()).key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
    issuer.jwksAnswer = () => ({ status: 200, body: { keys: [] }, delay: 2000 })
    const started = Date.now()
    expect(await codeOf(createIssuerKeys(options({ timeout: 200 })).key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(1500)
    expect(await codeOf(createIssuerKeys(options({ jwksUri: 'http://127.0.0.1:1/jwks' })).key({ alg: 'RS256', kid: 'k' }))).toBe(
      'ERR_JWKS_UNAVAILABLE',
    )
    const noDiscovery = createIssuerKeys(
      options({ jwksUri: undefined, wellKnownUrl: 'http://127.0.0.1:1/.well-known/openid-configuration' }),
    )
    expect(await codeOf(noDiscovery.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
  })

  it('never caches a failure: the next lookup fetches again and succeeds', async () => {
    const keys = createIssuerKeys(options({ jwksUri: undefined, wellKnownUrl: issuer.wellKnownUrl }))
    issuer.jwksAnswer = () => ({ status: 500, body: 'oops' })
    expect(await codeOf(keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid }))).toBe('ERR_JWKS_UNAVAILABLE')
    issuer.jwksAnswer = undefined
    expect(await keys.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })).not.toBeNull()
  })

  it('stops waiting at the deadline, reading the signal only when it may fetch', async () => {
    issuer.jwksAnswer = () => ({ status: 200, body: { keys: [] }, delay: 3000 })
    const keys = createIssuerKeys(options({ timeout: 5000 }))
    const started = Date.now()
    expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }, { signal: AbortSignal.timeout(100) }))).toBe('ERR_JWKS_TIMEOUT')
    expect(Date.now() - started).toBeLessThan(1000)

    issuer.jwksAnswer = undefined
    const warm = createIssuerKeys(options())
    await warm.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })
    let reads = 0
    const deadline = {
      get signal() {
        reads++
        return undefined
      },
    }
    await warm.key({ alg: 'RS256', kid: issuer.key.publicJwk.kid }, deadline)
    expect(reads).toBe(0)
  })

  it('publishes a jwks.fetch event per fetch, naming the issuer only', async () => {
    const events: unknown[] = []
    const listener = (message: unknown) => events.push(message)
    subscribe(channelName('jwks.fetch'), listener)
    try {
      await createIssuerKeys(options()).key({ alg: 'RS256', kid: issuer.key.publicJwk.kid })
      await codeOf(createIssuerKeys(options({ jwksUri: 'http://127.0.0.1:1/jwks' })).key({ alg: 'RS256', kid: 'k' }))
    } finally {
      unsubscribe(channelName('jwks.fetch'), listener)
    }
    expect(events).toEqual([
      { issuer: issuer.issuer, durationMs: expect.any(Number), ok: true },
      { issuer: issuer.issuer, durationMs: expect.any(Number), ok: false, errorName: 'TypeError' },
    ])
  })

  it.each([
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'],
    ['500 characters', `${'A'.repeat(495)}Error`],
  ])("never lets a fetch error's name shaped as %s into the jwks.fetch event or the JwksError's text", async (_label, name) => {
    const events: Array<{ errorName?: string }> = []
    const listener = (message: unknown) => events.push(message as { errorName?: string })
    subscribe(channelName('jwks.fetch'), listener)
    let err: unknown
    try {
      const fetch = () => Promise.reject(Object.assign(new Error('odd'), { name }))
      err = await createIssuerKeys(options({ fetch }))
        .key({ alg: 'RS256', kid: 'k' })
        .catch((e: unknown) => e)
    } finally {
      unsubscribe(channelName('jwks.fetch'), listener)
    }
    expect(err).toBeInstanceOf(JwksError)
    expect(`${(err as JwksError).detail} ${(err as JwksError).message}`).not.toContain(name.slice(0, 20))
    expect(events).toEqual([expect.objectContaining({ ok: false, errorName: 'UnknownError' })])
  })

  describe('failure cooldown', () => {
    const kid = () => issuer.key.publicJwk.kid

    const failure = (promise: Promise<unknown>) => rejection(promise, JwksError)

    it('fails fast with the same JwksError within the cooldown, then fetches once again', async () => {
      const keys = createIssuerKeys(options({ failureCooldown: 5000 }))
      issuer.jwksAnswer = () => ({ status: 503, body: 'down' })
      const first = await failure(keys.key({ alg: 'RS256', kid: kid() }))
      expect(first.code).toBe('ERR_JWKS_UNAVAILABLE')
      expect(failedFast(first)).toBe(false)
      expect(issuer.jwksFetches()).toBe(1)

      now += 4999
      const fast = await Promise.all(Array.from({ length: 20 }, () => failure(keys.key({ alg: 'RS256', kid: kid() }))))
      expect(fast.every((err) => err.code === 'ERR_JWKS_UNAVAILABLE' && err.status === 503 && failedFast(err))).toBe(true)
      expect(issuer.jwksFetches()).toBe(1)

      // After the cooldown one fetch is tried again; it works, and nothing of the outage remains.
      now += 1
      issuer.jwksAnswer = undefined
      expect(await keys.key({ alg: 'RS256', kid: kid() })).not.toBeNull()
      expect(issuer.jwksFetches()).toBe(2)
      expect(await keys.key({ alg: 'RS256', kid: kid() })).not.toBeNull()
      expect(issuer.jwksFetches()).toBe(2)
    })

    it("answers a hanging endpoint's timeout at once, without another request, within the cooldown", async () => {
      const keys = createIssuerKeys(options({ failureCooldown: 5000, timeout: 200 }))
      issuer.jwksAnswer = () => ({ status: 200, body: { keys: [] }, delay: 2000 })
      expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_TIMEOUT')
      const requests = issuer.server.requests.length
      const started = Date.now()
      const fast = keys.key({ alg: 'RS256', kid: 'k' }, { signal: AbortSignal.timeout(5000) })
      const err = await fast.catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'ERR_JWKS_TIMEOUT' })
      expect(failedFast(err)).toBe(true)
      // Less than a fetch's own timeout (200 ms): it waited on neither a fetch nor the deadline.
      expect(Date.now() - started).toBeLessThan(200)
      expect(issuer.server.requests.length).toBe(requests)
    })

    it('covers a discovery endpoint that is down', async () => {
      let fetches = 0
      const fetch = (input: string | URL | Request, init?: RequestInit) => {
        fetches++
        return globalThis.fetch(input, init)
      }
      const keys = createIssuerKeys(
        options({ failureCooldown: 5000, jwksUri: undefined, wellKnownUrl: 'http://127.0.0.1:1/.well-known/openid-configuration', fetch }),
      )
      expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
      expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
      expect(fetches).toBe(1)
      now += 5000
      expect(await codeOf(keys.key({ alg: 'RS256', kid: 'k' }))).toBe('ERR_JWKS_UNAVAILABLE')
      expect(fetches).toBe(2)
    })

    it('never touches a fresh key set that has the kid: cached keys keep validating during an outage', async () => {
      const keys = createIssuerKeys(options({ failureCooldown: 5000, cooldown: 0 }))
      const key = await keys.key({ alg: 'RS256', kid: kid() })
      expect(key).not.toBeNull()
      issuer.jwksAnswer = () => ({ status: 503, body: 'down' })
      // An unknown kid makes jose refetch; that fails and starts the failure cooldown.
      expect(await codeOf(keys.key({ alg: 'RS256', kid: 'rotated' }))).toBe('ERR_JWKS_UNAVAILABLE')
      expect(issuer.jwksFetches()).toBe(2)
      expect(failedFast(await failure(keys.key({ alg: 'RS256', kid: 'rotated' })))).toBe(true)
      // The known key: no fetch, no fail-fast, the same key.
      let reads = 0
      const deadline = {
        get signal() {
          reads++
          return undefined
        },
      }
      expect(await keys.key({ alg: 'RS256', kid: kid() }, deadline)).toBe(key)
      expect(keys.cached(kid())).toBe(key)
      expect(reads).toBe(0)
      expect(issuer.jwksFetches()).toBe(2)
    })

    it('lets a caller retry its own failure once, but not a fail-fast answer', async () => {
      const keys = createIssuerKeys(options({ failureCooldown: 5000 }))
      issuer.jwksAnswer = () => ({ status: 502, body: 'bad gateway' })
      const first = await failure(keys.key({ alg: 'RS256', kid: kid() }))
      const retried = await failure(keys.key({ alg: 'RS256', kid: kid() }, undefined, first))
      expect(failedFast(retried)).toBe(false)
      expect(issuer.jwksFetches()).toBe(2)
      const fast = await failure(keys.key({ alg: 'RS256', kid: kid() }))
      expect(failedFast(fast)).toBe(true)
      expect(failedFast(await failure(keys.key({ alg: 'RS256', kid: kid() }, undefined, fast)))).toBe(true)
      // The first failure is no longer the last one: retrying it again does not fetch either.
      expect(failedFast(await failure(keys.key({ alg: 'RS256', kid: kid() }, undefined, first)))).toBe(true)
      expect(issuer.jwksFetches()).toBe(2)
    })

    it('is off with failureCooldown 0', async () => {
      const keys = createIssuerKeys(options({ failureCooldown: 0 }))
      issuer.jwksAnswer = () => ({ status: 503, body: 'down' })
      await codeOf(keys.key({ alg: 'RS256', kid: kid() }))
      await codeOf(keys.key({ alg: 'RS256', kid: kid() }))
      expect(issuer.jwksFetches()).toBe(2)
    })
  })
})
