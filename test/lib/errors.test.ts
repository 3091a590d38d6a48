import { describe, expect, it } from 'vitest'
import {
  BearerTokenError,
  ConfigError,
  KeyError,
  redact,
  safeErrorName,
  TokenExchangeError,
  TokenXError,
  translate,
} from '../../lib/errors.ts'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'

describe('caller view of each error', () => {
  it.each([
    ['ConfigError', new ConfigError('x'), 'ERR_CONFIG', 500, 'server_error', 'The server could not complete the request'],
    ['KeyError', new KeyError('x'), 'ERR_KEY', 500, 'server_error', 'The server could not complete the request'],
    ['BearerTokenError missing', new BearerTokenError('x', { problem: 'missing' }), 'ERR_BEARER_TOKEN', 401, '', 'A bearer token is required'],
    ['BearerTokenError invalid', new BearerTokenError('x', { problem: 'invalid' }), 'ERR_BEARER_TOKEN', 401, 'invalid_token', 'The bearer token is malformed, expired or not accepted'],
    ['BearerTokenError default', new BearerTokenError('x'), 'ERR_BEARER_TOKEN', 401, 'invalid_token', 'The bearer token is malformed, expired or not accepted'],
    ['BearerTokenError malformed_request', new BearerTokenError('x', { problem: 'malformed_request' }), 'ERR_BEARER_TOKEN', 400, 'invalid_request', 'The request must carry exactly one bearer token'],
    ['subject token rejected', new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', 'x'), 'ERR_SUBJECT_TOKEN_REJECTED', 401, 'invalid_token', 'The bearer token is malformed, expired or not accepted'],
    ['client rejected', new TokenExchangeError('ERR_CLIENT_REJECTED', 'x'), 'ERR_CLIENT_REJECTED', 500, 'server_error', 'The server could not complete the request'],
    ['token endpoint', new TokenExchangeError('ERR_TOKEN_ENDPOINT', 'x'), 'ERR_TOKEN_ENDPOINT', 502, 'temporarily_unavailable', 'An upstream service answered unexpectedly'],
    ['unavailable', new TokenExchangeError('ERR_TOKEN_ENDPOINT_UNAVAILABLE', 'x'), 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', 503, 'temporarily_unavailable', 'An upstream service is unavailable'],
    ['timeout', new TokenExchangeError('ERR_TIMEOUT', 'x'), 'ERR_TIMEOUT', 504, 'temporarily_unavailable', 'An upstream service did not answer in time'],
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
    expect(JSON.parse(err.message)).toStrictEqual(error === '' ? { error_description: description } : { error, error_description: description })
    expect(err.headers['Content-Type']).toBe('application/json')
    expect(err.headers['Cache-Control']).toBe('no-store')
    const challenge = error === '' ? 'Bearer' : `Bearer error="${error}", error_description="${description}"`
    expect(err.headers['WWW-Authenticate']).toBe(code === 'ERR_BEARER_TOKEN' || status === 401 ? challenge : undefined)
    expect(Object.isFrozen(err.headers)).toBe(true)
  })

  it('a plain TokenXError defaults to 500 server_error', () => {
    const err = new TokenXError('ERR_CONFIG', 'x')
    expect(err).toMatchObject({ statusCode: 500, expose: true, error: 'server_error', error_description: 'The server could not complete the request', detail: 'x' })
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
    expect(new TokenXError('ERR_BEARER_TOKEN', 'x', { statusCode: 401, challenge: 'Bearer realm="api"' }).headers['WWW-Authenticate']).toBe('Bearer realm="api"')
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

  it('keeps the cause', () => {
    const cause = new Error('root')
    expect(new ConfigError('x', { cause }).cause).toBe(cause)
    expect(new KeyError('x', { cause }).cause).toBe(cause)
    expect(new BearerTokenError('x', { cause }).cause).toBe(cause)
    expect(new TokenExchangeError('ERR_TIMEOUT', 'x', { cause }).cause).toBe(cause)
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

describe('redact', () => {
  it('leaves ordinary text alone', () => {
    expect(redact('token verification failed: expired')).toBe('token verification failed: expired')
    expect(redact('')).toBe('')
    expect(redact('dev-gcp:team:app is not authorized, see docs.nais.io.')).toBe('dev-gcp:team:app is not authorized, see docs.nais.io.')
  })

  it('removes JWT-shaped text wherever it occurs', () => {
    expect(redact(`bad token ${JWT}`)).toBe('bad token [redacted]')
    expect(redact(`${JWT}, and ${JWT}.`)).toBe('[redacted], and [redacted].')
    expect(redact(`token=${JWT}&x=1`)).toBe('token=[redacted]&x=1')
    // An unsigned JWT (empty signature) is still a token.
    const unsigned = JWT.slice(0, JWT.lastIndexOf('.') + 1)
    expect(redact(`got ${unsigned} here`)).toBe('got [redacted] here')
    expect(redact(`got ${JWT}`)).not.toContain(JWT.split('.')[1])
  })

  it('truncates to 300 characters plus an ellipsis', () => {
    expect(redact('a'.repeat(300))).toBe('a'.repeat(300))
    expect(redact('a'.repeat(301))).toBe(`${'a'.repeat(300)}…`)
    expect(redact('b'.repeat(10_000))).toHaveLength(301)
  })

  it('redacts before truncating, so a token at the end is not cut into a leak', () => {
    const text = `${'a '.repeat(140)}${JWT}`
    const out = redact(text)
    expect(out).toBe(`${'a '.repeat(140)}[redacted]`)
    const long = `${'x'.repeat(288)} ${JWT}`
    expect(redact(long)).toBe(`${'x'.repeat(288)} [redacted]`)
    expect(redact(long)).not.toContain(JWT.slice(0, 8))
  })

  // Issue #9 defect 1: the pattern used to run over the whole text before the cut, quadratic in a
  // run of word characters (86 s at the 256 KiB body cap). Now only a bounded window is ever examined,
  // so even 4 MiB of hostile text finishes at once; the test timeout is the (generous) bound.
  it('examines only a bounded window of the text, whatever its length', { timeout: 5_000 }, () => {
    for (const hostile of ['a'.repeat(4 * 1024 * 1024), 'ab.'.repeat(1024 * 1024), `eyJ${'-'.repeat(4 * 1024 * 1024)}`]) {
      const out = redact(hostile)
      expect(out.length).toBeLessThanOrEqual(301)
    }
    // A token right at the cut is still redacted: its start is inside the window.
    const text = `${'x '.repeat(140)}${JWT.repeat(100)}`
    expect(redact(text)).not.toContain(JWT.slice(0, 8))
  })

  it('replaces control characters, so a log line cannot be split', () => {
    expect(redact('a\nb\r\u0000c\u001bd')).toBe('a b  c d')
  })
})

describe('translate', () => {
  it('re-throws our own errors unchanged', () => {
    const own = new KeyError('x')
    expect(translate(own, () => new ConfigError('wrapped'))).toBe(own)
  })

  it('wraps anything else', () => {
    const foreign = new Error('boom')
    const wrapped = translate(foreign, (cause) => new ConfigError('wrapped', { cause }))
    expect(wrapped).toBeInstanceOf(ConfigError)
    expect(wrapped.cause).toBe(foreign)
    expect(translate('a string', () => new KeyError('k'))).toBeInstanceOf(KeyError)
  })
})

describe('safeErrorName', () => {
  it('passes names and system codes shaped as such', () => {
    expect(safeErrorName(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe('ThrottlingException')
    expect(safeErrorName(new DOMException('x', 'TimeoutError'))).toBe('TimeoutError')
    expect(safeErrorName(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED')
    expect(safeErrorName(new TypeError('fetch failed'))).toBe('TypeError')
  })

  it.each([
    ['a JWT', JWT],
    ['a JWT payload', JWT.split('.')[1] as string],
    ['500 characters', `${'A'.repeat(495)}Error`],
    ['a message', 'not authorized for 12345678910'],
    ['an identity number', '12345678910'],
    ['no string', 42],
  ])('refuses %s as a name', (_label, name) => {
    expect(safeErrorName(Object.assign(new Error('x'), { name }))).toBe('UnknownError')
  })

  it('refuses a non-error and a code of another shape', () => {
    expect(safeErrorName('ThrottlingException')).toBe('UnknownError')
    expect(safeErrorName(undefined)).toBe('UnknownError')
    expect(safeErrorName(Object.assign(new Error('x'), { code: JWT }))).toBe('Error')
  })
})
