/**
 * The middy middleware of the API side: a thin wrapper over `createTokenXApiCore` (lib/core/api.ts).
 */
import type { VerifiedClaims } from '../inbound/validator.ts'
import { createTokenXApiCore, type TokenXApiOptions } from '../core/api.ts'
import { authorizingMiddleware, type AuthorizingMiddleware, type AuthorizingRequest } from './authorizing.ts'

/**
 * What `tokenXApi()` reads and sets on middy's `request`: `context.citizen`. Structural, as
 * `TokenXMiddlewareRequest`, so that the published types need neither `@middy/core` nor `@types/aws-lambda`.
 */
export type TokenXApiMiddlewareRequest = AuthorizingRequest<'citizen', VerifiedClaims>

/** The middleware object `tokenXApi()` returns, for `middy().use()`. */
export type TokenXApiMiddleware = AuthorizingMiddleware<'tokenXApi', 'citizen', VerifiedClaims>

/**
 * The middy middleware of the API side. Usage: `middy(handler).use(tokenXApi({ allowedClients: [...] }))`,
 * then `context.citizen` (the verified claims: `pid`, `acr`, `client_id` of the calling app, ...).
 */
export function tokenXApi(options: TokenXApiOptions = {}): TokenXApiMiddleware {
  return authorizingMiddleware('tokenXApi', 'citizen', createTokenXApiCore(options))
}
