/**
 * The types a handler's context gets from the options (lib/core/context.ts). Checked by
 * `npm run typecheck` (expectTypeOf and @ts-expect-error fail the compile); the `it`s run nothing.
 */
import middy from '@middy/core'
import { describe, expectTypeOf, it } from 'vitest'
import {
  createInboundValidator,
  createTokenXHandlerCore,
  tokenX,
  type AuthorizedRequest,
  type Downstream,
  type LambdaContext,
  type TokenXCoreOptions,
  type TokenXHandlerContext,
  type VerifiedClaims,
} from '../../../lib/index.ts'

const audience = 'dev-gcp:team:api'
const validator = createInboundValidator({
  idporten: { issuer: 'https://idporten.example', jwksUri: 'https://idporten.example/jwks', audience: 'web' },
})
const maybe: boolean = process.env['NEVER_SET_TOKENX_TYPES'] === undefined

describe('context types follow the options', () => {
  it('middy: inbound on (true, options, a validator) makes context.citizen VerifiedClaims', () => {
    for (const inbound of [true, { minimumAcr: 'Level4' as const }, validator] as const) {
      void middy()
        .use(tokenX({ audience, inbound }))
        .handler(async (_event, context) => {
          expectTypeOf(context.citizen).toEqualTypeOf<VerifiedClaims>()
          expectTypeOf(context.tokenX).toEqualTypeOf<Downstream>()
          return context.citizen.pid
        })
    }
    void middy()
      .use(tokenX({ audience, inbound: true }))
      .handler(async (_event, context) => context.citizen.pid)
    void middy()
      .use(tokenX({ audience, inbound: { allowedClients: ['dev-gcp:team:web'] } }))
      .handler(async (_event, context) => context.citizen.acr)
    void middy()
      .use(tokenX({ audience, inbound: validator }))
      .handler(async (_event, context) => context.citizen.sub)
  })

  it('middy: inbound off or absent leaves no citizen', () => {
    void middy()
      .use(tokenX({ audience }))
      .handler(async (_event, context) => {
        // @ts-expect-error no inbound validation: no citizen
        void context.citizen
        return context.tokenX.token.accessToken
      })
    void middy()
      .use(tokenX({ audience, inbound: false }))
      .handler(async (_event, context) => {
        // @ts-expect-error inbound: false: no citizen
        void context.citizen
      })
  })

  it('middy: an inbound the types cannot tell (boolean) leaves citizen optional', () => {
    void middy()
      .use(tokenX({ audience, inbound: maybe }))
      .handler(async (_event, context) => {
        expectTypeOf(context.citizen).toEqualTypeOf<VerifiedClaims | undefined>()
      })
  })

  it('the core: authorizeRequest and wrap follow inbound', () => {
    const on = createTokenXHandlerCore({ audience, inbound: true })
    expectTypeOf(on.authorizeRequest).returns.resolves.toEqualTypeOf<AuthorizedRequest<string, true>>()
    expectTypeOf<AuthorizedRequest<string, true>['citizen']>().toEqualTypeOf<VerifiedClaims>()
    on.wrap(async (_event: unknown, context) => {
      expectTypeOf(context.citizen).toEqualTypeOf<VerifiedClaims>()
      return context.citizen.pid
    })
    const off = createTokenXHandlerCore({ audience: { orders: audience, people: 'dev-gcp:pdl:pdl-api' } })
    expectTypeOf<Awaited<ReturnType<typeof off.authorizeRequest>>['citizen']>().toEqualTypeOf<undefined>()
    off.wrap(async (_event: unknown, context) => {
      expectTypeOf(context.tokenX.people).toEqualTypeOf<Downstream>()
      // @ts-expect-error "billing" was not configured
      void context.tokenX.billing
      // @ts-expect-error no inbound validation: no citizen
      void context.citizen
    })
  })

  it('TokenXHandlerContext<typeof options> types a handler defined apart', () => {
    const options = { audience, inbound: true } satisfies TokenXCoreOptions
    type Ctx = TokenXHandlerContext<typeof options>
    expectTypeOf<Ctx['citizen']>().toEqualTypeOf<VerifiedClaims>()
    expectTypeOf<Ctx['tokenX']>().toEqualTypeOf<Downstream>()
    expectTypeOf<Ctx>().toExtend<LambdaContext>()
    const apart = async (_event: unknown, context: Ctx): Promise<string | undefined> => context.citizen.pid
    void middy().use(tokenX(options)).handler(apart)
    void createTokenXHandlerCore(options).wrap(apart)

    const named = { audience: { orders: audience, people: 'dev-gcp:pdl:pdl-api' } } as const
    type Named = TokenXHandlerContext<typeof named>
    expectTypeOf<Named['tokenX']>().toEqualTypeOf<{ readonly orders: Downstream; readonly people: Downstream }>()
    // @ts-expect-error no inbound validation: no citizen
    expectTypeOf<Named['citizen']>()

    // A plain const widens `inbound: true` to boolean: citizen stays optional (docs say: satisfies).
    const widened = { audience, inbound: true }
    expectTypeOf<TokenXHandlerContext<typeof widened>['citizen']>().toEqualTypeOf<VerifiedClaims | undefined>()
  })
})
