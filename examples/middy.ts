import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'

// The downstream app: where it answers, and who it is at TokenX (cluster:namespace:app).
const ordersUrl = process.env['ORDERS_URL'] ?? 'https://orders-api.intern.nav.no/api/orders'
const ordersAudience = process.env['ORDERS_AUDIENCE'] ?? 'prod-gcp:team:orders-api'

// Module scope: the token cache and the loaded key live as long as the Lambda instance.
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  // The token for orders-api may go to ordersUrl's origin only.
  .use(tokenX({ audience: { audience: ordersAudience, url: ordersUrl } }))
  .handler(async (_event, context, { signal }) => {
    // context.tokenX is typed from .use(tokenX(...)), no cast. Its fetch sends
    // `Authorization: Bearer <token for orders-api>` on behalf of the citizen who called us.
    const response = await context.tokenX.fetch(ordersUrl, { signal })
    // Passes on a 2xx (and a 404, a login step-up); anything else becomes the kit's 502.
    return downstreamAnswer(response, context.tokenX)
  })
