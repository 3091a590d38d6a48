/**
 * `Downstream.fetch` against a real HTTP server on 127.0.0.1, with a scripted client: the token goes
 * only to the configured origin(s), redirects are followed only within them, a 401 evicts the token
 * before anything else, and failures become typed kit errors.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { TokenXClient } from '../../../lib/exchange/client.ts'
import type { ExchangedToken } from '../../../lib/types.ts'
import { createDownstream, type DownstreamOptions } from '../../../lib/downstream/fetch.ts'
import { DownstreamError } from '../../../lib/errors.ts'
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
    ['another port', () => api.url.replace(/:\d+$/, ':1') + '/resource'],
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

  it('without configured origins, refuses cleartext http: off loopback', async () => {
    const { made } = downstream({ origins: undefined })
    await expect(made.fetch('http://api.example/resource')).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL' })
    expect((await made.fetch(`${api.url}/ok`)).status).toBe(200)
  })
})

describe('redirects', () => {
  it('follows a redirect within the origin, with the token', async () => {
    api.respond = (request) => (request.url === '/old' ? { status: 307, body: '', headers: { location: '/new' } } : { status: 200, body: { ok: true } })
    const { made } = downstream()
    const response = await made.fetch(`${api.url}/old`, { method: 'PUT', body: 'x' })
    expect(response.status).toBe(200)
    expect(api.requests.map((r) => [r.method, r.url, bearerOf(r), r.body])).toEqual([
      ['PUT', '/old', 'Bearer access-1', 'x'],
      ['PUT', '/new', 'Bearer access-1', 'x'],
    ])
  })

  it('turns a 303 into a GET without a body', async () => {
    api.respond = (request) => (request.url === '/form' ? { status: 303, body: '', headers: { location: '/done' } } : { status: 200, body: {} })
    const { made } = downstream()
    await made.fetch(`${api.url}/form`, { method: 'POST', body: 'x' })
    expect(api.requests.map((r) => [r.method, r.url, r.body])).toEqual([['POST', '/form', 'x'], ['GET', '/done', '']])
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
    expect(err).toMatchObject({ code: 'ERR_DOWNSTREAM_UNAVAILABLE', status: 502, error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' })
    expect((err as DownstreamError).detail).toMatch(/^the dev-gcp:team:api request failed \((ECONNREFUSED|\w+)\)$/)
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
