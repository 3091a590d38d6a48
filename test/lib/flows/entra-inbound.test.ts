/**
 * The caller's Entra ID token checked with keys found through AZURE_APP_WELL_KNOWN_URL (the
 * document's `jwks_uri`) when AZURE_OPENID_CONFIG_JWKS_URI is not set: against the Entra ID stand-in
 * on 127.0.0.1 (dev/entra.ts, OpenID Connect Discovery under the tenant's v2.0 issuer).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENTRA_TENANT, startEntra, type LocalEntra } from '../../../dev/entra.ts'
import { BearerTokenError, JwksError } from '../../../lib/errors.ts'
import { createEntraValidator, entraInboundFromEnv } from '../../../lib/flows/entra-inbound.ts'
import { CLIENT_ID, recordingFetch } from '../../helpers/providers.ts'

const CALLER_ID = '88888888-2222-4333-8444-555555555555'

let entra: LocalEntra
let wellKnownUrl: string

beforeAll(async () => {
  entra = await startEntra()
  wellKnownUrl = `${entra.url}/${ENTRA_TENANT}/v2.0/.well-known/openid-configuration`
})

afterAll(async () => {
  await entra.close()
})

describe('the Entra ID validator with AZURE_APP_WELL_KNOWN_URL', () => {
  it('alone is enough: the keys through the document, the issuer its URL names', async () => {
    const { fetch, urls } = recordingFetch()
    const options = entraInboundFromEnv({ AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_APP_WELL_KNOWN_URL: wellKnownUrl })
    expect(options).toStrictEqual({ wellKnownUrl, audience: CLIENT_ID, preAuthorizedApps: undefined })
    const validator = createEntraValidator({ ...options, fetch })
    const claims = await validator.validate(await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER_ID }))
    expect(claims).toMatchObject({ iss: entra.issuer, aud: CLIENT_ID, azp: CALLER_ID })
    expect(urls).toStrictEqual([wellKnownUrl, entra.jwksUri])
    // Another issuer's token is refused.
    const other = createEntraValidator({ wellKnownUrl, issuer: `${entra.url}/other/v2.0`, audience: CLIENT_ID })
    await expect(other.validate(await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER_ID }))).rejects.toBeInstanceOf(JwksError)
  })

  it('explicit variables win: with AZURE_OPENID_CONFIG_JWKS_URI the document is not fetched', async () => {
    const { fetch, urls } = recordingFetch()
    const options = entraInboundFromEnv({
      AZURE_APP_CLIENT_ID: CLIENT_ID,
      AZURE_OPENID_CONFIG_ISSUER: entra.issuer,
      AZURE_OPENID_CONFIG_JWKS_URI: entra.jwksUri,
      AZURE_APP_WELL_KNOWN_URL: 'not read',
    })
    expect(options).not.toHaveProperty('wellKnownUrl')
    const validator = createEntraValidator({ ...options, fetch })
    await validator.validate(await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER_ID }))
    expect(urls).toStrictEqual([entra.jwksUri])
    await expect(validator.validate(await entra.mintUserToken({ aud: CALLER_ID, azp: CALLER_ID }))).rejects.toBeInstanceOf(BearerTokenError)
  })

  it('refuses a setup with neither, or a URL of no well-known form', () => {
    expect(() => entraInboundFromEnv({ AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_OPENID_CONFIG_ISSUER: entra.issuer })).toThrow(
      expect.objectContaining({ detail: 'AZURE_OPENID_CONFIG_JWKS_URI or AZURE_APP_WELL_KNOWN_URL must be set' }),
    )
    expect(() => entraInboundFromEnv({ AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_APP_WELL_KNOWN_URL: `${entra.url}/metadata` })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG' }),
    )
    expect(() => createEntraValidator({ audience: CLIENT_ID, wellKnownUrl: `${entra.url}/metadata` })).toThrow(TypeError)
    expect(() => createEntraValidator({ audience: CLIENT_ID, issuer: entra.issuer })).toThrow(TypeError)
  })

  it('refuses an issuer or JWKS URI that is not an https: URL with a ConfigError naming the variable, never a TypeError', () => {
    const env = { AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_OPENID_CONFIG_ISSUER: entra.issuer, AZURE_OPENID_CONFIG_JWKS_URI: entra.jwksUri }
    for (const [name, value] of [
      ['AZURE_OPENID_CONFIG_ISSUER', 'not a url'],
      ['AZURE_OPENID_CONFIG_JWKS_URI', 'http://entra.example/keys'],
    ]) {
      expect(() => entraInboundFromEnv({ ...env, [name as string]: value })).toThrow(
        expect.objectContaining({ code: 'ERR_CONFIG', detail: `${name} must be an https: URL (http: only on a loopback host)` }),
      )
    }
  })
})
