/**
 * Many concurrent invocations in one process (one warm Lambda container serving a burst, or a
 * handler that exchanges in parallel) for the same citizen and audience, while TokenX misbehaves:
 * one exchange in flight, every waiter gets the same outcome, a waiter that gives up does not take
 * the others down with it, and no promise is left rejected without a handler.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createTokenXClient, TokenXError, type TokenXOptions } from '../../lib/index.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type Answer, type Recorded, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, issue, jtis, lambdaHandler, settle, watchUnhandledRejections } from './support.ts'

const BURST = 25

let key: TestKey
let tokenx: TestServer
let subject: string
let inFlight = 0
let maxInFlight = 0
let script: (request: Recorded, index: number) => Answer
let unhandled: ReturnType<typeof watchUnhandledRejections>

beforeAll(async () => {
  key = await newTestKey('app-key')
  subject = await citizenToken('12345678910')
  // Counts how many exchanges TokenX is working on at once; the answer itself comes from `script`.
  tokenx = await startServer(async (request, index) => {
    inFlight += 1
    maxInFlight = Math.max(maxInFlight, inFlight)
    const answer = script(request, index)
    await new Promise((resolve) => setTimeout(resolve, answer.delay ?? 20))
    inFlight -= 1
    return { ...answer, delay: 0 }
  })
})
beforeEach(async () => {
  // No kept-alive connection from an earlier test: a reset is then one on a new connection, which the
  // kit's client does not send again (it would, as a connection the server closed while idle).
  await tokenx.closeIdle()
  unhandled = watchUnhandledRejections()
})
afterEach(async () => {
  await settle(30)
  unhandled.stop()
  tokenx.requests.length = 0
  inFlight = 0
  maxInFlight = 0
  expect(unhandled.seen).toEqual([])
})
afterAll(() => tokenx.close())

function options(overrides: Partial<TokenXOptions> = {}): TokenXOptions {
  return {
    clientId: CLIENT_ID,
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwk: key.privateJwk,
    retryBackoff: 1,
    retries: 2,
    ...overrides,
  }
}

const RESET: Answer = { status: 0, body: '', reset: true }

describe.each([
  ['answers', issue, 200, 1],
  ['answers 503 twice, then a token', (r: Recorded, i: number) => (i < 2 ? { status: 503, body: 'busy' } : issue(r)), 200, 3],
  ['resets the first connection, then answers', (r: Recorded, i: number) => (i < 1 ? RESET : issue(r)), 200, 2],
  ['answers 500 every time', () => ({ status: 500, body: { error: 'server_error' } }), 502, 3],
  ['resets every connection', () => RESET, 503, 3],
  ['answers 200 without expires_in', () => ({ status: 200, body: { access_token: 'at.x', token_type: 'Bearer' } }), 502, 1],
  ['answers invalid_client', () => ({ status: 401, body: { error: 'invalid_client' } }), 500, 1],
  [
    'rejects the subject token',
    () => ({ status: 400, body: { error: 'invalid_request', error_description: 'invalid subject_token: token verification failed' } }),
    401,
    1,
  ],
] as const)('a burst of invocations while TokenX %s', (_name, respond, status, requests) => {
  it(`shares one exchange (${requests} request(s)) and every invocation answers ${status}`, async () => {
    script = respond
    const { handler, handlerCalls } = lambdaHandler({ client: options() })
    const results = await Promise.all(Array.from({ length: BURST }, () => handler(v2Event(`Bearer ${subject}`), lambdaContext(10_000))))
    expect(new Set(results.map((result) => result.statusCode))).toEqual(new Set([status]))
    expect(new Set(results.map((result) => result.body)).size).toBe(1)
    expect(handlerCalls()).toBe(status === 200 ? BURST : 0)
    expect(tokenx.requests).toHaveLength(requests)
    expect(maxInFlight).toBe(1)
    expect(new Set(jtis(tokenx.requests)).size).toBe(requests)
  })

  it('gives every waiter of the client the very same outcome', async () => {
    script = respond
    const kit = createTokenXClient(options())
    const outcomes = await Promise.allSettled(Array.from({ length: BURST }, () => kit.exchange(subject, AUDIENCE)))
    const values = outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : outcome.reason))
    expect(new Set(values).size).toBe(1)
    if (status !== 200) expect(values[0]).toBeInstanceOf(TokenXError)
    expect(values[0]).toMatchObject(status === 200 ? { audience: AUDIENCE } : { status })
    expect(tokenx.requests).toHaveLength(requests)
  })
})

describe('waiters that give up', () => {
  it('a waiter whose own signal aborts gets 504; the others keep the shared exchange', async () => {
    script = (request) => ({ ...issue(request), delay: 300 })
    const kit = createTokenXClient(options())
    const impatient = Array.from({ length: 5 }, () => kit.exchange(subject, AUDIENCE, { signal: AbortSignal.timeout(30) }))
    const patient = Array.from({ length: 5 }, () => kit.exchange(subject, AUDIENCE, { signal: AbortSignal.timeout(10_000) }))
    const unbounded = kit.exchange(subject, AUDIENCE)
    for (const outcome of await Promise.allSettled(impatient)) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'ERR_TIMEOUT', status: 504 } })
    }
    const tokens = await Promise.all([...patient, unbounded])
    expect(new Set(tokens).size).toBe(1)
    expect(tokenx.requests).toHaveLength(1)
  })

  it('through the middleware: invocations near their deadline answer 504, the rest 200, with one exchange', async () => {
    script = (request) => ({ ...issue(request), delay: 300 })
    const { handler } = lambdaHandler({ client: options() })
    const invocations = Array.from({ length: 10 }, (_, i) =>
      handler(v2Event(`Bearer ${subject}`), lambdaContext(i % 2 === 0 ? 600 : 10_000)),
    )
    const statuses = (await Promise.all(invocations)).map((result) => result.statusCode)
    expect(statuses).toEqual([504, 200, 504, 200, 504, 200, 504, 200, 504, 200])
    expect(tokenx.requests).toHaveLength(1)
  })

  it('when every waiter gives up, the shared exchange is abandoned, and a newcomer starts its own', async () => {
    script = (request) => ({ ...issue(request), delay: 150 })
    const kit = createTokenXClient(options())
    const controllers = Array.from({ length: 3 }, () => new AbortController())
    const gaveUp = Promise.allSettled(controllers.map((controller) => kit.exchange(subject, AUDIENCE, { signal: controller.signal })))
    await vi.waitFor(() => expect(tokenx.requests).toHaveLength(1))
    for (const controller of controllers) controller.abort(new Error('invocation ended'))
    // Right after the last waiter left (the abandoned exchange has not even settled yet) a new
    // invocation arrives with time to spare: it must get a token, not the abandoned exchange's abort.
    const token = await kit.exchange(subject, AUDIENCE, { signal: AbortSignal.timeout(10_000) })
    expect(token.accessToken).toMatch(/^at\./)
    for (const outcome of await gaveUp) {
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'ERR_TIMEOUT' } })
    }
    expect(tokenx.requests).toHaveLength(2)
    // The newcomer's token is cached; the abandoned exchange did not overwrite or evict it.
    await settle(200)
    expect(await kit.exchange(subject, AUDIENCE)).toBe(token)
    expect(tokenx.requests).toHaveLength(2)
  })

  it("distinct citizens in one burst never wait on each other's failures", async () => {
    const citizens = await Promise.all(['1', '2', '3', '4'].map((pid) => citizenToken(pid)))
    const failing = citizens[0]
    script = (request) =>
      new URLSearchParams(request.body).get('subject_token') === failing ? { status: 500, body: 'down for this one' } : issue(request)
    const kit = createTokenXClient(options({ retries: 0 }))
    const outcomes = await Promise.allSettled(
      citizens.flatMap((citizen) => Array.from({ length: 5 }, () => kit.exchange(citizen, AUDIENCE))),
    )
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(5)
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(15)
    expect(tokenx.requests).toHaveLength(4)
    expect(maxInFlight).toBeLessThanOrEqual(4)
  })
})

describe('joining', () => {
  it('a burst arriving while an exchange is slow joins it instead of piling up requests', async () => {
    script = (request) => ({ ...issue(request), delay: 200 })
    const kit = createTokenXClient(options())
    const first = kit.exchange(subject, AUDIENCE)
    await settle(50)
    const later = Array.from({ length: BURST }, () => kit.exchange(subject, AUDIENCE))
    const tokens = await Promise.all([first, ...later])
    expect(new Set(tokens).size).toBe(1)
    expect(tokenx.requests).toHaveLength(1)
  })
})
