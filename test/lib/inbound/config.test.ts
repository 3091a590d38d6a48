import { describe, expect, it } from 'vitest'
import { inboundDefaults, inboundOptionKeys, resolveInboundOptions } from '../../../lib/inbound/config.ts'

const idporten = { issuer: 'https://idporten', jwksUri: 'https://idporten/jwks', audience: 'frontend' }

describe('resolveInboundOptions', () => {
  it('merges over documented defaults (milliseconds)', () => {
    expect(resolveInboundOptions({ idporten })).toMatchObject({ ...inboundDefaults, idporten })
    expect(inboundDefaults).toMatchObject({
      clockTolerance: 5000,
      jwksTimeout: 3000,
      jwksCooldown: 30_000,
      jwksFailureCooldown: 5000,
      jwksMaxAge: 600_000,
      verifiedCacheMaxAge: 300_000,
    })
    expect(resolveInboundOptions({ idporten, verifiedCacheMaxAge: 1000 }).verifiedCacheMaxAge).toBe(1000)
  })

  it('throws TypeError for bad options and unknown keys', () => {
    const bad: Array<[object, RegExp]> = [
      [{}, /needs idporten or tokenX/],
      [{ idporten, minimumAcr: 'idporten-loa-low' }, /minimumAcr/],
      [{ idporten, clockTolerance: 1.5 }, /clockTolerance/],
      [{ idporten, jwksTimeout: 0 }, /jwksTimeout/],
      [{ idporten, jwksMaxAge: 10 }, /jwksMaxAge/],
      [{ idporten, jwksFailureCooldown: -1 }, /jwksFailureCooldown/],
      [{ idporten, jwksFailureCooldown: 300_001 }, /jwksFailureCooldown/],
      [{ idporten, verifiedCacheMaxAge: 999 }, /verifiedCacheMaxAge/],
      [{ idporten, verifiedCacheMaxAge: 86_400_001 }, /verifiedCacheMaxAge/],
      [{ idporten, verifiedCacheMaxAge: '300000' }, /verifiedCacheMaxAge/],
      [{ idporten, allowedClients: [] }, /allowedClients/],
      [{ idporten, fetch: 'no' }, /fetch/],
      [{ idporten, clockSkew: 5 }, /clockSkew is not a known option/],
      [{ idporten: { ...idporten, jwksUri: undefined } }, /jwksUri or wellKnownUrl/],
      [{ idporten: { ...idporten, jwksUri: 'file:///etc/passwd' } }, /jwksUri/],
      [{ idporten: { ...idporten, jwksUri: 'http://idporten.example/jwks' } }, /jwksUri must be an https: URL/],
      [
        { idporten: { ...idporten, jwksUri: undefined, wellKnownUrl: 'http://idporten.example/.well-known/openid-configuration' } },
        /wellKnownUrl must be an https: URL/,
      ],
      [{ idporten: { ...idporten, jku: 'x' } }, /idporten.jku is not a known option/],
      [{ tokenX: { ...idporten, audience: 'not-a-client-id' } }, /our client id/],
      [{ idporten, tokenX: { ...idporten, audience: 'a:b:c' } }, /must differ/],
    ]
    for (const [options, message] of bad) expect(() => resolveInboundOptions(options as never)).toThrow(message)
    expect(() => resolveInboundOptions({ minimumAcr: 'Level3' }, { requireIssuer: false })).not.toThrow()
  })

  it('takes allowedClients as cluster:namespace:app when only TokenX tokens are accepted (their client_id is the calling app)', () => {
    const tokenX = { issuer: 'https://tokenx', jwksUri: 'https://tokenx/jwks', audience: 'dev-gcp:team:api' }
    for (const allowedClients of [['frontend'], ['dev-gcp:team:frontend', 'dev-gcp:team'], ['dev-gcp:team:frontend '], ['a:b:c:d'], [42]]) {
      expect(() => resolveInboundOptions({ tokenX, allowedClients } as never), JSON.stringify(allowedClients)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'allowedClients' }),
      )
    }
    expect(
      resolveInboundOptions({ tokenX, allowedClients: ['dev-gcp:team:frontend', 'prod-gcp:other-team:app.v2'] }).allowedClients,
    ).toEqual(['dev-gcp:team:frontend', 'prod-gcp:other-team:app.v2'])
    // An ID-porten token's client_id is its login client's id at ID-porten, of any form.
    expect(resolveInboundOptions({ idporten, allowedClients: ['test-frontend'] }).allowedClients).toEqual(['test-frontend'])
    expect(resolveInboundOptions({ idporten, tokenX, allowedClients: ['test-frontend'] }).allowedClients).toEqual(['test-frontend'])
    expect(() => resolveInboundOptions({ idporten, allowedClients: [' '] })).toThrow(expect.objectContaining({ option: 'allowedClients' }))
  })

  it('lists every option key once', () => {
    expect(new Set(inboundOptionKeys).size).toBe(inboundOptionKeys.length)
    expect(inboundOptionKeys).toContain('minimumAcr')
  })
})
