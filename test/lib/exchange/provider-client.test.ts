/**
 * The Entra ID (client credentials, on-behalf-of) and Maskinporten token clients against the local
 * stand-ins (dev/entra.ts, dev/maskinporten.ts) on 127.0.0.1: request shapes, caching per caller
 * and scope, single flight, early renewal, refusals, retries, and a leak scan of every event.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { LocalEntra } from '../../../dev/entra.ts'
import type { LocalMaskinporten } from '../../../dev/maskinporten.ts'
import { startSecretsManager } from '../../../dev/secrets-manager.ts'
import { channelName, type KitEventName } from '../../../lib/events.ts'
import { TokenExchangeError, TokenXError } from '../../../lib/errors.ts'
import { createEntraTokenClient, createMaskinportenTokenClient } from '../../../lib/exchange/provider-client.ts'
import {
  entraOptionsFromEnv,
  maskinportenOptionsFromEnv,
  type EntraOptions,
  type MaskinportenOptions,
} from '../../../lib/exchange/provider-options.ts'
import { rejection } from '../../helpers/errors.ts'
import { closedEndpoint } from '../../helpers/servers.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { API_ID, API_SCOPE, CLIENT_ID, MASKINPORTEN_CLIENT, startProviderStandIns } from '../../helpers/providers.ts'

const OTHER_ID = '88888888-2222-4333-8444-555555555555'
const OTHER_SCOPE = 'api://dev-gcp.team.other/.default'
const MFA_SCOPE = 'api://dev-gcp.team.mfa/.default'

let now = Math.floor(Date.now() / 1000)
let key: TestKey
let entra: LocalEntra
let maskinporten: LocalMaskinporten

/** Every kit event published, as JSON, for the leak scan. */
const published: string[] = []
const names: KitEventName[] = ['cache', 'exchange', 'exchange.retry', 'key.load']
const listener = (message: unknown) => void published.push(JSON.stringify(message))

beforeAll(async () => {
  ;({ key, entra, maskinporten } = await startProviderStandIns({
    kid: 'flow-key',
    now: () => now,
    mfaScopes: [MFA_SCOPE],
    moreApps: [
      { clientId: OTHER_ID, name: 'dev-gcp:team:other' },
      { clientId: '77777777-2222-4333-8444-555555555555', name: 'dev-gcp:team:mfa' },
    ],
    moreScopes: ['nav:test/other'],
  }))
  for (const name of names) subscribe(channelName(name), listener)
})

afterAll(async () => {
  for (const name of names) unsubscribe(channelName(name), listener)
  await entra.close()
  await maskinporten.close()
})

afterEach(() => {
  entra.failNext(0, 200)
  entra.delay(0)
  maskinporten.failNext(0, 200)
})

const entraOptions = (more: Partial<EntraOptions> = {}): EntraOptions => ({
  clientId: CLIENT_ID,
  tokenEndpoint: entra.tokenEndpoint,
  issuer: entra.issuer,
  privateJwk: key.privateJwk,
  clock: () => now * 1000,
  retryBackoff: 0,
  ...more,
})

const maskinportenOptions = (more: Partial<MaskinportenOptions> = {}): MaskinportenOptions => ({
  clientId: MASKINPORTEN_CLIENT,
  tokenEndpoint: maskinporten.tokenEndpoint,
  issuer: maskinporten.issuer,
  privateJwk: JSON.stringify(key.privateJwk),
  clock: () => now * 1000,
  retryBackoff: 0,
  ...more,
})

const failure = (promise: Promise<unknown>) => rejection(promise, TokenExchangeError)

describe('Entra ID client credentials', () => {
  it('sends client_credentials with a client assertion shaped as texas does, and caches per scope', async () => {
    const client = createEntraTokenClient(entraOptions())
    const before = entra.requests.length
    const token = await client.token(API_SCOPE)
    expect(token.audience).toBe(API_SCOPE)
    expect(decodeJwt(token.accessToken)).toMatchObject({ aud: API_ID, azp: CLIENT_ID, idtyp: 'app' })
    const seen = entra.requests[before]!
    expect([...seen.form.keys()].sort()).toEqual(['client_assertion', 'client_assertion_type', 'client_id', 'grant_type', 'scope'])
    expect(seen.form.get('grant_type')).toBe('client_credentials')
    const assertion = seen.form.get('client_assertion')!
    expect(decodeProtectedHeader(assertion)).toEqual({ alg: 'RS256', kid: 'flow-key', typ: 'JWT' })
    expect(seen.assertionClaims).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: entra.issuer, iat: now, nbf: now, exp: now + 30 })

    expect(await client.token(API_SCOPE)).toBe(token)
    // The NAIS name is the same scope (texas' normalisation).
    expect(await client.token('dev-gcp:team:api')).toBe(token)
    expect(entra.requests.length).toBe(before + 1)
    await client.token(OTHER_SCOPE)
    expect(entra.requests.length).toBe(before + 2)
  })

  it('merges concurrent misses into one request', async () => {
    const client = createEntraTokenClient(entraOptions())
    const before = entra.requests.length
    entra.delay(50)
    const tokens = await Promise.all(Array.from({ length: 8 }, () => client.token(API_SCOPE)))
    expect(new Set(tokens).size).toBe(1)
    expect(entra.requests.length).toBe(before + 1)
  })

  it('renews 120 s before expiry', async () => {
    const start = now
    try {
      const client = createEntraTokenClient(entraOptions())
      const first = await client.token(API_SCOPE)
      now = start + 3600 - 121
      expect(await client.token(API_SCOPE)).toBe(first)
      now = start + 3600 - 120
      expect(await client.token(API_SCOPE)).not.toBe(first)
    } finally {
      now = start
    }
  })

  it('invalid_scope: a clear error, answered 500, one request, nothing cached', async () => {
    const client = createEntraTokenClient(entraOptions({ retries: 3 }))
    const before = entra.requests.length
    const err = await failure(client.token('api://dev-gcp.team.unknown/.default'))
    expect(err).toMatchObject({ code: 'ERR_CLIENT_REJECTED', statusCode: 500, tokenEndpointStatus: 400 })
    expect(err.upstream).toEqual({
      error: 'invalid_scope',
      error_description: 'AADSTS70011: The provided value for the input parameter scope is not valid',
    })
    expect(err.detail).toBe(
      'Entra ID refused our client: invalid_scope (AADSTS70011: The provided value for the input parameter scope is not valid)',
    )
    expect(entra.requests.length).toBe(before + 1)
    await failure(client.token('api://dev-gcp.team.unknown/.default'))
    expect(entra.requests.length).toBe(before + 2)
    // Twenty concurrent callers: one request between them, no storm.
    const errors = await Promise.all(Array.from({ length: 20 }, () => failure(client.token('api://dev-gcp.team.unknown/.default'))))
    expect(new Set(errors.map((e) => e.code))).toEqual(new Set(['ERR_CLIENT_REJECTED']))
    expect(entra.requests.length).toBe(before + 3)
  })

  it('invalid_client (a key Entra ID does not know): 500, and an inline key is not retried', async () => {
    const stranger = await newTestKey('stranger')
    const client = createEntraTokenClient(entraOptions({ privateJwk: stranger.privateJwk }))
    const before = entra.requests.length
    const err = await failure(client.token(API_SCOPE))
    expect(err).toMatchObject({ code: 'ERR_CLIENT_REJECTED', statusCode: 500, tokenEndpointStatus: 401 })
    expect(err.upstream.error).toBe('invalid_client')
    expect(entra.requests.length).toBe(before + 1)
  })

  it('a key from Secrets Manager (AZURE_APP_JWK_SECRET_ID) is reloaded once when Entra ID refuses it (rotation)', async () => {
    const stranger = await newTestKey('stranger-2')
    const sm = await startSecretsManager({ secrets: { 'entra/jwk': JSON.stringify(stranger.privateJwk) } })
    try {
      const fromEnv = entraOptionsFromEnv({
        AZURE_APP_CLIENT_ID: CLIENT_ID,
        AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: entra.tokenEndpoint,
        AZURE_OPENID_CONFIG_ISSUER: entra.issuer,
        AZURE_APP_JWK_SECRET_ID: 'entra/jwk',
      })
      const secretsManager = new SecretsManagerClient({
        endpoint: sm.url,
        region: sm.region,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      })
      const client = createEntraTokenClient({ ...fromEnv, secretsManager, clock: () => now * 1000, retryBackoff: 0 })
      // The secret holds a key Entra ID does not know: refused (one reload finds the same key).
      expect(await failure(client.token(API_SCOPE))).toMatchObject({ code: 'ERR_CLIENT_REJECTED', upstream: { error: 'invalid_client' } })
      // The secret is rotated to the registered key: the next refusal reloads it, and the request succeeds.
      sm.putSecret('entra/jwk', JSON.stringify(key.privateJwk))
      const start = now
      now += 2
      try {
        expect((await client.token(API_SCOPE)).audience).toBe(API_SCOPE)
      } finally {
        now = start
      }
      // The first load, the reload after the first refusal (the same key), the reload that found the new one.
      expect(sm.stats.getSecretValue).toBe(3)
    } finally {
      await sm.close()
    }
  })

  it('provider down: 5xx retried then 502, unreachable 503, too slow 504', async () => {
    const client = createEntraTokenClient(entraOptions({ retries: 2, timeout: 200 }))
    const before = entra.requests.length
    entra.failNext(3, 503)
    const err = await failure(client.token(API_SCOPE))
    expect(err).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', statusCode: 502, tokenEndpointStatus: 503 })
    expect(entra.requests.length).toBe(before + 3)

    entra.delay(1000)
    expect(await failure(client.token(OTHER_SCOPE))).toMatchObject({ code: 'ERR_TIMEOUT', statusCode: 504 })
    entra.delay(0)

    const down = createEntraTokenClient(entraOptions({ tokenEndpoint: await closedEndpoint(), retries: 0 }))
    expect(await failure(down.token(API_SCOPE))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', statusCode: 503 })
  })
})

describe('Entra ID on-behalf-of', () => {
  it('sends the jwt-bearer grant with the caller token; caches per caller and scope, never past its exp', async () => {
    const client = createEntraTokenClient(entraOptions())
    const alice = await entra.mintUserToken({ aud: CLIENT_ID, azp: OTHER_ID, exp: now + 600 })
    const bob = await entra.mintUserToken({ aud: CLIENT_ID, azp: OTHER_ID })
    const before = entra.requests.length
    const token = await client.onBehalfOf(alice, API_SCOPE)
    const form = entra.requests[before]!.form
    expect([...form.keys()].sort()).toEqual([
      'assertion',
      'client_assertion',
      'client_assertion_type',
      'client_id',
      'grant_type',
      'requested_token_use',
      'scope',
    ])
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer')
    expect(form.get('requested_token_use')).toBe('on_behalf_of')
    expect(form.get('assertion')).toBe(alice)
    expect(decodeJwt(token.accessToken)).toMatchObject({ aud: API_ID, azp: CLIENT_ID, sub: decodeJwt(alice).sub })

    expect(await client.onBehalfOf(alice, API_SCOPE)).toBe(token)
    expect(entra.requests.length).toBe(before + 1)
    expect(await client.onBehalfOf(bob, API_SCOPE)).not.toBe(token)
    await client.onBehalfOf(alice, OTHER_SCOPE)
    expect(entra.requests.length).toBe(before + 3)
    // The client-credentials token of the same scope is another entry.
    expect(await client.token(API_SCOPE)).not.toBe(token)

    const start = now
    try {
      now = start + 600
      // Alice's token has expired: refused locally, no request.
      const count = entra.requests.length
      await expect(client.onBehalfOf(alice, API_SCOPE)).rejects.toMatchObject({ code: 'ERR_BEARER_TOKEN', statusCode: 401 })
      expect(entra.requests.length).toBe(count)
    } finally {
      now = start
    }
  })

  it('a caller token Entra ID refuses (invalid_grant) is answered 401', async () => {
    const client = createEntraTokenClient(entraOptions())
    const foreign = await entra.mintUserToken({ aud: OTHER_ID, azp: OTHER_ID })
    const err = await failure(client.onBehalfOf(foreign, API_SCOPE))
    expect(err).toMatchObject({ code: 'ERR_SUBJECT_TOKEN_REJECTED', statusCode: 401 })
    expect(err.upstream).toEqual({ error: 'invalid_grant', error_description: 'AADSTS50013: Assertion failed signature validation' })
  })

  it('conditional access: the claims challenge reaches the caller as 401 insufficient_claims', async () => {
    const client = createEntraTokenClient(entraOptions())
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: OTHER_ID, amr: ['pwd'] })
    const err = await failure(client.onBehalfOf(user, MFA_SCOPE))
    expect(err).toMatchObject({ code: 'ERR_CLAIMS_CHALLENGE', statusCode: 401, error: 'insufficient_claims' })
    const challenge = err.headers['WWW-Authenticate']!
    const claims = /^Bearer error="insufficient_claims", claims="([A-Za-z0-9+/=]+)"$/.exec(challenge)?.[1]
    expect(JSON.parse(Buffer.from(claims!, 'base64').toString('utf8'))).toEqual({
      access_token: { capolids: { essential: true, values: ['c1'] } },
    })
    expect(err.upstream.error_description).toBe('AADSTS50076: Multi-factor authentication is required')
    // With MFA the same user gets the token.
    const mfa = await entra.mintUserToken({ aud: CLIENT_ID, azp: OTHER_ID, amr: ['pwd', 'mfa'] })
    expect((await client.onBehalfOf(mfa, MFA_SCOPE)).audience).toBe(MFA_SCOPE)
  })
})

describe('Maskinporten', () => {
  it('sends only grant_type and the signed grant assertion; caches per scopes and resource', async () => {
    const client = createMaskinportenTokenClient(maskinportenOptions())
    const before = maskinporten.requests.length
    const token = await client.token(['nav:test/api', 'nav:test/other'], { resource: 'https://api.example/' })
    expect(token.audience).toBe('nav:test/api nav:test/other')
    expect(maskinporten.requests[before]).toEqual({
      iss: MASKINPORTEN_CLIENT,
      aud: maskinporten.issuer,
      scope: 'nav:test/api nav:test/other',
      iat: now,
      nbf: now,
      exp: now + 30,
      jti: expect.any(String),
      resource: 'https://api.example/',
    })
    expect(await client.token('nav:test/api  nav:test/other', { resource: 'https://api.example/' })).toBe(token)
    expect(maskinporten.requests.length).toBe(before + 1)
    await client.token('nav:test/api nav:test/other')
    expect(maskinporten.requests.length).toBe(before + 2)
  })

  it('sends authorization_details (RFC 9396) in the assertion, and caches them apart', async () => {
    const client = createMaskinportenTokenClient(maskinportenOptions())
    const details = [{ type: 'urn:altinn:systemuser', systemuser_org: { authority: 'iso6523-actorid-upis', ID: '0192:313367002' } }]
    const before = maskinporten.requests.length
    const plain = await client.token('nav:test/api')
    const detailed = await client.token('nav:test/api', { authorizationDetails: details })
    expect(detailed).not.toBe(plain)
    expect(maskinporten.requests.at(-1)).toMatchObject({ authorization_details: details })
    expect(await client.token('nav:test/api', { authorizationDetails: details })).toBe(detailed)
    expect(maskinporten.requests.length).toBe(before + 2)
    await expect(client.token('nav:test/api', { authorizationDetails: { type: 'x' } as never })).rejects.toMatchObject({
      code: 'ERR_CONFIG',
    })
  })

  it('a 120 s token is renewed at half its life', async () => {
    const start = now
    try {
      const client = createMaskinportenTokenClient(maskinportenOptions())
      const first = await client.token('nav:test/api')
      now = start + 59
      expect(await client.token('nav:test/api')).toBe(first)
      now = start + 60
      expect(await client.token('nav:test/api')).not.toBe(first)
    } finally {
      now = start
    }
  })

  it('invalid_scope: 500, not retried; 5xx retried then 502', async () => {
    const client = createMaskinportenTokenClient(maskinportenOptions({ retries: 2 }))
    const before = maskinporten.requests.length
    const err = await failure(client.token('nav:test/forbidden'))
    expect(err).toMatchObject({
      code: 'ERR_CLIENT_REJECTED',
      statusCode: 500,
      upstream: { error: 'invalid_scope', error_description: '[withheld: Maskinporten descriptions are not kept]' },
    })
    expect(maskinporten.requests.length).toBe(before + 1)
    maskinporten.failNext(3, 502, { error: 'server_error' })
    expect(await failure(client.token('nav:test/api'))).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT',
      statusCode: 502,
      tokenEndpointStatus: 502,
    })
    expect(maskinporten.requests.length).toBe(before + 4)
  })
})

describe('options', () => {
  it('reads NAIS variable names and refuses bad options at construction', () => {
    expect(
      entraOptionsFromEnv({
        AZURE_APP_CLIENT_ID: CLIENT_ID,
        AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: 'https://login.microsoftonline.com/t/oauth2/v2.0/token',
        AZURE_OPENID_CONFIG_ISSUER: 'https://login.microsoftonline.com/t/v2.0',
        AZURE_APP_JWK_SECRET_ID: 'entra/jwk',
      }),
    ).toEqual({
      clientId: CLIENT_ID,
      tokenEndpoint: 'https://login.microsoftonline.com/t/oauth2/v2.0/token',
      issuer: 'https://login.microsoftonline.com/t/v2.0',
      privateJwkSecretId: 'entra/jwk',
    })
    expect(() =>
      maskinportenOptionsFromEnv({
        MASKINPORTEN_CLIENT_ID: 'x',
        MASKINPORTEN_TOKEN_ENDPOINT: 'https://m.example/token',
        MASKINPORTEN_ISSUER: 'https://m.example/',
      }),
    ).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG', detail: 'MASKINPORTEN_CLIENT_JWK or MASKINPORTEN_CLIENT_JWK_SECRET_ID must be set' }),
    )
    expect(() => createEntraTokenClient({ ...entraOptions(), clientId: 'dev-gcp:team:app' })).toThrow(TypeError)
    expect(() => createEntraTokenClient({ ...entraOptions(), audience: 'x' } as EntraOptions)).toThrow('audience is not a known option')
    expect(JSON.stringify(createMaskinportenTokenClient(maskinportenOptions()).options)).not.toContain(String(key.privateJwk.d))
  })
})

describe('leak scan', () => {
  it('no token, assertion, key, user name or foreign description in any event or error', async () => {
    const secrets = [String(key.privateJwk.d), 'Ola Nordmann', 'Z990000', 'Trace ID', 'Client authentication failed', 'eyJ']
    for (const line of published) for (const secret of secrets) expect(line).not.toContain(secret)
    // The errors of the refusals above, whole.
    const client = createEntraTokenClient(entraOptions())
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: OTHER_ID, amr: ['pwd'] })
    const errors = await Promise.all([
      failure(client.onBehalfOf(user, MFA_SCOPE)),
      failure(client.onBehalfOf(await entra.mintUserToken({ aud: OTHER_ID, azp: OTHER_ID }), API_SCOPE)),
      failure(createMaskinportenTokenClient(maskinportenOptions()).token('nav:test/forbidden')),
    ])
    for (const err of errors) {
      const text = JSON.stringify({ ...err, message: err.message, detail: err.detail, stack: err.stack, cause: String(err.cause) })
      // (The claims challenge in the header is base64 JSON beginning with `eyJ`: the caller's to see.)
      for (const secret of [...secrets.filter((s) => s !== 'eyJ'), user, user.split('.')[1]!]) expect(text).not.toContain(secret)
      expect(err).toBeInstanceOf(TokenXError)
    }
  })
})

describe('bad scopes', () => {
  it('reject (never throw synchronously) with ERR_CONFIG, before any request', async () => {
    const entraClient = createEntraTokenClient(entraOptions())
    const maskinportenClient = createMaskinportenTokenClient(maskinportenOptions())
    const before = entra.requests.length + maskinporten.requests.length
    const calls = [
      () => entraClient.token('two scopes'),
      () => entraClient.token(''),
      () => maskinportenClient.token(' '),
      () => maskinportenClient.token('nav:test/api', { resource: 'not a uri' }),
    ]
    for (const call of calls) {
      let promise: Promise<unknown> | undefined
      expect(() => {
        promise = call()
      }).not.toThrow()
      await expect(promise).rejects.toMatchObject({ code: 'ERR_CONFIG' })
    }
    expect(entra.requests.length + maskinporten.requests.length).toBe(before)
  })
})
