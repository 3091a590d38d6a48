import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { createTokenXHandlerCore, downstreamAnswer } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

// Module scope, as with middy: the token cache and the loaded key outlive the invocation.
const tokenx = createTokenXHandlerCore({ audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl } })

// wrap() does per invocation what the middleware does: authorizes, puts tokenX on the context,
// answers kit errors with the documented JSON answers (other errors are thrown on), then clears the
// invocation's deadline timer and writes its metrics record.
export const handler = tokenx.wrap(async (_event: APIGatewayProxyEventV2, context): Promise<APIGatewayProxyResultV2> => {
  const response = await context.tokenX.fetch(ordersUrl)
  // A status the citizen must not see throws a kit error, which wrap() answers.
  return downstreamAnswer(response, context.tokenX)
})
