/**
 * The hostile-token suite, against the BUILT example functions (dist bundles as Lambda runs them):
 * functions/resource.ts (inbound validation on, idporten-loa-high required) and
 * functions/api-resource.ts (the API side). Issuers, TokenX, the downstream API and Secrets Manager are
 * real servers on 127.0.0.1; nothing is injected. Every refused token is checked for its status and
 * WWW-Authenticate header, and for having caused no key load and no exchange.
 */
import { createPublicKey } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../helpers/issuer.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../helpers/servers.ts'

type Handler = (event: unknown, context: Context) => Promise<APIGatewayProxyResult>

// The kit's clock is the real Date.now, taken when the bundle loads; only jose's JWKS cooldown reads
// the (faked) global Date at each call. Tokens in the rotation test are dated by the real clock.
const realNow = Date.now

const CLIENT_ID = 'dev-gcp:team:tokenx-kit-example'
const AUDIENCE = 'dev-gcp:team:downstream-api'
const INVALID = 'Bearer error="invalid_token", error_description="The bearer token is malformed, expired or not accepted"'
const STEP_UP =
  'Bearer error="insufficient_user_authentication", error_description="A higher authentication level is required", acr_values="idporten-loa-high"'

let out: string
let bundles: { resource: string; api: string }
let appKey: TestKey
let attackerKey: TestKey
let idporten: TestIssuer
let tokenxIssuer: TestIssuer
let tokenx: TestServer
let downstream: TestServer
let attacker: TestServer
let secrets: LocalSecretsManager
const saved = { ...process.env }
let instance = 0

/** A fresh instance of a built bundle (its own module state: cold caches), with `env` at its init. */
async function load(bundle: string, env: Record<string, string>): Promise<Handler> {
  process.env = { ...saved, ...baseEnv(), ...env }
  const module = await import(`${pathToFileURL(bundle).href}?instance=${++instance}`)
  return module.handler as Handler
}

function baseEnv(): Record<string, string> {
  return {
    TOKEN_X_CLIENT_ID: CLIENT_ID,
    TOKEN_X_TOKEN_ENDPOINT: `${tokenx.url}/token`,
    TOKEN_X_ISSUER: tokenxIssuer.issuer,
    TOKEN_X_JWKS_URI: tokenxIssuer.jwksUri,
    TOKEN_X_PRIVATE_JWK_SECRET_ID: secrets.arnOf('tokenx/private-jwk'),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: secrets.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    DOWNSTREAM_URL: downstream.url,
    DOWNSTREAM_AUDIENCE: AUDIENCE,
    IDPORTEN_ISSUER: idporten.issuer,
    IDPORTEN_JWKS_URI: idporten.jwksUri,
    IDPORTEN_AUDIENCE: CLIENT_ID,
  }
}

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-inbound-'))
  const [resource, api, key, attackerTestKey] = await Promise.all([
    buildFunction('resource', { into: out }),
    buildFunction('api-resource', { into: out }),
    newTestKey('app-key'),
    newTestKey('attacker-key'),
  ])
  bundles = { resource: path.join(resource.outdir, 'index.mjs'), api: path.join(api.outdir, 'index.mjs') }
  appKey = key
  attackerKey = attackerTestKey
  ;[idporten, tokenxIssuer] = await Promise.all([startIssuer(), startIssuer()])
  tokenx = await startServer(() => tokenAnswer('downstream-token'))
  downstream = await startServer(() => ({ status: 200, body: { ok: true } }))
  attacker = await startServer(() => ({ status: 200, body: { keys: [attackerKey.publicJwk] } }))
  secrets = await startSecretsManager({ secrets: { 'tokenx/private-jwk': JSON.stringify(appKey.privateJwk) } })
}, 60_000)

afterAll(async () => {
  vi.useRealTimers()
  process.env = saved
  await Promise.all([idporten?.close(), tokenxIssuer?.close(), tokenx?.close(), downstream?.close(), attacker?.close(), secrets?.close()])
  await rm(out, { recursive: true, force: true })
})

/** Calls `handler` and returns its answer and what it caused: key loads, exchanges, downstream calls. */
async function call(handler: Handler, token: string, options: { path?: string; remaining?: number } = {}) {
  const before = { keyLoads: secrets.stats.getSecretValue, exchanges: tokenx.requests.length, downstream: downstream.requests.length }
  const started = Date.now()
  const answer = await handler(v2Event(`Bearer ${token}`, options.path), lambdaContext(options.remaining))
  return {
    status: answer.statusCode,
    challenge: Object.entries(answer.headers ?? {}).find(([name]) => name.toLowerCase() === 'www-authenticate')?.[1],
    body: JSON.parse(answer.body) as Record<string, unknown>,
    elapsed: Date.now() - started,
    keyLoads: secrets.stats.getSecretValue - before.keyLoads,
    exchanges: tokenx.requests.length - before.exchanges,
    downstream: downstream.requests.length - before.downstream,
  }
}

const claims = (extra: Record<string, unknown> = {}) => citizenClaims(idporten.issuer, CLIENT_ID, extra)
const signed = (extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  mint({ key: idporten.key.privateJwk, header, claims: claims(extra) })

describe('functions/resource: hostile tokens are refused before any key load or exchange', () => {
  let handler: Handler

  beforeAll(async () => {
    handler = await load(bundles.resource, {})
  })

  const refusedCases: Array<[string, () => string]> = [
    ['alg none, no signature', () => mint({ sign: 'none', header: { alg: 'none' }, claims: claims() })],
    ['alg none, with a signature part', () => `${mint({ sign: 'none', header: { alg: 'none' }, claims: claims() })}c2ln`],
    [
      "HS256 signed with the issuer's public key as the secret",
      () =>
        mint({
          sign: 'HS256',
          header: { alg: 'HS256', kid: idporten.key.publicJwk.kid },
          secret: createPublicKey({ key: idporten.key.publicJwk as never, format: 'jwk' }).export({
            format: 'pem',
            type: 'spki',
          }) as string,
          claims: claims(),
        }),
    ],
    [
      'a valid signature by a key not in the JWKS (with the real kid)',
      () => mint({ key: { ...attackerKey.privateJwk, kid: idporten.key.publicJwk.kid }, claims: claims() }),
    ],
    ['a kid that points nowhere', () => mint({ key: { ...idporten.key.privateJwk, kid: 'nowhere' }, claims: claims() })],
    [
      "jku, x5u and jwk headers pointing at an attacker's keys",
      () =>
        mint({
          key: attackerKey.privateJwk,
          header: { jku: `${attacker.url}/jwks`, x5u: `${attacker.url}/cert.pem`, jwk: attackerKey.publicJwk },
          claims: claims(),
        }),
    ],
    ['expired', () => signed({ exp: Math.floor(Date.now() / 1000) - 60 })],
    ['nbf in the future', () => signed({ nbf: Math.floor(Date.now() / 1000) + 600 })],
    ['wrong iss', () => signed({ iss: `${idporten.issuer}/other` })],
    ['wrong aud', () => signed({ aud: 'dev-gcp:team:someone-else' })],
    ['aud as an array without ours', () => signed({ aud: ['dev-gcp:team:someone-else', 'frontend'] })],
    ['missing exp', () => signed({ exp: undefined })],
  ]

  it.each(refusedCases)('%s → 401 invalid_token', async (_name, token) => {
    const result = await call(handler, token())
    expect(result).toMatchObject({ status: 401, challenge: INVALID, keyLoads: 0, exchanges: 0, downstream: 0 })
    expect(result.body).toEqual({ error: 'invalid_token', error_description: 'The bearer token is malformed, expired or not accepted' })
  })

  it("never fetched the attacker's jku/x5u", () => {
    expect(attacker.requests).toEqual([])
  })

  it('acr too low → 401 step-up challenge naming idporten-loa-high', async () => {
    for (const acr of ['idporten-loa-substantial', 'Level3', undefined]) {
      const result = await call(handler, signed({ acr }))
      expect(result).toMatchObject({ status: 401, challenge: STEP_UP, keyLoads: 0, exchanges: 0, downstream: 0 })
      expect(result.body).toEqual({
        error: 'insufficient_user_authentication',
        error_description: 'A higher authentication level is required',
      })
    }
  })

  it('a flood of unknown kids causes at most one JWKS fetch per cooldown', async () => {
    const before = idporten.jwksFetches()
    const tokens = Array.from({ length: 30 }, (_, i) => mint({ key: { ...attackerKey.privateJwk, kid: `flood-${i}` }, claims: claims() }))
    const results = await Promise.all(tokens.map((token) => call(handler, token)))
    expect(results.every((r) => r.status === 401 && r.challenge === INVALID)).toBe(true)
    expect(idporten.jwksFetches() - before).toBeLessThanOrEqual(1)
    expect(secrets.stats.getSecretValue).toBe(0)
    expect(tokenx.requests).toHaveLength(0)
  })

  it('accepts a valid token (idporten-loa-high), and Level4 where idporten-loa-high is required', async () => {
    const high = await call(handler, signed())
    expect(high).toMatchObject({ status: 200, keyLoads: 1, exchanges: 1, downstream: 1 })
    // tokendings may map acr to Level4: a TokenX token another app exchanged for us.
    const level4 = await call(
      handler,
      mint({
        key: tokenxIssuer.key.privateJwk,
        claims: citizenClaims(tokenxIssuer.issuer, CLIENT_ID, { acr: 'Level4', client_id: 'dev-gcp:team:frontend' }),
      }),
    )
    expect(level4).toMatchObject({ status: 200, exchanges: 1, downstream: 1 })
    const level4Idporten = await call(handler, signed({ acr: 'Level4' }))
    expect(level4Idporten).toMatchObject({ status: 200, exchanges: 1 })
  })

  it('a repeated token is not verified again and not exchanged again', async () => {
    const token = signed()
    expect((await call(handler, token)).status).toBe(200)
    const fetches = idporten.jwksFetches()
    const again = await call(handler, token)
    expect(again).toMatchObject({ status: 200, exchanges: 0, downstream: 1 })
    expect(idporten.jwksFetches()).toBe(fetches)
  })

  it('follows an issuer key rotation with one JWKS refetch once the cooldown has passed, then answers 200', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + 31_000)
      await idporten.rotate()
      const now = Math.floor(realNow() / 1000)
      const dated = () => signed({ iat: now, nbf: now, exp: now + 600 })
      const before = idporten.jwksFetches()
      const rotated = await call(handler, dated())
      expect(rotated).toMatchObject({ status: 200, exchanges: 1 })
      expect(idporten.jwksFetches() - before).toBe(1)
      expect((await call(handler, dated())).status).toBe(200)
      expect(idporten.jwksFetches() - before).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('functions/resource: an unreachable or hanging JWKS is our fault (5xx within the deadline), never a 401', () => {
  it('JWKS down → 503 (after one retry), no key load, no exchange', async () => {
    const handler = await load(bundles.resource, { IDPORTEN_JWKS_URI: 'http://127.0.0.1:1/jwks' })
    const result = await call(handler, signed(), { remaining: 3000 })
    expect(result).toMatchObject({ status: 503, challenge: undefined, keyLoads: 0, exchanges: 0 })
    expect(result.body).toEqual({ error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' })
  })

  it('JWKS hanging → 504 before the Lambda deadline', async () => {
    const hanging = await startServer(() => ({ status: 200, body: { keys: [] }, delay: 10_000 }))
    try {
      const handler = await load(bundles.resource, { IDPORTEN_JWKS_URI: `${hanging.url}/jwks` })
      const result = await call(handler, signed(), { remaining: 1500 })
      expect(result).toMatchObject({ status: 504, keyLoads: 0, exchanges: 0 })
      // The deadline is 1500 ms minus the 500 ms margin.
      expect(result.elapsed).toBeLessThan(1400)
    } finally {
      await hanging.close()
    }
  })

  it('JWKS answering garbage → 502', async () => {
    const broken = await startServer(() => ({ status: 200, body: { keys: 'none' } }))
    try {
      const handler = await load(bundles.resource, { IDPORTEN_JWKS_URI: `${broken.url}/jwks` })
      expect(await call(handler, signed())).toMatchObject({ status: 502, keyLoads: 0, exchanges: 0 })
    } finally {
      await broken.close()
    }
  })
})

describe('functions/api-resource: the API side accepts only TokenX tokens for itself, from allowed apps', () => {
  const API_ID = AUDIENCE
  let handler: Handler
  const apiToken = (extra: Record<string, unknown> = {}) =>
    mint({
      key: tokenxIssuer.key.privateJwk,
      claims: citizenClaims(tokenxIssuer.issuer, API_ID, { client_id: CLIENT_ID, idp: idporten.issuer, ...extra }),
    })

  beforeAll(async () => {
    handler = await load(bundles.api, { TOKEN_X_CLIENT_ID: API_ID, ALLOWED_CALLERS: `${CLIENT_ID},dev-gcp:team:other` })
  })

  it('answers who called for a TokenX token for our client id from an allowed app', async () => {
    const result = await call(handler, apiToken(), { path: '/api/resource' })
    expect(result.status).toBe(200)
    expect(result.body).toEqual({
      pid: '12345678910',
      acr: 'idporten-loa-high',
      client_id: CLIENT_ID,
      aud: API_ID,
      idp: idporten.issuer,
      sub: 'pairwise-sub',
    })
  })

  it('refuses a TokenX token for another audience (401)', async () => {
    const result = await call(handler, apiToken({ aud: CLIENT_ID }), { path: '/api/resource' })
    expect(result).toMatchObject({ status: 401, challenge: INVALID })
  })

  it('refuses a token from an app not on the allow-list (403 insufficient_scope)', async () => {
    const result = await call(handler, apiToken({ client_id: 'dev-gcp:team:intruder' }), { path: '/api/resource' })
    expect(result).toMatchObject({
      status: 403,
      challenge: 'Bearer error="insufficient_scope", error_description="The calling application is not allowed"',
    })
    expect(result.body).toEqual({ error: 'insufficient_scope', error_description: 'The calling application is not allowed' })
  })

  it("refuses a citizen's ID-porten token sent straight to the API (401), even for our client id", async () => {
    const straight = mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, API_ID, { client_id: CLIENT_ID }) })
    expect(await call(handler, straight, { path: '/api/resource' })).toMatchObject({ status: 401, challenge: INVALID })
  })

  it('applies the same acr rule (401 step-up), and accepts Level4', async () => {
    expect(await call(handler, apiToken({ acr: 'Level3' }), { path: '/api/resource' })).toMatchObject({ status: 401, challenge: STEP_UP })
    expect((await call(handler, apiToken({ acr: 'Level4' }), { path: '/api/resource' })).status).toBe(200)
  })

  it('answers 401 without an error code when no token is sent', async () => {
    const answer = await handler(v2Event(undefined, '/api/resource'), lambdaContext())
    expect(answer.statusCode).toBe(401)
    expect(answer.headers?.['WWW-Authenticate']).toBe('Bearer')
  })
})
