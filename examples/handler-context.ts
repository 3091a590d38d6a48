import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX, type TokenXCoreOptions, type TokenXHandlerContext } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

// `satisfies`, not a type annotation: the type keeps `inbound: true`, so citizen is VerifiedClaims.
const options = {
  audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl },
  inbound: true,
} satisfies TokenXCoreOptions

// A handler defined apart from its middy chain (a module of its own, a unit test's target).
export async function orders(
  _event: APIGatewayProxyEventV2,
  context: TokenXHandlerContext<typeof options>,
): Promise<APIGatewayProxyResultV2> {
  const response = await context.tokenX.fetch(`${ordersUrl}?acr=${context.citizen.acr}`)
  return downstreamAnswer(response, context.tokenX)
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>().use(tokenX(options)).handler(orders)
