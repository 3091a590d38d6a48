/**
 * Type-level checks a consumer relies on with middy 7 (which infers the context a middleware adds);
 * compiled, never run. Each `@ts-expect-error` fails the compile if the kit's types ever become
 * `any` or too loose. declared-context.ts holds what every supported middy major accepts.
 */
import middy from '@middy/core'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
import {
  createTokenXHandlerCore,
  KeyError,
  TokenXError,
  tokenX,
  type Downstream,
  type TokenXCoreOptions,
  type TokenXErrorCode,
  type TokenXHandlerContext,
} from 'tokenx-handler-kit'

// One audience: context.tokenX is a Downstream, inferred from the middleware.
export const single = middy<APIGatewayProxyEventV2>()
  .use(tokenX({ audience: 'prod-gcp:team:orders-api' }))
  .handler(async (_event, context) => {
    const orders: Downstream = context.tokenX
    const requestId: string = context.awsRequestId
    // @ts-expect-error a Downstream has no such member: context.tokenX is not `any`
    void context.tokenX.noSuchMember
    return `${requestId} ${(await orders.fetch('https://orders.example/')).status}`
  })

// Named audiences: one Downstream per name, and only those names.
export const named = middy<APIGatewayProxyEventV2>()
  .use(tokenX({ audience: { orders: 'prod-gcp:team:orders-api', people: 'prod-gcp:pdl:pdl-api' } }))
  .handler(async (_event, context) => {
    const people: Downstream = context.tokenX.people
    // @ts-expect-error "billing" was not configured
    void context.tokenX.billing
    return people.token.accessToken.length
  })

// Without middy: the core, and typed errors.
const core = createTokenXHandlerCore({ audience: 'prod-gcp:team:orders-api' })
export async function plain(event: unknown, context: Context): Promise<unknown> {
  try {
    const orders = await core.authorize(event, context)
    return await orders.fetch('https://orders.example/')
  } catch (err) {
    if (err instanceof KeyError) {
      const code: TokenXErrorCode = err.code
      return code
    }
    if (err instanceof TokenXError) return core.respond(err)
    throw err
  }
}

// @ts-expect-error the audience must be given
tokenX({})

// The context type follows the options: inbound on, citizen is VerifiedClaims; off, no citizen.
const withInbound = { audience: 'prod-gcp:team:orders-api', inbound: true } satisfies TokenXCoreOptions
export const validated = middy<APIGatewayProxyEventV2>()
  .use(tokenX(withInbound))
  .handler(async (_event, context) => context.citizen.pid)
export const apart = async (_event: unknown, context: TokenXHandlerContext<typeof withInbound>): Promise<string | undefined> =>
  context.citizen.acr
export const wrapped = createTokenXHandlerCore(withInbound).wrap(apart)
export const unvalidated = createTokenXHandlerCore({ audience: 'prod-gcp:team:orders-api' }).wrap(async (_event: unknown, context) => {
  // @ts-expect-error no inbound validation: no citizen
  void context.citizen
  return context.tokenX.token.accessToken
})
