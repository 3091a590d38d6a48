import { Logger } from '@aws-lambda-powertools/logger'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { Tracer } from '@aws-lambda-powertools/tracer'
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware'
import middy from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpSecurityHeaders from '@middy/http-security-headers'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

const logger = new Logger() // POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL
const metrics = new Metrics() // POWERTOOLS_METRICS_NAMESPACE
const tracer = new Tracer()

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(captureLambdaHandler(tracer))
  .use(injectLambdaContext(logger)) // not { logEvent: true }: the event holds the citizen's token
  .use(logMetrics(metrics))
  .use(httpSecurityHeaders())
  .use(httpCors({ origins: ['https://app.example'], exposeHeaders: 'WWW-Authenticate', disableBeforePreflightResponse: false }))
  .use(httpHeaderNormalizer())
  .use(httpErrorHandler()) // renders everything else; before or after tokenX() both work
  // Last. The kit logs through your Logger, adds its metrics to your Metrics (logMetrics, used before
  // tokenX(), publishes one EMF record with both), and records its X-Ray subsegments with your Tracer.
  .use(tokenX({ audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl }, logger, metrics, tracer }))
  .handler(async (_event, context, { signal }) => {
    const response = await context.tokenX.fetch(ordersUrl, { signal })
    return downstreamAnswer(response, context.tokenX)
  })
