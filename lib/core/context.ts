/**
 * The types of what a handler finds on its context, derived from the options: `tokenX` from the
 * `audience`, and `citizen` from `inbound`: the verified claims when validation is on, nothing when
 * it is off. Shared by the core (`authorizeRequest`, `wrap`) and the middy middleware.
 */
import type { InboundOptions } from '../inbound/config.ts'
import type { InboundValidator, VerifiedClaims } from '../inbound/validator.ts'
import type { LambdaContext } from '../types.ts'
import type { AudienceOption, TokenXContext } from './audience.ts'

/** The `inbound` option: off (`false`, absent), or on (`true`, inbound options, a validator). */
export type InboundOption = boolean | InboundOptions | InboundValidator | undefined

/**
 * `context.citizen` for an `inbound` option of type `I`: `VerifiedClaims` when it is on (`true`, an
 * options object, a validator), `undefined` when it is off or absent, and either when the type
 * cannot tell (`boolean`, or the whole `InboundOption`).
 */
export type CitizenOf<I> = [I] extends [false | undefined]
  ? undefined
  : [false] extends [I]
    ? VerifiedClaims | undefined
    : [undefined] extends [I]
      ? VerifiedClaims | undefined
      : VerifiedClaims

/**
 * What the kit adds to the Lambda context: `tokenX` (one `Downstream`, or one per name) and, with
 * inbound validation on, `citizen` (the verified claims). With validation off there is no `citizen`.
 */
export type TokenXFields<A extends AudienceOption, I> = { tokenX: TokenXContext<A> } & ([CitizenOf<I>] extends [undefined]
  ? unknown
  : [CitizenOf<I>] extends [VerifiedClaims]
    ? { citizen: VerifiedClaims }
    : { citizen?: VerifiedClaims | undefined })

/**
 * The context type of a handler the kit serves, for a handler defined apart from its middy chain or
 * its `wrap`: `TokenXHandlerContext<typeof options>`. The Lambda context, with `tokenX` and, when
 * inbound validation is on, `citizen: VerifiedClaims`. Write the options with
 * `satisfies TokenXCoreOptions` (or `as const`): a plain `const` widens `inbound: true` to `boolean`,
 * which leaves `citizen` optional.
 */
export type TokenXHandlerContext<O extends { readonly audience: AudienceOption; readonly inbound?: InboundOption }> = LambdaContext &
  TokenXFields<O['audience'], 'inbound' extends keyof O ? O['inbound'] : undefined>
