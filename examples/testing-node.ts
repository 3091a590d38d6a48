// A test of a handler with no test runner: plain `node`, exit code 1 on failure. (The consumer
// fixture runs this file against the packed package.)
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda'
import { createTokenXHandlerCore, type TokenXCoreOptions, type TokenXHandlerContext } from 'tokenx-handler-kit'
import { apiGatewayV2Event, lambdaContext, startTestIdporten, startTestTokenX } from 'tokenx-handler-kit/testing'

const idporten = await startTestIdporten()
const tokenx = await startTestTokenX({ clientId: 'dev-gcp:team:app' })
try {
  const options = {
    audience: { audience: 'dev-gcp:team:orders-api', url: 'https://orders.example' },
    client: tokenx.clientOptions,
    inbound: { idporten: idporten.inboundIssuer },
    fetch: async () => Response.json({ orders: [] }),
    logger: false,
  } satisfies TokenXCoreOptions

  // A handler defined apart, typed from the options: citizen is VerifiedClaims (no `?.`).
  const orders = async (
    _event: APIGatewayProxyEventV2,
    context: TokenXHandlerContext<typeof options>,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const response = await context.tokenX.fetch('/api/orders')
    return { statusCode: response.status, body: context.citizen.pid ?? '' }
  }
  const handler = createTokenXHandlerCore(options).wrap(orders)

  const token = await idporten.mint({ pid: '24681357900' })
  const result = await handler(apiGatewayV2Event({ token }), lambdaContext())
  console.log(JSON.stringify(result))
  if (result.statusCode !== 200 || result.body !== '24681357900' || tokenx.exchanges() !== 1) process.exitCode = 1
} finally {
  await idporten.close()
  await tokenx.close()
}
