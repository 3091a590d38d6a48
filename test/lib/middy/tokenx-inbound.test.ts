/** The exchange middleware with inbound validation (`inbound` option): validation before key load and exchange. */
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createInboundValidator,
  createTokenXHandlerCore,
  tokenX,
  type Downstream,
  type SecretsManagerLike,
  type VerifiedClaims,
} from '../../../lib/index.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../../helpers/issuer.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'
import { startServer, tokenAnswer, type TestServer } from '../../helpers/servers.ts'

const CLIENT_ID = 'dev-gcp:team:app'
const AUDIENCE = 'dev-gcp:team:downstream'
let key: TestKey
let tokenx: TestServer
let idporten: TestIssuer
let secretReads = 0

beforeAll(async () => {
  key = await newTestKey()
  tokenx = await startServer(() => tokenAnswer('downstream-token'))
  idporten = await startIssuer()
})
afterAll(async () => {
  await Promise.all([tokenx.close(), idporten.close()])
})

const secretsManager: SecretsManagerLike = {
  send: async () => {
    secretReads++
    return { SecretString: JSON.stringify(key.privateJwk) }
  },
}
const client = () => ({ clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwkSecretId: 'key', secretsManager, retries: 0 })
const env = () => ({ IDPORTEN_ISSUER: idporten.issuer, IDPORTEN_JWKS_URI: idporten.jwksUri, IDPORTEN_AUDIENCE: CLIENT_ID })
const token = (extra: Record<string, unknown> = {}) =>
  mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, CLIENT_ID, extra) })

type Ctx = Context & { tokenX: Downstream; citizen: VerifiedClaims | undefined }

function handlerWith(inbound: Parameters<typeof tokenX>[0]['inbound'], environment: Record<string, string> = env()) {
  const seen: Array<VerifiedClaims | undefined> = []
  const handler = middy<unknown, APIGatewayProxyResult, Error, Ctx>()
    .use(tokenX({ audience: AUDIENCE, client: client(), env: environment, inbound, logger: false }))
    .handler(async (_event, context) => {
      seen.push(context.citizen)
      return { statusCode: 200, body: context.tokenX.audience }
    })
  return { handler, seen }
}

describe('tokenX middleware with inbound validation', () => {
  it('puts the verified claims on context.citizen, issuers from the environment', async () => {
    const { handler, seen } = handlerWith({ minimumAcr: 'idporten-loa-high' })
    const before = tokenx.requests.length
    const answer = await handler(v2Event(`Bearer ${token()}`), lambdaContext())
    expect(answer.statusCode).toBe(200)
    expect(seen[0]).toMatchObject({ source: 'idporten', pid: '12345678910', acr: 'idporten-loa-high', aud: CLIENT_ID })
    expect(tokenx.requests.length - before).toBe(1)
  })

  it('refuses a bad token and a low acr before loading the key or exchanging', async () => {
    const { handler, seen } = handlerWith({ minimumAcr: 'idporten-loa-high' })
    const reads = secretReads
    const exchanges = tokenx.requests.length
    const forged = await handler(
      v2Event(`Bearer ${mint({ key: key.privateJwk, claims: citizenClaims(idporten.issuer, CLIENT_ID) })}`),
      lambdaContext(),
    )
    expect(forged.statusCode).toBe(401)
    const low = await handler(v2Event(`Bearer ${token({ acr: 'idporten-loa-substantial' })}`), lambdaContext())
    expect(low.statusCode).toBe(401)
    expect(low.headers?.['WWW-Authenticate']).toContain('acr_values="idporten-loa-high"')
    expect(seen).toEqual([])
    expect(secretReads).toBe(reads)
    expect(tokenx.requests.length).toBe(exchanges)
  })

  it('leaves context.citizen undefined and the token to TokenX when inbound validation is off (the default)', async () => {
    const { handler, seen } = handlerWith(undefined)
    const forged = mint({ key: key.privateJwk, claims: citizenClaims('https://anyone', 'anything') })
    expect((await handler(v2Event(`Bearer ${forged}`), lambdaContext())).statusCode).toBe(200)
    expect(seen).toEqual([undefined])
  })

  it('answers 500 when validation is on but no issuer is configured, without an exchange', async () => {
    const { handler } = handlerWith(true, {})
    const exchanges = tokenx.requests.length
    const answer = await handler(v2Event(`Bearer ${token()}`), lambdaContext())
    expect(answer.statusCode).toBe(500)
    expect(tokenx.requests.length).toBe(exchanges)
  })

  it('throws TypeError for bad inbound options at construction', () => {
    expect(() => tokenX({ audience: AUDIENCE, client: client(), inbound: { minimumAcr: 'Level2' as never } })).toThrow(TypeError)
    expect(() => tokenX({ audience: AUDIENCE, client: client(), inbound: { jwksTimeout: -1 } })).toThrow(/jwksTimeout/)
    expect(() => tokenX({ audience: AUDIENCE, client: client(), inbound: { idporten: { issuer: 'x', audience: 'y' } } })).toThrow(
      /jwksUri or wellKnownUrl/,
    )
    expect(() => tokenX({ audience: AUDIENCE, client: client(), inbound: 'yes' as never })).toThrow(TypeError)
  })

  it('takes a validator of your own making, and works without middy through authorizeRequest', async () => {
    const validator = createInboundValidator({ idporten: { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: CLIENT_ID } })
    const core = createTokenXHandlerCore({ audience: AUDIENCE, client: client(), inbound: validator, logger: false })
    const { tokenX: downstream, citizen } = await core.authorizeRequest(v2Event(`Bearer ${token({ pid: '01010112345' })}`), lambdaContext())
    expect(downstream.audience).toBe(AUDIENCE)
    expect(citizen?.pid).toBe('01010112345')
    const refused = await core.authorize(v2Event(`Bearer ${token({ exp: 1 })}`), lambdaContext()).catch((err: unknown) => core.respond(err))
    expect(refused).toMatchObject({ statusCode: 401 })
  })
})
