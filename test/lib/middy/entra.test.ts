/**
 * The Entra ID on-behalf-of middleware, and the client-credentials and Maskinporten bound fetches,
 * end to end against the local stand-ins (dev/entra.ts, dev/maskinporten.ts) and a downstream API on
 * 127.0.0.1; every log line scanned for tokens and personal data.
 */
import { createServer, type Server } from 'node:http'
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { LocalEntra } from '../../../dev/entra.ts'
import { closeServer, listen } from '../../../dev/http.ts'
import type { LocalMaskinporten } from '../../../dev/maskinporten.ts'
import { createEntraClient, entraOnBehalfOf, type EntraAuthorized } from '../../../lib/entra.ts'
import { createMaskinportenClient } from '../../../lib/maskinporten.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import type { TestKey } from '../../helpers/keys.ts'
import { API_ID, API_SCOPE, CLIENT_ID, MASKINPORTEN_CLIENT, startProviderStandIns } from '../../helpers/providers.ts'
import { memoryLogger } from '../../helpers/logs.ts'

const CALLER = '88888888-2222-4333-8444-555555555555'
const STRANGER = '77777777-2222-4333-8444-555555555555'
const MFA_SCOPE = 'api://dev-gcp.team.mfa/.default'

let key: TestKey
let entra: LocalEntra
let maskinporten: LocalMaskinporten
let api: Server
let apiUrl: string
const logger = memoryLogger()

beforeAll(async () => {
  ;({ key, entra, maskinporten } = await startProviderStandIns({
    kid: 'obo-key',
    mfaScopes: [MFA_SCOPE],
    moreApps: [{ clientId: '66666666-2222-4333-8444-555555555555', name: 'dev-gcp:team:mfa' }],
  }))
  api = createServer((req, res) => {
    const auth = req.headers.authorization ?? ''
    const status = req.url === '/unauthorized' ? 401 : 200
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ path: req.url, aud: decodeJwt(auth.replace('Bearer ', '')).aud }))
  })
  apiUrl = `http://127.0.0.1:${await listen(api, 0)}`
})

afterAll(async () => {
  await Promise.all([entra.close(), maskinporten.close(), closeServer(api)])
})

const env = () => ({
  AZURE_APP_CLIENT_ID: CLIENT_ID,
  AZURE_APP_JWK: JSON.stringify(key.privateJwk),
  AZURE_OPENID_CONFIG_ISSUER: entra.issuer,
  AZURE_OPENID_CONFIG_JWKS_URI: entra.jwksUri,
  AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: entra.tokenEndpoint,
  AZURE_APP_PRE_AUTHORIZED_APPS: JSON.stringify([{ name: 'dev-gcp:team:caller', clientId: CALLER }]),
})

function handlerFor(scope: string) {
  return middy<unknown, APIGatewayProxyResult, Error, Context & { entra: EntraAuthorized }>()
    .use(entraOnBehalfOf({ target: { scope, url: apiUrl }, env: env(), logger }))
    .handler(async (_event, context) => {
      const answer = await context.entra.downstream.fetch('/employee')
      return { statusCode: answer.status, body: await answer.text() }
    })
}

describe('entraOnBehalfOf', () => {
  it('validates the caller, exchanges on its behalf (cached per caller) and calls the downstream', async () => {
    const handler = handlerFor(API_SCOPE)
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER })
    const before = entra.requests.length
    const answer = await handler(v2Event(`Bearer ${user}`), lambdaContext())
    expect(answer.statusCode).toBe(200)
    expect(JSON.parse(answer.body)).toEqual({ path: '/employee', aud: API_ID })
    await handler(v2Event(`Bearer ${user}`), lambdaContext())
    expect(entra.requests.length).toBe(before + 1)
    const other = await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER })
    await handler(v2Event(`Bearer ${other}`), lambdaContext())
    expect(entra.requests.length).toBe(before + 2)
  })

  it('starts no deadline timer on a warm invocation whose handler calls no downstream', async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { entra: EntraAuthorized }>()
      .use(entraOnBehalfOf({ target: { scope: API_SCOPE, url: apiUrl }, env: env(), logger }))
      .handler(async (_event, context) => ({ statusCode: 200, body: String(context.entra.claims.azp) }))
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER })
    expect((await handler(v2Event(`Bearer ${user}`), lambdaContext())).statusCode).toBe(200)
    const timers = vi.spyOn(globalThis, 'setTimeout')
    try {
      expect(await handler(v2Event(`Bearer ${user}`), lambdaContext())).toMatchObject({ statusCode: 200, body: CALLER })
      expect(timers).not.toHaveBeenCalled()
    } finally {
      timers.mockRestore()
    }
  })

  it('answers 401 for an invalid caller token, 403 for an app not pre-authorized, both without a request to Entra ID', async () => {
    const handler = handlerFor(API_SCOPE)
    const before = entra.requests.length
    const wrongAudience = await entra.mintUserToken({ aud: API_ID, azp: CALLER })
    expect(await handler(v2Event(`Bearer ${wrongAudience}`), lambdaContext())).toMatchObject({ statusCode: 401 })
    expect(await handler(v2Event('Bearer a.b.c'), lambdaContext())).toMatchObject({ statusCode: 401 })
    const stranger = await entra.mintUserToken({ aud: CLIENT_ID, azp: STRANGER })
    const forbidden = await handler(v2Event(`Bearer ${stranger}`), lambdaContext())
    expect(forbidden.statusCode).toBe(403)
    expect(forbidden.headers?.['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The calling application is not allowed"',
    )
    expect(entra.requests.length).toBe(before)
  })

  it('hands the conditional-access claims challenge to the caller: 401 insufficient_claims', async () => {
    const handler = handlerFor(MFA_SCOPE)
    const user = await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER, amr: ['pwd'] })
    const answer = await handler(v2Event(`Bearer ${user}`), lambdaContext())
    expect(answer.statusCode).toBe(401)
    const challenge = answer.headers?.['WWW-Authenticate']
    expect(challenge).toMatch(/^Bearer error="insufficient_claims", claims="[A-Za-z0-9+/=]+"$/)
    expect(JSON.parse(answer.body)).toEqual({ error: 'insufficient_claims', error_description: 'The bearer token needs additional claims' })
  })

  it('invalid_client answers 500; Entra ID down answers 502', async () => {
    const handler = handlerFor(API_SCOPE)
    entra.failNext(1, 401, {
      error: 'invalid_client',
      error_description: 'AADSTS700027: Client assertion failed signature validation. Trace ID: x',
    })
    expect(await handler(v2Event(`Bearer ${await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER })}`), lambdaContext())).toMatchObject({
      statusCode: 500,
    })
    entra.failNext(3, 503)
    expect(await handler(v2Event(`Bearer ${await entra.mintUserToken({ aud: CLIENT_ID, azp: CALLER })}`), lambdaContext())).toMatchObject({
      statusCode: 502,
    })
  })
})

describe('bound fetch of the machine clients', () => {
  it('Entra ID client credentials: sends the app token to the target origin only, re-fetches after a 401', async () => {
    const client = createEntraClient({
      clientId: CLIENT_ID,
      tokenEndpoint: entra.tokenEndpoint,
      issuer: entra.issuer,
      privateJwk: key.privateJwk,
    })
    const target = client.target({ scope: 'dev-gcp:team:api', url: apiUrl })
    expect(target.scope).toBe(API_SCOPE)
    const answer = await target.fetch('/machine')
    expect(await answer.json()).toEqual({ path: '/machine', aud: API_ID })
    await expect(target.fetch('https://elsewhere.example/x')).rejects.toMatchObject({ code: 'ERR_DOWNSTREAM_URL', statusCode: 500 })
    const before = entra.requests.length
    expect((await target.fetch('/unauthorized')).status).toBe(401)
    // The 401 dropped the token and one fresh token was fetched for the retry.
    expect(entra.requests.length).toBe(before + 1)
  })

  it('Maskinporten: the external API_ID gets the Maskinporten token', async () => {
    const client = createMaskinportenClient({
      clientId: MASKINPORTEN_CLIENT,
      tokenEndpoint: maskinporten.tokenEndpoint,
      issuer: maskinporten.issuer,
      privateJwk: key.privateJwk,
    })
    const target = client.target({ scope: 'nav:test/api', url: apiUrl, resource: 'https://api.example/' })
    const answer = await target.fetch('/external')
    expect(await answer.json()).toEqual({ path: '/external', aud: 'https://api.example/' })
    expect(() => client.target({ scope: 'nav:test/api', url: 'http://api.example' })).toThrow(TypeError)
  })
})

describe('leak scan', () => {
  it("no log line carries a token, an assertion, a name or Entra ID's free text", () => {
    expect(logger.lines.length).toBeGreaterThan(0)
    const text = JSON.stringify(logger.lines)
    for (const secret of ['eyJ', String(key.privateJwk.d), 'Ola Nordmann', 'Z990000', 'Trace ID', 'client_assertion'])
      expect(text).not.toContain(secret)
    expect(text).toContain('ERR_CLAIMS_CHALLENGE')
  })
})
