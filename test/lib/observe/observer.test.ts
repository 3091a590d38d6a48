/**
 * Logs, EMF metrics and spans from a scripted sequence of invocations — a miss, a hit, a retry, a key
 * reload, TokenX refusing the citizen, a request without a token — through the real middleware and
 * client against a token endpoint and a downstream API on 127.0.0.1.
 */
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { context as otelContext, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { publish, type KitEvents } from '../../../lib/events.ts'
import { createObserver } from '../../../lib/observe/observer.ts'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ConfigError,
  createTokenXHandlerCore,
  tokenX,
  type Downstream,
  type SecretsManagerLike,
  type TokenXOptions,
} from '../../../lib/index.ts'
import { createLogger, METRICS, type KitLogger, type MetricsLike, type TracerLike } from '../../../lib/observe.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { parseEmf, total, type ParsedEmf } from '../../helpers/emf.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { memoryLogger } from '../../helpers/logs.ts'
import { startServer, tokenAnswer, type Answer, type Recorded, type TestServer } from '../../helpers/servers.ts'

const CLIENT_ID = 'dev-gcp:team:app'
const AUDIENCE = 'dev-gcp:team:downstream'

let key: TestKey
let tokenx: TestServer
let downstream: TestServer
/** What TokenX answers next, in order; a plain token answer once the script runs out. */
let script: Array<(request: Recorded) => Answer> = []
let serial = 0
let out: string[] = []

beforeAll(async () => {
  key = await newTestKey('kid-observe')
  tokenx = await startServer((request) => (script.shift() ?? (() => tokenAnswer(`at.${++serial}`)))(request))
  downstream = await startServer(() => ({ status: 200, body: { ok: true } }))
})
afterAll(async () => {
  await tokenx.close()
  await downstream.close()
})
beforeEach(() => {
  script = []
  out = []
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk))
    return true
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** The same Secrets Manager secret on every load; counts loads. */
function secretsManager(): SecretsManagerLike & { loads: number } {
  const sm = {
    loads: 0,
    send: async () => {
      sm.loads += 1
      return { SecretString: JSON.stringify(key.privateJwk) }
    },
  }
  return sm
}

const clientOptions = (overrides: Partial<TokenXOptions> = {}): TokenXOptions => ({
  clientId: CLIENT_ID,
  tokenEndpoint: `${tokenx.url}/token`,
  privateJwkSecretId: 'tokenx/private-jwk',
  secretsManager: secretsManager(),
  retries: 1,
  retryBackoff: 1,
  ...overrides,
})

type Ctx = Context & { tokenX: Downstream }
type Observability = {
  logger?: KitLogger | false
  metrics?: MetricsLike | false
  tracer?: TracerLike | false
  env?: Record<string, string>
}

function handlerFor(observability: Observability) {
  return middy<unknown, APIGatewayProxyResult, Error, Ctx>()
    .use(tokenX({ audience: { audience: AUDIENCE, url: downstream.url }, client: clientOptions(), ...observability }))
    .handler(async (_event, context) => {
      const response = await context.tokenX.fetch(`${downstream.url}/resource`)
      return { statusCode: response.status, body: await response.text() }
    })
}

const invalidClient = (): Answer => ({ status: 401, body: { error: 'invalid_client', error_description: 'invalid client authentication' } })
const unavailable = (): Answer => ({ status: 503, body: 'busy' })
const subjectRefused = (): Answer => ({ status: 400, body: { error: 'invalid_request', error_description: 'token verification failed' } })

/**
 * The scripted sequence; returns the statuses answered. 1 miss, 2 hit, 3 retry after a 503,
 * 4 key reload after invalid_client, 5 TokenX refusing the citizen, 6 no token at all.
 */
async function runSequence(
  handler: ReturnType<typeof handlerFor>,
  contexts: Context[],
  around: (invoke: () => Promise<APIGatewayProxyResult>) => Promise<APIGatewayProxyResult> = (invoke) => invoke(),
): Promise<number[]> {
  const [a, b, c, d] = await Promise.all(['1', '2', '3', '4'].map((pid) => citizenToken(pid)))
  const steps: Array<[unknown, Array<() => Answer>]> = [
    [v2Event(`Bearer ${a}`), []],
    [v2Event(`Bearer ${a}`), []],
    [v2Event(`Bearer ${b}`), [unavailable]],
    [v2Event(`Bearer ${c}`), [invalidClient]],
    [v2Event(`Bearer ${d}`), [subjectRefused]],
    [v2Event(), []],
  ]
  const statuses: number[] = []
  for (const [event, answers] of steps) {
    script = [...answers]
    const context = lambdaContext<Ctx>()
    contexts.push(context)
    statuses.push((await around(() => handler(event, context))).statusCode)
  }
  return statuses
}

const emfLines = (): string[] => out.filter((line) => line.includes('"_aws"'))

/** A shared-cache event for AUDIENCE, taking 3 ms unless `more` says otherwise. */
function sharedCache(
  operation: KitEvents['shared-cache']['operation'],
  outcome: KitEvents['shared-cache']['outcome'],
  more: Partial<KitEvents['shared-cache']> = {},
): void {
  publish('shared-cache', () => ({ audience: AUDIENCE, operation, outcome, durationMs: 3, ...more }))
}

describe('EMF metrics (POWERTOOLS_METRICS_NAMESPACE)', () => {
  it('writes one valid record per invocation with the counts of the scripted sequence', async () => {
    const handler = handlerFor({
      logger: false,
      tracer: false,
      env: { POWERTOOLS_METRICS_NAMESPACE: 'TokenXKit', POWERTOOLS_SERVICE_NAME: 'orders' },
    })
    const contexts: Context[] = []
    expect(await runSequence(handler, contexts)).toEqual([200, 200, 200, 200, 401, 401])

    const lines = emfLines()
    expect(lines).toHaveLength(6)
    expect(out).toHaveLength(6)
    const records: ParsedEmf[] = lines.map(parseEmf)
    for (const [i, record] of records.entries()) {
      expect(record.namespace).toBe('TokenXKit')
      expect(record.dimensionSets).toEqual([['service'], ['service', 'audience']])
      expect(record.dimensions).toEqual({ service: 'orders', audience: AUDIENCE })
      expect(record.record['function_request_id']).toBe(contexts[i]?.awsRequestId)
      expect(total(record, 'Requests')).toBe(1)
    }
    const [miss, hit, retry, reload, refused, noToken] = records as [ParsedEmf, ParsedEmf, ParsedEmf, ParsedEmf, ParsedEmf, ParsedEmf]
    const counts = (record: ParsedEmf) =>
      Object.fromEntries(
        Object.entries(record.metrics)
          .filter(([, metric]) => metric.unit === 'Count')
          .map(([name]) => [name, total(record, name)]),
      )

    expect(counts(miss)).toEqual({ Requests: 1, CacheMisses: 1, Exchanges: 1, KeyLoads: 1 })
    expect(miss.metrics['ExchangeLatency']).toEqual({ unit: 'Milliseconds', values: [expect.any(Number)] })
    expect(miss.metrics['ExchangeLatency']?.values[0]).toBeGreaterThan(0)
    expect(miss.metrics['DownstreamLatency']?.unit).toBe('Milliseconds')
    expect(miss.record['downstreamStatus']).toBe(200)

    expect(counts(hit)).toEqual({ Requests: 1, CacheHits: 1 })
    expect(hit.metrics['ExchangeLatency']).toBeUndefined()
    expect(hit.metrics['DownstreamLatency']?.values).toHaveLength(1)

    expect(counts(retry)).toEqual({ Requests: 1, CacheMisses: 1, Exchanges: 1, ExchangeRetries: 1 })
    expect(counts(reload)).toEqual({ Requests: 1, CacheMisses: 1, Exchanges: 1, ExchangeRetries: 1, KeyLoads: 1 })
    expect(counts(refused)).toEqual({
      Requests: 1,
      CacheMisses: 1,
      Exchanges: 1,
      ExchangeFailures: 1,
      Errors: 1,
      Errors_ERR_SUBJECT_TOKEN_REJECTED: 1,
    })
    expect(refused.metrics['DownstreamLatency']).toBeUndefined()
    expect(counts(noToken)).toEqual({ Requests: 1, Errors: 1, Errors_ERR_BEARER_TOKEN: 1 })
  })

  it('writes nothing when neither the namespace nor an instance is given, or metrics is false', async () => {
    const citizen = await citizenToken('5')
    await handlerFor({ logger: false, tracer: false, env: {} })(v2Event(`Bearer ${citizen}`), lambdaContext())
    await handlerFor({ logger: false, tracer: false, metrics: false, env: { POWERTOOLS_METRICS_NAMESPACE: 'X' } })(
      v2Event(`Bearer ${citizen}`),
      lambdaContext(),
    )
    expect(out).toEqual([])
  })

  it("flushes on error too, including errors that are not the kit's", async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, Ctx>()
      .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger: false, env: { POWERTOOLS_METRICS_NAMESPACE: 'N' } }))
      .handler(async () => {
        throw new Error('handler bug')
      })
    await expect(handler(v2Event(`Bearer ${await citizenToken('6')}`), lambdaContext())).rejects.toThrow('handler bug')
    const [record] = emfLines().map(parseEmf)
    expect(total(record!, 'Requests')).toBe(1)
    expect(total(record!, 'Errors')).toBe(0)
  })

  it('keeps only the service dimension for several audiences, and the core flushes on end()', async () => {
    const core = createTokenXHandlerCore({
      audience: { one: 'dev-gcp:team:one', two: 'dev-gcp:team:two' },
      client: clientOptions(),
      logger: false,
      env: { POWERTOOLS_METRICS_NAMESPACE: 'N' },
    })
    await core.authorize(v2Event(`Bearer ${await citizenToken('7')}`), lambdaContext())
    expect(emfLines()).toEqual([])
    core.end()
    core.end()
    const records = emfLines().map(parseEmf)
    expect(records).toHaveLength(1)
    expect(records[0]?.dimensionSets).toEqual([['service']])
    expect(records[0]?.dimensions).toEqual({ service: 'service_undefined' })
    expect(total(records[0]!, 'Exchanges')).toBe(2)
    expect(records[0]?.metrics['ExchangeLatency']?.values).toHaveLength(2)
  })
})

describe('a Powertools Metrics instance', () => {
  let published = 0
  it("receives the kit's metrics, published by its owner: one valid record per invocation", async () => {
    const metrics = new Metrics({ namespace: 'PowertoolsNs', serviceName: 'orders' })
    const handler = handlerFor({ logger: false, tracer: false, metrics })
    await runSequence(handler, [], async (invoke) => {
      const answer = await invoke()
      // The kit never publishes an instance it was given; its owner does (here: after each invocation).
      expect(emfLines()).toHaveLength(published)
      metrics.publishStoredMetrics()
      published += 1
      return answer
    })
    const records = emfLines().map(parseEmf)
    expect(records).toHaveLength(6)
    expect(records.every((record) => record.namespace === 'PowertoolsNs' && record.dimensions['service'] === 'orders')).toBe(true)
    expect(records.map((record) => total(record, 'CacheHits'))).toEqual([0, 1, 0, 0, 0, 0])
    expect(records.map((record) => total(record, 'ExchangeRetries'))).toEqual([0, 0, 1, 1, 0, 0])
    expect(records.map((record) => total(record, 'KeyLoads'))).toEqual([1, 0, 0, 1, 0, 0])
    expect(records[4]?.metrics['Errors_ERR_SUBJECT_TOKEN_REJECTED']?.unit).toBe('Count')
    expect(records[0]?.metrics['ExchangeLatency']?.unit).toBe('Milliseconds')
  })
})

describe('the publishing of a metrics instance the kit was given', () => {
  const sink = (hasStoredMetrics?: () => boolean) => {
    const calls: unknown[] = []
    const metrics: MetricsLike = {
      addMetric: (name, unit, value) => void calls.push([name, unit, value]),
      publishStoredMetrics: () => void calls.push('publish'),
      ...(hasStoredMetrics === undefined ? {} : { hasStoredMetrics }),
    }
    return { metrics, calls }
  }
  const observe = (metrics: MetricsLike) => {
    const observer = createObserver({ logger: undefined, metrics, tracer: undefined, serviceName: 's', audience: undefined })
    observer.begin(undefined)
    publish('cache', () => ({ audience: AUDIENCE, hit: true }))
    observer.end()
  }

  it('is left to its owner: the kit adds Requests when the invocation begins, its other figures when it ends', () => {
    const { metrics, calls } = sink()
    observe(metrics)
    expect(calls).toStrictEqual([
      ['Requests', 'Count', 1],
      ['CacheHits', 'Count', 1],
    ])
    const stored = sink(() => true)
    observe(stored.metrics)
    expect(stored.calls).toStrictEqual([
      ['Requests', 'Count', 1],
      ['CacheHits', 'Count', 1],
    ])
  })

  it("is the kit's for its own figures when the instance was published before the invocation ended, with one warning", async () => {
    const warnings: Array<Error & { code?: string }> = []
    const listener = (warning: Error & { code?: string }) => void warnings.push(warning)
    process.on('warning', listener)
    try {
      for (let i = 0; i < 2; i++) {
        const { metrics, calls } = sink(() => false)
        observe(metrics)
        expect(calls).toStrictEqual([['Requests', 'Count', 1], ['CacheHits', 'Count', 1], 'publish'])
      }
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off('warning', listener)
    }
    expect(warnings.filter((warning) => warning.code === 'TOKENX_METRICS_ORDER')).toHaveLength(1)
  })
})

describe('logs', () => {
  it("the kit's JSON logger: key loads, retries, refusals and errors in Powertools' shape, with the invocation's context", async () => {
    const handler = handlerFor({ tracer: false, env: { POWERTOOLS_SERVICE_NAME: 'orders' } })
    const contexts: Context[] = []
    await runSequence(handler, contexts)
    const lines = out.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(out.every((line) => line.endsWith('}\n') && line.indexOf('\n') === line.length - 1)).toBe(true)
    expect(lines.map((line) => [line['level'], line['message']])).toEqual([
      ['INFO', 'signing key loaded'],
      ['WARN', 'token exchange retried'],
      ['WARN', 'token exchange retried'],
      ['INFO', 'signing key reloaded'],
      ['WARN', 'token exchange failed'],
      ['WARN', 'request refused'],
      ['WARN', 'request refused'],
    ])
    expect(lines[0]).toMatchObject({
      service: 'orders',
      kid: 'kid-observe',
      source: 'secrets-manager',
      reason: 'initial',
      cold_start: expect.any(Boolean),
      function_name: 'tokenx-handler-kit-dev-resource',
      function_request_id: contexts[0]?.awsRequestId,
      function_memory_size: 512,
    })
    expect(new Date(String(lines[0]?.['timestamp'])).toISOString()).toBe(lines[0]?.['timestamp'])
    expect(lines[1]).toMatchObject({
      audience: AUDIENCE,
      attempt: 1,
      code: 'ERR_TOKEN_ENDPOINT',
      tokenEndpointStatus: 503,
      function_request_id: contexts[2]?.awsRequestId,
    })
    expect(lines[2]).toMatchObject({ code: 'ERR_CLIENT_REJECTED', tokenEndpointStatus: 401, upstreamError: 'invalid_client' })
    expect(lines[3]).toMatchObject({ reason: 'refused', kid: 'kid-observe' })
    expect(lines[4]).toMatchObject({ code: 'ERR_SUBJECT_TOKEN_REJECTED', attempts: 1, tokenEndpointStatus: 400 })
    expect(lines[5]).toMatchObject({
      code: 'ERR_SUBJECT_TOKEN_REJECTED',
      status: 401,
      tokenEndpointStatus: 400,
      upstreamError: 'invalid_request',
      detail: expect.any(String),
    })
    expect(lines[6]).toMatchObject({ code: 'ERR_BEARER_TOKEN', status: 401, function_request_id: contexts[5]?.awsRequestId })
  })

  it('debug adds cache hits and misses, exchanges and downstream answers', async () => {
    const logger = memoryLogger()
    const debugLogger = Object.assign(logger, { getLevelName: () => 'DEBUG' })
    await runSequence(handlerFor({ tracer: false, logger: debugLogger }), [])
    const messages = logger.lines.map((line) => line.message)
    expect(messages.filter((m) => m === 'token cache miss')).toHaveLength(4)
    expect(messages.filter((m) => m === 'token cache hit')).toHaveLength(1)
    expect(messages.filter((m) => m === 'token exchanged')).toHaveLength(3)
    expect(messages.filter((m) => m === 'downstream answered')).toHaveLength(4)
    expect(logger.lines.find((line) => line.message === 'downstream answered')).toMatchObject({
      level: 'debug',
      status: 200,
      audience: AUDIENCE,
    })
  })

  it('logs a downstream request that got no answer once, at WARN, whether or not the handler catches it', async () => {
    const logger = memoryLogger()
    const handler = middy<unknown, APIGatewayProxyResult, Error, Ctx>()
      .use(tokenX({ audience: { audience: AUDIENCE, url: 'http://127.0.0.1:9/' }, client: clientOptions(), logger, tracer: false }))
      .handler(async (_event, context) => {
        // Port 9 (discard) refuses on 127.0.0.1: ERR_DOWNSTREAM_UNAVAILABLE, caught here.
        const failure = await context.tokenX.fetch('resource').then(
          () => undefined,
          (err: unknown) => err,
        )
        return { statusCode: 200, body: (failure as { code?: string } | undefined)?.code ?? 'answered' }
      })
    const answer = await handler(v2Event(`Bearer ${await citizenToken('30')}`), lambdaContext())
    expect(answer.body).toBe('ERR_DOWNSTREAM_UNAVAILABLE')
    const failed = logger.lines.filter((line) => line.message === 'downstream request failed')
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({
      level: 'warn',
      audience: AUDIENCE,
      status: 0,
      code: 'ERR_DOWNSTREAM_UNAVAILABLE',
      durationMs: expect.any(Number),
    })
  })

  it('a logger that does not say its level gets no debug lines', async () => {
    const logger = memoryLogger()
    await runSequence(handlerFor({ tracer: false, logger }), [])
    expect(logger.lines.some((line) => line.level === 'debug')).toBe(false)
    expect(logger.lines.filter((line) => line.level !== 'debug')).toHaveLength(7)
  })

  it('a Powertools Logger works as is', async () => {
    const errors: string[] = []
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (errors.push(String(chunk)), true))
    const logger = new Logger({ serviceName: 'orders', logLevel: 'DEBUG' })
    await runSequence(handlerFor({ tracer: false, logger }), [])
    const lines = [...out, ...errors].map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines.find((line) => line['message'] === 'signing key loaded')).toMatchObject({
      level: 'INFO',
      service: 'orders',
      kid: 'kid-observe',
    })
    expect(lines.find((line) => line['message'] === 'token cache hit')).toMatchObject({ level: 'DEBUG', audience: AUDIENCE })
    expect(lines.filter((line) => line['message'] === 'request refused')).toHaveLength(2)
  })

  it('logger: false logs nothing; a bad logger is a TypeError', async () => {
    await runSequence(handlerFor({ tracer: false, logger: false }), [])
    expect(out).toEqual([])
    expect(() => tokenX({ audience: AUDIENCE, logger: (() => undefined) as unknown as KitLogger })).toThrow(TypeError)
    expect(() => tokenX({ audience: AUDIENCE, metrics: {} as MetricsLike })).toThrow(TypeError)
    expect(() => tokenX({ audience: AUDIENCE, tracer: {} as TracerLike })).toThrow(TypeError)
    expect(() => tokenX({ audience: AUDIENCE, serviceName: '' })).toThrow(TypeError)
  })

  it('an error answered without authorize (respond alone) is still logged once', () => {
    const logger = memoryLogger()
    const core = createTokenXHandlerCore({ audience: AUDIENCE, client: clientOptions(), logger, tracer: false })
    expect(core.respond(new Error('not ours'))).toBeUndefined()
    expect(core.respond(new ConfigError('TOKEN_X_CLIENT_ID is not set'))?.statusCode).toBe(500)
    // Events outside any invocation of this core are not its to log.
    publish('error', () => ({ code: 'ERR_CONFIG', statusCode: 500, detail: 'outside any invocation' }))
    expect(logger.lines).toEqual([expect.objectContaining({ level: 'error', message: 'request failed', code: 'ERR_CONFIG', status: 500 })])
  })

  it('the kit logger created for the function gets its context when passed in', async () => {
    const lines: string[] = []
    const logger = createLogger({ write: (line) => void lines.push(line), env: {} })
    const context = lambdaContext<Ctx>()
    await handlerFor({ tracer: false, logger })(v2Event(), context)
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'WARN',
      message: 'request refused',
      function_request_id: context.awsRequestId,
      service: 'service_undefined',
    })
  })
})

// Issue 18: a downstream 401 used to be re-exchanged silently.
describe('a downstream 401 to the token', () => {
  afterEach(() => {
    downstream.respond = () => ({ status: 200, body: { ok: true } })
  })

  /** The kit's own JSON logger and EMF records, both on stdout, as a function has them by default. */
  const invokeOnce = async () => {
    const handler = handlerFor({ tracer: false, env: { POWERTOOLS_METRICS_NAMESPACE: 'TokenXKit', POWERTOOLS_SERVICE_NAME: 'orders' } })
    const result = await handler(v2Event(`Bearer ${await citizenToken('40')}`), lambdaContext())
    const lines = out.filter((line) => !line.includes('"_aws"')).map((line) => JSON.parse(line) as Record<string, unknown>)
    return { result, lines, record: emfLines().map(parseEmf)[0]! }
  }

  it('dropped and exchanged again: a WARN line and DownstreamTokenRefused, with no token in either', async () => {
    const refused = new Set<string>()
    downstream.respond = (request) => {
      const bearer = String(request.headers.authorization)
      // The first token is refused, whichever it is; its challenge echoes it, as a hostile API might.
      if (refused.size === 0) refused.add(bearer)
      return refused.has(bearer)
        ? {
            status: 401,
            body: bearer,
            headers: { 'www-authenticate': `Bearer error="invalid_token", error_description="${bearer} expired"` },
          }
        : { status: 200, body: { ok: true } }
    }
    const { result, lines, record } = await invokeOnce()
    expect(result.statusCode).toBe(200)
    const warn = lines.filter((line) => line['message'] === 'downstream refused the token')
    expect(warn).toEqual([
      expect.objectContaining({
        level: 'WARN',
        service: 'orders',
        audience: AUDIENCE,
        status: 401,
        error: 'invalid_token',
        action: 'retry',
      }),
    ])
    expect(total(record, 'DownstreamTokenRefused')).toBe(1)
    expect(total(record, 'Exchanges')).toBe(2)
    expect(METRICS.DownstreamTokenRefused).toBe('Count')
    for (const text of [...out, JSON.stringify(warn)]) expect(text).not.toMatch(/at\.\d+/)
  })

  it('insufficient_user_authentication: an INFO line, not counted, no new exchange', async () => {
    downstream.respond = () => ({
      status: 401,
      body: '',
      headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="idporten-loa-high"' },
    })
    const { result, lines, record } = await invokeOnce()
    expect(result.statusCode).toBe(401)
    expect(lines.filter((line) => String(line['message']).startsWith('downstream'))).toEqual([
      expect.objectContaining({
        level: 'INFO',
        message: 'downstream asked for a higher login level',
        audience: AUDIENCE,
        error: 'insufficient_user_authentication',
        action: 'keep',
      }),
    ])
    expect(total(record, 'DownstreamTokenRefused')).toBe(0)
    expect(total(record, 'Exchanges')).toBe(1)
  })
})

describe('events of the other modules (validation, JWKS, shared cache), published here as they will be', () => {
  it('become lines and counts of the open invocation only', async () => {
    const logger = memoryLogger()
    const core = createTokenXHandlerCore({
      audience: AUDIENCE,
      client: clientOptions(),
      logger,
      tracer: false,
      env: { POWERTOOLS_METRICS_NAMESPACE: 'N' },
    })
    // Outside an invocation: not this core's.
    publish('validation.refused', () => ({ code: 'ERR_BEARER_TOKEN', reason: 'expired' }))
    await core.authorize(v2Event(`Bearer ${await citizenToken('8')}`), lambdaContext())
    publish('validation.refused', () => ({ code: 'ERR_BEARER_TOKEN', reason: 'acr too low', issuer: 'https://idporten.example' }))
    publish('jwks.fetch', () => ({ issuer: 'https://idporten.example', durationMs: 12.34, ok: false, errorName: 'TimeoutError' }))
    sharedCache('get', 'hit')
    sharedCache('get', 'miss')
    sharedCache('put', 'error', { errorName: 'ThrottlingException' })
    sharedCache('get', 'rejected', { errorName: 'UnauthenticItem' })
    sharedCache('put', 'skipped', { durationMs: 0 })
    sharedCache('get', 'miss', { breaker: 'closed' })
    core.end()
    publish('jwks.fetch', () => ({ issuer: 'https://late.example', durationMs: 1, ok: false }))
    expect(logger.lines.filter((line) => line.message !== 'signing key loaded')).toEqual([
      {
        level: 'info',
        message: 'inbound token refused',
        code: 'ERR_BEARER_TOKEN',
        reason: 'acr too low',
        issuer: 'https://idporten.example',
      },
      { level: 'warn', message: 'JWKS fetch failed', issuer: 'https://idporten.example', durationMs: 12.3, errorName: 'TimeoutError' },
      {
        level: 'warn',
        message: 'shared cache failed',
        audience: AUDIENCE,
        operation: 'put',
        outcome: 'error',
        durationMs: 3,
        errorName: 'ThrottlingException',
      },
      {
        level: 'warn',
        message: 'shared cache item refused',
        audience: AUDIENCE,
        operation: 'get',
        outcome: 'rejected',
        durationMs: 3,
        errorName: 'UnauthenticItem',
      },
      {
        level: 'info',
        message: 'shared cache answering again',
        audience: AUDIENCE,
        operation: 'get',
        outcome: 'miss',
        durationMs: 3,
        breaker: 'closed',
      },
    ])
    const [record] = emfLines().map(parseEmf)
    expect([total(record!, 'SharedCacheHits'), total(record!, 'SharedCacheMisses'), total(record!, 'SharedCacheErrors')]).toEqual([1, 2, 1])
    expect([total(record!, 'SharedCacheRejected'), total(record!, 'SharedCacheSkipped')]).toEqual([1, 1])
  })
})

describe('a failing logger or metrics instance', () => {
  it('never fails the request; it is reported once as a process warning', async () => {
    const warnings: Array<Error & { code?: string }> = []
    const listener = (warning: Error & { code?: string }) => void warnings.push(warning)
    process.on('warning', listener)
    try {
      const throwing = () => {
        throw new Error('logger down')
      }
      const logger = { debug: throwing, info: throwing, warn: throwing, error: throwing }
      const metrics = { addMetric: throwing, publishStoredMetrics: throwing }
      const statuses = await runSequence(handlerFor({ logger, metrics, tracer: false }), [])
      expect(statuses).toEqual([200, 200, 200, 200, 401, 401])
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.filter((warning) => warning.code === 'TOKENX_OBSERVABILITY')).toHaveLength(1)
    } finally {
      process.off('warning', listener)
    }
  })
})

describe('traces', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager()
  beforeAll(() => {
    contextManager.enable()
    otelContext.setGlobalContextManager(contextManager)
  })
  afterAll(() => {
    otelContext.disable()
  })
  beforeEach(() => exporter.reset())

  /** Each invocation inside an active span, as the ADOT Lambda instrumentation runs the handler. */
  const inInvocationSpan = (invoke: () => Promise<APIGatewayProxyResult>) =>
    provider.getTracer('lambda').startActiveSpan('invocation', async (span) => {
      try {
        return await invoke()
      } finally {
        span.end()
      }
    })

  function check(spans: ReadableSpan[]): void {
    const byName = (name: string) => spans.filter((span) => span.name === name)
    const exchanges = byName('tokenx.exchange')
    // Misses only: a hit is marked on the invocation's span instead (a span of its own would cost more than the hit).
    expect(exchanges.map((span) => [span.attributes['tokenx.cache_hit'], span.attributes['tokenx.attempts']])).toEqual([
      [false, 1],
      [false, 2],
      [false, 2],
      [false, 1],
    ])
    for (const span of exchanges) {
      expect(span.duration[0] * 1000 + span.duration[1] / 1e6).toBeGreaterThan(0)
      expect(span.attributes['tokenx.audience']).toBe(AUDIENCE)
    }
    expect(exchanges[3]?.status).toMatchObject({ code: 2, message: 'ERR_SUBJECT_TOKEN_REJECTED' })
    expect(exchanges[3]?.attributes['http.response.status_code']).toBe(400)
    expect(byName('tokenx.key.load').map((span) => span.attributes['tokenx.key.reason'])).toEqual(['initial', 'refused'])
    expect(byName('tokenx.key.load')[0]?.attributes['tokenx.key.kid']).toBe('kid-observe')
    expect(byName('tokenx.downstream').map((span) => span.attributes['http.response.status_code'])).toEqual([200, 200, 200, 200])
    const invocations = byName('invocation')
    expect(invocations.map((span) => span.attributes['tokenx.cache_hit'])).toEqual([false, true, false, false, false, undefined])
    // The kit's spans are children of the invocation they happened in.
    const first = invocations[0]?.spanContext().spanId
    expect(exchanges[0]?.parentSpanContext?.spanId).toBe(first)
    expect(byName('tokenx.downstream')[0]?.parentSpanContext?.spanId).toBe(first)
  }

  it('spans for key loads, exchanges (attempts, cache hit) and downstream calls, through a passed tracer', async () => {
    await runSequence(handlerFor({ logger: false, tracer: provider.getTracer('test') }), [], inInvocationSpan)
    check(exporter.getFinishedSpans())
  })

  it('through the globally registered provider when none is passed; none without one', async () => {
    await runSequence(handlerFor({ logger: false }), [], inInvocationSpan)
    expect(exporter.getFinishedSpans().filter((span) => span.name.startsWith('tokenx.'))).toEqual([])
    trace.setGlobalTracerProvider(provider)
    try {
      exporter.reset()
      await runSequence(handlerFor({ logger: false }), [], inInvocationSpan)
      check(exporter.getFinishedSpans())
      exporter.reset()
      await runSequence(handlerFor({ logger: false, tracer: false }), [], inInvocationSpan)
      expect(exporter.getFinishedSpans().filter((span) => span.name.startsWith('tokenx.'))).toEqual([])
    } finally {
      trace.disable()
    }
  })
})

describe('EMF records, byte for byte', () => {
  // Pins the exact bytes written for scripted events (member order, units, dimension sets, the
  // 100-values cap, escaping), so that a faster recorder or serializer cannot change the output.
  const NOW = 1_790_000_000_123
  const observer = (audience: string | undefined, lines: string[]) =>
    createObserver({
      logger: undefined,
      metrics: { namespace: 'Team "A"/TokenX' },
      tracer: undefined,
      serviceName: 'orders\\1',
      audience,
      write: (line) => void lines.push(line),
    })

  it('for a miss with retry, key load and error, a hit, downstream calls, shared cache and overlapping invocations', () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW)
    const lines: string[] = []
    const one = observer(AUDIENCE, lines)
    one.begin({ awsRequestId: 'req-"1"\u2028' })
    publish('cache', () => ({ audience: AUDIENCE, hit: false }))
    publish('key.load', () => ({ source: 'secrets-manager', reason: 'initial', durationMs: 40.5, kid: 'k1' }))
    publish('exchange.retry', () => ({ audience: AUDIENCE, attempt: 1, code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', tokenEndpointStatus: 503 }))
    publish('key.load', () => ({ source: 'secrets-manager', reason: 'refused', durationMs: 3, code: 'ERR_KEY' }))
    publish('exchange', () => ({
      audience: AUDIENCE,
      durationMs: 123.45678,
      attempts: 2,
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      tokenEndpointStatus: 503,
    }))
    publish('error', () => ({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', statusCode: 502, detail: 'd' }))
    one.end()

    one.begin({ awsRequestId: 'req-2' })
    publish('cache', () => ({ audience: AUDIENCE, hit: true }))
    publish('downstream', () => ({ audience: AUDIENCE, status: 200, durationMs: 2.0004 }))
    one.end()

    one.begin({ awsRequestId: 'req-3' })
    publish('cache', () => ({ audience: AUDIENCE, hit: true }))
    publish('downstream', () => ({ audience: AUDIENCE, status: 200, durationMs: 0.1 + 0.2 }))
    publish('downstream', () => ({ audience: AUDIENCE, status: 0, durationMs: 1000, code: 'ERR_DOWNSTREAM_UNAVAILABLE' }))
    publish('downstream', () => ({ audience: AUDIENCE, status: 503, durationMs: 7 }))
    for (let i = 0; i < 101; i++) publish('exchange', () => ({ audience: AUDIENCE, durationMs: i, attempts: 1, tokenEndpointStatus: 200 }))
    one.end()

    one.begin(undefined)
    sharedCache('get', 'miss')
    sharedCache('put', 'error', { errorName: 'ThrottlingException' })
    sharedCache('get', 'hit')
    sharedCache('get', 'rejected', { errorName: 'UnauthenticItem' })
    sharedCache('put', 'skipped', { durationMs: 0 })
    publish('error', () => ({ code: 'ERR_BEARER_TOKEN', statusCode: 401, detail: 'd' }))
    publish('error', () => ({ code: 'ERR_KEY', statusCode: 500, detail: 'd' }))
    publish('error', () => ({ code: 'ERR_BEARER_TOKEN', statusCode: 401, detail: 'd' }))
    one.end()

    // Overlapping invocations: the second begin's figures land in the record the first end writes;
    // a downstream call between then goes first in the next record, before its request id.
    one.begin({ awsRequestId: 'req-4' })
    one.begin({ awsRequestId: 'req-5' })
    one.end()
    publish('downstream', () => ({ audience: AUDIENCE, status: 204, durationMs: 5 }))
    one.begin({ awsRequestId: 'req-6' })
    one.end()
    one.end()

    // Several audiences: the service dimension alone.
    const two = observer(undefined, lines)
    two.begin({ awsRequestId: 'req-7' })
    publish('cache', () => ({ audience: AUDIENCE, hit: true }))
    two.end()

    for (const line of lines) parseEmf(line)
    expect(lines).toEqual([
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"CacheMisses","Unit":"Count"},{"Name":"KeyLoads","Unit":"Count"},{"Name":"ExchangeRetries","Unit":"Count"},{"Name":"Exchanges","Unit":"Count"},{"Name":"ExchangeFailures","Unit":"Count"},{"Name":"Errors","Unit":"Count"},{"Name":"Errors_ERR_TOKEN_ENDPOINT_UNAVAILABLE","Unit":"Count"},{"Name":"ExchangeLatency","Unit":"Milliseconds"}]}]},"function_request_id":"req-\\"1\\"\u2028","service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":1,"CacheMisses":1,"KeyLoads":2,"ExchangeRetries":1,"Exchanges":1,"ExchangeFailures":1,"Errors":1,"Errors_ERR_TOKEN_ENDPOINT_UNAVAILABLE":1,"ExchangeLatency":123.457}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"CacheHits","Unit":"Count"},{"Name":"DownstreamLatency","Unit":"Milliseconds"}]}]},"function_request_id":"req-2","downstreamStatus":200,"service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":1,"CacheHits":1,"DownstreamLatency":2}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"CacheHits","Unit":"Count"},{"Name":"Exchanges","Unit":"Count"},{"Name":"DownstreamLatency","Unit":"Milliseconds"},{"Name":"ExchangeLatency","Unit":"Milliseconds"}]}]},"function_request_id":"req-3","downstreamStatus":503,"service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":1,"CacheHits":1,"Exchanges":101,"DownstreamLatency":[0.3,1000,7],"ExchangeLatency":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70,71,72,73,74,75,76,77,78,79,80,81,82,83,84,85,86,87,88,89,90,91,92,93,94,95,96,97,98,99]}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"SharedCacheMisses","Unit":"Count"},{"Name":"SharedCacheErrors","Unit":"Count"},{"Name":"SharedCacheHits","Unit":"Count"},{"Name":"SharedCacheRejected","Unit":"Count"},{"Name":"SharedCacheSkipped","Unit":"Count"},{"Name":"Errors","Unit":"Count"},{"Name":"Errors_ERR_BEARER_TOKEN","Unit":"Count"},{"Name":"Errors_ERR_KEY","Unit":"Count"}]}]},"service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":1,"SharedCacheMisses":1,"SharedCacheErrors":1,"SharedCacheHits":1,"SharedCacheRejected":1,"SharedCacheSkipped":1,"Errors":3,"Errors_ERR_BEARER_TOKEN":2,"Errors_ERR_KEY":1}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},"function_request_id":"req-5","service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":2}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"],["service","audience"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"DownstreamLatency","Unit":"Milliseconds"}]}]},"downstreamStatus":204,"function_request_id":"req-6","service":"orders\\\\1","audience":"dev-gcp:team:downstream","Requests":1,"DownstreamLatency":5}\n',
      '{"_aws":{"Timestamp":1790000000123,"CloudWatchMetrics":[{"Namespace":"Team \\"A\\"/TokenX","Dimensions":[["service"]],"Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"CacheHits","Unit":"Count"}]}]},"function_request_id":"req-7","service":"orders\\\\1","Requests":1,"CacheHits":1}\n',
    ])
  })
})
