/**
 * The Entra ID and Maskinporten clients with their discovery documents (`wellKnownUrl`,
 * AZURE_APP_WELL_KNOWN_URL, MASKINPORTEN_WELL_KNOWN_URL): against the stand-ins on 127.0.0.1
 * (Entra ID's OpenID Connect form under the tenant's v2.0 issuer, Maskinporten's RFC 8414 form with
 * its issuer's trailing slash), and with an injected fetch for a wrong issuer and the failure cooldown.
 */
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ENTRA_TENANT, type LocalEntra } from '../../../dev/entra.ts'
import type { LocalMaskinporten } from '../../../dev/maskinporten.ts'
import { ConfigError } from '../../../lib/errors.ts'
import { DISCOVERY_FAILURE_COOLDOWN } from '../../../lib/exchange/discovery.ts'
import { createEntraTokenClient, createMaskinportenTokenClient } from '../../../lib/exchange/provider-client.ts'
import {
  entraOptionsFromEnv,
  maskinportenOptionsFromEnv,
  type EntraOptions,
  type MaskinportenOptions,
} from '../../../lib/exchange/provider-options.ts'
import { rejection } from '../../helpers/errors.ts'
import type { TestKey } from '../../helpers/keys.ts'
import { API_ID, API_SCOPE, CLIENT_ID, MASKINPORTEN_CLIENT, recordingFetch, startProviderStandIns } from '../../helpers/providers.ts'

let now = Math.floor(Date.now() / 1000)
let key: TestKey
let entra: LocalEntra
let maskinporten: LocalMaskinporten
let entraWellKnown: string
let maskinportenWellKnown: string

beforeAll(async () => {
  ;({ key, entra, maskinporten } = await startProviderStandIns({ kid: 'discovery-key', now: () => now }))
  entraWellKnown = `${entra.url}/${ENTRA_TENANT}/v2.0/.well-known/openid-configuration`
  maskinportenWellKnown = `${maskinporten.url}/.well-known/oauth-authorization-server`
})

afterAll(async () => {
  await entra.close()
  await maskinporten.close()
})

const entraOptions = (more: Partial<EntraOptions> = {}): EntraOptions => ({
  clientId: CLIENT_ID,
  wellKnownUrl: entraWellKnown,
  privateJwk: key.privateJwk,
  clock: () => now * 1000,
  retryBackoff: 0,
  ...more,
})

const maskinportenOptions = (more: Partial<MaskinportenOptions> = {}): MaskinportenOptions => ({
  clientId: MASKINPORTEN_CLIENT,
  wellKnownUrl: maskinportenWellKnown,
  privateJwk: key.privateJwk,
  clock: () => now * 1000,
  retryBackoff: 0,
  ...more,
})

describe('Entra ID with AZURE_APP_WELL_KNOWN_URL (OpenID Connect Discovery, the v2.0 issuer)', () => {
  it('alone is enough: the token endpoint and the assertion aud (the issuer) from the document, fetched once', async () => {
    const { fetch, urls } = recordingFetch()
    const client = createEntraTokenClient(entraOptions({ fetch }))
    const before = entra.requests.length
    const token = await client.token(API_SCOPE)
    expect(decodeJwt(token.accessToken)).toMatchObject({ aud: API_ID, azp: CLIENT_ID })
    expect(entra.requests[before]?.assertionClaims).toMatchObject({ aud: entra.issuer, iss: CLIENT_ID })
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: API_ID })
    await client.onBehalfOf(user, API_SCOPE)
    expect(urls.filter((url) => url === entraWellKnown)).toHaveLength(1)
    expect(urls.filter((url) => url === entra.tokenEndpoint)).toHaveLength(2)
  })

  it("addresses the assertion to the document's token endpoint when assertionAudience is 'token_endpoint'", async () => {
    const client = createEntraTokenClient(entraOptions({ assertionAudience: 'token_endpoint' }))
    const before = entra.requests.length
    await client.token(API_SCOPE)
    expect(entra.requests[before]?.assertionClaims).toMatchObject({ aud: entra.tokenEndpoint })
  })

  it('explicit values win: with the token endpoint and the issuer given, the document is not fetched', async () => {
    const { fetch, urls } = recordingFetch()
    const client = createEntraTokenClient(entraOptions({ fetch, tokenEndpoint: entra.tokenEndpoint, issuer: entra.issuer }))
    await client.token(API_SCOPE)
    expect(urls).toStrictEqual([entra.tokenEndpoint])
  })

  it('a document naming another issuer than its URL was made from is a ConfigError, and no token is asked for', async () => {
    const { fetch, urls } = recordingFetch(async () =>
      Response.json({ issuer: `${entra.url}/another-tenant/v2.0`, token_endpoint: entra.tokenEndpoint }),
    )
    const err = await rejection(createEntraTokenClient(entraOptions({ fetch })).token(API_SCOPE))
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ code: 'ERR_CONFIG', detail: expect.stringContaining('Entra ID discovery document') })
    expect(urls).toStrictEqual([entraWellKnown])
  })

  it("an explicit issuer that is not the document's is a ConfigError naming AZURE_OPENID_CONFIG_ISSUER", async () => {
    const err = await rejection(createEntraTokenClient(entraOptions({ issuer: `${entra.url}/other/v2.0` })).token(API_SCOPE))
    expect(err).toMatchObject({ code: 'ERR_CONFIG', detail: expect.stringContaining('AZURE_OPENID_CONFIG_ISSUER') })
  })

  it('keeps no failure: within the cooldown requests fail at once, after it the document is fetched again', async () => {
    let down = true
    let calls = 0
    const { fetch } = recordingFetch(async () => {
      calls += 1
      if (down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })
      return globalThis.fetch(entraWellKnown)
    })
    const client = createEntraTokenClient(entraOptions({ fetch }))
    expect(await rejection(client.token(API_SCOPE))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' })
    down = false
    now += DISCOVERY_FAILURE_COOLDOWN / 1000 - 1
    expect(await rejection(client.token(API_SCOPE))).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      detail: expect.stringMatching(/Entra ID discovery.*cooldown/),
    })
    expect(calls).toBe(1)
    now += 1
    expect((await client.token(API_SCOPE)).audience).toBe(API_SCOPE)
    expect(calls).toBe(2)
  })
})

describe('Maskinporten with MASKINPORTEN_WELL_KNOWN_URL (RFC 8414, an issuer with a trailing slash)', () => {
  it('alone is enough: the grant assertion is addressed to the issuer exactly as the document gives it', async () => {
    const client = createMaskinportenTokenClient(maskinportenOptions())
    const before = maskinporten.requests.length
    const token = await client.token('nav:test/api')
    expect(token.audience).toBe('nav:test/api')
    expect(maskinporten.issuer.endsWith('/')).toBe(true)
    expect(maskinporten.requests[before]).toMatchObject({ aud: maskinporten.issuer, iss: MASKINPORTEN_CLIENT })
  })

  it('a document naming another issuer is a ConfigError', async () => {
    const { fetch } = recordingFetch(async () =>
      Response.json({ issuer: 'https://maskinporten.no/', token_endpoint: maskinporten.tokenEndpoint }),
    )
    const err = await rejection(createMaskinportenTokenClient(maskinportenOptions({ fetch })).token('nav:test/api'))
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ detail: expect.stringContaining('Maskinporten discovery document') })
  })

  it('explicit values win', async () => {
    const { fetch, urls } = recordingFetch()
    const client = createMaskinportenTokenClient(
      maskinportenOptions({ fetch, tokenEndpoint: maskinporten.tokenEndpoint, issuer: maskinporten.issuer }),
    )
    await client.token('nav:test/api')
    expect(urls).toStrictEqual([maskinporten.tokenEndpoint])
  })
})

describe('options and NAIS variables', () => {
  const entraWk = 'https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration'
  const maskinportenWk = 'https://test.maskinporten.no/.well-known/oauth-authorization-server'

  it('the well-known variable alone is enough', () => {
    expect(entraOptionsFromEnv({ AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_APP_WELL_KNOWN_URL: entraWk, AZURE_APP_JWK: '{}' })).toEqual({
      clientId: CLIENT_ID,
      wellKnownUrl: entraWk,
      privateJwk: '{}',
    })
    expect(
      maskinportenOptionsFromEnv({
        MASKINPORTEN_CLIENT_ID: 'x',
        MASKINPORTEN_WELL_KNOWN_URL: maskinportenWk,
        MASKINPORTEN_CLIENT_JWK: '{}',
      }),
    ).toEqual({ clientId: 'x', wellKnownUrl: maskinportenWk, privateJwk: '{}' })
  })

  it('is not read when the token endpoint and issuer are set: explicit variables win', () => {
    const options = maskinportenOptionsFromEnv({
      MASKINPORTEN_CLIENT_ID: 'x',
      MASKINPORTEN_TOKEN_ENDPOINT: 'https://test.maskinporten.no/token',
      MASKINPORTEN_ISSUER: 'https://test.maskinporten.no/',
      MASKINPORTEN_WELL_KNOWN_URL: 'not even a URL',
      MASKINPORTEN_CLIENT_JWK: '{}',
    })
    expect(options).not.toHaveProperty('wellKnownUrl')
  })

  it('refuses what names neither, or a URL of no well-known form (ConfigError, TypeError)', () => {
    expect(() => entraOptionsFromEnv({ AZURE_APP_CLIENT_ID: CLIENT_ID, AZURE_APP_JWK: '{}' })).toThrow(
      expect.objectContaining({ detail: 'AZURE_OPENID_CONFIG_TOKEN_ENDPOINT or AZURE_APP_WELL_KNOWN_URL must be set' }),
    )
    expect(() =>
      maskinportenOptionsFromEnv({
        MASKINPORTEN_CLIENT_ID: 'x',
        MASKINPORTEN_WELL_KNOWN_URL: 'https://test.maskinporten.no/metadata',
        MASKINPORTEN_CLIENT_JWK: '{}',
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG', detail: expect.stringContaining('MASKINPORTEN_WELL_KNOWN_URL must end in') }))
    expect(() => createMaskinportenTokenClient({ clientId: 'x', privateJwk: '{}', wellKnownUrl: 'https://m.example/meta' })).toThrow(
      TypeError,
    )
    expect(() => createMaskinportenTokenClient({ clientId: 'x', privateJwk: '{}' })).toThrow(TypeError)
    expect(createMaskinportenTokenClient({ clientId: 'x', privateJwk: '{}', wellKnownUrl: maskinportenWk }).options.wellKnownUrl).toBe(
      maskinportenWk,
    )
  })
})
