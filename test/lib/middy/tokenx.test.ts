import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTokenXHandlerCore, tokenX, type Downstream, type KitLogger, type TokenXOptions } from '../../../lib/index.ts'
import { memoryLogger } from '../../helpers/logs.ts'
import { citizenToken } from '../../helpers/citizen.ts'
import { albEvent, lambdaContext, v1Event, v2Event } from '../../helpers/events.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../../helpers/servers.ts'

const AUDIENCE = 'dev-gcp:team:downstream'
let key: TestKey
let tokenx: TestServer
let downstream: TestServer

const issue = (request: { body: string }) => {
  const form = new URLSearchParams(request.body)
  // The access token names the citizen and audience it was issued for, so tests can tell them apart.
  const pid = JSON.parse(Buffer.from(form.get('subject_token')!.split('.')[1]!, 'base64url').toString()).pid
  return tokenAnswer(`at.${pid}.${form.get('audience')!.replaceAll(':', '_')}`)
}

beforeAll(async () => {
  key = await newTestKey()
  tokenx = await startServer(issue)
  downstream = await startServer((request) => ({ status: 200, body: { authorization: request.headers.authorization } }))
})
afterEach(() => {
  tokenx.requests.length = 0
  downstream.requests.length = 0
  tokenx.respond = issue
})
afterAll(async () => {
  await tokenx.close()
  await downstream.close()
})

const clientOptions = (overrides: Partial<TokenXOptions> = {}): TokenXOptions => ({
  clientId: 'dev-gcp:team:app',
  tokenEndpoint: `${tokenx.url}/token`,
  privateJwk: key.privateJwk,
  retries: 0,
  ...overrides,
})

type Ctx = Context & { tokenX: Downstream }

function handlerFor(options: { client?: TokenXOptions; logger?: KitLogger } = {}) {
  const handle = vi.fn(async (_event: unknown, context: Ctx): Promise<APIGatewayProxyResult> => {
    const response = await context.tokenX.fetch(`${downstream.url}/resource`)
    return { statusCode: response.status, body: await response.text() }
  })
  const handler = middy<unknown, APIGatewayProxyResult, Error, Ctx>()
    .use(
      tokenX({
        audience: { audience: AUDIENCE, url: downstream.url },
        client: options.client ?? clientOptions(),
        logger: options.logger ?? false,
      }),
    )
    .handler(handle)
  return { handler, handle }
}

describe('tokenX middleware', () => {
  it.each([
    ['API Gateway v1', v1Event],
    ['API Gateway v2', v2Event],
    ['ALB', albEvent],
  ])('exchanges the %s caller token and sends the result downstream as Bearer', async (_name, event) => {
    const { handler } = handlerFor()
    const subject = await citizenToken('12345678910')
    const result = await handler(event(`Bearer ${subject}`), lambdaContext())
    expect(result.statusCode).toBe(200)
    expect(JSON.parse(result.body)).toEqual({ authorization: 'Bearer at.12345678910.dev-gcp_team_downstream' })
    expect(new URLSearchParams(tokenx.requests[0]!.body).get('subject_token')).toBe(subject)
    expect(downstream.requests).toHaveLength(1)
  })

  it('reuses the token across warm invocations and keeps citizens apart', async () => {
    const { handler } = handlerFor()
    const alice = await citizenToken('11111111111')
    const bob = await citizenToken('22222222222')
    const bodies = []
    for (const subject of [alice, bob, alice, bob]) {
      bodies.push(JSON.parse((await handler(v2Event(`Bearer ${subject}`), lambdaContext())).body).authorization)
    }
    expect(bodies).toEqual([
      'Bearer at.11111111111.dev-gcp_team_downstream',
      'Bearer at.22222222222.dev-gcp_team_downstream',
      'Bearer at.11111111111.dev-gcp_team_downstream',
      'Bearer at.22222222222.dev-gcp_team_downstream',
    ])
    expect(tokenx.requests).toHaveLength(2)
  })

  it('exchanges for each named audience', async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { tokenX: { orders: Downstream; people: Downstream } }>()
      .use(tokenX({ audience: { orders: 'dev-gcp:shop:orders', people: 'dev-gcp:team:people' }, client: clientOptions(), logger: false }))
      .handler(async (_event, context) => ({
        statusCode: 200,
        body: JSON.stringify([context.tokenX.orders.token.accessToken, context.tokenX.people.token.accessToken]),
      }))
    const result = await handler(v2Event(`Bearer ${await citizenToken('3')}`), lambdaContext())
    expect(JSON.parse(result.body)).toEqual(['at.3.dev-gcp_shop_orders', 'at.3.dev-gcp_team_people'])
    expect(tokenx.requests).toHaveLength(2)
  })

  it.each([
    ['no Authorization header', undefined, 401, 'Bearer'],
    ['another scheme', 'Basic dXNlcjpwYXNz', 401, 'Bearer'],
    ['a token that is not a JWT', 'Bearer abc', 401, 'Bearer error="invalid_token"'],
  ])('answers %s with %i and WWW-Authenticate, without an exchange', async (_name, authorization, status, challenge) => {
    const { handler, handle } = handlerFor()
    const result = await handler(v2Event(authorization), lambdaContext())
    expect(result.statusCode).toBe(status)
    expect(result.headers?.['WWW-Authenticate']).toMatch(new RegExp(`^${challenge}`))
    expect(result.headers?.['Content-Type']).toBe('application/json')
    expect(handle).not.toHaveBeenCalled()
    expect(tokenx.requests).toHaveLength(0)
  })

  it('answers an expired caller token with 401 without an exchange', async () => {
    const { handler } = handlerFor()
    const expired = await citizenToken('4', { now: Math.floor(Date.now() / 1000) - 3600, expiresIn: 60 })
    const result = await handler(v1Event(`Bearer ${expired}`), lambdaContext())
    expect(result.statusCode).toBe(401)
    expect(JSON.parse(result.body)).toEqual({
      error: 'invalid_token',
      error_description: 'The bearer token is malformed, expired or not accepted',
    })
    expect(tokenx.requests).toHaveLength(0)
  })

  it.each([
    [{ status: 400, body: { error: 'invalid_request', error_description: 'token verification failed' } }, 401],
    [
      {
        status: 400,
        body: { error: 'invalid_request', error_description: "client 'dev-gcp:team:app' is not authorized to get token with aud=x" },
      },
      500,
    ],
    [{ status: 401, body: { error: 'invalid_client', error_description: 'invalid client' } }, 500],
    [{ status: 500, body: 'oops' }, 502],
    [{ status: 200, body: { access_token: 'x' } }, 502],
  ] as const)('maps TokenX answer %j to %i with a body that reveals nothing', async (answer, status) => {
    tokenx.respond = () => answer
    const logger = memoryLogger()
    const { handler } = handlerFor({ logger })
    const subject = await citizenToken('5')
    const result = await handler(v2Event(`Bearer ${subject}`), lambdaContext())
    expect(result.statusCode).toBe(status)
    const body = JSON.parse(result.body)
    expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
    expect(result.body).not.toMatch(/dev-gcp|client|verification|oops/)
    expect(downstream.requests).toHaveLength(0)
    const answered = logger.lines.filter((line) => line.detail !== undefined)
    expect(answered).toHaveLength(1)
    expect(answered[0]).toMatchObject({ status, tokenEndpointStatus: answer.status })
    expect(logger.lines).toContainEqual(
      expect.objectContaining({ message: 'token exchange failed', level: 'warn', tokenEndpointStatus: answer.status }),
    )
    expect(JSON.stringify(logger.lines)).not.toContain(subject)
  })

  it('answers 500 naming nothing when the TOKEN_X_* environment is incomplete, and logs which variable', async () => {
    const logger = memoryLogger()
    const handler = middy()
      .use(tokenX({ audience: AUDIENCE, env: { TOKEN_X_CLIENT_ID: 'dev-gcp:team:app' }, logger }))
      .handler(async () => ({ statusCode: 200 }))
    const result = (await handler(v2Event(`Bearer ${await citizenToken('6')}`), lambdaContext())) as APIGatewayProxyResult
    expect(result.statusCode).toBe(500)
    expect(JSON.parse(result.body)).toEqual({ error: 'server_error', error_description: 'The server could not complete the request' })
    expect(logger.lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'request failed',
        code: 'ERR_CONFIG',
        status: 500,
        detail: 'TOKEN_X_TOKEN_ENDPOINT or TOKEN_X_WELL_KNOWN_URL must be set',
      }),
    ])
  })

  it('stops the exchange before the Lambda deadline', async () => {
    tokenx.respond = () => ({ ...tokenAnswer('late'), delay: 5_000 })
    const { handler } = handlerFor({ client: clientOptions({ timeout: 10_000, retries: 2 }) })
    // 1500 ms left less the default 500 ms margin: a second for the exchange, time enough for its one
    // request to be sent even on a loaded machine, and far less than TokenX's answer takes.
    const result = await handler(v2Event(`Bearer ${await citizenToken('7')}`), lambdaContext(1_500))
    expect(result.statusCode).toBe(504)
    expect(tokenx.requests).toHaveLength(1)
  })

  it('leaves errors that are not its own to the next middleware', async () => {
    const handler = middy()
      .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger: false }))
      .handler(async () => {
        throw new Error('handler bug')
      })
    await expect(handler(v2Event(`Bearer ${await citizenToken('8')}`), lambdaContext())).rejects.toThrow('handler bug')
  })

  it('throws TypeError for bad options at construction', () => {
    expect(() => tokenX({ audience: 'https://not-an-app' })).toThrow(TypeError)
    expect(() => tokenX({ audience: {} })).toThrow(TypeError)
    expect(() => tokenX({ audience: { a: 'x' } })).toThrow(/audience\.a/)
    expect(() => tokenX({ audience: AUDIENCE, downstreamTimeout: -1 })).toThrow(TypeError)
    expect(() => tokenX({ audience: AUDIENCE, client: { ...clientOptions(), clientId: 'bad' } })).toThrow(TypeError)
  })

  it('works without middy through its core', async () => {
    const core = createTokenXHandlerCore({ audience: AUDIENCE, client: clientOptions(), logger: false })
    const tokens = await core.authorize(v2Event(`Bearer ${await citizenToken('9')}`))
    expect(tokens.token.accessToken).toBe('at.9.dev-gcp_team_downstream')
    const denied = await core.authorize(v2Event()).then(
      () => undefined,
      (err: unknown) => core.respond(err),
    )
    expect(denied?.statusCode).toBe(401)
    expect(core.respond(new Error('not ours'))).toBeUndefined()
  })
})

describe('tokenX middleware among other middlewares', () => {
  /** A stand-in for a middleware that adds a header to every answer, in after and (only to an answer already set) in onError, as @middy/http-cors does. */
  const addsHeader = (name: string) => ({
    after: (request: { response: APIGatewayProxyResult | undefined }) => {
      request.response = { ...request.response!, headers: { ...request.response?.headers, [name]: 'yes' } }
    },
    onError: (request: { response: APIGatewayProxyResult | undefined }) => {
      if (request.response === undefined) return
      request.response = { ...request.response, headers: { ...request.response.headers, [name]: 'yes' } }
    },
  })
  const warnings = () => {
    const seen: string[] = []
    const listener = (warning: Error & { code?: string }) => void (warning.code === 'TOKENX_MIDDLEWARE_ORDER' && seen.push(warning.message))
    process.on('warning', listener)
    return { seen, stop: () => void process.off('warning', listener) }
  }
  const tick = () => new Promise((resolve) => setImmediate(resolve))
  const ok = async (): Promise<APIGatewayProxyResult> => ({ statusCode: 200, body: 'ok' })

  it('leaves an answer someone else rendered from its error, and still logs it', async () => {
    const logger = memoryLogger()
    const renderer = vi.fn((request: { error: unknown; response: unknown }) => {
      const err = request.error as { statusCode: number; message: string; headers: Record<string, string> }
      request.response = { statusCode: err.statusCode, body: err.message, headers: { ...err.headers, 'X-Rendered-By': 'them' } }
    })
    const handler = middy<unknown, APIGatewayProxyResult>()
      .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger }))
      .use({ onError: renderer })
      .handler(ok)
    const result = await handler(v2Event(), lambdaContext())
    expect(renderer).toHaveBeenCalledOnce()
    expect(result).toStrictEqual({
      statusCode: 401,
      body: JSON.stringify({ error_description: 'A bearer token is required' }),
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Bearer', 'X-Rendered-By': 'them' },
    })
    expect(logger.lines).toMatchObject([{ message: 'request refused', code: 'ERR_BEARER_TOKEN', status: 401 }])
  })

  it('warns once when a middleware used after it adds CORS headers its error answers cannot get', async () => {
    const watch = warnings()
    try {
      const handler = middy<unknown, APIGatewayProxyResult>()
        .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger: false }))
        .use(addsHeader('Access-Control-Allow-Origin'))
        .handler(ok)
      // Before any success nothing is known about the stack: no warning.
      expect((await handler(v2Event(), lambdaContext())).headers).not.toHaveProperty('Access-Control-Allow-Origin')
      await tick()
      expect(watch.seen).toStrictEqual([])
      expect((await handler(v2Event(`Bearer ${await citizenToken('41')}`), lambdaContext())).headers).toHaveProperty(
        'Access-Control-Allow-Origin',
      )
      for (let i = 0; i < 3; i++) await handler(v2Event(), lambdaContext())
      await tick()
      expect(watch.seen).toHaveLength(1)
      expect(watch.seen[0]).toMatch(/CORS headers .* Use tokenX\(\) after it/)
    } finally {
      watch.stop()
    }
  })

  it('does not warn when the header reaches its error answers (used before it)', async () => {
    const watch = warnings()
    try {
      const handler = middy<unknown, APIGatewayProxyResult>()
        .use(addsHeader('Access-Control-Allow-Origin'))
        .use(addsHeader('X-Content-Type-Options'))
        .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger: false }))
        .handler(ok)
      await handler(v2Event(`Bearer ${await citizenToken('42')}`), lambdaContext())
      const denied = await handler(v2Event(), lambdaContext())
      expect(denied.statusCode).toBe(401)
      expect(denied.headers).toMatchObject({ 'Access-Control-Allow-Origin': 'yes', 'X-Content-Type-Options': 'yes' })
      await tick()
      expect(watch.seen).toStrictEqual([])
    } finally {
      watch.stop()
    }
  })

  it('warns when a middleware used after it answers its error with another status', async () => {
    const watch = warnings()
    try {
      const handler = middy<unknown, APIGatewayProxyResult>()
        .use(tokenX({ audience: AUDIENCE, client: clientOptions(), logger: false }))
        .use({ onError: (request) => void (request.response = { statusCode: 500, body: '' }) })
        .handler(ok)
      expect((await handler(v2Event(), lambdaContext())).statusCode).toBe(500)
      await handler(v2Event(), lambdaContext())
      await tick()
      expect(watch.seen).toHaveLength(1)
      expect(watch.seen[0]).toMatch(/ERR_BEARER_TOKEN error with status 500 instead of 401/)
    } finally {
      watch.stop()
    }
  })

  it('publishes the error event with the internal detail', async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel')
    const events: unknown[] = []
    const listener = (message: unknown) => void events.push(message)
    subscribe('tokenx-handler-kit:error', listener)
    try {
      const core = createTokenXHandlerCore({ audience: AUDIENCE, client: clientOptions(), logger: false })
      const err = await core.authorize(v2Event('Basic abc')).catch((e: unknown) => e)
      core.respond(err)
      expect(events).toStrictEqual([{ code: 'ERR_BEARER_TOKEN', statusCode: 401, detail: 'the Authorization header uses another scheme' }])
    } finally {
      unsubscribe('tokenx-handler-kit:error', listener)
    }
  })
})
