/**
 * `Downstream.fetch` against a real HTTP server on 127.0.0.1, with a scripted client: the token goes
 * only to the configured origin(s), redirects are followed only within them, a 401 evicts the token
 * before anything else, and failures become typed kit errors.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TokenXClient } from '../../../lib/exchange/client.ts'
import type { ExchangedToken, FetchLike } from '../../../lib/types.ts'
import { createDownstream, type DownstreamOptions } from '../../../lib/downstream/fetch.ts'
import { DownstreamError } from '../../../lib/errors.ts'
import { channelName } from '../../../lib/events.ts'
import { startServer, type Recorded, type TestServer } from '../../helpers/servers.ts'

const AUDIENCE = 'dev-gcp:team:api'
const token = (accessToken: string): ExchangedToken =>
  Object.freeze({ accessToken, audience: AUDIENCE, expiresAt: Date.now() + 900_000, tokenType: 'Bearer', issuedTokenType: 'x' })

let api: TestServer
let other: TestServer

beforeAll(async () => {
  api = await startServer(() => ({ status: 200, body: { ok: true } }))
  other = await startServer(() => ({ status: 200, body: { other: true } }))
})
afterEach(() => {
  api.requests.length = 0
  other.requests.length = 0
  api.respond = () => ({ status: 200, body: { ok: true } })
})
afterAll(async () => {
  await api.close()
  await other.close()
})

/** A client that hands out `access-1`, `access-2`, ... and records evictions. */
function scriptedClient() {
  let serial = 1
  const evicted: string[] = []
  const client = {
    options: {} as TokenXClient['options'],
    exchange: async () => token(`access-${++serial}`),
    evict: (_subject: string, _audience: string, evictedToken: ExchangedToken) => {
      evicted.push(evictedToken.accessToken)
    },
  } satisfies TokenXClient
  return { client, evicted }
}

function downstream(overrides: Partial<DownstreamOptions> = {}) {
  const { client, evicted } = scriptedClient()
  const made = createDownstream({
    client,
    subjectToken: 'subject',
    token: token('access-1'),
    timeout: 2_000,
    fetch: globalThis.fetch,
    origins: [api.url],
    ...overrides,
  })
  return { made, evicted }
}

const bearerOf = (request: Recorded) => String(request.headers.authorization)

describe('a 401 from the downstream', () => {
  it('evicts the token and retries once with a fresh one', async () => {
    api.respond = (request) => (bearerOf(request) === 'Bearer access-1' ? { status: 401, body: 'no' } : { status: 200, body: { ok: true } })
    const { made, evicted } = downstream()
    const response = await made.fetch(`${api.url}/resource`)
    expect(response.status).toBe(200)
    expect(evicted).toEqual(['access-1'])
    expect(api.requests.map(bearerOf)).toEqual(['Bearer access-1', 'Bearer access-2'])
  })

  // Issue #9 defect 4: with a body that cannot be replayed, the token used to stay cached.
  it('evicts the token even when the request body is a stream, and does not retry', async () => {
    api.respond = () => ({ status: 401, body: 'no' })
    const { made, evicted } = downstream()
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":1}'))
        controller.close()
      },
    })
    const response = await made.fetch(`${api.url}/resource`, { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(response.status).toBe(401)
    expect(evicted).toEqual(['access-1'])
    expect(api.requests).toHaveLength(1)
  })
})

// Issue #9 defect 7: where the token may go.
describe('the configured origin', () => {
  it('resolves a relative input against the configured URL', async () => {
    const { made } = downstream({ origins: [`${api.url}/v1/`] })
    expect((await made.fetch('resource?x=1')).status).toBe(200)
    expect(api.requests[0]?.url).toBe('/v1/resource?x=1')
  })

  it.each([
    ['another origin', () => `${other.url}/resource`],
    ['another port', () => `${api.url.replace(/:\d+$/, ':1')}/resource`],
    ['userinfo that hides another host', () => `${api.url}@127.0.0.2/resource`],
    ['a scheme-relative input', () => `//127.0.0.2:${new URL(other.url).port}/x`],
  ])('refuses %s with ERR_DOWNSTREAM_URL, sending nothing', async (_label, target) => {
    const { made } = downstream()
    const err = await made.fetch(target()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err).toMatchObject({ code: 'ERR_DOWNSTREAM_URL', status: 500, audience: AUDIENCE })
    expect(api.requests).toHaveLength(0)
    expect(other.requests).toHaveLength(0)
  })

  it('accepts any of several configured origins', async () => {
    const { made } = downstream({ origins: [api.url, other.url] })
    expect((await made.fetch(new URL('/x', other.url))).status).toBe(200)
    expect(other.requests.map(bearerOf)).toEqual(['Bearer access-1'])
  })

  it('without configured origins, refuses cleartext http:', async () => {
    const { made } = downstream({ origins: undefined })
    await expect(made.fetch('http://api.example/resource')).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
  })
})

describe('redirects', () => {
  it('follows a redirect within the origin, with the token', async () => {
    api.respond = (request) =>
      request.url === '/old' ? { status: 307, body: '', headers: { location: '/new' } } : { status: 200, body: { ok: true } }
    const { made } = downstream()
    const response = await made.fetch(`${api.url}/old`, { method: 'PUT', body: 'x' })
    expect(response.status).toBe(200)
    expect(api.requests.map((r) => [r.method, r.url, bearerOf(r), r.body])).toEqual([
      ['PUT', '/old', 'Bearer access-1', 'x'],
      ['PUT', '/new', 'Bearer access-1', 'x'],
    ])
  })

  it('turns a 303 into a GET without a body', async () => {
    api.respond = (request) =>
      request.url === '/form' ? { status: 303, body: '', headers: { location: '/done' } } : { status: 200, body: {} }
    const { made } = downstream()
    await made.fetch(`${api.url}/form`, { method: 'POST', body: 'x' })
    expect(api.requests.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', '/form', 'x'],
      ['GET', '/done', ''],
    ])
  })

  it('does not follow a redirect to another origin: the handler gets it, the token is not sent on', async () => {
    api.respond = () => ({ status: 302, body: '', headers: { location: `${other.url}/steal` } })
    const { made } = downstream()
    const response = await made.fetch(`${api.url}/resource`)
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe(`${other.url}/steal`)
    expect(other.requests).toHaveLength(0)
  })

  it('stops after five hops', async () => {
    api.respond = (_request, index) => ({ status: 302, body: '', headers: { location: `/hop-${index + 1}` } })
    const { made } = downstream()
    expect((await made.fetch(`${api.url}/hop-0`)).status).toBe(302)
    expect(api.requests).toHaveLength(6)
  })
})

describe('failures are typed kit errors', () => {
  it('an unreachable downstream is ERR_DOWNSTREAM_UNAVAILABLE, 502', async () => {
    const { made } = downstream({ origins: ['http://127.0.0.1:1'] })
    const err = await made.fetch('http://127.0.0.1:1/x').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err).toMatchObject({
      code: 'ERR_DOWNSTREAM_UNAVAILABLE',
      status: 502,
      error: 'temporarily_unavailable',
      error_description: 'An upstream service is unavailable',
    })
    expect((err as DownstreamError).detail).toMatch(/^the dev-gcp:team:api request failed \((ECONNREFUSED|\w+)\)$/)
  })

  // Issue 18 item 8: the fetch was handed the token; what it throws is foreign, whatever it says.
  it.each([
    ['the token in its message and code', (bearer: string) => Object.assign(new Error(`refused ${bearer}`), { code: bearer })],
    ['an identity number in its name', () => Object.assign(new Error('x'), { name: 'Citizen12345678910Error' })],
    [
      'the token in its cause',
      (bearer: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(bearer), { code: bearer }) }),
    ],
  ])('a fetch that throws with %s: the error names it by a sanitised name and keeps a stand-in', async (_label, hostile) => {
    const fetch = async (_url: string | URL | Request, init?: RequestInit) =>
      Promise.reject(hostile(new Headers(init?.headers).get('authorization') ?? ''))
    const { made } = downstream({ fetch })
    const err = (await made.fetch(`${api.url}/x`).catch((e: unknown) => e)) as DownstreamError
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err.detail).toMatch(/^the dev-gcp:team:api request failed \((Error|TypeError|UnknownError)\)$/)
    expect((err.cause as Error).constructor.name).toBe('ForeignError')
    for (const text of [
      err.detail,
      err.message,
      JSON.stringify(err),
      inspect(err, { depth: 10 }),
      String(err.cause),
      JSON.stringify(err.cause),
    ]) {
      expect(text).not.toContain('access-1')
      expect(text).not.toContain('12345678910')
    }
  })

  it('a slow downstream is ERR_DOWNSTREAM_TIMEOUT, 504, after `timeout` ms', async () => {
    api.respond = () => ({ status: 200, body: {}, delay: 1_000 })
    const { made } = downstream({ timeout: 30 })
    await expect(made.fetch(`${api.url}/slow`)).rejects.toMatchObject({
      code: 'ERR_DOWNSTREAM_TIMEOUT',
      status: 504,
      error_description: 'An upstream service did not answer in time',
    })
  })

  it('the Lambda deadline cuts the request short, as a timeout', async () => {
    api.respond = () => ({ status: 200, body: {}, delay: 1_000 })
    const { made } = downstream({ timeout: 5_000, deadline: { at: Date.now() + 30 } })
    await expect(made.fetch(`${api.url}/slow`)).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_TIMEOUT', status: 504 })
  })

  it('replaces any Authorization the handler set, in any spelling', async () => {
    const { made } = downstream()
    await made.fetch(`${api.url}/x`, { headers: { Authorization: 'Basic x', accept: 'application/json' } })
    await made.fetch(`${api.url}/x`, { headers: new Headers({ AUTHORIZATION: 'Basic x' }) })
    await made.fetch(`${api.url}/x`, { headers: [['authorization', 'Basic x']] })
    expect(api.requests.map(bearerOf)).toEqual(['Bearer access-1', 'Bearer access-1', 'Bearer access-1'])
    expect(api.requests[0]?.headers.accept).toBe('application/json')
  })

  it('the handler aborting its own request gets its own reason back', async () => {
    api.respond = () => ({ status: 200, body: {}, delay: 1_000 })
    const { made } = downstream()
    const controller = new AbortController()
    const reason = new Error('handler gave up')
    setTimeout(() => controller.abort(reason), 20)
    await expect(made.fetch(`${api.url}/slow`, { signal: controller.signal })).rejects.toBe(reason)
  })
})

/** A `fetch` that records the URLs it was handed and answers 200 without touching the network. */
function recordingFetch() {
  const seen: string[] = []
  const fetch: FetchLike = async (input) => {
    seen.push(String(input))
    return new Response('{}', { status: 200 })
  }
  return { fetch, seen }
}

/**
 * The runtime's fetch with names for the two test servers: `https://a.test` is `api`, `https://b.test`
 * is `other` (the kit refuses loopback for a bare audience, so these stand for two public origins).
 * Only the host changes: the request, its headers and `redirect` go to the real server as they are.
 */
const PUBLIC = { 'https://a.test': () => api, 'https://b.test': () => other } as const
const named: FetchLike = async (input, init) => {
  const url = new URL(String(input))
  const server = PUBLIC[url.origin as keyof typeof PUBLIC]
  if (server === undefined) throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } })
  return globalThis.fetch(`${server().url}${url.pathname}${url.search}`, init)
}

// Issue 18, item 3: a bare audience used to follow any https: (or loopback http:) redirect itself.
describe('a bare audience (no url)', () => {
  it('does not follow a redirect to another origin: the handler gets it, the token is not sent on', async () => {
    api.respond = () => ({ status: 302, body: '', headers: { location: 'https://b.test/steal' } })
    const { made } = downstream({ origins: undefined, fetch: named })
    const response = await made.fetch('https://a.test/resource')
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('https://b.test/steal')
    // Only this test's path: a request an earlier test aborted may reach the server late.
    expect(api.requests.filter((request) => request.url === '/resource').map(bearerOf)).toEqual(['Bearer access-1'])
    expect(other.requests).toHaveLength(0)
  })

  it("follows a redirect within the first request's origin, with the token", async () => {
    api.respond = (request) =>
      request.url === '/old' ? { status: 301, body: '', headers: { location: 'https://a.test/new' } } : { status: 200, body: { ok: true } }
    const { made } = downstream({ origins: undefined, fetch: named })
    expect((await made.fetch('https://a.test/old')).status).toBe(200)
    expect(api.requests.map((r) => [r.url, bearerOf(r)])).toEqual([
      ['/old', 'Bearer access-1'],
      ['/new', 'Bearer access-1'],
    ])
  })

  it('refuses a loopback URL: a real server on 127.0.0.1 never sees the token', async () => {
    const { made } = downstream({ origins: undefined })
    const err = await made.fetch(`${api.url}/resource`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err).toMatchObject({ code: 'ERR_DOWNSTREAM_URL', status: 500 })
    expect(api.requests).toHaveLength(0)
  })

  it.each([
    'https://127.0.0.1/x',
    'https://127.1.2.3:9001/2018-06-01/runtime/invocation/next',
    'https://2130706433/x',
    'https://0x7f.1/x',
    'https://0.0.0.0/x',
    'https://localhost/x',
    'https://LOCALHOST./x',
    'https://api.localhost/x',
    'https://[::1]/x',
    'https://[::]/x',
    'https://[::ffff:127.0.0.1]/x',
    'https://[::ffff:169.254.169.254]/x',
    'https://169.254.169.254/latest/meta-data/',
    'https://169.254.170.2/v2/credentials',
    'https://[fe80::1]/x',
    'https://[febf:ffff::1]/x',
  ])('refuses %s (loopback or link-local), handing nothing to fetch', async (target) => {
    const { fetch, seen } = recordingFetch()
    const { made } = downstream({ origins: undefined, fetch })
    await expect(made.fetch(target)).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
    await expect(made.fetch(new URL(target))).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
    expect(seen).toEqual([])
  })

  it.each(['https://api.example/x', 'https://169.255.0.1/x', 'https://[fec0::1]/x', 'https://128.0.0.1/x', 'https://localhost.example/x'])(
    'sends to %s, a public https: URL',
    async (target) => {
      const { fetch, seen } = recordingFetch()
      const { made } = downstream({ origins: undefined, fetch })
      expect((await made.fetch(target)).status).toBe(200)
      expect(seen).toEqual([new URL(target).href])
    },
  )

  it("a loopback or link-local URL the audience's configured url names is allowed", async () => {
    const { fetch, seen } = recordingFetch()
    const { made } = downstream({ origins: ['https://169.254.10.10/api/'], fetch })
    expect((await made.fetch('x')).status).toBe(200)
    expect(seen).toEqual(['https://169.254.10.10/api/x'])
  })
})

// Issue 18, item 6: the retry after a 401 went to the handler's URL object as it was by then.
describe('the URL is read once', () => {
  it('a handler changing its URL object during the request does not move the 401 retry', async () => {
    api.respond = (request) =>
      bearerOf(request) === 'Bearer access-1' ? { status: 401, body: 'no', delay: 50 } : { status: 200, body: { ok: true } }
    const { made } = downstream({ origins: [api.url, other.url] })
    const target = new URL('/resource', api.url)
    const pending = made.fetch(target)
    target.href = `${other.url}/steal`
    expect((await pending).status).toBe(200)
    expect(api.requests.map((r) => [r.url, bearerOf(r)])).toEqual([
      ['/resource', 'Bearer access-1'],
      ['/resource', 'Bearer access-2'],
    ])
    expect(other.requests).toHaveLength(0)
  })

  it('nor, for a bare audience, to another origin', async () => {
    api.respond = (request) =>
      bearerOf(request) === 'Bearer access-1' ? { status: 401, body: 'no', delay: 50 } : { status: 200, body: { ok: true } }
    const { made } = downstream({ origins: undefined, fetch: named })
    const target = new URL('https://a.test/resource')
    const pending = made.fetch(target)
    target.href = 'https://b.test/steal'
    expect((await pending).status).toBe(200)
    expect(api.requests.map(bearerOf)).toEqual(['Bearer access-1', 'Bearer access-2'])
    expect(other.requests).toHaveLength(0)
  })

  it('a redirect is resolved against the URL as it was read', async () => {
    api.respond = (request) =>
      request.url === '/old' ? { status: 302, body: '', headers: { location: 'new' }, delay: 50 } : { status: 200, body: { ok: true } }
    const { made } = downstream({ origins: [api.url, other.url] })
    const target = new URL('/old', api.url)
    const pending = made.fetch(target)
    target.href = `${other.url}/elsewhere/`
    expect((await pending).status).toBe(200)
    expect(api.requests.map((r) => r.url)).toEqual(['/old', '/new'])
    expect(other.requests).toHaveLength(0)
  })
})

// Issue 18, item 11.
describe('inputs that are not an http(s) URL string or URL', () => {
  it('refuses a Request object with a typed error that says so, sending nothing', async () => {
    const { made } = downstream()
    const err = await made.fetch(new Request(`${api.url}/resource`) as unknown as string).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err).toMatchObject({ code: 'ERR_DOWNSTREAM_URL', status: 500 })
    expect((err as DownstreamError).detail).toMatch(/Request object/)
    expect(api.requests).toHaveLength(0)
  })

  it.each([
    ['a blob: URL of the configured origin', () => `blob:${api.url}/0b1c2d3e`],
    ['a blob: URL object of the configured origin', () => new URL(`blob:${api.url}/0b1c2d3e`)],
    ['a data: URL', () => 'data:text/plain,hello'],
    ['a file: URL', () => 'file:///etc/passwd'],
    ['an object that is not a URL', () => ({ toString: () => `${api.url}/resource` }) as unknown as string],
  ])('refuses %s, handing nothing to fetch', async (_label, target) => {
    const { fetch, seen } = recordingFetch()
    const { made } = downstream({ fetch })
    await expect(made.fetch(target())).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
    expect(seen).toEqual([])
  })

  it('a bare audience refuses a blob: URL of a public origin', async () => {
    const { fetch, seen } = recordingFetch()
    const { made } = downstream({ origins: undefined, fetch })
    await expect(made.fetch('blob:https://api.example/0b1c2d3e')).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
    expect(seen).toEqual([])
  })

  it('a redirect to a blob: URL of the same origin is not followed', async () => {
    api.respond = () => ({ status: 302, body: '', headers: { location: `blob:${api.url}/x` } })
    const calls: string[] = []
    const { made } = downstream({ fetch: (input, init) => (calls.push(String(input)), globalThis.fetch(input, init)) })
    expect((await made.fetch(`${api.url}/resource`)).status).toBe(302)
    expect(calls).toEqual([`${api.url}/resource`])
  })
})

describe('a 401 or 403 that a fresh token cannot help', () => {
  it('RFC 9470 insufficient_user_authentication: the token is kept and the request not repeated', async () => {
    api.respond = () => ({
      status: 401,
      body: '',
      headers: {
        'www-authenticate':
          'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="idporten-loa-high"',
      },
    })
    const { made, evicted, exchanges } = countingDownstream()
    const response = await made.fetch(`${api.url}/resource`)
    expect(response.status).toBe(401)
    expect(evicted).toEqual([])
    expect(exchanges()).toBe(0)
    expect(api.requests).toHaveLength(1)
    expect(made.token.accessToken).toBe('access-1')
  })

  it.each([
    ['an invalid_token challenge', 'Bearer error="invalid_token"'],
    ['no challenge', undefined],
    [
      'insufficient_user_authentication only inside a quoted description',
      'Bearer error_description="not error=\\"insufficient_user_authentication\\"", error="invalid_token"',
    ],
    [
      'insufficient_user_authentication under another scheme',
      'Basic error="insufficient_user_authentication", Bearer error="invalid_token"',
    ],
  ])('%s: the token is dropped and the request repeated with a fresh one', async (_label, challenge) => {
    api.respond = (request) =>
      bearerOf(request) === 'Bearer access-1'
        ? { status: 401, body: '', headers: challenge === undefined ? {} : ({ 'www-authenticate': challenge } as Record<string, string>) }
        : { status: 200, body: { ok: true } }
    const { made, evicted, exchanges } = countingDownstream()
    expect((await made.fetch(`${api.url}/resource`)).status).toBe(200)
    expect(evicted).toEqual(['access-1'])
    expect(exchanges()).toBe(1)
  })

  it('a 403: the token is kept and the request not repeated', async () => {
    api.respond = () => ({ status: 403, body: '', headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' } })
    const { made, evicted, exchanges } = countingDownstream()
    expect((await made.fetch(`${api.url}/resource`)).status).toBe(403)
    expect(evicted).toEqual([])
    expect(exchanges()).toBe(0)
    expect(api.requests).toHaveLength(1)
  })
})

/** `downstream()`, with the number of exchanges the client made. */
function countingDownstream() {
  let exchanges = 0
  const { client, evicted } = scriptedClient()
  const exchange = client.exchange
  const counted = { ...client, exchange: async () => (exchanges++, exchange()) }
  const made = createDownstream({
    client: counted,
    subjectToken: 'subject',
    token: token('access-1'),
    timeout: 2_000,
    fetch: globalThis.fetch,
    origins: [api.url],
  })
  return { made, evicted, exchanges: () => exchanges }
}

describe('the token refused event (downstream.refused)', () => {
  it("says what the kit did, with the challenge's error code and no token", async () => {
    const events: unknown[] = []
    const listener = (event: unknown) => void events.push(event)
    subscribe(channelName('downstream.refused'), listener)
    try {
      api.respond = (request) =>
        bearerOf(request) === 'Bearer access-1'
          ? {
              status: 401,
              body: 'access-1 refused',
              headers: { 'www-authenticate': 'Bearer error="invalid_token", error_description="access-1 expired"' },
            }
          : { status: 200, body: {} }
      await downstream().made.fetch(`${api.url}/a`)
      api.respond = () => ({ status: 401, body: '', headers: { 'www-authenticate': 'Bearer error="something_else_access-1"' } })
      const body = new ReadableStream({ start: (c) => c.close() })
      await downstream().made.fetch(`${api.url}/b`, { method: 'POST', body, duplex: 'half' } as RequestInit)
      api.respond = () => ({
        status: 401,
        body: '',
        headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="idporten-loa-high"' },
      })
      await downstream().made.fetch(`${api.url}/c`)
    } finally {
      unsubscribe(channelName('downstream.refused'), listener)
    }
    expect(events).toEqual([
      { audience: AUDIENCE, error: 'invalid_token', action: 'retry' },
      { audience: AUDIENCE, error: 'other', action: 'drop' },
      { audience: AUDIENCE, error: 'insufficient_user_authentication', action: 'keep' },
    ])
    expect(JSON.stringify(events)).not.toContain('access-')
  })
})
