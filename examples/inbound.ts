import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

// The caller's token is verified here (issuers from IDPORTEN_* and TOKEN_X_*) before any key load
// or exchange; a login level below idporten-loa-high is answered 401 with an RFC 9470 step-up.
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(
    tokenX({
      audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl },
      inbound: { minimumAcr: 'idporten-loa-high' },
    }),
  )
  .handler(async (_event, context, { signal }) => {
    // The verified claims. They hold the citizen's identity number (pid): never log them.
    const loginLevel = context.citizen.acr
    const response = await context.tokenX.fetch(ordersUrl, { signal })
    const answer = await downstreamAnswer(response, context.tokenX)
    return { ...answer, headers: { ...answer.headers, 'x-login-level': String(loginLevel) } }
  })
