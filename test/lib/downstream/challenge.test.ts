import { describe, expect, it } from 'vitest'
import { bearerChallenge } from '../../../lib/downstream/challenge.ts'

describe("bearerChallenge (a downstream's WWW-Authenticate, RFC 9110 §11.6.1)", () => {
  it.each<[string, string | null, ReturnType<typeof bearerChallenge>]>([
    [
      'an RFC 9470 step-up',
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="idporten-loa-high"',
      { error: 'insufficient_user_authentication', acrValues: 'idporten-loa-high' },
    ],
    ['token values and any case', 'bearer ERROR = invalid_token', { error: 'invalid_token', acrValues: undefined }],
    ['escapes in a quoted value', 'Bearer error="a\\"b"', { error: 'a"b', acrValues: undefined }],
    [
      'an error= inside a quoted description',
      'Bearer error_description="error=\\"insufficient_user_authentication\\"", error="invalid_token"',
      { error: 'invalid_token', acrValues: undefined },
    ],
    [
      "another scheme's params",
      'Basic error="insufficient_user_authentication", Bearer error="invalid_token"',
      { error: 'invalid_token', acrValues: undefined },
    ],
    ['a token68 before', 'Negotiate abc==, Bearer realm="x", error=invalid_token', { error: 'invalid_token', acrValues: undefined }],
    [
      'only the first Bearer challenge',
      'Bearer error="invalid_token", Bearer error="insufficient_user_authentication"',
      { error: 'invalid_token', acrValues: undefined },
    ],
    [
      'a challenge after the Bearer one',
      'Bearer realm="x", DPoP error="insufficient_user_authentication"',
      { error: undefined, acrValues: undefined },
    ],
    ['no Bearer challenge', 'Basic realm="x"', { error: undefined, acrValues: undefined }],
    ['no header', null, {}],
  ])('%s', (_label, header, expected) => {
    expect(bearerChallenge(header)).toEqual(expected)
  })

  it('reads only a bounded prefix of a huge header', () => {
    const header = `Bearer error_description="${'x'.repeat(1_000_000)}", error="insufficient_user_authentication"`
    expect(bearerChallenge(header).error).toBeUndefined()
  })
})
