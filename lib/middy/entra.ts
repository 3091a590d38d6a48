/**
 * The middy middleware of the Entra ID on-behalf-of side: a thin wrapper over
 * `createEntraOnBehalfOfCore` (lib/core/entra.ts).
 */
import { createEntraOnBehalfOfCore, type EntraAuthorized, type EntraOnBehalfOfOptions } from '../core/entra.ts'
import { authorizingMiddleware, type AuthorizingMiddleware, type AuthorizingRequest } from './authorizing.ts'

/** What `entraOnBehalfOf()` reads and sets on middy's `request` (structural, as `TokenXMiddlewareRequest`): `context.entra`. */
export type EntraOnBehalfOfMiddlewareRequest = AuthorizingRequest<'entra', EntraAuthorized>

/** The middleware object `entraOnBehalfOf()` returns, for `middy().use()`. */
export type EntraOnBehalfOfMiddleware = AuthorizingMiddleware<'entraOnBehalfOf', 'entra', EntraAuthorized>

/**
 * `middy(handler).use(entraOnBehalfOf({ target: { scope, url } }))`, then in the handler
 * `context.entra.claims` and `context.entra.downstream.fetch('/path')`.
 */
export function entraOnBehalfOf(options: EntraOnBehalfOfOptions): EntraOnBehalfOfMiddleware {
  return authorizingMiddleware('entraOnBehalfOf', 'entra', createEntraOnBehalfOfCore(options))
}
