/**
 * The downstream API answering 401 to a token the kit had cached (revoked, or the API's keys
 * rotated): through `context.tokenX.fetch`, the kit drops that cache entry, exchanges again and
 * retries the request once — and only once.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult } from 'aws-lambda'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { tokenX, type TokenXOptions } from '../../lib/index.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type Answer, type Recorded, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, issue, lambdaHandler, watchUnhandledRejections, type TokenXLambdaContext } from './support.ts'

let key: TestKey
let tokenx: TestServer
let downstream: TestServer
let subject: string
/** Tokens the downstream API no longer accepts. */
let revoked: Set<string>
let unhandled: ReturnType<typeof watchUnhandledRejections>

const bearerOf = (request: Recorded) => String(request.headers.authorization).replace(/^Bearer /, '')

/** The downstream API: 200 for a token it accepts, RFC 6750 §3.1 401 for a revoked one. */
const accepting = (request: Recorded): Answer =>
  revoked.has(bearerOf(request))
    ? { status: 401, body: { error: 'invalid_token' }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }
    : { status: 200, body: { ok: true } }

beforeAll(async () => {
  key = await newTestKey('app-key')
  tokenx = await startServer(issue)
  downstream = await startServer(accepting)
  subject = await citizenToken('12345678910')
})
beforeEach(() => {
  revoked = new Set()
  unhandled = watchUnhandledRejections()
})
afterEach(() => {
  unhandled.stop()
  tokenx.requests.length = 0
  tokenx.respond = issue
  downstream.requests.length = 0
  downstream.respond = accepting
  expect(unhandled.seen).toEqual([])
})
afterAll(async () => {
  await tokenx.close()
  await downstream.close()
})

function options(overrides: Partial<TokenXOptions> = {}): TokenXOptions {
  return { clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwk: key.privateJwk, retryBackoff: 1, ...overrides }
}

const invoke = (handler: ReturnType<typeof lambdaHandler>['handler'], citizen = subject) =>
  handler(v2Event(`Bearer ${citizen}`), lambdaContext(10_000))

const sentTokens = () => downstream.requests.map(bearerOf)

describe('the downstream API refusing a cached token', () => {
  it('drops it, exchanges again and retries once; later invocations use the new token', async () => {
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    expect((await invoke(handler)).statusCode).toBe(200)
    const [first] = sentTokens()

    revoked.add(first!)
    expect((await invoke(handler)).statusCode).toBe(200)
    const [, refused, retried] = sentTokens()
    expect(refused).toBe(first)
    expect(retried).not.toBe(first)
    expect(tokenx.requests).toHaveLength(2)

    // Warm again: the new token came from the cache, the revoked one is gone for good.
    expect((await invoke(handler)).statusCode).toBe(200)
    expect(sentTokens().at(-1)).toBe(retried)
    expect(tokenx.requests).toHaveLength(2)
  })

  it("retries only once: a 401 to the new token too is the handler's answer", async () => {
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    await invoke(handler)
    // The downstream API refuses everything from now on.
    downstream.respond = () => ({ status: 401, body: { error: 'invalid_token' } })
    const result = await invoke(handler)
    expect(result.statusCode).toBe(401)
    expect(downstream.requests).toHaveLength(3)
    expect(tokenx.requests).toHaveLength(2)
  })

  it('does not retry when TokenX hands out the same token again', async () => {
    tokenx.respond = () => ({ status: 200, body: { access_token: 'at.same', token_type: 'Bearer', expires_in: 900 } })
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    await invoke(handler)
    revoked.add('at.same')
    expect((await invoke(handler)).statusCode).toBe(401)
    expect(sentTokens()).toEqual(['at.same', 'at.same'])
    expect(tokenx.requests).toHaveLength(2)
  })

  it("when TokenX is down for the new exchange, the invocation answers TokenX's error (503)", async () => {
    const { handler } = lambdaHandler({ client: options({ retries: 1 }), downstreamUrl: downstream.url })
    await invoke(handler)
    revoked.add(sentTokens()[0]!)
    tokenx.respond = () => ({ status: 0, body: '', reset: true })
    const result = await invoke(handler)
    expect(result.statusCode).toBe(503)
    expect(JSON.parse(result.body)).toEqual({ error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' })
    // The revoked token is not served again once TokenX is back.
    tokenx.respond = issue
    expect((await invoke(handler)).statusCode).toBe(200)
    expect(sentTokens().at(-1)).not.toBe(sentTokens()[0])
  })

  it('a burst of invocations refused with the same cached token shares one new exchange', async () => {
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    await invoke(handler)
    revoked.add(sentTokens()[0]!)
    tokenx.requests.length = 0
    downstream.requests.length = 0
    const results = await Promise.all(Array.from({ length: 10 }, () => invoke(handler)))
    expect(results.map((result) => result.statusCode)).toEqual(Array(10).fill(200))
    expect(tokenx.requests).toHaveLength(1)
    // Each invocation: one refused request with the old token, one retry with the single new token.
    const tokens = sentTokens()
    expect(tokens).toHaveLength(20)
    expect(new Set(tokens).size).toBe(2)
  })

  it("another citizen's cached token is untouched by one citizen's 401", async () => {
    const other = await citizenToken('10987654321')
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    await invoke(handler)
    await invoke(handler, other)
    const [mine, theirs] = sentTokens()
    revoked.add(mine!)
    await invoke(handler)
    tokenx.requests.length = 0
    await invoke(handler, other)
    expect(sentTokens().at(-1)).toBe(theirs)
    expect(tokenx.requests).toHaveLength(0)
  })
})

// Issue 18: answers a fresh token cannot change.
describe('the downstream API refusing the citizen, not the token', () => {
  it('403: answered as it is, the token kept (no new exchange, now or on the next invocation)', async () => {
    downstream.respond = () => ({
      status: 403,
      body: { error: 'insufficient_scope' },
      headers: { 'www-authenticate': 'Bearer error="insufficient_scope"' },
    })
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    expect((await invoke(handler)).statusCode).toBe(403)
    expect((await invoke(handler)).statusCode).toBe(403)
    expect(tokenx.requests).toHaveLength(1)
    expect(new Set(sentTokens()).size).toBe(1)
  })

  it('401 insufficient_user_authentication (RFC 9470): answered as it is, the token kept for calls that need no more', async () => {
    downstream.respond = () => ({
      status: 401,
      body: '',
      headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="idporten-loa-high"' },
    })
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url })
    expect((await invoke(handler)).statusCode).toBe(401)
    downstream.respond = accepting
    expect((await invoke(handler)).statusCode).toBe(200)
    expect(tokenx.requests).toHaveLength(1)
    expect(downstream.requests).toHaveLength(2)
    expect(new Set(sentTokens()).size).toBe(1)
  })
})

// Issue #9 defect 7 and the typed downstream failures, through the middleware.
describe('where the token may go', () => {
  it('a redirect to another origin is answered as it is, and the token is not sent there', async () => {
    const elsewhere = await startServer(() => ({ status: 200, body: { stolen: true } }))
    try {
      downstream.respond = () => ({ status: 302, body: '', headers: { location: `${elsewhere.url}/collect` } })
      const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url, downstreamOrigins: [downstream.url] })
      expect((await invoke(handler)).statusCode).toBe(302)
      expect(elsewhere.requests).toHaveLength(0)
    } finally {
      await elsewhere.close()
    }
  })

  // Issue 18 item 3: without a url, the token may not go to this machine (the Runtime API, extensions).
  it('a bare audience (no url) refuses a loopback downstream: 500, nothing sent', async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, TokenXLambdaContext>()
      .use(tokenX({ audience: AUDIENCE, client: options(), logger: false }))
      .handler(async (_event, context) => ({ statusCode: (await context.tokenX.fetch(`${downstream.url}/resource`)).status, body: '' }))
    const result = await invoke(handler)
    expect(result.statusCode).toBe(500)
    expect(JSON.parse(result.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' })
    expect(downstream.requests).toHaveLength(0)
  })

  it('a URL outside the configured origin answers 500 and sends nothing', async () => {
    const { handler } = lambdaHandler({ client: options(), downstreamUrl: downstream.url, downstreamOrigins: ['https://api.example/'] })
    const result = await invoke(handler)
    expect(result.statusCode).toBe(500)
    expect(JSON.parse(result.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' })
    expect(downstream.requests).toHaveLength(0)
  })

  it("an unreachable downstream answers 502 with the kit's fixed text", async () => {
    const { handler } = lambdaHandler({
      client: options(),
      downstreamUrl: 'http://127.0.0.1:1',
      downstreamOrigins: ['http://127.0.0.1:1/'],
    })
    const result = await invoke(handler)
    expect(result.statusCode).toBe(502)
    expect(JSON.parse(result.body)).toEqual({ error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' })
  })
})
