/** The ID-porten and TokenX stand-ins of tokenx-handler-kit/testing, checked with the kit's own validator and client. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInboundValidator, createTokenXClient, createTokenXHandlerCore, type TokenXOptions } from '../../../lib/index.ts'
import {
  apiGatewayV2Event,
  lambdaContext,
  startTestIdporten,
  startTestTokenX,
  type TestIssuer,
  type TestTokenX,
} from '../../../lib/testing.ts'
import { newTestKey } from '../../helpers/keys.ts'

let idporten: TestIssuer
let tokenx: TestTokenX

beforeAll(async () => {
  ;[idporten, tokenx] = await Promise.all([
    startTestIdporten({ audience: 'web-client' }),
    startTestTokenX({ clientId: 'dev-gcp:team:app' }),
  ])
})
afterAll(async () => {
  await Promise.all([idporten.close(), tokenx.close()])
})

describe('startTestIdporten', () => {
  it('serves on 127.0.0.1 and mints tokens of ID-porten shape that the kit verifies, with chosen claims', async () => {
    expect(new URL(idporten.issuer).hostname).toBe('127.0.0.1')
    const validator = createInboundValidator({ idporten: idporten.inboundIssuer })
    const claims = await validator.validate(await idporten.mint({ pid: '01010112345', acr: 'idporten-loa-substantial' }))
    expect(claims).toMatchObject({
      source: 'idporten',
      iss: idporten.issuer,
      aud: 'web-client',
      pid: '01010112345',
      acr: 'idporten-loa-substantial',
      client_id: 'web-client',
    })
    expect(idporten.jwksFetches()).toBe(1)
    const discovery = await (await fetch(idporten.wellKnownUrl)).json()
    expect(discovery).toMatchObject({ issuer: idporten.issuer, jwks_uri: idporten.jwksUri })
  })

  it('leaves out a claim given as undefined, and mints expired tokens the kit refuses', async () => {
    const validator = createInboundValidator({ idporten: idporten.inboundIssuer })
    expect((await validator.validate(await idporten.mint({ pid: undefined }))).pid).toBeUndefined()
    await expect(validator.validate(await idporten.mint({}, { expiresIn: -60 }))).rejects.toMatchObject({ statusCode: 401 })
  })
})

describe('startTestTokenX', () => {
  it('mints tokens of TokenX shape that the kit verifies as TokenX tokens', async () => {
    const validator = createInboundValidator({ tokenX: tokenx.inboundIssuer })
    expect(await validator.validate(await tokenx.mint({ client_id: 'dev-gcp:team:caller' }))).toMatchObject({
      source: 'tokenx',
      aud: 'dev-gcp:team:app',
      client_id: 'dev-gcp:team:caller',
      idp: 'https://test.idporten.no',
      pid: '12345678910',
    })
  })

  it("exchanges for the kit's client: a token for the audience that keeps the citizen", async () => {
    const client = createTokenXClient(tokenx.clientOptions)
    const subject = await idporten.mint({ pid: '22222222222' })
    const before = tokenx.exchanges()
    const exchanged = await client.exchange(subject, 'dev-gcp:team:orders')
    expect(tokenx.exchanges() - before).toBe(1)
    const claims = await createInboundValidator({ tokenX: { ...tokenx.inboundIssuer, audience: 'dev-gcp:team:orders' } }).validate(
      exchanged.accessToken,
    )
    expect(claims).toMatchObject({ aud: 'dev-gcp:team:orders', pid: '22222222222', idp: idporten.issuer, client_id: 'dev-gcp:team:app' })
  })

  it('refuses a client assertion signed with another key (invalid_client)', async () => {
    const other: TokenXOptions = { ...tokenx.clientOptions, privateJwk: (await newTestKey()).privateJwk, retries: 0 }
    const before = tokenx.exchanges()
    await expect(createTokenXClient(other).exchange(await idporten.mint(), 'dev-gcp:team:orders')).rejects.toMatchObject({
      code: 'ERR_CLIENT_REJECTED',
    })
    expect(tokenx.exchanges()).toBe(before)
  })

  it('serves a wrapped handler with inbound validation and an exchange, no stack', async () => {
    const seen: string[] = []
    const core = createTokenXHandlerCore({
      audience: { audience: 'dev-gcp:team:orders', url: 'https://orders.example' },
      client: tokenx.clientOptions,
      inbound: { idporten: idporten.inboundIssuer },
      fetch: async (_url, init) => {
        seen.push(String(new Headers(init?.headers).get('authorization')))
        return Response.json({ ok: true })
      },
      logger: false,
    })
    const handler = core.wrap(async (_event: unknown, context) => {
      const response = await context.tokenX.fetch('/orders')
      return { statusCode: response.status, body: context.citizen.pid ?? '' }
    })
    expect(await handler(apiGatewayV2Event({ token: await idporten.mint({ pid: '33333333333' }) }), lambdaContext())).toEqual({
      statusCode: 200,
      body: '33333333333',
    })
    expect(seen[0]).toMatch(/^Bearer ey/)
    expect(await handler(apiGatewayV2Event({ token: await tokenx.mint() }), lambdaContext())).toMatchObject({ statusCode: 401 })
  })
})
