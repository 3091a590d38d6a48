import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { createTokenXHandlerCore, downstreamAnswer, type Downstream } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

// Module scope, as with middy: the token cache and the loaded key outlive the invocation.
const tokenx = createTokenXHandlerCore({ audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl } })

export async function handler(event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyResultV2> {
  let orders: Downstream | undefined
  try {
    orders = await tokenx.authorize(event, context)
    const response = await orders.fetch(ordersUrl)
    // A status the citizen must not see throws a kit error, which respond() below answers.
    return await downstreamAnswer(response, orders)
  } catch (err) {
    const answer = tokenx.respond(err) // the documented JSON answer for kit errors, undefined otherwise
    if (answer) return answer
    throw err
  } finally {
    if (orders) tokenx.release(orders) // clears the invocation's deadline timer, if one was started
    tokenx.end() // writes the invocation's metrics record (the middleware does both in after/onError)
  }
}
