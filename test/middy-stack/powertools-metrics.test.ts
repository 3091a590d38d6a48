/**
 * The app's Powertools `Metrics` given to the kit (`metrics`), with Powertools' own `logMetrics` in
 * the stack: one EMF record per invocation on stdout, holding the app's metrics and the kit's, in
 * every outcome (200, 401, 503); with `logMetrics` used after tokenX() (it publishes before the kit
 * ends the invocation), nothing is lost or put in the next invocation's record, and the kit warns.
 */
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import middy, { type MiddlewareObj } from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import type { APIGatewayProxyResult } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenX } from 'tokenx-handler-kit'
import {
  AUDIENCE,
  capture,
  citizenToken,
  CLIENT_ID,
  closedEndpoint,
  httpEvent,
  lambdaContext,
  newKey,
  powertools,
  startTokenEndpoint,
  type KeyPair,
  type StackContext,
  type TokenEndpoint,
} from './support.ts'

let clientKey: KeyPair
let issuer: KeyPair
let tokenEndpoint: TokenEndpoint
let downUrl: string

beforeAll(async () => {
  ;[clientKey, issuer] = await Promise.all([newKey('app-key'), newKey('idporten-key')])
  tokenEndpoint = await startTokenEndpoint(issuer)
  downUrl = await closedEndpoint()
  powertools() // POWERTOOLS_METRICS_NAMESPACE and the rest, as a function configures them
})
afterAll(async () => {
  await tokenEndpoint.close()
})

type AnyMiddleware = MiddlewareObj<any, any, any, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** A stack with logMetrics before (as recommended) or after tokenX(), the app adding a metric of its own. */
function handlerWith(where: 'before' | 'after', metrics: Metrics, url = tokenEndpoint.url) {
  const kit = tokenX({
    audience: AUDIENCE,
    client: { clientId: CLIENT_ID, tokenEndpoint: url, privateJwk: clientKey.privateJwk, retries: 0 },
    metrics,
    logger: false,
    tracer: false,
  })
  // throwOnEmptyMetrics: Powertools throws when it finds nothing to publish (e.g. someone published first).
  const publisher = logMetrics(metrics, { throwOnEmptyMetrics: true }) as AnyMiddleware
  let handler = middy<unknown, APIGatewayProxyResult, Error, StackContext>().use(httpErrorHandler())
  handler = where === 'before' ? handler.use(publisher).use(kit as AnyMiddleware) : handler.use(kit as AnyMiddleware).use(publisher)
  return handler.handler(async () => {
    metrics.addMetric('served', MetricUnit.Count, 1)
    return { statusCode: 200, body: '{}' }
  })
}

interface Emf {
  readonly [name: string]: unknown
}

/** The EMF records (JSON lines with `_aws`) among what was written. */
function emfRecords(texts: readonly string[]): Emf[] {
  return texts
    .flatMap((text) => text.split('\n'))
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Emf)
}

function metricNames(record: Emf): string[] {
  const directive = (record['_aws'] as { CloudWatchMetrics: Array<{ Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics[0]!
  return directive.Metrics.map((metric) => metric.Name).sort()
}

async function invoke(handler: ReturnType<typeof handlerWith>, authorization: string | undefined) {
  const logs = capture()
  try {
    const result = await handler(httpEvent('v2', authorization), lambdaContext<StackContext>())
    await new Promise((resolve) => setImmediate(resolve))
    return { result, records: emfRecords(logs.texts), texts: logs.texts, warnings: logs.warnings }
  } finally {
    logs.stop()
  }
}

describe('logMetrics(metrics) used before tokenX({ metrics })', () => {
  it("writes one EMF record per invocation, the app's metrics and the kit's in it, whatever the outcome", async () => {
    const metrics = new Metrics()
    const handler = handlerWith('before', metrics)
    const valid = `Bearer ${await citizenToken(issuer, '12345678910')}`

    const exchanged = await invoke(handler, valid)
    expect(exchanged.result.statusCode).toBe(200)
    expect(exchanged.records).toHaveLength(1)
    expect(metricNames(exchanged.records[0]!)).toStrictEqual([
      'CacheMisses',
      'ExchangeLatency',
      'Exchanges',
      'KeyLoads',
      'Requests',
      'served',
    ])
    expect(exchanged.records[0]).toMatchObject({ Requests: 1, Exchanges: 1, KeyLoads: 1, served: 1 })

    const hit = await invoke(handler, valid)
    expect(hit.result.statusCode).toBe(200)
    expect(hit.records).toHaveLength(1)
    expect(metricNames(hit.records[0]!)).toStrictEqual(['CacheHits', 'Requests', 'served'])

    const refused = await invoke(handler, undefined)
    expect(refused.result.statusCode).toBe(401)
    expect(refused.records).toHaveLength(1)
    expect(refused.records[0]).toMatchObject({ Requests: 1, Errors: 1, Errors_ERR_BEARER_TOKEN: 1 })

    const down = await invoke(handlerWith('before', metrics, downUrl), valid.replace(/.$/, 'x'))
    expect(down.result.statusCode).toBeGreaterThanOrEqual(400)
    expect(down.records).toHaveLength(1)
    expect(down.records[0]).toMatchObject({ Requests: 1, Errors: 1 })

    // Powertools found the kit's metrics still there to publish each time: no empty-metrics complaint.
    for (const run of [exchanged, hit, refused, down]) {
      expect(run.texts.join('\n')).not.toMatch(/No application metrics to publish/)
      expect(run.warnings.filter((warning) => warning.code === 'TOKENX_METRICS_ORDER')).toStrictEqual([])
    }
  })
})

describe('logMetrics(metrics) used after tokenX({ metrics })', () => {
  it('publishes first; the kit then publishes its own metrics of that invocation, and warns once', async () => {
    const metrics = new Metrics()
    const handler = handlerWith('after', metrics)
    const valid = `Bearer ${await citizenToken(issuer, '12345678911')}`
    const first = await invoke(handler, valid)
    expect(first.result.statusCode).toBe(200)
    expect(first.records).toHaveLength(2)
    expect(metricNames(first.records[0]!)).toStrictEqual(['Requests', 'served'])
    expect(metricNames(first.records[1]!)).toStrictEqual(['CacheMisses', 'ExchangeLatency', 'Exchanges', 'KeyLoads'])
    expect(first.warnings.filter((warning) => warning.code === 'TOKENX_METRICS_ORDER')).toHaveLength(1)

    // Nothing of the first invocation is left for the second one's record.
    const second = await invoke(handler, valid)
    expect(second.records.map(metricNames)).toStrictEqual([['Requests', 'served'], ['CacheHits']])
    expect(second.warnings.filter((warning) => warning.code === 'TOKENX_METRICS_ORDER')).toStrictEqual([])
  })
})
