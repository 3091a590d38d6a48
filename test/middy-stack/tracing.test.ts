/**
 * Powertools' captureLambdaHandler with tracing ON, as in Lambda: the X-Ray SDK in Lambda mode (a
 * facade segment from _X_AMZN_TRACE_ID) sends each closed subsegment over UDP to the daemon address,
 * here a socket on 127.0.0.1 this test reads. The tracer records the handler's answer and, on
 * errors, the error (name, message, stack) as metadata: every segment sent must be free of tokens,
 * assertions and keys, and the answers must be the kit's.
 */
import { vi } from 'vitest'

// Before any import: the X-Ray SDK decides at load whether it runs in Lambda.
await vi.hoisted(async () => {
  const { lambdaTracingEnv } = await import('./xray-daemon.ts')
  lambdaTracingEnv()
})

import { Tracer } from '@aws-lambda-powertools/tracer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AUDIENCE,
  capture,
  citizenToken,
  CLIENT_ID,
  findLeaks,
  header,
  httpEvent,
  lambdaContext,
  newKey,
  powertools,
  stack,
  stackSecrets,
  startTokenEndpoint,
  type KeyPair,
  type Piece,
  type StackContext,
  type TokenEndpoint,
} from './support.ts'
import { startXRayDaemon, type XRayDaemon } from './xray-daemon.ts'

let daemon: XRayDaemon
let clientKey: KeyPair
let issuer: KeyPair
let tokenEndpoint: TokenEndpoint

beforeAll(async () => {
  daemon = await startXRayDaemon()
  ;[clientKey, issuer] = await Promise.all([newKey('app-key'), newKey('idporten-key')])
  tokenEndpoint = await startTokenEndpoint(issuer)
})
afterAll(async () => {
  await tokenEndpoint.close()
  daemon.close()
})

describe('captureLambdaHandler with tracing on', () => {
  // Used after tokenX(), captureLambdaHandler opens the handler's subsegment only after tokenX()'s
  // before has exchanged (or failed): the exchange is traced outside it, and an invocation the kit
  // refuses has no handler subsegment to record its error on. The answers are the same either way.
  it.each<[string, Piece[], boolean]>([
    ['before tokenX', ['captureLambdaHandler', 'httpErrorHandler', 'tokenX'], true],
    ['after tokenX', ['tokenX', 'httpErrorHandler', 'captureLambdaHandler'], false],
  ])('%s: the kit answers as without it, and no segment carries a secret', async (_label, order, recordsKitErrors) => {
    const base = powertools() // sets POWERTOOLS_TRACE_ENABLED=false for its own tracer
    process.env['POWERTOOLS_TRACE_ENABLED'] = 'true'
    const tools = { ...base, tracer: new Tracer() }
    tools.tracer.provider.setDaemonAddress(daemon.address)
    expect(tools.tracer.isTracingEnabled()).toBe(true)
    const handler = stack(
      order,
      {
        audience: AUDIENCE,
        client: { clientId: CLIENT_ID, tokenEndpoint: tokenEndpoint.url, privateJwk: clientKey.privateJwk, retries: 0 },
      },
      tools,
      { accessTokens: [] },
    )
    const forger = await newKey('idporten-key')
    const valid = await citizenToken(issuer, '12345678910')
    const forged = await citizenToken(forger, '12345678912')
    const before = daemon.datagrams.length
    const logs = capture()
    let results
    try {
      results = [
        await handler(httpEvent('v2', `Bearer ${valid}`), lambdaContext<StackContext>()),
        await handler(httpEvent('v2'), lambdaContext<StackContext>()),
        await handler(httpEvent('v1', `Bearer ${forged}`), lambdaContext<StackContext>()),
      ]
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      logs.stop()
    }
    expect(results.map((result) => result.statusCode)).toStrictEqual([200, 401, 401])
    expect(header(results[1]!, 'WWW-Authenticate')).toBe('Bearer')
    expect(JSON.parse(results[2]!.body)).toMatchObject({ error: 'invalid_token' })

    // The tracer did record: the handler's subsegments and (used before tokenX()) the kit's errors,
    // name, message (the public answer) and stack, as the handler's fault. Not the call to TokenX: the
    // kit's HTTP/1.1 client (lib/util/http1.ts) is not node:http, which the X-Ray SDK patches; given the
    // app's tracer, the kit traces it as its own `tokenx.exchange` subsegment (powertools-tracer.test.ts).
    const sent = daemon.datagrams.slice(before)
    expect(sent.some((segment) => segment.includes('## index.handler'))).toBe(true)
    expect(sent.some((segment) => segment.includes('"url":"http://127.0.0.1/token"'))).toBe(false)
    expect(sent.some((segment) => segment.includes('"type":"BearerTokenError"'))).toBe(recordsKitErrors)
    expect(sent.some((segment) => segment.includes('"type":"TokenExchangeError"'))).toBe(recordsKitErrors)
    const secrets = stackSecrets({ 'the valid subject token': valid, 'the forged subject token': forged }, tokenEndpoint, clientKey)
    expect(findLeaks([...sent, ...logs.texts], secrets)).toStrictEqual([])
  })
})
