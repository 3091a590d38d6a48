import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(tokenX({ audience: { audience: 'prod-gcp:team:orders-api', url: 'https://orders-api.intern.nav.no/api/' } }))
  .handler(async (_event, context, { signal }) => {
    const response = await context.tokenX.fetch('orders', { signal })
    // A mapping of your own first (this API's 409 is explained to the citizen), the rest to the kit.
    if (response.status === 409) {
      await response.body?.cancel()
      const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }
      return { statusCode: 409, headers, body: JSON.stringify({ error: 'conflict', error_description: 'The order was changed meanwhile' }) }
    }
    return downstreamAnswer(response, context.tokenX)
  })
