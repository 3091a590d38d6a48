/**
 * What the kit keeps of TokenX's `error_description`: a fixed text for each of tokendings' messages,
 * `[withheld: …]` for anything else, and never a byte of what TokenX sent (issue 18, item 7).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { keptDescription, WITHHELD } from '../../../lib/exchange/tokenx-descriptions.ts'

/** `URLEncoder.encode`, as tokendings applies it to Nimbus' message. */
const formEncode = (text: string) => encodeURIComponent(text).replace(/%20/g, '+')

const PID = '27118912345'
const CLAIMS = `{"pid":"${PID}","sub":"pairwise-sub-of-the-citizen","jti":"0b9f3a8e-9c61-4d1e-b3f2-6a1d2c3e4f50"}`

describe("tokendings' messages are kept, with their values replaced by placeholders", () => {
  it.each([
    ['invalid request, cannot parse token', 'invalid request, cannot parse token'],
    ['invalid subject_token: invalid request, cannot parse token', 'invalid subject_token: invalid request, cannot parse token'],
    [
      'invalid subject_token: invalid request, cannot validate token from issuer=https://evil.example',
      'invalid subject_token: invalid request, cannot validate token from issuer=<issuer>',
    ],
    ['invalid request, validator for issuer=https://x.example not found', 'invalid request, validator for issuer=<issuer> not found'],
    ['token exchange audience dev-gcp:team:nope is invalid', 'token exchange audience <audience> is invalid'],
    ['audience local:team:nobody is invalid', 'audience <audience> is invalid'],
    ['client is not authenticated', 'client is not authenticated'],
    [
      "client 'dev-gcp:team:app' is not authorized to get token with aud=dev-gcp:team:api",
      "client '<client id>' is not authorized to get token with aud=<audience>",
    ],
    ['audience does not match client_id=dev-gcp:team:app', 'audience does not match client_id=<client id>'],
    [
      'invalid client authentication for client_id=dev-gcp:team:app, client not registered.',
      'invalid client authentication for client_id=<client id>, client not registered.',
    ],
    [
      'invalid client authentication for client_id=dev-gcp:team:app, client assertion exceeded max lifetime (120s).',
      'invalid client authentication for client_id=<client id>, client assertion exceeded max lifetime (<seconds>).',
    ],
    ['could not find authorizer for grant_type=password', 'could not find authorizer for grant_type=<grant type>'],
    ['grant_type=password is not supported', 'grant_type=<grant type> is not supported'],
    ['Parameter audience missing', 'Parameter audience missing'],
    ['Parameter subject_token_type must be urn:ietf:params:oauth:token-type:jwt', 'Parameter subject_token_type must be <value>'],
    ['Client authentication failed: invalid client_assertion_type', 'Client authentication failed: invalid client_assertion_type'],
    ['unexpected error', 'unexpected error'],
  ])('%s', (given, kept) => {
    expect(keptDescription(given)).toBe(kept)
  })

  it.each([
    [
      'Signed JWT rejected: Another algorithm expected, or no matching key(s) found',
      'Signed JWT rejected: Another algorithm expected, or no matching key(s) found',
    ],
    ['Signed JWT rejected: Invalid signature', 'Signed JWT rejected: Invalid signature'],
    ['Expired JWT', 'Expired JWT'],
    ['JWT before use time', 'JWT before use time'],
    ['JWT issue time ahead of current time', 'JWT issue time ahead of current time'],
    ['JWT missing required claims: [sub, jti]', 'JWT missing required claims: <claims>'],
    ['JWT audience rejected: [dev-gcp:team:other]', 'JWT audience rejected: <audience>'],
    [
      `JWT iss claim has value https://evil.example/${PID}, must be https://idporten.no`,
      'JWT iss claim has value <issuer>, must be <expected issuer>',
    ],
    [
      'JWT aud claim has value [x], must be exactly one of [https://tokenx]',
      'JWT aud claim has value <audience>, must be <expected audience>',
    ],
    [`JWT sub claim has value ${PID}, must be y`, 'JWT <claim> claim has value <value>, must be <expected value>'],
    [`JWT "pid" claim doesn't match expected value: ${PID}`, 'JWT <claim> claim value rejected'],
  ])('Nimbus, URL-encoded after "token verification failed: ": %s', (nimbus, kept) => {
    expect(keptDescription(`token verification failed: ${formEncode(nimbus)}`)).toBe(`token verification failed: ${kept}`)
    expect(keptDescription(`invalid subject_token: token verification failed: ${formEncode(nimbus)}`)).toBe(
      `invalid subject_token: token verification failed: ${kept}`,
    )
    // The local TokenX's (oidc-provider) wording for a refused assertion.
    expect(keptDescription(`invalid client authentication for client_id=local:team:app, token verification failed: ${nimbus}`)).toBe(
      `invalid client authentication for client_id=<client id>, token verification failed: ${kept}`,
    )
  })
})

describe('anything else is withheld', () => {
  const b64 = (text: string) => Buffer.from(text).toString('base64')
  const b64url = (text: string) => Buffer.from(text).toString('base64url')
  it.each([
    ['the claims decoded', CLAIMS],
    ['the claims after a known prefix', `invalid subject_token: ${CLAIMS}`],
    ['the claims in standard base64', b64(CLAIMS)],
    ['the claims in base64url after a space', b64url(` ${CLAIMS}`)],
    ['the claims URL-encoded after the Nimbus prefix', `token verification failed: ${encodeURIComponent(CLAIMS)}`],
    ['a bad URL encoding', 'token verification failed: %E0%A4%A'],
    ['a known message with more after it', 'client is not authenticated; pid=27118912345'],
    ['a known message on two lines', 'unexpected error\n27118912345'],
    ['an empty text', ''],
    ['a known message beyond 1200 characters', `invalid request, cannot validate token from issuer=${'x'.repeat(1200)}`],
  ])('%s', (_label, given) => {
    const kept = keptDescription(given)
    expect(kept.endsWith(WITHHELD)).toBe(true)
    expect(kept).not.toContain(PID)
  })

  it('examines a bounded excerpt only, whatever the length', { timeout: 5_000 }, () => {
    for (const hostile of ['a'.repeat(4 * 1024 * 1024), `client '${"'".repeat(1190)}`, `audience ${' '.repeat(1180)} is invalid`]) {
      expect(keptDescription(hostile).length).toBeLessThan(200)
    }
  })

  it('never returns any part of what it was given (property)', () => {
    const prefixes = [
      '',
      'invalid subject_token: ',
      'token verification failed: ',
      'token verification failed: JWT+iss+claim+has+value+',
      "client '",
      'invalid client authentication for client_id=',
      'audience ',
      'token exchange audience ',
      'Parameter audience must be ',
      'JWT audience rejected: ',
    ]
    const MARK = 'Qz9Qz'
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixes),
        fc.string(),
        fc.string(),
        fc.constantFrom('', ' is invalid', ' not found', '.'),
        (prefix, before, after, suffix) => {
          const kept = keptDescription(`${prefix}${before}${MARK}${after}${suffix}`)
          return !kept.includes(MARK) && !kept.includes(formEncode(MARK))
        },
      ),
      { numRuns: 2_000 },
    )
  })
})
