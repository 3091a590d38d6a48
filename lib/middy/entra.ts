/**
 * The middy middleware of the Entra ID on-behalf-of side: a thin wrapper over
 * `createEntraOnBehalfOfCore` (lib/core/entra.ts).
 */
import type { LambdaContext } from '../types.ts'
import { createEntraOnBehalfOfCore, type EntraAuthorized, type EntraOnBehalfOfOptions } from '../core/entra.ts'
import { authorizingMiddleware } from './authorizing.ts'

/** What `entraOnBehalfOf()` reads and sets on middy's `request` (structural, as `TokenXMiddlewareRequest`). */
export interface EntraOnBehalfOfMiddlewareRequest {
  event: unknown
  context: LambdaContext & { entra: EntraAuthorized }
  response: unknown
  error: unknown
}

export interface EntraOnBehalfOfMiddleware {
  readonly name: 'entraOnBehalfOf'
  before: (request: EntraOnBehalfOfMiddlewareRequest) => Promise<void>
  after: (request: EntraOnBehalfOfMiddlewareRequest) => void
  onError: (request: EntraOnBehalfOfMiddlewareRequest) => void
}

/**
 * `middy(handler).use(entraOnBehalfOf({ target: { scope, url } }))`, then in the handler
 * `context.entra.claims` and `context.entra.downstream.fetch('/path')`.
 */
export function entraOnBehalfOf(options: EntraOnBehalfOfOptions): EntraOnBehalfOfMiddleware {
  return authorizingMiddleware('entraOnBehalfOf', 'entra', createEntraOnBehalfOfCore(options))
}
