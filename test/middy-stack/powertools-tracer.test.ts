/**
 * The app's Powertools `Tracer` given to the kit (`tracer`), with tracing on as in Lambda: the X-Ray
 * SDK in Lambda mode (a facade segment from _X_AMZN_TRACE_ID) sends each closed subsegment over UDP
 * to the daemon address, here a socket on 127.0.0.1 this test reads. The kit's key load, exchange
 * and downstream call must arrive as subsegments of the handler's, named and annotated as the
 * OpenTelemetry spans are (X-Ray's annotation keys: `_` for `.`), and no segment sent may carry a
 * token, an assertion or key material.
 */
import { vi } from 'vitest'

// Before any import: the X-Ray SDK decides at load whether it runs in Lambda.
await vi.hoisted(async () => {
  const { lambdaTracingEnv } = await import('./xray-daemon.ts')
  lambdaTracingEnv()
})

import { Tracer } from '@aws-lambda-powertools/tracer'
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware'
import middy, { type MiddlewareObj } from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tokenX, type TokenXContext } from 'tokenx-handler-kit'
import {
  AUDIENCE,
  capture,
  citizenToken,
  CLIENT_ID,
  findLeaks,
  httpEvent,
  lambdaContext,
  newKey,
  stackSecrets,
  startTokenEndpoint,
  type KeyPair,
  type TokenEndpoint,
} from './support.ts'
import { startXRayDaemon, type XRayDaemon } from './xray-daemon.ts'

type AnyMiddleware = MiddlewareObj<any, any, any, any> // eslint-disable-line @typescript-eslint/no-explicit-any
type Ctx = Context & { tokenX: TokenXContext<{ audience: string; url: string }> }

interface XRaySegment {
  readonly id: string
  readonly name: string
  readonly parent_id?: string
  readonly start_time: number
  readonly end_time: number
  readonly annotations?: Record<string, unknown>
  readonly metadata?: Record<string, unknown>
  readonly error?: boolean
  readonly fault?: boolean
}

let daemon: XRayDaemon
let clientKey: KeyPair
let issuer: KeyPair
let tokenEndpoint: TokenEndpoint
let downstream: Server
let downstreamUrl: string
const downstreamAuthorizations: string[] = []

beforeAll(async () => {
  daemon = await startXRayDaemon()
  ;[clientKey, issuer] = await Promise.all([newKey('app-key'), newKey('idporten-key')])
  tokenEndpoint = await startTokenEndpoint(issuer)
  downstream = createServer((request, response) => {
    downstreamAuthorizations.push(request.headers.authorization ?? '')
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')
  })
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve))
  downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`
})
afterAll(async () => {
  await tokenEndpoint.close()
  downstream.closeAllConnections()
  await new Promise<void>((resolve) => downstream.close(() => resolve()))
  daemon.close()
})

/** The segment documents sent (each datagram: a JSON header line, then the document). */
function documents(from: readonly string[]): XRaySegment[] {
  return from.map((datagram) => JSON.parse(datagram.slice(datagram.indexOf('\n') + 1)) as XRaySegment)
}

describe('tokenX({ tracer }) with a Powertools Tracer, tracing on', () => {
  it("sends the key load, the exchange and the downstream call as annotated subsegments of the handler's, with no secret in any segment", async () => {
    const tracer = new Tracer()
    tracer.provider.setDaemonAddress(daemon.address)
    expect(tracer.isTracingEnabled()).toBe(true)
    const handler = middy<unknown, APIGatewayProxyResult, Error, Ctx>()
      .use(captureLambdaHandler(tracer) as AnyMiddleware)
      .use(httpErrorHandler())
      .use(
        tokenX({
          audience: { audience: AUDIENCE, url: downstreamUrl },
          client: { clientId: CLIENT_ID, tokenEndpoint: tokenEndpoint.url, privateJwk: clientKey.privateJwk, retries: 0 },
          tracer,
          logger: false,
        }) as AnyMiddleware,
      )
      .handler(async (_event, context) => {
        const response = await context.tokenX.fetch(`${downstreamUrl}/resource`)
        return { statusCode: response.status, body: await response.text() }
      })
    const forger = await newKey('idporten-key')
    const valid = await citizenToken(issuer, '12345678910')
    const forged = await citizenToken(forger, '12345678912')
    const logs = capture()
    let statuses: number[]
    try {
      statuses = [
        (await handler(httpEvent('v2', `Bearer ${valid}`), lambdaContext<Ctx>())).statusCode,
        (await handler(httpEvent('v2', `Bearer ${forged}`), lambdaContext<Ctx>())).statusCode,
      ]
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      logs.stop()
    }
    expect(statuses).toStrictEqual([200, 401])
    const sent = documents(daemon.datagrams)
    const handlers = sent.filter((segment) => segment.name === '## index.handler')
    expect(handlers).toHaveLength(2)
    const named = (name: string) => sent.filter((segment) => segment.name === name)

    const [keyLoad] = named('tokenx.key.load')
    expect(named('tokenx.key.load')).toHaveLength(1)
    expect(keyLoad?.parent_id).toBe(handlers[0]?.id)
    expect(keyLoad?.annotations).toStrictEqual({ tokenx_key_source: 'inline', tokenx_key_reason: 'initial', tokenx_key_kid: 'app-key' })

    const [exchanged, refused] = named('tokenx.exchange')
    expect(named('tokenx.exchange')).toHaveLength(2)
    expect(exchanged?.parent_id).toBe(handlers[0]?.id)
    expect(exchanged?.annotations).toStrictEqual({
      tokenx_audience: AUDIENCE,
      tokenx_cache_hit: false,
      tokenx_attempts: 1,
      http_response_status_code: 200,
    })
    expect(exchanged?.end_time).toBeGreaterThanOrEqual(exchanged!.start_time)
    expect(exchanged?.error ?? false).toBe(false)
    expect(exchanged?.fault ?? false).toBe(false)
    // TokenX refused the citizen's token: the caller's fault (401), an X-Ray error, not a fault.
    expect(refused?.parent_id).toBe(handlers[1]?.id)
    expect(refused?.annotations).toMatchObject({
      tokenx_audience: AUDIENCE,
      tokenx_error_code: 'ERR_SUBJECT_TOKEN_REJECTED',
      http_response_status_code: 400,
    })
    expect(refused?.error).toBe(true)
    expect(refused?.fault ?? false).toBe(false)

    const [called] = named('tokenx.downstream')
    expect(named('tokenx.downstream')).toHaveLength(1)
    expect(called?.parent_id).toBe(handlers[0]?.id)
    expect(called?.annotations).toStrictEqual({ tokenx_audience: AUDIENCE, http_response_status_code: 200 })

    // The kit adds no metadata, and no segment sent (the tracer's own included) holds a secret.
    for (const segment of [keyLoad, exchanged, refused, called]) expect(segment?.metadata).toBeUndefined()
    const secrets = stackSecrets({ 'the valid subject token': valid, 'the forged subject token': forged }, tokenEndpoint, clientKey)
    expect(tokenEndpoint.accessTokens).toHaveLength(1)
    expect(downstreamAuthorizations).toStrictEqual([`Bearer ${tokenEndpoint.accessTokens[0]}`])
    expect(findLeaks([...daemon.datagrams, ...logs.texts], secrets)).toStrictEqual([])
  })
})
