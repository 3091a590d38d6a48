import { describe, expect, it } from 'vitest'
import {
  BearerTokenError,
  ConfigError,
  DownstreamError,
  InsufficientAcrError,
  KeyError,
  TokenExchangeError,
  type TokenXError,
} from '../../../lib/errors.ts'
import { downstreamAnswer, errorResponse } from '../../../lib/core/response.ts'
import { TOKEN_EXCHANGE_CODES } from '../../helpers/errors.ts'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'
const FIXED_TEXTS = new Set([
  'server_error',
  'invalid_token',
  'invalid_request',
  'temporarily_unavailable',
  'insufficient_claims',
  'A bearer token is required',
  'The bearer token is malformed, expired or not accepted',
  'The request must carry exactly one bearer token',
  'The server could not complete the request',
  'An upstream service answered unexpectedly',
  'An upstream service is unavailable',
  'An upstream service did not answer in time',
  'The bearer token needs additional claims',
])

describe('errorResponse', () => {
  it('answers a missing token with 401 and a bare Bearer challenge', () => {
    const response = errorResponse(new BearerTokenError(`no token near ${JWT}`, { problem: 'missing' }))
    expect(response).toStrictEqual({
      statusCode: 401,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'WWW-Authenticate': 'Bearer' },
      body: JSON.stringify({ error_description: 'A bearer token is required' }),
      isBase64Encoded: false,
    })
  })

  it('answers an invalid token with 401 and an invalid_token challenge', () => {
    const response = errorResponse(new BearerTokenError('expired', { problem: 'invalid' }))
    expect(response.statusCode).toBe(401)
    expect(response.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="The bearer token is malformed, expired or not accepted"',
    )
    expect(JSON.parse(response.body)).toStrictEqual({
      error: 'invalid_token',
      error_description: 'The bearer token is malformed, expired or not accepted',
    })
  })

  it('answers a repeated Authorization header with 400 invalid_request', () => {
    const response = errorResponse(new BearerTokenError('two', { problem: 'malformed_request' }))
    expect(response.statusCode).toBe(400)
    expect(response.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_request", error_description="The request must carry exactly one bearer token"',
    )
    expect(JSON.parse(response.body)).toStrictEqual({
      error: 'invalid_request',
      error_description: 'The request must carry exactly one bearer token',
    })
  })

  it('answers a subject token TokenX rejected like an invalid token', () => {
    const response = errorResponse(new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', 'x', { tokenEndpointStatus: 400 }))
    expect(response.statusCode).toBe(401)
    expect(response.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="The bearer token is malformed, expired or not accepted"',
    )
  })

  it.each<[string, TokenXError, number, string]>([
    ['ConfigError', new ConfigError('TOKEN_X_CLIENT_ID is not set'), 500, 'server_error'],
    ['KeyError', new KeyError('bad key'), 500, 'server_error'],
    ['client rejected', new TokenExchangeError('ERR_CLIENT_REJECTED', 'x'), 500, 'server_error'],
    ['token endpoint', new TokenExchangeError('ERR_TOKEN_ENDPOINT', 'x'), 502, 'temporarily_unavailable'],
    ['unavailable', new TokenExchangeError('ERR_TOKEN_ENDPOINT_UNAVAILABLE', 'x'), 503, 'temporarily_unavailable'],
    ['timeout', new TokenExchangeError('ERR_TIMEOUT', 'x'), 504, 'temporarily_unavailable'],
  ])('answers %s with %i and no challenge', (_label, err, status, error) => {
    const response = errorResponse(err)
    expect(response.statusCode).toBe(status)
    expect(response.headers).toStrictEqual({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    expect(JSON.parse(response.body)).toStrictEqual({ error, error_description: err.error_description })
    expect(response.isBase64Encoded).toBe(false)
  })

  it('puts only fixed texts in the body and headers, whatever the error carries', () => {
    const errors: TokenXError[] = [
      new BearerTokenError(`bad ${JWT}`, { problem: 'missing', cause: new Error(JWT) }),
      new BearerTokenError(`bad ${JWT}`, { cause: new Error(JWT) }),
      new BearerTokenError(`bad ${JWT}`, { problem: 'malformed_request' }),
      new KeyError(`key {"d":"SECRET-EXPONENT"}`, { cause: new Error('SECRET-EXPONENT') }),
      new ConfigError('TOKEN_X_PRIVATE_JWK SECRET-EXPONENT'),
      ...TOKEN_EXCHANGE_CODES.map(
        (code) =>
          new TokenExchangeError(code, `TokenX said ${JWT}`, {
            tokenEndpointStatus: 400,
            upstream: { error: 'invalid_request', error_description: `internal detail ${JWT} SECRET-EXPONENT` },
            cause: new Error(JWT),
          }),
      ),
    ]
    for (const err of errors) {
      const response = errorResponse(err)
      const body = JSON.parse(response.body) as Record<string, unknown>
      for (const value of Object.values(body)) expect(FIXED_TEXTS.has(value as string), String(value)).toBe(true)
      expect(Object.keys(body).every((k) => k === 'error' || k === 'error_description')).toBe(true)
      const everything = JSON.stringify(response)
      expect(everything).not.toContain('eyJ')
      expect(everything).not.toContain('SECRET')
      expect(everything).not.toContain('internal detail')
      expect(everything).not.toContain('bad ')
      expect(response.headers['Cache-Control']).toBe('no-store')
    }
  })

  it('answers exactly what the error carries for @middy/http-error-handler: statusCode, message, headers', () => {
    const err = new BearerTokenError('expired', { problem: 'invalid' })
    const response = errorResponse(err)
    expect(response.statusCode).toBe(err.statusCode)
    expect(response.body).toBe(err.message)
    expect(response.headers).toStrictEqual(err.headers)
    // A fresh object each time: middlewares after the kit add headers to it in place.
    expect(response.headers).not.toBe(err.headers)
    expect(Object.isFrozen(response.headers)).toBe(false)
  })
})

describe('errorResponse for inbound validation', () => {
  it('renders the RFC 9470 step-up challenge with acr_values', async () => {
    const { InsufficientAcrError } = await import('../../../lib/errors.ts')
    const answer = errorResponse(new InsufficientAcrError('acr too low', { acrValues: 'idporten-loa-high' }))
    expect(answer.statusCode).toBe(401)
    expect(answer.headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A higher authentication level is required", acr_values="idporten-loa-high"',
    )
    expect(JSON.parse(answer.body)).toEqual({
      error: 'insufficient_user_authentication',
      error_description: 'A higher authentication level is required',
    })
  })

  it('renders 403 insufficient_scope with its challenge, and JWKS failures as 5xx without one', async () => {
    const { ForbiddenCallerError, JwksError } = await import('../../../lib/errors.ts')
    const forbidden = errorResponse(new ForbiddenCallerError('not allowed'))
    expect(forbidden.statusCode).toBe(403)
    expect(forbidden.headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The calling application is not allowed"',
    )
    for (const [code, status] of [
      ['ERR_JWKS_UNAVAILABLE', 503],
      ['ERR_JWKS_INVALID', 502],
      ['ERR_JWKS_TIMEOUT', 504],
    ] as const) {
      const answer = errorResponse(new JwksError(code, 'internal detail'))
      expect(answer.statusCode).toBe(status)
      expect(answer.headers['WWW-Authenticate']).toBeUndefined()
      expect(answer.body).not.toContain('internal detail')
    }
  })
})

// Issue 18: a downstream's 401 or 403 used to reach the citizen as it was, without a challenge and
// with the downstream's own text.
describe('downstreamAnswer', () => {
  const FROM = { audience: 'dev-gcp:team:api' }
  const INTERNAL = 'stack trace at com.example.internal.OrderService (token at.secret)'

  it('passes a 2xx on: status, body, Content-Type, and Cache-Control: no-store; no other header', async () => {
    const response = new Response('{"orders":[]}', {
      status: 201,
      headers: { 'content-type': 'application/json; charset=utf-8', 'set-cookie': 'session=internal', 'x-internal-host': 'pod-7' },
    })
    expect(await downstreamAnswer(response, FROM)).toStrictEqual({
      statusCode: 201,
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
      body: '{"orders":[]}',
      isBase64Encoded: false,
    })
    expect(await downstreamAnswer(new Response(null, { status: 204 }), FROM)).toStrictEqual({
      statusCode: 204,
      headers: { 'Cache-Control': 'no-store' },
      body: '',
      isBase64Encoded: false,
    })
  })

  it("passes a 404 on with a fixed body, not the downstream's", async () => {
    const answer = await downstreamAnswer(new Response(INTERNAL, { status: 404 }), FROM)
    expect(answer).toStrictEqual({
      statusCode: 404,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: JSON.stringify({ error: 'not_found', error_description: 'The resource was not found' }),
      isBase64Encoded: false,
    })
  })

  it.each([
    ["401 invalid_token (our token, not the citizen's)", 401, { 'www-authenticate': 'Bearer error="invalid_token"' }],
    ['401 without a challenge', 401, {}],
    [
      '401 insufficient_user_authentication naming no known level',
      401,
      { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="urn:x:loa:9"' },
    ],
    ['403', 403, { 'www-authenticate': 'Bearer error="insufficient_scope"' }],
    ['a redirect the kit did not follow', 302, { location: 'https://internal.example/x' }],
    ['400', 400, {}],
    ['500', 500, {}],
    ['503', 503, { 'retry-after': '5' }],
  ])('%s: throws ERR_DOWNSTREAM_STATUS, answered 502 with a fixed body and no challenge', async (_label, status, headers) => {
    const response = new Response(INTERNAL, { status, headers })
    const err = await downstreamAnswer(response, FROM).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DownstreamError)
    expect(err).toMatchObject({
      code: 'ERR_DOWNSTREAM_STATUS',
      statusCode: 502,
      audience: FROM.audience,
      detail: `the dev-gcp:team:api API answered ${status}`,
    })
    const answer = errorResponse(err as DownstreamError)
    expect(answer).toStrictEqual({
      statusCode: 502,
      headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      body: JSON.stringify({ error: 'server_error', error_description: 'An upstream service answered unexpectedly' }),
      isBase64Encoded: false,
    })
    expect(JSON.stringify(err)).not.toContain('internal')
    // The body not passed on is released.
    expect(response.bodyUsed || response.body?.locked).toBe(true)
  })

  it('401 insufficient_user_authentication with an ID-porten level: the RFC 9470 step-up for the citizen', async () => {
    const response = new Response('', {
      status: 401,
      headers: {
        'www-authenticate':
          'Bearer error="insufficient_user_authentication", error_description="internal words", acr_values="Level3 idporten-loa-high"',
      },
    })
    const err = await downstreamAnswer(response, FROM).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InsufficientAcrError)
    expect(err).toMatchObject({ code: 'ERR_INSUFFICIENT_ACR', statusCode: 401, acrValues: 'idporten-loa-high' })
    expect(errorResponse(err as InsufficientAcrError).headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A higher authentication level is required", acr_values="idporten-loa-high"',
    )
    const substantial = new Response('', {
      status: 401,
      headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="Level3"' },
    })
    await expect(downstreamAnswer(substantial, FROM)).rejects.toMatchObject({ acrValues: 'idporten-loa-substantial' })
  })
})
