/**
 * Hostile or broken input through the middy middleware `tokenX(...)`: whatever the event, the kit
 * answers with the documented 4xx — 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3), or 400 for
 * a repeated Authorization header — without an exchange, without loading its key, without running
 * the handler, and without throwing.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult } from 'aws-lambda'
import fc from 'fast-check'
import { SignJWT, importJWK } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { tokenX, type SecretsManagerLike } from '../../lib/index.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { albEvent, lambdaContext, v1Event, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, issue, type TokenXLambdaContext } from './support.ts'

let key: TestKey
let tokenx: TestServer
let valid: string
let send: ReturnType<typeof vi.fn<SecretsManagerLike['send']>>
let handle: ReturnType<typeof vi.fn<() => Promise<APIGatewayProxyResult>>>
let handler: (event: unknown) => Promise<APIGatewayProxyResult>

beforeAll(async () => {
  key = await newTestKey('app-key')
  tokenx = await startServer(issue)
  valid = await citizenToken('12345678910')
  // A Secrets Manager stub that counts key loads; the kit must not need one to refuse a caller.
  send = vi.fn<SecretsManagerLike['send']>(async () => ({ SecretString: JSON.stringify(key.privateJwk) }))
  handle = vi.fn(async () => ({ statusCode: 200, body: 'handled' }))
  const wrapped = middy<unknown, APIGatewayProxyResult, Error, TokenXLambdaContext>()
    .use(
      tokenX({
        audience: AUDIENCE,
        client: {
          clientId: CLIENT_ID,
          tokenEndpoint: `${tokenx.url}/token`,
          privateJwkSecretId: 'tokenx/private-jwk',
          secretsManager: { send },
        },
        logger: false,
      }),
    )
    .handler(handle)
  handler = (event) => wrapped(event, lambdaContext(10_000))
})
function resetCounts() {
  tokenx.requests.length = 0
  send.mockClear()
  handle.mockClear()
}
afterEach(resetCounts)
afterAll(() => tokenx.close())

/** The caller was refused before any I/O: no exchange, no key load, no handler. */
function expectRefusedWithoutIo() {
  expect(tokenx.requests).toHaveLength(0)
  expect(send).not.toHaveBeenCalled()
  expect(handle).not.toHaveBeenCalled()
}

type Refusal = 'missing' | 'invalid' | 'repeated'

const CHALLENGE: Record<Refusal, [number, string, object]> = {
  missing: [401, 'Bearer', { error_description: 'A bearer token is required' }],
  invalid: [
    401,
    'Bearer error="invalid_token", error_description="The bearer token is malformed, expired or not accepted"',
    { error: 'invalid_token', error_description: 'The bearer token is malformed, expired or not accepted' },
  ],
  repeated: [
    400,
    'Bearer error="invalid_request", error_description="The request must carry exactly one bearer token"',
    { error: 'invalid_request', error_description: 'The request must carry exactly one bearer token' },
  ],
}

async function expectRefusal(event: unknown, refusal: Refusal) {
  const result = await handler(event)
  const [status, challenge, body] = CHALLENGE[refusal]
  expect(result.statusCode).toBe(status)
  expect(result.headers?.['WWW-Authenticate']).toBe(challenge)
  expect(result.headers?.['Cache-Control']).toBe('no-store')
  expect(JSON.parse(result.body)).toEqual(body)
  expectRefusedWithoutIo()
}

async function expectAccepted(event: unknown) {
  const result = await handler(event)
  expect(result.statusCode).toBe(200)
  expect(handle).toHaveBeenCalledTimes(1)
  handle.mockClear()
}

describe('the Authorization header', () => {
  it.each([
    ['absent (v1)', () => v1Event()],
    ['absent (v2)', () => v2Event()],
    ['absent (ALB)', () => albEvent()],
    ['empty', () => v2Event('')],
    ['blank', () => v2Event('   \t ')],
    ['Basic', () => v2Event('Basic dXNlcjpwYXNz')],
    ['Digest', () => v1Event('Digest username="a", realm="b", nonce="c", uri="/", response="d"')],
    ['DPoP with a JWT', () => v2Event(`DPoP ${valid}`)],
    ['Negotiate', () => albEvent('Negotiate YIIabc')],
    [
      'only a Bearer token under another header name',
      () => ({ headers: { 'x-authorization': `Bearer ${valid}`, 'proxy-authorization': `Bearer ${valid}` } }),
    ],
  ])('%s → 401 with a bare Bearer challenge', async (_name, event) => {
    await expectRefusal(event(), 'missing')
  })

  it.each([
    [
      'two values in multiValueHeaders (v1)',
      () => ({ ...v1Event(`Bearer ${valid}`), multiValueHeaders: { Authorization: [`Bearer ${valid}`, 'Bearer other.token.here'] } }),
    ],
    ['a Bearer and a Basic value', () => ({ multiValueHeaders: { authorization: [`Bearer ${valid}`, 'Basic dXNlcjpwYXNz'] } })],
    [
      'two header names differing in case',
      () => ({ headers: { Authorization: `Bearer ${valid}`, authorization: 'Bearer another.jwt.value' } }),
    ],
    [
      'headers and multiValueHeaders disagreeing',
      () => ({ headers: { authorization: `Bearer ${valid}` }, multiValueHeaders: { authorization: ['Bearer x.y.z'] } }),
    ],
  ])('repeated: %s → 400 invalid_request', async (_name, event) => {
    await expectRefusal(event(), 'repeated')
  })

  it('repeated on an HTTP API (v2 joins repeated headers with a comma) → 401 invalid_token', async () => {
    await expectRefusal(v2Event(`Bearer ${valid},Bearer ${valid}`), 'invalid')
  })

  // Built from the valid token once beforeAll has made it.
  it.each<[string, (token: string) => string]>([
    ['the scheme alone', () => 'Bearer'],
    ['a token with a space', () => 'Bearer abc def'],
    ['a JWT with a space inside', (t) => `Bearer ${t.slice(0, 20)} ${t.slice(20)}`],
    ['a NUL byte', (t) => `Bearer ${t}\u0000`],
    ['a CR LF (header injection)', (t) => `Bearer ${t}\r\nX-Admin: true`],
    ['a tab', (t) => `Bearer\t${t}`],
    ['DEL', (t) => `Bearer ${t}\u007f`],
    ['non-ASCII', (t) => `Bearer ${t.slice(0, 30)}ø${t.slice(30)}`],
    ['a quoted token', (t) => `Bearer "${t}"`],
    ['no space after the scheme', (t) => `Bearer${t}`],
    ['not a JWT', () => 'Bearer abc'],
    ['two parts', () => 'Bearer abc.def'],
    ['three parts that are not base64url JSON', () => 'Bearer abc.def.ghi'],
    ['an unsigned JWT (alg none, empty signature)', (t) => `Bearer ${t.split('.').slice(0, 2).join('.')}.`],
    ['four parts (JWE-like)', (t) => `Bearer ${t}.extra`],
    ['a payload that is a JSON array', () => `Bearer eyJhbGciOiJSUzI1NiJ9.${Buffer.from('[1,2]').toString('base64url')}.c2ln`],
  ])('%s → 401 invalid_token', async (_name, value) => {
    await expectRefusal(v2Event(value(valid)), 'invalid')
  })

  it('a subject token of hundreds of kilobytes → 401, without a regular expression running over it', async () => {
    const [header, , signature] = valid.split('.')
    const hugePayload = Buffer.from(JSON.stringify({ exp: 4_102_444_800, pad: 'x'.repeat(400_000) })).toString('base64url')
    const exec = vi.spyOn(RegExp.prototype, 'exec')
    const test = vi.spyOn(RegExp.prototype, 'test')
    for (const event of [
      v1Event(`Bearer ${header}.${hugePayload}.${signature}`),
      v2Event(`Bearer ${'a'.repeat(500_000)}`),
      albEvent(`Bearer ${'A.'.repeat(200_000)}`),
    ]) {
      await expectRefusal(event, 'invalid')
    }
    const scanned = [...exec.mock.calls, ...test.mock.calls].some(([input]) => String(input).length > 100_000)
    expect(scanned).toBe(false)
  })

  it('expired, not yet signed, or without exp → 401', async () => {
    const signer = await importJWK(key.privateJwk, 'RS256')
    const now = Math.floor(Date.now() / 1000)
    const expired = await citizenToken('1', { now: now - 7200, expiresIn: 60 })
    const noExp = await new SignJWT({ pid: '1' }).setProtectedHeader({ alg: 'RS256' }).setIssuedAt().sign(signer)
    const stringExp = await new SignJWT({ pid: '1', exp: String(now + 3600) } as Record<string, unknown>)
      .setProtectedHeader({ alg: 'RS256' })
      .sign(signer)
    for (const token of [expired, noExp, stringExp]) await expectRefusal(v2Event(`Bearer ${token}`), 'invalid')
  })
})

describe('events of an unknown shape', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a string', `Bearer ${'x'}`],
    ['a boolean', true],
    ['an empty array', []],
    ['an array of events', [{ headers: { authorization: 'Bearer a.b.c' } }]],
    ['an empty object', {}],
    ['an object without headers', { httpMethod: 'GET', path: '/' }],
    ['headers: null', { headers: null, multiValueHeaders: null }],
    ['headers: a string', { headers: 'Authorization: Bearer a.b.c' }],
    ['headers: an array', { headers: ['Authorization', 'Bearer a.b.c'] }],
    ['headers: a number', { headers: 7 }],
    ['an Authorization value that is a number', { headers: { authorization: 12345 } }],
    ['an Authorization value that is an object', { headers: { authorization: { value: 'Bearer a.b.c' } } }],
    ['an Authorization value that is an array', { headers: { authorization: ['Bearer a.b.c'] } }],
    ['multiValueHeaders with a null list', { multiValueHeaders: { authorization: null } }],
    ['multiValueHeaders with non-string values', { multiValueHeaders: { authorization: [1, null, {}, []] } }],
    ['a __proto__ header', JSON.parse('{"headers":{"__proto__":{"authorization":"Bearer a.b.c"}}}')],
  ])('%s → 401 with a bare Bearer challenge', async (_name, event) => {
    await expectRefusal(event, 'missing')
  })
})

describe('accepted as the RFCs allow', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('the scheme %s (auth schemes are case-insensitive, RFC 9110 §11.1)', async (scheme) => {
    await expectAccepted(v2Event(`${scheme} ${valid}`))
  })

  it.each(['Authorization', 'authorization', 'AUTHORIZATION', 'aUtHoRiZaTiOn'])('the header name %s', async (name) => {
    await expectAccepted({ headers: { [name]: `Bearer ${valid}` } })
    await expectAccepted({ multiValueHeaders: { [name]: [`Bearer ${valid}`] } })
  })

  it('several spaces after the scheme and trailing spaces', async () => {
    await expectAccepted(v2Event(`Bearer    ${valid}   `))
  })
})

describe('properties (fast-check)', () => {
  const eventFor = fc.constantFrom(v1Event, v2Event, albEvent)
  // Any code point, ASCII and control characters more often. (fast-check's binary string unit
  // builds a table of every code point first, which alone takes over a second.)
  const anyChar = fc
    .oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0x10ffff }))
    .map((code) => String.fromCodePoint(code))
  const anyString = (maxLength: number) => fc.array(anyChar, { maxLength }).map((chars) => chars.join(''))

  it('any header value that is not "Bearer <unexpired signed JWT>" is refused with 400 or 401 and no I/O', async () => {
    const value = fc.oneof(
      anyString(200),
      fc.string({ unit: 'grapheme-ascii', maxLength: 200 }),
      fc
        .tuple(
          fc.mixedCase(fc.constant('bearer')),
          fc.string({ maxLength: 5 }).map((s) => s.replace(/[^ \t]/g, ' ')),
          anyString(200),
        )
        .map(([scheme, gap, rest]) => `${scheme}${gap}${rest}`),
    )
    await fc.assert(
      fc.asyncProperty(eventFor, value, async (event, authorization) => {
        resetCounts()
        const result = await handler(event(authorization))
        expect([400, 401]).toContain(result.statusCode)
        expect(result.headers?.['WWW-Authenticate']).toMatch(/^Bearer/)
        expectRefusedWithoutIo()
      }),
      { numRuns: 300 },
    )
  })

  it('a valid token with any one character spliced in is refused, unless the character is harmless', async () => {
    const spliced = fc.tuple(
      fc.nat({ max: valid.length }),
      fc.oneof(fc.constantFrom(' ', '\t', '\r', '\n', '\u0000', '\u007f', ',', ';', '"', '\\', 'ø', '€', '\u2028', '=', '%'), anyChar),
    )
    await fc.assert(
      fc.asyncProperty(spliced, async ([at, char]) => {
        resetCounts()
        const token = `${valid.slice(0, at)}${char}${valid.slice(at)}`
        const result = await handler(v2Event(`Bearer ${token}`))
        if (result.statusCode === 200) {
          // Only a base64url character keeps the token well-formed (TokenX then decides; here it
          // issues); a space before it is one more separator (RFC 6750 §2.1 `1*SP`), and whitespace
          // after it is not part of the header value (RFC 9110 §5.5).
          const harmless = /^[A-Za-z0-9_-]$/.test(char) || (at === 0 && char === ' ') || (at === valid.length && char.trim() === '')
          expect(harmless, JSON.stringify({ at, char })).toBe(true)
        } else {
          expect(result.statusCode).toBe(401)
          expectRefusedWithoutIo()
        }
      }),
      { numRuns: 200 },
    )
  })

  it('any value at all as the event, or as its headers, never crashes the middleware', async () => {
    const headerName = fc.oneof(fc.mixedCase(fc.constant('authorization')), fc.string({ maxLength: 20 }))
    const headerValue = fc.oneof(
      fc.anything(),
      anyString(100).map((s) => `Bearer ${s}`),
    )
    const headers = fc.oneof(fc.anything(), fc.dictionary(headerName, headerValue, { maxKeys: 4 }))
    const multiValueHeaders = fc.oneof(
      fc.anything(),
      fc.dictionary(headerName, fc.oneof(fc.array(headerValue, { maxLength: 3 }), headerValue), { maxKeys: 4 }),
    )
    const event = fc.oneof(fc.anything(), fc.record({ headers, multiValueHeaders }, { requiredKeys: [] }))
    await fc.assert(
      fc.asyncProperty(event, async (candidate) => {
        resetCounts()
        const result = await handler(candidate)
        expect([400, 401]).toContain(result.statusCode)
        expect(() => JSON.parse(result.body)).not.toThrow()
        expectRefusedWithoutIo()
      }),
      { numRuns: 300 },
    )
  })
})

describe('before configuration is even read', () => {
  it('a function with no TOKEN_X_* environment still answers a hostile caller 401, not 500', async () => {
    const wrapped = middy()
      .use(tokenX({ audience: AUDIENCE, env: {}, logger: false }))
      .handler(async () => ({ statusCode: 200 }))
    for (const event of [
      null,
      v2Event(),
      v2Event('Bearer not-a-jwt here'),
      { multiValueHeaders: { authorization: ['Bearer a', 'Bearer b'] } },
    ]) {
      const result = (await wrapped(event, lambdaContext(10_000))) as APIGatewayProxyResult
      expect([400, 401]).toContain(result.statusCode)
    }
  })
})
