import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { tokenX } from 'tokenx-handler-kit'

// Several downstream apps, by name: each gets its own token, bound to its own origin(s).
export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(
    tokenX({
      audience: {
        orders: { audience: 'prod-gcp:team:orders-api', url: 'https://orders-api.intern.nav.no/api/' },
        people: { audience: 'prod-gcp:pdl:pdl-api', url: ['https://pdl-api.intern.nav.no/', 'https://pdl-api.nav.no/'] },
      },
    }),
  )
  .handler(async (_event, context, { signal }) => {
    // A relative input resolves against the audience's first URL.
    const [orders, person] = await Promise.all([
      context.tokenX.orders.fetch('orders', { signal }),
      context.tokenX.people.fetch('graphql', { signal, method: 'POST', body: '{"query":"{ hentPerson { navn { fornavn } } }"}' }),
    ])
    return { statusCode: 200, body: JSON.stringify({ orders: orders.status, person: person.status }) }
  })
