/**
 * The Entra ID on-behalf-of side, usable without middy: validates the caller's Entra ID token
 * (lib/flows/entra-inbound.ts: issuer, signature, `aud` = our client id, `azp` pre-authorized or 403),
 * exchanges it for the downstream's scope (cached per caller and scope), and hands the handler a
 * `fetch` bound to the downstream's URL. A conditional-access claims challenge from Entra ID reaches
 * the caller as 401 `WWW-Authenticate: Bearer error="insufficient_claims", claims="…"`.
 */
import type { EntraOptions } from '../exchange/provider-options.ts'
import { createEntraClient, type EntraClient } from '../flows/clients.ts'
import { bindTarget, checkTarget, type BoundTarget, type TargetOptions } from '../flows/bound-fetch.ts'
import {
  createEntraValidator,
  entraInboundFromEnv,
  type EntraClaims,
  type EntraInboundOptions,
  type EntraValidator,
} from '../flows/entra-inbound.ts'
import { entraScope } from '../exchange/entra.ts'
import { entraOptionsFromEnv } from '../exchange/provider-options.ts'
import { bearerToken } from '../inbound/bearer.ts'
import type { LambdaContextLike } from '../types.ts'
import { checkKnownKeys, checkNonNegativeInteger, checkOptionsObject, optionKeys } from '../util/option-checks.ts'
import { lazyDeadline, releaseDeadline } from './deadline.ts'
import { coreRuntimeOptionKeys, middlewareDefaults, observerFor, type CoreRuntimeOptions } from './options.ts'
import { respondTo } from './respond.ts'
import type { ErrorResponse } from './response.ts'

export interface EntraOnBehalfOfOptions extends CoreRuntimeOptions {
  /** The downstream API: `scope` (`api://cluster.namespace.app/.default` or `cluster:namespace:app`) and `url`. Required. */
  target: TargetOptions
  /** The Entra ID client's options. Default: from the environment on the first invocation (`AZURE_APP_*`, `AZURE_OPENID_CONFIG_*`). */
  client?: EntraOptions | undefined
  /** The caller token's checks. Default: from the environment on the first invocation (with `AZURE_APP_PRE_AUTHORIZED_APPS`). */
  inbound?: EntraInboundOptions | undefined
}

export const entraOnBehalfOfOptionKeys = optionKeys<EntraOnBehalfOfOptions>()('target', 'client', 'inbound', ...coreRuntimeOptionKeys)

/** What `authorize` gives the handler. */
export interface EntraAuthorized {
  /** The caller's verified claims (`NAVident`, `oid`, `azp`, `groups`, ...). */
  readonly claims: EntraClaims
  /** The downstream, called on the caller's behalf; the first token is already fetched. */
  readonly downstream: BoundTarget
}

export interface EntraOnBehalfOfCore {
  authorize(event: unknown, context?: Partial<LambdaContextLike>): Promise<EntraAuthorized>
  /** The HTTP answer for a kit error (logged and counted once); `undefined` for any other error. */
  respond(err: unknown): ErrorResponse | undefined
  /** Ends the invocation: releases its deadline, writes its metrics. */
  end(): void
}

export function createEntraOnBehalfOfCore(options: EntraOnBehalfOfOptions): EntraOnBehalfOfCore {
  checkOptionsObject('options', options)
  checkKnownKeys(options, entraOnBehalfOfOptionKeys)
  checkTarget(options.target, false)
  // The target is checked once, here: each invocation binds it to the caller's token without checking it again.
  const scope = entraScope(options.target.scope)
  const { deadlineMargin = middlewareDefaults.deadlineMargin } = options
  checkNonNegativeInteger('deadlineMargin', deadlineMargin)
  const observer = observerFor(options, [])
  // Built now when given (bad options throw here), otherwise from the environment on first use.
  let client: EntraClient | undefined = options.client === undefined ? undefined : createEntraClient(options.client)
  let validator: EntraValidator | undefined = options.inbound === undefined ? undefined : createEntraValidator(options.inbound)
  const env = () => options.env ?? process.env
  let deadline: ReturnType<typeof lazyDeadline> | undefined

  return {
    async authorize(event, context) {
      observer.begin(context)
      validator ??= createEntraValidator(entraInboundFromEnv(env()))
      client ??= createEntraClient(entraOptionsFromEnv(env()))
      const tokens = client
      const token = bearerToken(event, validator.maxTokenLength)
      const current = lazyDeadline(context, deadlineMargin)
      deadline = current
      const claims = await validator.validate(token, current)
      const bound = bindTarget(options.target, scope, {
        token: (tokenOptions) => tokens.onBehalfOf(token, scope, tokenOptions),
        evict: (issued) => tokens.evict(issued, token),
      })
      // Exchanged now, so that a refusal (a claims challenge) is answered before the handler runs.
      await bound.token({
        get signal() {
          return current.signal
        },
      })
      const downstream: BoundTarget = {
        scope: bound.scope,
        token: (tokenOptions = {}) =>
          bound.token({
            get signal() {
              return tokenOptions.signal ?? current.signal
            },
          }),
        fetch: (input, init = {}) => bound.fetch(input, { ...init, signal: init.signal ?? current.signal ?? null }),
      }
      return { claims, downstream }
    },
    respond: (err) => respondTo(err, observer),
    end() {
      if (deadline !== undefined) releaseDeadline(deadline)
      deadline = undefined
      observer.end()
    },
  }
}
