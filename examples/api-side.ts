import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { tokenXApi } from 'tokenx-handler-kit'

// An internal API: only TokenX tokens issued for our client id (TOKEN_X_*), from the apps listed,
// at a login level of at least idporten-loa-high.
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(tokenXApi({ allowedClients: ['prod-gcp:team:frontend'], minimumAcr: 'idporten-loa-high' }))
  .handler(async (_event, context) => ({
    statusCode: 200,
    body: JSON.stringify({ caller: context.citizen.client_id }),
  }))
