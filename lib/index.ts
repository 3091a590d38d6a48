/**
 * The kit's public API: an explicit list, so nothing internal leaks out by accident. What is here is
 * a promise (semver). Logs, metrics, traces and events are in `tokenx-handler-kit/observe`
 * (lib/observe.ts); the defaults tables and the option and environment helpers in
 * `tokenx-handler-kit/config` (lib/config.ts).
 */
// The middlewares, and their cores for handlers without middy.
export { tokenX } from './middy/tokenx.ts'
export type { TokenXMiddleware, TokenXMiddlewareRequest } from './middy/tokenx.ts'
export { tokenXApi } from './middy/tokenx-api.ts'
export type { TokenXApiMiddleware, TokenXApiMiddlewareRequest } from './middy/tokenx-api.ts'
export { createTokenXHandlerCore } from './core/handler.ts'
export type { AuthorizedRequest, TokenXHandlerCore, TokenXWrappedHandler } from './core/handler.ts'
export type { CitizenOf, InboundOption, TokenXFields, TokenXHandlerContext } from './core/context.ts'
export { createTokenXApiCore } from './core/api.ts'
export type { TokenXApiCore, TokenXApiOptions } from './core/api.ts'
export type { TokenXCoreOptions } from './core/options.ts'
export type { AudienceOption, AudienceTarget, TokenXContext } from './core/audience.ts'
export type { DynamoDBLike, ExchangedToken, FetchLike, LambdaContext, LambdaContextLike, SecretsManagerLike } from './types.ts'
// The client, usable on its own, and the downstream it binds.
export { createTokenXClient } from './exchange/client.ts'
export type { ExchangeOptions, TokenXClient } from './exchange/client.ts'
export type { AssertionAudience, TokenXOptions, ResolvedTokenXOptions } from './exchange/config.ts'
export type { PrivateJwkLoader } from './exchange/key.ts'
export type { SharedCacheOptions } from './cache/shared.ts'
export type { Downstream } from './downstream/fetch.ts'
// Validation of the caller's token.
export { createInboundValidator } from './inbound/validator.ts'
export type { InboundValidator, TokenSource, VerifiedClaims } from './inbound/validator.ts'
export type { InboundIssuer, InboundOptions, IssuerSelection, ResolvedInboundOptions } from './inbound/config.ts'
export type { AcrLevel } from './inbound/acr.ts'
// Answers.
export { downstreamAnswer, errorResponse } from './core/response.ts'
export type { DownstreamAnswer, ErrorResponse } from './core/response.ts'
// The observability options' types (the rest is in tokenx-handler-kit/observe).
export type { KitLogger } from './observe/logger.ts'
export type { MetricsLike } from './observe/metrics.ts'
export type { TracerLike } from './observe/tracing.ts'
// Errors.
export {
  TokenXError,
  ConfigError,
  KeyError,
  BearerTokenError,
  TokenExchangeError,
  DownstreamError,
  InvalidOptionError,
  InsufficientAcrError,
  ForbiddenCallerError,
  JwksError,
} from './errors.ts'
export type { TokenXErrorCode, TokenXErrorInit, BearerProblem, OAuthErrorBody, InboundErrorCode } from './errors.ts'
