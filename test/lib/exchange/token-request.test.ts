import { describe, expect, it } from 'vitest'
import { TokenExchangeError } from '../../../lib/errors.ts'
import {
  errorFromAnswer,
  exchangeForm,
  isInvalidClient,
  JWT_BEARER_ASSERTION,
  JWT_TOKEN_TYPE,
  parseTokenResponse,
  requestToken,
  TOKEN_EXCHANGE_GRANT,
} from '../../../lib/exchange/token-request.ts'
import { ACCESS_TOKEN_TYPE, MAX_EXPIRES_IN } from '../../../lib/util/access-token.ts'
import { WITHHELD } from '../../../lib/exchange/tokenx-descriptions.ts'
import { AnswerTooLargeError, formText, type HttpAnswer, type PostForm } from '../../../lib/util/http.ts'
import { MalformedAnswerError } from '../../../lib/util/http1.ts'
import { expectExchangeForm } from '../../helpers/tokenx.ts'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'
const answer = (status: number, body: string | object, contentType = 'application/json'): HttpAnswer => ({
  status,
  contentType,
  body: typeof body === 'string' ? body : JSON.stringify(body),
})
const valid = { access_token: 'downstream.token.value', issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: 899 }

describe('exchangeForm', () => {
  it('has exactly the six parameters, each once', () => {
    const form = exchangeForm({ clientAssertion: 'a.b.c', subjectToken: JWT, audience: 'dev-gcp:team:api' })
    expectExchangeForm(form, { client_assertion: 'a.b.c', subject_token: JWT, audience: 'dev-gcp:team:api' })
    expect(TOKEN_EXCHANGE_GRANT).toBe('urn:ietf:params:oauth:grant-type:token-exchange')
    expect(JWT_BEARER_ASSERTION).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
    expect(JWT_TOKEN_TYPE).toBe('urn:ietf:params:oauth:token-type:jwt')
  })

  it('encodes values so none can add a parameter', () => {
    const text = exchangeForm({ clientAssertion: 'x&grant_type=password', subjectToken: 'a+b=c', audience: 'a:b:c d' })
    const form = new URLSearchParams(text)
    expect(form.getAll('grant_type')).toEqual([TOKEN_EXCHANGE_GRANT])
    expect(form.get('client_assertion')).toBe('x&grant_type=password')
    expect(form.get('subject_token')).toBe('a+b=c')
    expect(form.get('audience')).toBe('a:b:c d')
    expect([...form.keys()]).toHaveLength(6)
  })
})

describe('parseTokenResponse', () => {
  it('accepts a valid body', () => {
    expect(parseTokenResponse(answer(200, valid))).toStrictEqual({
      access_token: 'downstream.token.value',
      token_type: 'Bearer',
      expires_in: 899,
      issued_token_type: ACCESS_TOKEN_TYPE,
    })
  })

  it.each(['bearer', 'BEARER', 'BeArEr'])('accepts token_type %s as Bearer', (tokenType) => {
    expect(parseTokenResponse(answer(200, { ...valid, token_type: tokenType })).token_type).toBe('Bearer')
  })

  it('defaults issued_token_type and keeps a given one', () => {
    const { issued_token_type: _, ...without } = valid
    expect(parseTokenResponse(answer(200, without)).issued_token_type).toBe(ACCESS_TOKEN_TYPE)
    expect(parseTokenResponse(answer(200, { ...valid, issued_token_type: JWT_TOKEN_TYPE })).issued_token_type).toBe(JWT_TOKEN_TYPE)
  })

  it('accepts expires_in up to a day and drops fractions', () => {
    expect(parseTokenResponse(answer(200, { ...valid, expires_in: MAX_EXPIRES_IN })).expires_in).toBe(86_400)
    expect(parseTokenResponse(answer(200, { ...valid, expires_in: 1 })).expires_in).toBe(1)
    expect(parseTokenResponse(answer(200, { ...valid, expires_in: 900.9 })).expires_in).toBe(900)
  })

  it('accepts an access token of any visible ASCII', () => {
    const token = '!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'
    expect(parseTokenResponse(answer(200, { ...valid, access_token: token })).access_token).toBe(token)
  })

  it.each<[string, string | object, RegExp]>([
    ['a body that is not JSON', 'access_token=x', /not a JSON object/],
    ['an HTML body', '<html>ok</html>', /not a JSON object/],
    ['an empty body', '', /not a JSON object/],
    ['JSON null', 'null', /not a JSON object/],
    ['a JSON array', [valid], /not a JSON object/],
    ['a JSON string', JSON.stringify(JSON.stringify(valid)), /not a JSON object/],
    ['no access_token', { ...valid, access_token: undefined }, /no usable access_token/],
    ['an empty access_token', { ...valid, access_token: '' }, /no usable access_token/],
    ['a numeric access_token', { ...valid, access_token: 12345 }, /no usable access_token/],
    ['a non-ASCII access_token', { ...valid, access_token: 'tøken' }, /no usable access_token/],
    ['an access_token with a space', { ...valid, access_token: 'abc def' }, /no usable access_token/],
    ['an access_token with a CRLF', { ...valid, access_token: 'abc\r\nX-Injected: 1' }, /no usable access_token/],
    ['an access_token with a tab', { ...valid, access_token: 'abc\tdef' }, /no usable access_token/],
    ['an access_token of only whitespace', { ...valid, access_token: '   ' }, /no usable access_token/],
    ['a 64 KiB + 1 access_token', { ...valid, access_token: 'a'.repeat(64 * 1024 + 1) }, /no usable access_token/],
    ['no token_type', { ...valid, token_type: undefined }, /token_type other than Bearer/],
    ['token_type DPoP', { ...valid, token_type: 'DPoP' }, /token_type other than Bearer/],
    ['token_type N_A', { ...valid, token_type: 'N_A' }, /token_type other than Bearer/],
    ['token_type " Bearer"', { ...valid, token_type: ' Bearer' }, /token_type other than Bearer/],
    ['no expires_in', { ...valid, expires_in: undefined }, /expires_in/],
    ['expires_in 0', { ...valid, expires_in: 0 }, /expires_in/],
    ['a negative expires_in', { ...valid, expires_in: -900 }, /expires_in/],
    ['expires_in as a string', { ...valid, expires_in: '900' }, /expires_in/],
    ['expires_in null', { ...valid, expires_in: null }, /expires_in/],
    ['expires_in NaN (JSON cannot carry it)', '{"access_token":"x","token_type":"Bearer","expires_in":NaN}', /not a JSON object/],
    ['an absurd expires_in', { ...valid, expires_in: MAX_EXPIRES_IN + 1 }, /expires_in/],
    ['a huge expires_in', '{"access_token":"x","token_type":"Bearer","expires_in":1e400}', /expires_in/],
    ['a numeric issued_token_type', { ...valid, issued_token_type: 1 }, /issued_token_type/],
  ])('rejects %s', (_label, body, why) => {
    const err = (() => {
      try {
        parseTokenResponse(answer(200, body))
      } catch (e) {
        return e
      }
      throw new Error('expected a rejection')
    })()
    expect(err).toBeInstanceOf(TokenExchangeError)
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', status: 502, tokenEndpointStatus: 200 })
    expect((err as { detail: string }).detail).toMatch(/^TokenX answered 200 with /)
    expect((err as { detail: string }).detail).toMatch(why)
  })

  // Flooring 0.5 would hand out a token with expires_in 0: expired the moment it is issued.
  it('never returns an expires_in below one second', () => {
    let parsed: number | undefined
    try {
      parsed = parseTokenResponse(answer(200, { ...valid, expires_in: 0.5 })).expires_in
    } catch (err) {
      expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT' })
    }
    if (parsed !== undefined) expect(parsed).toBeGreaterThanOrEqual(1)
  })

  it('never quotes the access token it rejects', () => {
    const err = (() => {
      try {
        parseTokenResponse(answer(200, { ...valid, access_token: `${JWT} `, token_type: 'mac' }))
      } catch (e) {
        return e as Error & { detail: string }
      }
      throw new Error('expected a rejection')
    })()
    expect(err.detail).not.toContain(JWT.slice(0, 20))
  })
})

describe('errorFromAnswer', () => {
  it.each<[string, HttpAnswer, string, number, { error?: string; error_description?: string }]>([
    [
      '400 invalid_request about the subject token',
      answer(400, { error: 'invalid_request', error_description: 'invalid subject_token: token verification failed: Expired+JWT' }),
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
      { error: 'invalid_request', error_description: 'invalid subject_token: token verification failed: Expired JWT' },
    ],
    [
      '400 invalid_request with an unknown description',
      answer(400, { error: 'invalid_request', error_description: 'token verification failed: expired' }),
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
      { error: 'invalid_request', error_description: `token verification failed: ${WITHHELD}` },
    ],
    [
      '400 invalid_request without a description',
      answer(400, { error: 'invalid_request' }),
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
      { error: 'invalid_request' },
    ],
    [
      '400 invalid_request with a non-string description',
      answer(400, { error: 'invalid_request', error_description: { text: 'x' } }),
      'ERR_SUBJECT_TOKEN_REJECTED',
      401,
      { error: 'invalid_request' },
    ],
    [
      '400 invalid_request: unknown audience',
      answer(400, { error: 'invalid_request', error_description: 'token exchange audience dev-gcp:team:nope is invalid' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_request', error_description: 'token exchange audience <audience> is invalid' },
    ],
    [
      '400 invalid_request: unknown audience (local TokenX)',
      answer(400, { error: 'invalid_request', error_description: 'audience dev-gcp:team:nope is invalid' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_request', error_description: 'audience <audience> is invalid' },
    ],
    [
      '400 invalid_request: access policy',
      answer(400, {
        error: 'invalid_request',
        error_description: "client 'dev-gcp:team:app' is not authorized to get token with aud=dev-gcp:team:api",
      }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_request', error_description: "client '<client id>' is not authorized to get token with aud=<audience>" },
    ],
    [
      "400 invalid_request: our assertion's key unknown",
      answer(400, {
        error: 'invalid_request',
        error_description:
          'token verification failed: Signed+JWT+rejected%3A+Another+algorithm+expected%2C+or+no+matching+key%28s%29+found',
      }),
      'ERR_CLIENT_REJECTED',
      500,
      {
        error: 'invalid_request',
        error_description: 'token verification failed: Signed JWT rejected: Another algorithm expected, or no matching key(s) found',
      },
    ],
    [
      '400 invalid_request: client not authenticated',
      answer(400, { error: 'invalid_request', error_description: 'client is not authenticated' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_request', error_description: 'client is not authenticated' },
    ],
    [
      '401 invalid_client',
      answer(401, {
        error: 'invalid_client',
        error_description: 'invalid client authentication for client_id=dev-gcp:team:app, client not registered.',
      }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_client', error_description: 'invalid client authentication for client_id=<client id>, client not registered.' },
    ],
    ['400 invalid_client', answer(400, { error: 'invalid_client' }), 'ERR_CLIENT_REJECTED', 500, { error: 'invalid_client' }],
    [
      '400 unauthorized_client',
      answer(400, { error: 'unauthorized_client' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'unauthorized_client' },
    ],
    ['400 invalid_grant', answer(400, { error: 'invalid_grant' }), 'ERR_CLIENT_REJECTED', 500, { error: 'invalid_grant' }],
    [
      '400 unsupported_grant_type',
      answer(400, { error: 'unsupported_grant_type' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'unsupported_grant_type' },
    ],
    ['400 invalid_target', answer(400, { error: 'invalid_target' }), 'ERR_CLIENT_REJECTED', 500, { error: 'invalid_target' }],
    ['400 invalid_scope', answer(400, { error: 'invalid_scope' }), 'ERR_CLIENT_REJECTED', 500, { error: 'invalid_scope' }],
    ['403 access_denied', answer(403, { error: 'access_denied' }), 'ERR_CLIENT_REJECTED', 500, { error: 'access_denied' }],
    [
      '401 invalid_request (status decides)',
      answer(401, { error: 'invalid_request', error_description: 'token verification failed' }),
      'ERR_CLIENT_REJECTED',
      500,
      { error: 'invalid_request', error_description: WITHHELD },
    ],
    ['401 plain text', answer(401, 'Unauthorized', 'text/plain'), 'ERR_CLIENT_REJECTED', 500, {}],
    ['403 HTML', answer(403, '<html><body><h1>403 Forbidden</h1></body></html>', 'text/html'), 'ERR_CLIENT_REJECTED', 500, {}],
    ['400 plain text', answer(400, 'Bad Request', 'text/plain'), 'ERR_TOKEN_ENDPOINT', 502, {}],
    ['400 with an empty body', answer(400, ''), 'ERR_TOKEN_ENDPOINT', 502, {}],
    [
      '400 JSON with a non-string error',
      answer(400, { error: 42, error_description: 'x' }),
      'ERR_TOKEN_ENDPOINT',
      502,
      { error_description: WITHHELD },
    ],
    ['400 JSON array', answer(400, [{ error: 'invalid_request' }]), 'ERR_TOKEN_ENDPOINT', 502, {}],
    ['400 unknown error code', answer(400, { error: 'slow_down' }), 'ERR_TOKEN_ENDPOINT', 502, { error: 'slow_down' }],
    ['404 HTML', answer(404, '<!doctype html><title>Not Found</title>', 'text/html'), 'ERR_TOKEN_ENDPOINT', 502, {}],
    [
      '429 JSON with an unregistered error code',
      answer(429, { error: 'rate_limited' }),
      'ERR_TOKEN_ENDPOINT',
      502,
      { error: '[unrecognised]' },
    ],
    ['500 plain text', answer(500, 'Internal Server Error', 'text/plain'), 'ERR_TOKEN_ENDPOINT', 502, {}],
    [
      '500 JSON invalid_client (5xx decides)',
      answer(500, { error: 'invalid_client' }),
      'ERR_TOKEN_ENDPOINT',
      502,
      { error: 'invalid_client' },
    ],
    ['502 HTML', answer(502, '<html>Bad Gateway</html>', 'text/html'), 'ERR_TOKEN_ENDPOINT', 502, {}],
    ['503 empty body', answer(503, ''), 'ERR_TOKEN_ENDPOINT', 502, {}],
    [
      '503 temporarily_unavailable',
      answer(503, { error: 'temporarily_unavailable' }),
      'ERR_TOKEN_ENDPOINT',
      502,
      { error: 'temporarily_unavailable' },
    ],
    ['302 redirect', answer(302, ''), 'ERR_TOKEN_ENDPOINT', 502, {}],
  ])('%s → %s (%i)', (_label, given, code, status, upstream) => {
    const err = errorFromAnswer(given)
    expect(err).toBeInstanceOf(TokenExchangeError)
    expect(err.code).toBe(code)
    expect(err.status).toBe(status)
    expect(err.tokenEndpointStatus).toBe(given.status)
    expect(err.upstream).toEqual(upstream)
    expect(err.retryable).toBe(code === 'ERR_TOKEN_ENDPOINT' && given.status >= 500)
  })

  it('puts what the kit kept of what TokenX said into the detail', () => {
    expect(errorFromAnswer(answer(401, { error: 'invalid_client', error_description: 'Client authentication failed' })).detail).toBe(
      'TokenX refused our client: invalid_client (Client authentication failed)',
    )
    expect(errorFromAnswer(answer(503, 'down')).detail).toBe('TokenX answered 503')
    expect(
      errorFromAnswer(
        answer(400, { error: 'invalid_request', error_description: 'invalid subject_token: token verification failed: Expired+JWT' }),
      ).detail,
    ).toBe('TokenX rejected the subject token: invalid_request (invalid subject_token: token verification failed: Expired JWT)')
    expect(errorFromAnswer(answer(400, { error: 'invalid_request', error_description: 'expired' })).detail).toBe(
      `TokenX rejected the subject token: invalid_request (${WITHHELD})`,
    )
  })

  it('keeps nothing of a JWT that TokenX echoes back, in upstream and detail', () => {
    const err = errorFromAnswer(answer(400, { error: 'invalid_request', error_description: `token ${JWT} has expired` }))
    expect(err.code).toBe('ERR_SUBJECT_TOKEN_REJECTED')
    expect(err.upstream.error_description).toBe(WITHHELD)
    for (const text of [err.detail, JSON.stringify(err.upstream), err.error_description]) {
      expect(text).not.toContain(JWT.split('.')[1])
    }
    const inError = errorFromAnswer(answer(401, { error: JWT }))
    // Longer than any RFC 6749 §5.2 code: classified, not quoted.
    expect(inError.upstream.error).toBe('[unrecognised]')
    expect(inError.detail).not.toContain(JWT.split('.')[0])
    expect(errorFromAnswer(answer(401, { error: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIx' })).upstream.error).toBe('[unrecognised]')
    expect(errorFromAnswer(answer(401, { error: '12345678910' })).upstream.error).toBe('[unrecognised]')
    expect(errorFromAnswer(answer(500, { error: 'server error\nforged line' })).upstream.error).toBe('[unrecognised]')
    expect(errorFromAnswer(answer(400, { error: 'invalid_request' })).upstream.error).toBe('invalid_request')
  })

  it('keeps nothing of a long description', () => {
    const err = errorFromAnswer(answer(400, { error: 'invalid_request', error_description: 'x'.repeat(5_000) }))
    expect(err.upstream.error_description).toBe(WITHHELD)
    expect(err.detail.length).toBeLessThan(400)
  })

  it('answers the caller with fixed texts only', () => {
    const err = errorFromAnswer(answer(400, { error: 'invalid_request', error_description: 'something TokenX-internal' }))
    expect(err.error).toBe('invalid_token')
    expect(err.error_description).toBe('The bearer token is malformed, expired or not accepted')
  })
})

/** tokendings' answer when no registered key verifies our client assertion (Extensions.kt `SignedJWT.verify`). */
const NO_MATCHING_KEY = 'token verification failed: Signed+JWT+rejected%3A+Another+algorithm+expected%2C+or+no+matching+key%28s%29+found'
const INVALID_SIGNATURE = 'token verification failed: Signed+JWT+rejected%3A+Invalid+signature'
const invalidRequest = (description: string) => answer(400, { error: 'invalid_request', error_description: description })

describe('errorFromAnswer, tokendings wordings matched whole', () => {
  it.each([
    ['no registered key for the assertion', NO_MATCHING_KEY],
    ['an assertion signature no registered key verifies', INVALID_SIGNATURE],
    ['the same, not URL-encoded', 'token verification failed: Signed JWT rejected: Invalid signature'],
  ])('%s is ours (ERR_CLIENT_REJECTED)', (_label, description) => {
    expect(errorFromAnswer(invalidRequest(description)).code).toBe('ERR_CLIENT_REJECTED')
  })

  // A caller's token can put text of its choosing into TokenX's description (an `iss`, an `aud`):
  // only tokendings' whole wording of our own faults is ours, never a description that contains it.
  it.each([
    ['the subject token, prefixed', `invalid subject_token: ${NO_MATCHING_KEY}`],
    ['the subject token, prefixed (signature)', `invalid subject_token: ${INVALID_SIGNATURE}`],
    [
      'an echoed issuer that names an audience',
      'invalid subject_token: invalid request, cannot validate token from issuer=audience dev-gcp:team:x is invalid',
    ],
    ['an older wording with an echoed issuer', 'invalid request, validator for issuer=client is not authenticated not found'],
    ['a claim quoting the key refusal', 'token verification failed: JWT+iss+claim+has+value+no+matching+key%28s%29+found%2C+must+be+x'],
    ['the key refusal with more after it', `${INVALID_SIGNATURE}+and+more`],
    ['an access policy refusal inside another text', "x client 'a:b:c' is not authorized to get token with aud=a:b:d"],
  ])("%s is the subject token's (ERR_SUBJECT_TOKEN_REJECTED)", (_label, description) => {
    const err = errorFromAnswer(invalidRequest(description))
    expect(err.code).toBe('ERR_SUBJECT_TOKEN_REJECTED')
    expect(isInvalidClient(err)).toBe(false)
  })
})

describe('isInvalidClient', () => {
  it("is true for a 4xx invalid_client and tokendings' refusal of our assertion's key only", () => {
    expect(isInvalidClient(errorFromAnswer(answer(400, { error: 'invalid_client' })))).toBe(true)
    expect(
      isInvalidClient(errorFromAnswer(answer(401, { error: 'invalid_client', error_description: 'invalid client authentication' }))),
    ).toBe(true)
    expect(isInvalidClient(errorFromAnswer(invalidRequest(NO_MATCHING_KEY)))).toBe(true)
    expect(isInvalidClient(errorFromAnswer(invalidRequest(INVALID_SIGNATURE)))).toBe(true)
    expect(isInvalidClient(errorFromAnswer(answer(403, { error: 'access_denied' })))).toBe(false)
    expect(isInvalidClient(errorFromAnswer(answer(400, { error: 'invalid_request' })))).toBe(false)
    expect(isInvalidClient(errorFromAnswer(invalidRequest('audience dev-gcp:team:nope is invalid')))).toBe(false)
    expect(isInvalidClient(new Error('invalid_client'))).toBe(false)
    expect(isInvalidClient(undefined)).toBe(false)
  })

  // RFC 6749 §5.2: only invalid_client says our client authentication failed; the subject token's
  // errors, and answers that say nothing, must not cost a key reload.
  it.each([
    ['a bare 401 (a proxy, a gateway)', answer(401, 'Unauthorized', 'text/plain')],
    ['401 invalid_grant', answer(401, { error: 'invalid_grant', error_description: 'token expired' })],
    ['400 invalid_grant', answer(400, { error: 'invalid_grant' })],
    ['401 invalid_request', answer(401, { error: 'invalid_request', error_description: NO_MATCHING_KEY })],
    ['500 invalid_client', answer(500, { error: 'invalid_client' })],
  ])('is false for %s', (_label, given) => {
    expect(isInvalidClient(errorFromAnswer(given))).toBe(false)
  })
})

describe('requestToken, TokenX exchange form', () => {
  const endpoint = new URL('http://127.0.0.1:1/token')
  const request = { clientAssertion: 'a.b.c', subjectToken: JWT, audience: 'dev-gcp:team:api' }
  const run = (post: PostForm, signal = new AbortController().signal) =>
    requestToken(post, endpoint, exchangeForm(request), signal, 'TokenX', errorFromAnswer)

  it('posts the form to the endpoint and parses a 200', async () => {
    const calls: Array<[URL, string]> = []
    const result = await run(async (url, form) => {
      calls.push([url, formText(form)])
      return answer(200, valid)
    })
    expect(result.access_token).toBe('downstream.token.value')
    expect(calls).toEqual([[endpoint, exchangeForm(request)]])
  })

  it('turns a non-200 answer into its error', async () => {
    await expect(run(async () => answer(401, { error: 'invalid_client' }))).rejects.toMatchObject({ code: 'ERR_CLIENT_REJECTED' })
    await expect(run(async () => answer(201, valid))).rejects.toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', tokenEndpointStatus: 201 })
  })

  it('maps transport failures', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    await expect(run(async () => Promise.reject(refused))).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      status: 503,
      detail: 'TokenX could not be reached (ECONNREFUSED)',
      cause: expect.objectContaining({ name: 'Error', code: 'ECONNREFUSED' }),
    })
    await expect(run(async () => Promise.reject(new AnswerTooLargeError('big')))).rejects.toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 502,
    })
    // The built-in client's own failures: an answer it cannot read is the endpoint's fault and not
    // retried; a connection that ended before the answer did is a transport failure and retried.
    const malformed = await run(async () => Promise.reject(new MalformedAnswerError('malformed status line'))).catch((e: unknown) => e)
    expect(malformed).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      status: 502,
      detail: 'TokenX answered with a malformed HTTP answer',
      cause: expect.objectContaining({ name: 'MalformedAnswerError' }),
    })
    expect((malformed as TokenExchangeError).retryable).toBe(false)
    const cut = Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' })
    const unavailable = await run(async () => Promise.reject(cut)).catch((e: unknown) => e)
    expect(unavailable).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', detail: 'TokenX could not be reached (ECONNRESET)' })
    expect((unavailable as TokenExchangeError).retryable).toBe(true)
    const timeout = new DOMException('timed out', 'TimeoutError')
    await expect(run(async () => Promise.reject(timeout))).rejects.toMatchObject({ code: 'ERR_TIMEOUT', status: 504 })
    const controller = new AbortController()
    const reason = new Error('caller gave up')
    controller.abort(reason)
    await expect(run(async () => Promise.reject(new Error('socket hang up')), controller.signal)).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
      // The caller's reason is foreign too: its name only.
      cause: expect.objectContaining({ name: 'Error', message: expect.not.stringContaining('caller gave up') }),
    })
  })
})
