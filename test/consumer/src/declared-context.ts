/**
 * The form every supported middy major (4 to 7) accepts: the handler's context type declared by
 * hand, the middleware accepted by `.use()`. Typechecked against middy 4.0.0 and 7 (tsconfig.declared.json).
 */
import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2, Context } from 'aws-lambda'
import { tokenX, type Downstream, type TokenXContext } from 'tokenx-handler-kit'

type Ctx = Context & { tokenX: Downstream }

export const declared = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2, Error, Ctx>()
  .use(tokenX({ audience: 'prod-gcp:team:orders-api' }))
  .handler(async (_event, context) => {
    const response = await context.tokenX.fetch('https://orders.example/')
    // @ts-expect-error a Downstream has no such member: context.tokenX is not `any`
    void context.tokenX.noSuchMember
    return { statusCode: response.status, body: await response.text() }
  })

type Named = Context & { tokenX: TokenXContext<{ orders: string; people: string }> }

export const named = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2, Error, Named>()
  .use(tokenX({ audience: { orders: 'prod-gcp:team:orders-api', people: 'prod-gcp:pdl:pdl-api' } }))
  .handler(async (_event, context) => ({ statusCode: (await context.tokenX.people.fetch('https://pdl.example/')).status }))
