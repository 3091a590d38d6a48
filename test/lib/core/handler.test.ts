/**
 * `createTokenXHandlerCore(options).wrap(handler)`: a handler without middy that answers, releases and
 * ends each invocation exactly as the `tokenX()` middleware does. Every case runs through both.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult } from 'aws-lambda'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  createTokenXHandlerCore,
  downstreamAnswer,
  tokenX,
  type MetricsLike,
  type TokenXCoreOptions,
  type TokenXHandlerContext,
} from '../../../lib/index.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../../helpers/issuer.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, tokenAnswer, type Answer, type TestServer } from '../../helpers/servers.ts'

const CLIENT_ID = 'dev-gcp:team:app'
const AUDIENCE = 'dev-gcp:team:downstream'
let key: TestKey
let tokenx: TestServer
let downstream: TestServer
let idporten: TestIssuer
let downstreamAnswers: () => Answer

beforeAll(async () => {
  key = await newTestKey()
  tokenx = await startServer(() => tokenAnswer('downstream-token'))
  downstream = await startServer(() => downstreamAnswers())
  idporten = await startIssuer()
})
afterEach(() => {
  tokenx.respond = () => tokenAnswer('downstream-token')
  downstreamAnswers = () => ({ status: 200, body: { ok: true } })
})
afterAll(async () => {
  await Promise.all([tokenx.close(), downstream.close(), idporten.close()])
})
downstreamAnswers = () => ({ status: 200, body: { ok: true } })

const token = (extra: Record<string, unknown> = {}) =>
  mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, CLIENT_ID, extra) })

/**
 * Counts the invocations ended. The kit never publishes a `Metrics` it was given, unless the instance
 * says it holds nothing when the kit hands its figures over (someone published early): this stub
 * always says so, so every `end` shows as one publish.
 */
function countingMetrics(): MetricsLike & { published: number } {
  const metrics = {
    published: 0,
    addMetric() {},
    addDimension() {},
    hasStoredMetrics: () => false,
    publishStoredMetrics() {
      metrics.published += 1
    },
  }
  return metrics as unknown as MetricsLike & { published: number }
}

/** The same options and handler body, as a middy middleware and as `wrap`. */
function both(
  overrides: Partial<TokenXCoreOptions<{ audience: string; url: string }>> = {},
  body?: (context: TokenXHandlerContext<{ audience: { audience: string; url: string } }>) => Promise<APIGatewayProxyResult>,
) {
  const metrics = { middy: countingMetrics(), wrap: countingMetrics() }
  const options = (which: 'middy' | 'wrap') => ({
    audience: { audience: AUDIENCE, url: downstream.url },
    client: { clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwk: key.privateJwk, retries: 0 },
    logger: false as const,
    metrics: metrics[which],
    env: {},
    ...overrides,
  })
  const handle =
    body ?? (async (context) => downstreamAnswer(await context.tokenX.fetch('/resource'), context.tokenX) as Promise<APIGatewayProxyResult>)
  const viaMiddy = middy<unknown, APIGatewayProxyResult>()
    .use(tokenX(options('middy')))
    .handler((_event, context) => handle(context))
  const viaWrap = createTokenXHandlerCore(options('wrap')).wrap((_event: unknown, context) => handle(context))
  return { viaMiddy, viaWrap, metrics }
}

describe('createTokenXHandlerCore().wrap', () => {
  it('serves the handler with context.tokenX and answers its result', async () => {
    const { viaWrap, metrics } = both()
    const result = await viaWrap(v2Event(`Bearer ${token()}`), lambdaContext())
    expect(result).toMatchObject({ statusCode: 200 })
    expect(downstream.requests.at(-1)?.headers.authorization).toBe('Bearer downstream-token')
    expect(metrics.wrap.published).toBe(1)
  })

  it('puts the verified claims on context.citizen when inbound validation is on', async () => {
    const inbound = { idporten: { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: CLIENT_ID } }
    const core = createTokenXHandlerCore({
      audience: AUDIENCE,
      inbound,
      client: { clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwk: key.privateJwk },
      logger: false,
    })
    const handler = core.wrap(async (_event: unknown, context) => ({
      statusCode: 200,
      body: `${context.citizen.pid} ${context.tokenX.audience}`,
    }))
    expect(await handler(v2Event(`Bearer ${token()}`), lambdaContext())).toEqual({ statusCode: 200, body: `12345678910 ${AUDIENCE}` })
  })

  it.each<[string, number, () => Promise<Parameters<typeof both>>, () => Promise<string | undefined>]>([
    ['no bearer token', 401, async () => [{}], async () => undefined],
    [
      'a calling app not allowed',
      403,
      async () => [
        {
          inbound: {
            idporten: { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: CLIENT_ID },
            allowedClients: ['dev-gcp:team:other'],
          },
        },
      ],
      async () => `Bearer ${token()}`,
    ],
    ['a misconfigured function', 500, async () => [{ client: undefined }], async () => `Bearer ${token()}`],
    [
      'a downstream status the citizen must not see (thrown by the handler)',
      502,
      async () => {
        downstreamAnswers = () => ({ status: 500, body: 'boom' })
        return [{}]
      },
      async () => `Bearer ${token()}`,
    ],
  ])('answers %s with %i, the same answer as the middleware', async (_name, status, setup, authorization) => {
    const { viaMiddy, viaWrap, metrics } = both(...(await setup()))
    const event = v2Event(await authorization())
    const fromMiddy = await viaMiddy(event, lambdaContext())
    const fromWrap = await viaWrap(event, lambdaContext())
    expect(fromWrap).toMatchObject({ statusCode: status })
    expect(fromWrap).toEqual(fromMiddy)
    expect(metrics.wrap.published).toBe(1)
    expect(metrics.middy.published).toBe(1)
  })

  it('answers 504 when the exchange runs into the Lambda deadline, as the middleware does', async () => {
    tokenx.respond = () => ({ ...tokenAnswer('late'), delay: 5_000 })
    const { viaMiddy, viaWrap } = both({
      client: { clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwk: key.privateJwk, retries: 0, timeout: 10_000 },
    })
    const event = v2Event(`Bearer ${token()}`)
    const started = Date.now()
    const fromWrap = await viaWrap(event, lambdaContext(1_500))
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(fromWrap).toMatchObject({ statusCode: 504 })
    expect(fromWrap).toEqual(await viaMiddy(event, lambdaContext(1_500)))
  })

  it('releases the invocation (no deadline timer left) after success and after the handler throws', async () => {
    // Timers faked, TokenX and the downstream injected (no sockets, whose timers would count too):
    // what is left is the deadline timer an exchange starts, which only release() clears.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const metrics = countingMetrics()
      const core = createTokenXHandlerCore({
        audience: { audience: AUDIENCE, url: 'https://downstream.example' },
        client: {
          clientId: CLIENT_ID,
          tokenEndpoint: 'https://tokenx.example/token',
          privateJwk: key.privateJwk,
          retries: 0,
          fetch: async () => Response.json(tokenAnswer('downstream-token').body),
        },
        fetch: async () => new Response('{}', { status: 200 }),
        logger: false,
        metrics,
      })
      let fail = false
      const handler = core.wrap(async (_event: unknown, context) => {
        const response = await context.tokenX.fetch('/resource')
        if (fail) throw new Error('handler bug')
        return { statusCode: response.status, body: '' }
      })
      // Cold calls (a new citizen each): the exchange waits under the deadline, so its timer is started
      // and held by the Downstream until the invocation is released.
      expect(await handler(v2Event(`Bearer ${token({ pid: '1' })}`), lambdaContext(10_000))).toMatchObject({ statusCode: 200 })
      expect(vi.getTimerCount()).toBe(0)
      fail = true
      await expect(handler(v2Event(`Bearer ${token({ pid: '2' })}`), lambdaContext(10_000))).rejects.toThrow('handler bug')
      expect(vi.getTimerCount()).toBe(0)
      // Errors that are not the kit's are thrown on, and the invocation is ended all the same.
      expect(metrics.published).toBe(2)
    } finally {
      vi.useRealTimers()
    }
  })
})
