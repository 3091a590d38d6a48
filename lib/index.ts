/**
 * The kit's public API: an explicit list, so nothing internal leaks out by accident. What is here is
 * a promise (semver); helpers such as option resolution, defaults and the bearer parser are not.
 */
// The middleware, and its core for handlers without middy.
export { tokenX } from './middy/tokenx.ts'
export { createTokenXHandlerCore } from './core/handler.ts'
export { middlewareDefaults } from './core/options.ts'
export type { DynamoDBLike, ExchangedToken, FetchLike, LambdaContext, LambdaContextLike, SecretsManagerLike } from './types.ts'
export type { AudienceOption, AudienceTarget, TokenXContext } from './core/audience.ts'
export type { AuthorizedRequest, TokenXHandlerCore } from './core/handler.ts'
export type { TokenXCoreOptions } from './core/options.ts'
export type { TokenXMiddleware, TokenXMiddlewareRequest } from './middy/tokenx.ts'
// The client, usable on its own.
export { createTokenXClient } from './exchange/client.ts'
export type { ExchangeOptions, TokenXClient } from './exchange/client.ts'
export { optionsFromEnv } from './exchange/config.ts'
export { isClientId } from './util/option-checks.ts'
export type { AssertionAudience, TokenXOptions, ResolvedTokenXOptions } from './exchange/config.ts'
export type { PrivateJwkLoader } from './exchange/key.ts'
export type { Downstream } from './downstream/fetch.ts'
export { sharedCacheDefaults } from './cache/shared.ts'
export type { SharedCacheOptions } from './cache/shared.ts'
// Answers, logs, metrics, traces.
export { downstreamAnswer, errorResponse } from './core/response.ts'
export type { DownstreamAnswer, ErrorResponse } from './core/response.ts'
export { createLogger } from './observe/logger.ts'
export type { JsonLogger, KitLogger, LogAttributes, LoggerOptions, LogLevel } from './observe/logger.ts'
export { METRICS } from './observe/metrics.ts'
export type { MetricName, MetricsLike, MetricUnit } from './observe/metrics.ts'
export type { SpanAttributes, SpanLike, TracerLike } from './observe/tracing.ts'
// Events (node:diagnostics_channel), for logs, metrics and traces of your own.
export { channelName } from './events.ts'
export type { KitEventName, KitEvents } from './events.ts'
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
export { createInboundValidator, inboundFromEnv } from './inbound/validator.ts'
export type { InboundValidator, TokenSource, VerifiedClaims } from './inbound/validator.ts'
export { inboundDefaults } from './inbound/config.ts'
export type { InboundIssuer, InboundOptions, IssuerSelection, ResolvedInboundOptions } from './inbound/config.ts'
export { acrLevels, isAcrLevel, satisfiesAcr } from './inbound/acr.ts'
export type { AcrLevel } from './inbound/acr.ts'
export { createTokenXApiCore } from './core/api.ts'
export type { TokenXApiCore, TokenXApiOptions } from './core/api.ts'
export { tokenXApi } from './middy/tokenx-api.ts'
export type { TokenXApiMiddleware, TokenXApiMiddlewareRequest } from './middy/tokenx-api.ts'
