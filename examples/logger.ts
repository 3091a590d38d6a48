import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'
import { createLogger } from 'tokenx-handler-kit/observe'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

// One JSON line format for the kit and the handler: Powertools' keys, POWERTOOLS_SERVICE_NAME,
// POWERTOOLS_LOG_LEVEL (AWS_LAMBDA_LOG_LEVEL wins when stricter).
const logger = createLogger()

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(tokenX({ audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl }, logger }))
  .handler(async (_event, context, { signal }) => {
    const response = await context.tokenX.fetch(ordersUrl, { signal })
    // Attributes go to the top level of the line. Log statuses and names, never tokens or claims.
    logger.info('orders answered', { status: response.status })
    return downstreamAnswer(response, context.tokenX)
  })
