import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { entraOnBehalfOf } from 'tokenx-handler-kit/entra'

// GET /employee: the caller's Entra ID token (AZURE_*) is checked and exchanged on its behalf for
// DOWNSTREAM_SCOPE; the downstream's answer is passed on.
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(entraOnBehalfOf({ target: { scope: process.env['DOWNSTREAM_SCOPE'] ?? '', url: process.env['DOWNSTREAM_URL'] ?? '' } }))
  .handler(async (_event, context) => {
    const answer = await context.entra.downstream.fetch('/employee')
    return { statusCode: answer.status, body: await answer.text() }
  })
