import { describe, expect, it } from 'vitest'
import { ENTRA_WITHHELD, entraError, entraScope, keptEntraDescription } from '../../../lib/exchange/entra.ts'
import { maskinportenClaims, maskinportenError } from '../../../lib/exchange/maskinporten.ts'

const answer = (status: number, body: unknown) => ({
  status,
  contentType: 'application/json',
  body: typeof body === 'string' ? body : JSON.stringify(body),
})

describe('entraScope', () => {
  it('makes a NAIS name into its .default scope, as texas does, and leaves any other scope alone', () => {
    expect(entraScope('dev-gcp:team:api')).toBe('api://dev-gcp.team.api/.default')
    expect(entraScope('api://dev-gcp.team.api/.default')).toBe('api://dev-gcp.team.api/.default')
    expect(entraScope('https://graph.microsoft.com/.default')).toBe('https://graph.microsoft.com/.default')
    expect(entraScope('dev-gcp::api')).toBe('dev-gcp::api')
    expect(entraScope('dev-gcp:team')).toBe('dev-gcp:team')
  })
})

describe('keptEntraDescription', () => {
  it('keeps a fixed text for a known AADSTS code and nothing Entra ID wrote', () => {
    const said =
      "AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication to access 'x'. User ola.nordmann@nav.no Trace ID: 1"
    expect(keptEntraDescription(said)).toBe('AADSTS50076: Multi-factor authentication is required')
    expect(keptEntraDescription('AADSTS99999: Ola Nordmann is not allowed')).toBe(ENTRA_WITHHELD)
    expect(keptEntraDescription('Ola Nordmann AADSTS50076: x')).toBe(ENTRA_WITHHELD)
    expect(keptEntraDescription('')).toBe(ENTRA_WITHHELD)
  })
})

describe('entraError', () => {
  it("on-behalf-of: invalid_grant about the caller token is the caller's (401); consent is ours (500)", () => {
    expect(
      entraError(
        answer(400, { error: 'invalid_grant', error_description: 'AADSTS500133: Assertion is not within its valid time range.' }),
        true,
      ),
    ).toMatchObject({ code: 'ERR_SUBJECT_TOKEN_REJECTED', statusCode: 401 })
    expect(
      entraError(
        answer(400, { error: 'invalid_grant', error_description: 'AADSTS65001: The user or administrator has not consented.' }),
        true,
      ),
    ).toMatchObject({ code: 'ERR_CLIENT_REJECTED', statusCode: 500 })
    // Client credentials has no caller: invalid_grant is ours.
    expect(entraError(answer(400, { error: 'invalid_grant' }), false)).toMatchObject({ code: 'ERR_CLIENT_REJECTED', statusCode: 500 })
  })

  it('interaction_required: a claims challenge when claims is a JSON object, else a 401 without one', () => {
    const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}'
    const challenged = entraError(answer(400, { error: 'interaction_required', claims }), true)
    expect(challenged).toMatchObject({ code: 'ERR_CLAIMS_CHALLENGE', statusCode: 401 })
    expect(challenged.headers['WWW-Authenticate']).toBe(
      `Bearer error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"`,
    )
    for (const bad of ['not json", evil="1', '[1]', 'x'.repeat(5000), 42]) {
      const err = entraError(answer(400, { error: 'interaction_required', claims: bad }), true)
      expect(err).toMatchObject({ code: 'ERR_SUBJECT_TOKEN_REJECTED', statusCode: 401 })
      expect(err.headers['WWW-Authenticate']).toBe(
        'Bearer error="invalid_token", error_description="The bearer token is malformed, expired or not accepted"',
      )
    }
  })

  it('keeps only registered error codes; 5xx and non-JSON answers are 502', () => {
    expect(entraError(answer(400, { error: 'ola_nordmann_12345678901' }), false).upstream.error).toBe('[unrecognised]')
    expect(entraError(answer(503, 'Service Unavailable'), false)).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      statusCode: 502,
      retryable: true,
    })
    expect(entraError(answer(429, { error: 'temporarily_unavailable' }), false)).toMatchObject({
      code: 'ERR_CLIENT_REJECTED',
      retryable: false,
    })
  })
})

describe('Maskinporten', () => {
  it('the grant assertion: iss, aud = issuer, scope, iat = nbf, exp, jti, resource only when given, no sub', () => {
    const settings = {
      clientId: 'client',
      issuer: 'https://maskinporten.no/',
      assertionLifetime: 30,
      clock: () => 1_700_000_000_500,
      newJti: () => 'j',
    }
    expect(maskinportenClaims(settings, { scope: 'a b' })).toEqual({
      iss: 'client',
      aud: 'https://maskinporten.no/',
      scope: 'a b',
      iat: 1_700_000_000,
      nbf: 1_700_000_000,
      exp: 1_700_000_030,
      jti: 'j',
    })
    expect(maskinportenClaims(settings, { scope: 'a', resource: 'https://api.example/' })).toMatchObject({
      resource: 'https://api.example/',
    })
  })

  it('every 4xx is ours, its description withheld; 5xx retryable', () => {
    const err = maskinportenError(answer(400, { error: 'invalid_scope', error_description: 'Invalid scope for 889640782' }))
    expect(err).toMatchObject({
      code: 'ERR_CLIENT_REJECTED',
      statusCode: 500,
      upstream: { error: 'invalid_scope', error_description: '[withheld: Maskinporten descriptions are not kept]' },
    })
    expect(err.detail).not.toContain('889640782')
    expect(maskinportenError(answer(500, {}))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', retryable: true })
  })
})
