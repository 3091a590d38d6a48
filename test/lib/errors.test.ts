import { describe, expect, it } from 'vitest'
import { inspect } from 'node:util'
import {
  BearerTokenError,
  budgetErrorName,
  ConfigError,
  DownstreamError,
  ForbiddenCallerError,
  ForeignError,
  InsufficientAcrError,
  InvalidOptionError,
  JwksError,
  KeyError,
  loadFailureText,
  publicAnswer,
  safeErrorName,
  TokenExchangeError,
  TokenXError,
  translate,
} from '../../lib/errors.ts'
import { TOKEN_EXCHANGE_CODES } from '../helpers/errors.ts'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'

describe('caller view of each error', () => {
  it.each([
    ['ConfigError', new ConfigError('x'), 'ERR_CONFIG', 500, 'server_error', 'The server could not complete the request'],
    ['KeyError', new KeyError('x'), 'ERR_KEY', 500, 'server_error', 'The server could not complete the request'],
    [
      'BearerTokenError missing',
      new BearerTokenError('x', { problem: 'missing' }),
      'ERR_BEARER_TOKEN',
      401,
      '',
      'A bearer token is required',
    ],
    [
      'BearerTokenError invalid',
      new BearerTokenError('x', { problem: 'invalid' }),
      'ERR_BEARER_TOKEN',
      401,
      'invalid_token',
      'The bearer token is malformed, expired or not accepted',
    ],
    [
      'BearerTokenError default',
      new BearerTokenError('x'),
      'ERR_BEARER_TOKEN',
      401,
      'invalid_token',
      'The bearer token is malformed, expired or not accepted',
    ],
    [
      'BearerTokenError malformed_request',
      new BearerTokenError('x', { problem: 'malformed_request' }),
      'ERR_BEARER_TOKEN',
      400,
      'invalid_request',
      'The request must carry exactly one bearer token',
    ],
    [
      'subject token rejected',
      new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', 'x'),
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
      'invalid_token',
      'The bearer token is malformed, expired or not accepted',
    ],
    [
      'client rejected',
      new TokenExchangeError('ERR_CLIENT_REJECTED', 'x'),
      'ERR_CLIENT_REJECTED',
      500,
      'server_error',
      'The server could not complete the request',
    ],
    [
      'token endpoint',
      new TokenExchangeError('ERR_TOKEN_ENDPOINT', 'x'),
      'ERR_TOKEN_ENDPOINT',
      502,
      'temporarily_unavailable',
      'An upstream service answered unexpectedly',
    ],
    [
      'unavailable',
      new TokenExchangeError('ERR_TOKEN_ENDPOINT_UNAVAILABLE', 'x'),
      'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      503,
      'temporarily_unavailable',
      'An upstream service is unavailable',
    ],
    [
      'timeout',
      new TokenExchangeError('ERR_TIMEOUT', 'x'),
      'ERR_TIMEOUT',
      504,
      'temporarily_unavailable',
      'An upstream service did not answer in time',
    ],
  ] as const)('%s', (_label, err, code, status, error, description) => {
    expect(err).toBeInstanceOf(TokenXError)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(code)
    expect(err.statusCode).toBe(status)
    expect(err.status).toBe(status)
    expect(err.expose).toBe(true)
    expect(err.error).toBe(error)
    expect(err.error_description).toBe(description)
    expect(err.detail).toBe('x')
    // The public answer body, as @middy/http-error-handler sends `message`.
    expect(JSON.parse(err.message)).toStrictEqual(
      error === '' ? { error_description: description } : { error, error_description: description },
    )
    expect(err.headers['Content-Type']).toBe('application/json')
    expect(err.headers['Cache-Control']).toBe('no-store')
    const challenge = error === '' ? 'Bearer' : `Bearer error="${error}", error_description="${description}"`
    expect(err.headers['WWW-Authenticate']).toBe(code === 'ERR_BEARER_TOKEN' || status === 401 ? challenge : undefined)
    expect(Object.isFrozen(err.headers)).toBe(true)
  })

  it('every error answers what the one table says for its code; the table, pinned', () => {
    const errors: TokenXError[] = [
      new ConfigError('x'),
      new KeyError('x'),
      new BearerTokenError('x'),
      ...TOKEN_EXCHANGE_CODES.map((code) => new TokenExchangeError(code, 'x')),
      ...(['ERR_DOWNSTREAM_UNAVAILABLE', 'ERR_DOWNSTREAM_TIMEOUT', 'ERR_DOWNSTREAM_URL', 'ERR_DOWNSTREAM_STATUS'] as const).map(
        (code) => new DownstreamError(code, 'x', { audience: 'dev-gcp:team:api' }),
      ),
      new InsufficientAcrError('x', { acrValues: 'idporten-loa-high' }),
      new ForbiddenCallerError('x'),
      ...(['ERR_JWKS_UNAVAILABLE', 'ERR_JWKS_INVALID', 'ERR_JWKS_TIMEOUT'] as const).map((code) => new JwksError(code, 'x')),
    ]
    const answers = Object.fromEntries(
      errors.map((err) => {
        expect({ statusCode: err.statusCode, error: err.error, error_description: err.error_description }).toStrictEqual(
          publicAnswer(err.code),
        )
        return [err.code, `${err.statusCode} ${err.error}: ${err.error_description}`]
      }),
    )
    const unavailable = 'temporarily_unavailable: An upstream service is unavailable'
    const unexpected = 'An upstream service answered unexpectedly'
    const slow = 'temporarily_unavailable: An upstream service did not answer in time'
    const server = '500 server_error: The server could not complete the request'
    expect(answers).toStrictEqual({
      ERR_CONFIG: server,
      ERR_KEY: server,
      ERR_BEARER_TOKEN: '401 invalid_token: The bearer token is malformed, expired or not accepted',
      ERR_SUBJECT_TOKEN_REJECTED: '401 invalid_token: The bearer token is malformed, expired or not accepted',
      ERR_CLIENT_REJECTED: server,
      ERR_CLAIMS_CHALLENGE: '401 insufficient_claims: The bearer token needs additional claims',
      ERR_TOKEN_ENDPOINT: `502 temporarily_unavailable: ${unexpected}`,
      ERR_TOKEN_ENDPOINT_UNAVAILABLE: `503 ${unavailable}`,
      ERR_TIMEOUT: `504 ${slow}`,
      ERR_DOWNSTREAM_UNAVAILABLE: `502 ${unavailable}`,
      ERR_DOWNSTREAM_TIMEOUT: `504 ${slow}`,
      ERR_DOWNSTREAM_URL: server,
      ERR_DOWNSTREAM_STATUS: `502 server_error: ${unexpected}`,
      ERR_INSUFFICIENT_ACR: '401 insufficient_user_authentication: A higher authentication level is required',
      ERR_CALLER_NOT_ALLOWED: '403 insufficient_scope: The calling application is not allowed',
      ERR_JWKS_UNAVAILABLE: `503 ${unavailable}`,
      ERR_JWKS_INVALID: `502 temporarily_unavailable: ${unexpected}`,
      ERR_JWKS_TIMEOUT: `504 ${slow}`,
    })
  })

  it('a plain TokenXError defaults to 500 server_error', () => {
    const err = new TokenXError('ERR_CONFIG', 'x')
    expect(err).toMatchObject({
      statusCode: 500,
      expose: true,
      error: 'server_error',
      error_description: 'The server could not complete the request',
      detail: 'x',
    })
    expect(err.headers).toStrictEqual({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
  })

  it('lets a subclass set its own challenge and headers', () => {
    class Insufficient extends TokenXError {
      override name = 'Insufficient'
      constructor(detail: string) {
        super('ERR_BEARER_TOKEN', detail, {
          statusCode: 403,
          error: 'insufficient_scope',
          error_description: 'A higher level of assurance is required',
          challenge: true,
          headers: { 'X-Reason': 'acr' },
        })
      }
    }
    expect(new Insufficient('acr too low').headers).toStrictEqual({
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      'WWW-Authenticate': 'Bearer error="insufficient_scope", error_description="A higher level of assurance is required"',
      'X-Reason': 'acr',
    })
    expect(new TokenXError('ERR_BEARER_TOKEN', 'x', { statusCode: 401, challenge: 'Bearer realm="api"' }).headers['WWW-Authenticate']).toBe(
      'Bearer realm="api"',
    )
    expect(new TokenXError('ERR_BEARER_TOKEN', 'x', { statusCode: 401, challenge: false }).headers['WWW-Authenticate']).toBeUndefined()
    expect(new TokenXError('ERR_CONFIG', 'x', { status: 502 }).statusCode).toBe(502)
  })

  it('keeps the internal detail out of message, stack and String()', () => {
    const err = new KeyError('the secret tokenx/jwk could not be read')
    expect(err.message).not.toContain('tokenx/jwk')
    expect(String(err.stack)).not.toContain('tokenx/jwk')
    expect(String(err)).not.toContain('tokenx/jwk')
    // Loggers that print errors whole still show it to operators.
    expect(JSON.stringify(err)).toContain('tokenx/jwk')
  })

  it('keeps its own errors as the cause, as they are', () => {
    for (const cause of [new KeyError('root'), new InvalidOptionError('retries', 'must be a number')]) {
      expect(new ConfigError('x', { cause }).cause).toBe(cause)
      expect(new TokenExchangeError('ERR_TIMEOUT', 'x', { cause }).cause).toBe(cause)
    }
    expect(new ConfigError('x').cause).toBeUndefined()
  })

  it('keeps a foreign cause as a stand-in with its name and code only', () => {
    const foreign = Object.assign(new TypeError('fetch failed for eyJhbGciOiJSUzI1NiJ9.eyJwaWQiOiIxMjM0NTY3ODkxMCJ9.c2ln'), {
      code: 'ECONNRESET',
      token: 'secret-property',
      $metadata: { httpStatusCode: 403 },
    })
    for (const err of [
      new ConfigError('x', { cause: foreign }),
      new KeyError('x', { cause: foreign }),
      new BearerTokenError('x', { cause: foreign }),
      new TokenExchangeError('ERR_TIMEOUT', 'x', { cause: foreign }),
      new DownstreamError('ERR_DOWNSTREAM_UNAVAILABLE', 'x', { cause: foreign, audience: 'a:b:c' }),
    ]) {
      expect(err.cause).toBeInstanceOf(ForeignError)
      expect(err.cause).toMatchObject({ name: 'TypeError', code: 'ECONNRESET', httpStatusCode: 403 })
      for (const text of [
        String(err.cause),
        inspect(err, { depth: 10 }),
        JSON.stringify(err.cause),
        JSON.stringify(Object.entries(err.cause as object)),
        String((err.cause as Error).stack),
      ]) {
        expect(text).not.toContain('eyJ')
        expect(text).not.toContain('secret-property')
      }
    }
  })

  it('records the problem of a BearerTokenError', () => {
    expect(new BearerTokenError('x').problem).toBe('invalid')
    expect(new BearerTokenError('x', { problem: 'missing' }).problem).toBe('missing')
    expect(new BearerTokenError('x', { problem: 'malformed_request' }).problem).toBe('malformed_request')
  })
})

describe('name literals', () => {
  it.each([
    [new TokenXError('ERR_CONFIG', 'x'), 'TokenXError'],
    [new ConfigError('x'), 'ConfigError'],
    [new KeyError('x'), 'KeyError'],
    [new BearerTokenError('x'), 'BearerTokenError'],
    [new TokenExchangeError('ERR_TIMEOUT', 'x'), 'TokenExchangeError'],
  ] as const)('%o is named %s', (err, name) => {
    expect(err.name).toBe(name)
    expect(String(err)).toBe(`${name}: ${err.message}`)
  })
})

describe('TokenExchangeError', () => {
  it('defaults tokenEndpointStatus to 0 and upstream to {}', () => {
    const err = new TokenExchangeError('ERR_TOKEN_ENDPOINT_UNAVAILABLE', 'x')
    expect(err.tokenEndpointStatus).toBe(0)
    expect(err.upstream).toEqual({})
  })

  it('keeps what TokenX said for logs', () => {
    const err = new TokenExchangeError('ERR_CLIENT_REJECTED', 'x', { tokenEndpointStatus: 401, upstream: { error: 'invalid_client' } })
    expect(err.tokenEndpointStatus).toBe(401)
    expect(err.upstream).toEqual({ error: 'invalid_client' })
  })

  it.each([
    ['ERR_TOKEN_ENDPOINT_UNAVAILABLE', 0, true],
    ['ERR_TIMEOUT', 0, true],
    ['ERR_TOKEN_ENDPOINT', 500, true],
    ['ERR_TOKEN_ENDPOINT', 503, true],
    ['ERR_TOKEN_ENDPOINT', 200, false],
    ['ERR_TOKEN_ENDPOINT', 404, false],
    ['ERR_TOKEN_ENDPOINT', 0, false],
    ['ERR_CLIENT_REJECTED', 500, false],
    ['ERR_SUBJECT_TOKEN_REJECTED', 400, false],
  ] as const)('%s with status %i is retryable: %s', (code, tokenEndpointStatus, retryable) => {
    expect(new TokenExchangeError(code, 'x', { tokenEndpointStatus }).retryable).toBe(retryable)
  })
})

describe('translate', () => {
  it('re-throws our own errors unchanged', () => {
    const own = new KeyError('x')
    expect(translate(own, () => new ConfigError('wrapped'))).toBe(own)
  })

  it('wraps anything else, keeping a stand-in of it', () => {
    const foreign = new Error('boom')
    const wrapped = translate(foreign, (cause) => new ConfigError('wrapped', { cause }))
    expect(wrapped).toBeInstanceOf(ConfigError)
    expect(wrapped.cause).toBeInstanceOf(ForeignError)
    expect(String(wrapped.cause)).not.toContain('boom')
    expect(translate('a string', () => new KeyError('k'))).toBeInstanceOf(KeyError)
  })
})

describe('safeErrorName, the one sanitiser of foreign names and codes', () => {
  it('passes names and codes as runtimes and SDKs spell them', () => {
    for (const name of [
      'ThrottlingException',
      'TypeError',
      'Error',
      'AbortError',
      'JWKSTimeout',
      'DOMException',
      'ProvisionedThroughputExceededException',
      'RequestLimitExceeded',
    ]) {
      expect(safeErrorName(Object.assign(new Error('x'), { name }))).toBe(name)
    }
    expect(safeErrorName(new DOMException('x', 'TimeoutError'))).toBe('TimeoutError')
    for (const code of [
      'ECONNREFUSED',
      'ENOTFOUND',
      'ERR_OSSL_EVP_BAD_DECRYPT',
      'UND_ERR_CONNECT_TIMEOUT',
      'ABORT_ERR',
      'ERR_HTTP2_STREAM_ERROR',
    ]) {
      expect(safeErrorName(Object.assign(new Error('x'), { code }))).toBe(code)
    }
  })

  it("prefers a code, its own or its cause's (undici's fetch failed), to the name", () => {
    expect(safeErrorName(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED')
    expect(safeErrorName(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }))).toBe(
      'ECONNREFUSED',
    )
    expect(safeErrorName(new TypeError('fetch failed'))).toBe('TypeError')
  })

  const PID = '12345678910'
  const payload = 'eyJwaWQiOiIxMjM0NTY3ODkxMCJ9'
  it.each([
    ['a JWT', `${JWT}`],
    ['a JWT payload', payload],
    [
      'a fragment of a payload starting with a letter',
      `P${Buffer.from(`{"pid":"${PID}","sub":"pairwise"}`).toString('base64url').slice(3, 40)}`,
    ],
    ['standard base64', Buffer.from(`{"pid":"${PID}"}`).toString('base64')],
    ['500 characters', `${'A'.repeat(495)}Error`],
    ['a message', `not authorized for ${PID}`],
    ['an identity number', PID],
    ['an identity number in a name', `Citizen${PID}Error`],
    ['letters in a non-name shape', 'abcDEFghiJKLmnoPQR'],
    ['two capitals before a word', 'ABcdefError'],
    ['no string', 42],
  ])('refuses %s as a name', (_label, name) => {
    expect(safeErrorName(Object.assign(new Error('x'), { name }))).toBe('UnknownError')
  })

  it.each([
    ['a JWT', JWT],
    ['an identity number', PID],
    ['an identity number in a code', `ERR_PID_${PID}`],
    ['an identity number after E', `E${PID}`],
    ['lower case', 'econnrefused'],
    ['a payload', payload],
  ])('refuses %s as a code (and falls back to the name)', (_label, code) => {
    expect(safeErrorName(Object.assign(new Error('x'), { code }))).toBe('Error')
    expect(safeErrorName(new TypeError('fetch failed', { cause: { code } }))).toBe('TypeError')
  })

  it('refuses a non-error', () => {
    expect(safeErrorName('ThrottlingException')).toBe('UnknownError')
    expect(safeErrorName(undefined)).toBe('UnknownError')
    expect(safeErrorName(null)).toBe('UnknownError')
  })

  it('loadFailureText: the sanitised name and the message, one line, bounded', () => {
    expect(loadFailureText(new Error('Dynamic require of "node:https"\n  is not supported'))).toBe(
      'Error: Dynamic require of "node:https" is not supported',
    )
    const hostile = Object.assign(new Error('x'), { name: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' })
    expect(loadFailureText(hostile)).toBe('UnknownError: x')
    expect(loadFailureText(new TypeError('y'.repeat(1000)))).toHaveLength(300)
    expect(loadFailureText('text')).toBe('non-error thrown')
  })

  it('budgetErrorName: an abort is a budget running out', () => {
    expect(budgetErrorName(new DOMException('x', 'AbortError'))).toBe('TimeoutError')
    expect(budgetErrorName(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe('ThrottlingException')
    expect(budgetErrorName(42)).toBe('UnknownError')
  })

  it('ForeignError keeps nothing but the sanitised name, code and status', () => {
    const standIn = new ForeignError(
      Object.assign(new Error(`for ${JWT}`), { name: `Pid${PID}`, code: JWT, $metadata: { httpStatusCode: '403' }, cause: new Error(JWT) }),
    )
    expect(standIn).toMatchObject({ name: 'UnknownError', code: undefined, httpStatusCode: undefined })
    expect(standIn.cause).toBeUndefined()
    expect(inspect(standIn)).not.toContain(PID)
    expect(inspect(standIn)).not.toContain('eyJ')
    expect(new ForeignError('a thrown string')).toMatchObject({ name: 'UnknownError', code: undefined })
  })
})
