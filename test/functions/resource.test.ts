/**
 * The built example function (dist bundle, as Lambda runs it) driven with real API Gateway v1 and v2
 * events against a token endpoint, a downstream API and a Secrets Manager endpoint on 127.0.0.1.
 * The bundle uses its own copies of the kit and the AWS SDK; nothing here is injected.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { importJWK, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { CITIZEN_AUDIENCE, CITIZEN_ISSUER, citizenJwks, citizenToken } from '../helpers/citizen.ts'
import { lambdaContext, v1Event, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../helpers/servers.ts'

type Handler = (event: unknown, context: Context) => Promise<APIGatewayProxyResult>

const CLIENT_ID = 'dev-gcp:team:tokenx-kit-example'
const AUDIENCE = 'dev-gcp:team:downstream-api'
let out: string
let key: TestKey
let tokenx: TestServer
let downstream: TestServer
let secrets: LocalSecretsManager
let idporten: TestServer
let handler: Handler
const saved = { ...process.env }

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-build-'))
  const [built, testKey] = await Promise.all([buildFunction('resource', { into: out }), newTestKey('example-key')])
  key = testKey
  tokenx = await startServer((request) => {
    const form = new URLSearchParams(request.body)
    const pid = JSON.parse(Buffer.from(form.get('subject_token')!.split('.')[1]!, 'base64url').toString()).pid
    return tokenAnswer(`downstream-token-for-${pid}`)
  })
  downstream = await startServer((request) => ({ status: 200, body: { youSent: request.headers.authorization } }))
  secrets = await startSecretsManager({ secrets: { 'tokenx/private-jwk': JSON.stringify(key.privateJwk) } })
  const jwks = await citizenJwks()
  idporten = await startServer(() => ({ status: 200, body: jwks }))
  Object.assign(process.env, {
    // Inbound validation is on in the example: the citizen tokens' issuer and its JWKS.
    IDPORTEN_ISSUER: CITIZEN_ISSUER,
    IDPORTEN_JWKS_URI: `${idporten.url}/jwks`,
    IDPORTEN_AUDIENCE: CITIZEN_AUDIENCE,
    TOKEN_X_CLIENT_ID: CLIENT_ID,
    TOKEN_X_TOKEN_ENDPOINT: `${tokenx.url}/token`,
    TOKEN_X_PRIVATE_JWK_SECRET_ID: secrets.arnOf('tokenx/private-jwk'),
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: secrets.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    DOWNSTREAM_URL: downstream.url,
    DOWNSTREAM_AUDIENCE: AUDIENCE,
  })
  // Importing the bundle is the Lambda init phase: it must not load the key or call anything.
  handler = (await import(pathToFileURL(path.join(built.outdir, 'index.mjs')).href)).handler as Handler
  expect(secrets.stats.getSecretValue).toBe(0)
}, 60_000)

afterAll(async () => {
  process.env = saved
  await Promise.all([tokenx?.close(), downstream?.close(), secrets?.close(), idporten?.close()])
  await rm(out, { recursive: true, force: true })
})

describe('functions/resource (built bundle)', () => {
  it('calls the downstream API on behalf of the citizen, with one exchange for warm invocations', async () => {
    const alice = await citizenToken('11111111111')
    const first = await handler(v2Event(`Bearer ${alice}`), lambdaContext())
    const second = await handler(v1Event(`Bearer ${alice}`), lambdaContext())
    for (const result of [first, second]) {
      expect(result.statusCode).toBe(200)
      expect(JSON.parse(result.body)).toEqual({ youSent: 'Bearer downstream-token-for-11111111111' })
    }
    expect(tokenx.requests).toHaveLength(1)
    expect(downstream.requests.map((r) => r.url)).toEqual(['/resource', '/resource'])
    expect(secrets.stats.getSecretValue).toBe(1)

    const form = Object.fromEntries(new URLSearchParams(tokenx.requests[0]!.body))
    expect(form).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      subject_token: alice,
      audience: AUDIENCE,
    })
    const now = Math.floor(Date.now() / 1000)
    const { payload, protectedHeader } = await jwtVerify(form.client_assertion!, await importJWK(key.publicJwk, 'RS256'), {
      issuer: CLIENT_ID,
      subject: CLIENT_ID,
      audience: `${tokenx.url}/token`,
    })
    expect(protectedHeader).toEqual({ alg: 'RS256', kid: 'example-key', typ: 'JWT' })
    expect(payload.exp! - payload.iat!).toBe(30)
    expect(Math.abs(payload.iat! - now)).toBeLessThanOrEqual(5)
  })

  it('exchanges separately for another citizen', async () => {
    const before = tokenx.requests.length
    const bob = await citizenToken('22222222222')
    const result = await handler(v2Event(`Bearer ${bob}`), lambdaContext())
    expect(JSON.parse(result.body)).toEqual({ youSent: 'Bearer downstream-token-for-22222222222' })
    expect(tokenx.requests).toHaveLength(before + 1)
  })

  it('answers a caller without a token with 401 and touches nothing', async () => {
    const before = { exchanges: tokenx.requests.length, downstream: downstream.requests.length }
    const result = await handler(v2Event(), lambdaContext())
    expect(result.statusCode).toBe(401)
    expect(result.headers?.['WWW-Authenticate']).toBe('Bearer')
    expect(tokenx.requests).toHaveLength(before.exchanges)
    expect(downstream.requests).toHaveLength(before.downstream)
  })

  // Issue 18: the downstream's 401/403 and its error text used to reach the citizen as they were.
  it.each([
    ['401 (our token refused, twice)', 401, { 'www-authenticate': 'Bearer error="invalid_token"' }],
    ['403', 403, { 'www-authenticate': 'Bearer error="insufficient_scope"' }],
    ['500', 500, {}],
  ])("answers a downstream %s with 502 and a fixed body: no challenge, none of the downstream's text", async (_label, status, headers) => {
    const dave = await citizenToken('44444444444')
    downstream.respond = () => ({ status, body: 'at com.example.internal.Orders: token refused', headers })
    try {
      const result = await handler(v2Event(`Bearer ${dave}`), lambdaContext())
      expect(result.statusCode).toBe(502)
      expect(result.headers?.['WWW-Authenticate']).toBeUndefined()
      expect(JSON.parse(result.body)).toEqual({ error: 'server_error', error_description: 'An upstream service answered unexpectedly' })
    } finally {
      downstream.respond = (request) => ({ status: 200, body: { youSent: request.headers.authorization } })
    }
  })

  it("answers a downstream step-up (RFC 9470) with the kit's step-up challenge for that level", async () => {
    const erin = await citizenToken('55555555555')
    downstream.respond = () => ({
      status: 401,
      body: '',
      headers: { 'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="idporten-loa-high"' },
    })
    try {
      const result = await handler(v2Event(`Bearer ${erin}`), lambdaContext())
      expect(result.statusCode).toBe(401)
      expect(result.headers?.['WWW-Authenticate']).toContain('acr_values="idporten-loa-high"')
    } finally {
      downstream.respond = (request) => ({ status: 200, body: { youSent: request.headers.authorization } })
    }
  })

  it('passes a 404 on with a fixed body, and answers 502 when the downstream is unreachable', async () => {
    const carol = await citizenToken('33333333333')
    downstream.respond = () => ({ status: 404, body: { error: 'not found', where: 'internal' } })
    const notFound = await handler(v2Event(`Bearer ${carol}`), lambdaContext())
    expect(notFound.statusCode).toBe(404)
    expect(JSON.parse(notFound.body)).toEqual({ error: 'not_found', error_description: 'The resource was not found' })
    await downstream.close()
    const unreachable = await handler(v2Event(`Bearer ${carol}`), lambdaContext())
    expect(unreachable.statusCode).toBe(502)
    expect(JSON.parse(unreachable.body)).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'An upstream service is unavailable',
    })
  })
})
