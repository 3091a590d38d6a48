/**
 * The middy middleware of the API side: a thin wrapper over `createTokenXApiCore` (lib/core/api.ts).
 */
import type { VerifiedClaims } from '../inbound/validator.ts'
import type { LambdaContext } from '../types.ts'
import { createTokenXApiCore, type TokenXApiOptions } from '../core/api.ts'
import { authorizingMiddleware } from './authorizing.ts'

/**
 * What `tokenXApi()` reads and sets on middy's `request`. Structural, as `TokenXMiddlewareRequest`,
 * so that the published types need neither `@middy/core` nor `@types/aws-lambda`.
 */
export interface TokenXApiMiddlewareRequest {
  event: unknown
  context: LambdaContext & { citizen: VerifiedClaims }
  response: unknown
  error: unknown
}

/** The middleware object `tokenXApi()` returns, for `middy().use()`. */
export interface TokenXApiMiddleware {
  readonly name: 'tokenXApi'
  before: (request: TokenXApiMiddlewareRequest) => Promise<void>
  after: (request: TokenXApiMiddlewareRequest) => void
  onError: (request: TokenXApiMiddlewareRequest) => void
}

/**
 * The middy middleware of the API side. Usage: `middy(handler).use(tokenXApi({ allowedClients: [...] }))`,
 * then `context.citizen` (the verified claims: `pid`, `acr`, `client_id` of the calling app, ...).
 */
export function tokenXApi(options: TokenXApiOptions = {}): TokenXApiMiddleware {
  return authorizingMiddleware('tokenXApi', 'citizen', createTokenXApiCore(options))
}
