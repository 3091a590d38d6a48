import { describe, expect, it, vi } from 'vitest'
import { bearerToken } from '../../../lib/inbound/bearer.ts'
import { BearerTokenError, type BearerProblem } from '../../../lib/errors.ts'

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJl'
const MAX = 16_384

const v1 = (value: string, name = 'Authorization') => ({
  resource: '/hello',
  path: '/hello',
  httpMethod: 'GET',
  headers: { Host: 'api.example', [name]: value },
  multiValueHeaders: { Host: ['api.example'], [name]: [value] },
  requestContext: { stage: 'prod' },
  body: null,
  isBase64Encoded: false,
})
const v2 = (value: string) => ({
  version: '2.0',
  routeKey: 'GET /hello',
  rawPath: '/hello',
  headers: { host: 'api.example', authorization: value },
  requestContext: { http: { method: 'GET' } },
  isBase64Encoded: false,
})
const alb = (value: string) => ({
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-north-1:0:targetgroup/tg/1' } },
  httpMethod: 'GET',
  path: '/hello',
  headers: { host: 'api.example', authorization: value },
  body: '',
  isBase64Encoded: false,
})
const albMulti = (values: string[]) => ({
  requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-north-1:0:targetgroup/tg/1' } },
  httpMethod: 'GET',
  path: '/hello',
  multiValueHeaders: { host: ['api.example'], authorization: values },
  body: '',
  isBase64Encoded: false,
})

function problemOf(event: unknown, max = MAX): BearerTokenError {
  try {
    bearerToken(event, max)
  } catch (err) {
    expect(err).toBeInstanceOf(BearerTokenError)
    return err as BearerTokenError
  }
  throw new Error('expected a BearerTokenError')
}

function expectProblem(event: unknown, problem: BearerProblem, max = MAX): BearerTokenError {
  const err = problemOf(event, max)
  expect(err.problem).toBe(problem)
  expect(err.status).toBe(problem === 'malformed_request' ? 400 : 401)
  return err
}

describe('bearerToken', () => {
  it.each([
    ['API Gateway v1', v1(`Bearer ${TOKEN}`)],
    ['API Gateway v1, headers only', { headers: { Authorization: `Bearer ${TOKEN}` } }],
    ['API Gateway v1, multiValueHeaders only', { headers: null, multiValueHeaders: { Authorization: [`Bearer ${TOKEN}`] } }],
    ['API Gateway v2', v2(`Bearer ${TOKEN}`)],
    ['ALB', alb(`Bearer ${TOKEN}`)],
    ['ALB with multi-value headers', albMulti([`Bearer ${TOKEN}`])],
  ])('reads the token of an %s event', (_label, event) => {
    expect(bearerToken(event, MAX)).toBe(TOKEN)
  })

  it.each(['Authorization', 'authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn'])('finds the header named %s', (name) => {
    expect(bearerToken(v1(`Bearer ${TOKEN}`, name), MAX)).toBe(TOKEN)
    expect(bearerToken({ multiValueHeaders: { [name]: [`Bearer ${TOKEN}`] } }, MAX)).toBe(TOKEN)
  })

  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('accepts the scheme written %s', (scheme) => {
    expect(bearerToken(v2(`${scheme} ${TOKEN}`), MAX)).toBe(TOKEN)
  })

  it('accepts several spaces after the scheme and surrounding whitespace', () => {
    expect(bearerToken(v2(`Bearer   ${TOKEN}`), MAX)).toBe(TOKEN)
    expect(bearerToken(v2(`  Bearer ${TOKEN}  `), MAX)).toBe(TOKEN)
  })

  it('accepts every b64token character, and trailing =', () => {
    const token = 'AZaz09-._~+/abc=='
    expect(bearerToken(v2(`Bearer ${token}`), MAX)).toBe(token)
  })

  it('ignores other headers that merely contain the name', () => {
    const event = { headers: { 'x-authorization': `Bearer ${TOKEN}`, 'authorization-x': `Bearer other`, authorization: `Bearer ${TOKEN}` } }
    expect(bearerToken(event, MAX)).toBe(TOKEN)
    expectProblem({ headers: { 'x-authorization': `Bearer ${TOKEN}` } }, 'missing')
  })

  it('treats the same value in headers and multiValueHeaders as one header', () => {
    expect(
      bearerToken(
        { headers: { Authorization: `Bearer ${TOKEN}` }, multiValueHeaders: { authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`] } },
        MAX,
      ),
    ).toBe(TOKEN)
  })

  describe('missing', () => {
    it.each([
      ['no event', undefined],
      ['a null event', null],
      ['a string event', 'Bearer x'],
      ['an event without headers', { httpMethod: 'GET' }],
      ['null headers', { headers: null, multiValueHeaders: null }],
      ['array headers', { headers: [`Bearer ${TOKEN}`] }],
      ['other headers only', v1('x', 'X-Api-Key')],
      ['an empty value', v2('')],
      ['a blank value', v2('   ')],
      ['an empty multi-value list', albMulti([])],
      ['empty multi values', albMulti(['', ' '])],
      ['a non-string value', { headers: { authorization: 42 } }],
      ['Basic', v2('Basic dXNlcjpwYXNz')],
      ['DPoP', v2(`DPoP ${TOKEN}`)],
      ['Negotiate', v1('Negotiate YIIabc')],
    ])('%s → missing', (_label, event) => {
      const err = expectProblem(event, 'missing')
      expect(err.error).toBe('')
    })
  })

  describe('malformed_request', () => {
    it.each([
      ['two multi values', albMulti([`Bearer ${TOKEN}`, 'Bearer other'])],
      ['two multi values, one of another scheme', albMulti([`Bearer ${TOKEN}`, 'Basic dXNlcjpwYXNz'])],
      [
        'headers and multiValueHeaders disagreeing',
        { headers: { Authorization: `Bearer ${TOKEN}` }, multiValueHeaders: { Authorization: ['Bearer other'] } },
      ],
      ['two header names in different case', { headers: { Authorization: `Bearer ${TOKEN}`, authorization: 'Bearer other' } }],
    ])('%s → 400', (_label, event) => {
      const err = expectProblem(event, 'malformed_request')
      expect(err.error).toBe('invalid_request')
    })
  })

  describe('invalid', () => {
    it.each([
      ['the scheme alone', 'Bearer'],
      ['the scheme and a space', 'Bearer '],
      ['a token with a space', 'Bearer abc def'],
      ['a token with a comma (v2 joins repeated headers)', `Bearer ${TOKEN},Bearer other`],
      ['a token with a comma', 'Bearer abc,def'],
      ['a token with a NUL', 'Bearer abc\u0000def'],
      ['a token with a tab', 'Bearer abc\tdef'],
      ['a token with a newline', 'Bearer abc\ndef'],
      ['a tab after the scheme', `Bearer\t${TOKEN}`],
      ['no space after the scheme', `Bearer${TOKEN}`],
      ['a quoted token', `Bearer "${TOKEN}"`],
      ['= inside the token', 'Bearer ab=cd'],
      ['non-ASCII', 'Bearer tøken'],
      ['garbage', '!!!'],
    ])('%s → invalid', (_label, value) => {
      const err = expectProblem(v2(value), 'invalid')
      expect(err.error).toBe('invalid_token')
      expect(err.detail).not.toContain('abc')
    })

    it('rejects an oversized value without running a regular expression over it', () => {
      const max = 100
      const fits = `Bearer ${'a'.repeat(max)}`
      expect(bearerToken(v2(fits), max)).toBe('a'.repeat(max))
      const exec = vi.spyOn(RegExp.prototype, 'exec')
      // Sanity: an ordinary invalid value does go through the regular expressions.
      const bad = `Bearer ${'b'.repeat(50)} x`
      expectProblem(v2(bad), 'invalid', max)
      expect(exec.mock.calls.some(([input]) => input === bad)).toBe(true)
      exec.mockClear()
      const huge = `Bearer ${'c'.repeat(1_000_000)} !`
      const err = expectProblem(v2(huge), 'invalid', max)
      expect(err.detail).toBe('the Authorization header is too long')
      expect(exec.mock.calls.some(([input]) => String(input).length > max + 64)).toBe(false)
    })
  })
})
