import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTokenXHandlerCore, downstreamAnswer } from 'tokenx-handler-kit'
import {
  apiGatewayV2Event,
  lambdaContext,
  startTestIdporten,
  startTestTokenX,
  type TestIssuer,
  type TestTokenX,
} from 'tokenx-handler-kit/testing'

let idporten: TestIssuer
let tokenx: TestTokenX
beforeAll(async () => {
  idporten = await startTestIdporten() // on 127.0.0.1, a free port
  tokenx = await startTestTokenX({ clientId: 'dev-gcp:team:app' })
})
afterAll(async () => {
  await idporten.close()
  await tokenx.close()
})

// The handler under test, built as the function builds it, pointed at the stand-ins.
function ordersHandler() {
  const core = createTokenXHandlerCore({
    audience: { audience: 'dev-gcp:team:orders-api', url: 'https://orders.example' },
    client: tokenx.clientOptions, // the stand-in's token endpoint, and a key it accepts
    inbound: { idporten: idporten.inboundIssuer },
    // The downstream app, faked: it sees the exchanged token.
    fetch: async () => Response.json({ orders: [] }),
    logger: false,
  })
  return core.wrap(async (_event: unknown, context) => {
    const response = await context.tokenX.fetch('/api/orders')
    return downstreamAnswer(response, context.tokenX)
  })
}

it('answers the citizen with their orders', async () => {
  const token = await idporten.mint({ pid: '12345678910', acr: 'idporten-loa-high' })
  const result = await ordersHandler()(apiGatewayV2Event({ token }), lambdaContext())
  expect(result.statusCode).toBe(200)
  expect(tokenx.exchanges()).toBe(1)
})

it('refuses an expired token with 401', async () => {
  const token = await idporten.mint({}, { expiresIn: -60 })
  const result = await ordersHandler()(apiGatewayV2Event({ token }), lambdaContext())
  expect(result.statusCode).toBe(401)
})
