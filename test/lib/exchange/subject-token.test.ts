import { beforeAll, describe, expect, it } from 'vitest'
import { BearerTokenError } from '../../../lib/errors.ts'
import { subjectTokenExpiry } from '../../../lib/exchange/subject-token.ts'
import { citizenToken } from '../../helpers/citizen.ts'

const NOW = 1_700_000_000
const MAX = 16_384
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const HEADER = b64({ alg: 'RS256', typ: 'JWT' })
const SIG = b64('not-a-real-signature')
const jwt = (payload: unknown) => `${HEADER}.${b64(payload)}.${SIG}`

let valid: string

beforeAll(async () => {
  valid = await citizenToken('12345678910', { now: NOW, expiresIn: 3600 })
})

function rejection(token: unknown, now = NOW, max = MAX): BearerTokenError {
  try {
    subjectTokenExpiry(token, now, max)
  } catch (err) {
    expect(err).toBeInstanceOf(BearerTokenError)
    return err as BearerTokenError
  }
  throw new Error('expected a BearerTokenError')
}

describe('subjectTokenExpiry', () => {
  it('accepts a signed, unexpired JWT and returns its exp', () => {
    expect(subjectTokenExpiry(valid, NOW, MAX)).toBe(NOW + 3600)
    expect(() => subjectTokenExpiry(valid, NOW, MAX)).not.toThrow()
    expect(() => subjectTokenExpiry(jwt({ exp: NOW + 1 }), NOW, MAX)).not.toThrow()
  })

  it.each([undefined, null, '', 42, {}, ['a.b.c']])('treats %o as missing', (token) => {
    const err = rejection(token)
    expect(err.problem).toBe('missing')
    expect(err.status).toBe(401)
    expect(err.detail).toBe('no bearer token')
  })

  it('rejects a token longer than maxLength, and accepts one exactly that long', () => {
    const exact = jwt({ exp: NOW + 60, pad: 'x'.repeat(200) })
    expect(() => subjectTokenExpiry(exact, NOW, exact.length)).not.toThrow()
    const err = rejection(exact, NOW, exact.length - 1)
    expect(err.detail).toBe(`the bearer token is longer than ${exact.length - 1} characters`)
    expect(err.problem).toBe('invalid')
  })

  it.each<[string, () => string]>([
    ['a single part', () => 'abcdef'],
    ['two parts', () => valid.split('.').slice(0, 2).join('.')],
    ['four parts', () => `${valid}.extra`],
    ['five parts (a JWE)', () => 'a.b.c.d.e'],
    ['an empty signature (alg none)', () => `${b64({ alg: 'none' })}.${b64({ exp: NOW + 60 })}.`],
    ['an empty header', () => `.${b64({ exp: NOW + 60 })}.${SIG}`],
    ['base64 padding', () => `${HEADER}=.${b64({ exp: NOW + 60 })}.${SIG}`],
    ['standard base64 characters', () => `${HEADER}.${b64({ exp: NOW + 60 })}.ab+/cd`],
    ['a space', () => `${HEADER}.${b64({ exp: NOW + 60 })}. ${SIG}`],
    ['a newline', () => `${valid}\n`],
  ])('rejects %s as not a signed JWT', (_label, token) => {
    const err = rejection(token())
    expect(err.detail).toBe('the bearer token is not a signed JWT')
    expect(err.problem).toBe('invalid')
    expect(err.error).toBe('invalid_token')
  })

  it.each<[string, string, string]>([
    ['a payload that is not JSON', `${HEADER}.${b64('not json')}.${SIG}`, "the bearer token's payload is not a JWT claims set"],
    ['a JSON array payload', jwt([1, 2]), "the bearer token's payload is not a JWT claims set"],
    ['no exp', jwt({ sub: 'x' }), 'the bearer token has no exp claim'],
    ['a string exp', jwt({ exp: String(NOW + 60) }), 'the bearer token has no exp claim'],
    ['an exp of now', jwt({ exp: NOW }), 'the bearer token has expired'],
    ['an exp in the past', jwt({ exp: NOW - 1 }), 'the bearer token has expired'],
  ])('rejects %s', (_label, token, message) => {
    const err = rejection(token)
    expect(err.detail).toBe(message)
    expect(err.problem).toBe('invalid')
  })

  it('uses the given now, not the wall clock', async () => {
    const longAgo = await citizenToken('1', { now: 1_000_000, expiresIn: 60 })
    expect(() => subjectTokenExpiry(longAgo, 1_000_059, MAX)).not.toThrow()
    expect(rejection(longAgo, 1_000_060).detail).toBe('the bearer token has expired')
  })

  it('never quotes the token', () => {
    const payload = b64({ pid: '12345678910', exp: NOW - 1 })
    for (const token of [`${HEADER}.${payload}.${SIG}`, `${HEADER}.${payload}`, `${HEADER}.${b64('garbage-12345678910')}.${SIG}`]) {
      const err = rejection(token)
      for (const text of [err.detail, String(err.stack), JSON.stringify(err), String(err.cause)]) {
        expect(text).not.toContain(payload.slice(0, 16))
        expect(text).not.toContain('12345678910')
      }
    }
  })
})
