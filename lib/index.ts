/**
 * The kit's public API: an explicit list, so nothing internal leaks out by accident. What is here is
 * a promise (semver); helpers such as option resolution, defaults and the bearer parser are not.
 */
// The middleware, and its core for handlers without middy.
export { tokenX, createTokenXHandlerCore, middlewareDefaults } from './middleware.ts'
export type { LambdaContext, LambdaContextLike } from './lambda-context.ts'
export type {
  AudienceOption,
  AudienceTarget,
  AuthorizedRequest,
  TokenXContext,
  TokenXCoreOptions,
  TokenXHandlerCore,
  TokenXMiddleware,
  TokenXMiddlewareRequest,
} from './middleware.ts'
// The client, usable on its own.
export { createTokenXClient } from './client.ts'
export type { ExchangedToken, ExchangeOptions, TokenXClient } from './client.ts'
export { isClientId, optionsFromEnv } from './config.ts'
export type { AssertionAudience, FetchLike, SecretsManagerLike, TokenXOptions, ResolvedTokenXOptions } from './config.ts'
export type { Downstream } from './downstream.ts'
export { sharedCacheDefaults } from './shared-cache.ts'
export type { DynamoDBLike, SharedCacheOptions } from './shared-cache.ts'
// Answers, logs, metrics, traces.
export { downstreamAnswer, errorResponse } from './response.ts'
export type { DownstreamAnswer, ErrorResponse } from './response.ts'
export { createLogger } from './logger.ts'
export type { JsonLogger, KitLogger, LogAttributes, LoggerOptions, LogLevel } from './logger.ts'
export { METRICS } from './metrics.ts'
export type { MetricName, MetricsLike, MetricUnit } from './metrics.ts'
export type { SpanAttributes, SpanLike, TracerLike } from './tracing.ts'
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
export { createInboundValidator, inboundFromEnv } from './inbound.ts'
export type { InboundValidator, TokenSource, VerifiedClaims } from './inbound.ts'
export { inboundDefaults } from './inbound-config.ts'
export type { InboundIssuer, InboundOptions, IssuerSelection, ResolvedInboundOptions } from './inbound-config.ts'
export { acrLevels, isAcrLevel, satisfiesAcr } from './acr.ts'
export type { AcrLevel } from './acr.ts'
export { createTokenXApiCore, tokenXApi } from './api.ts'
export type { TokenXApiCore, TokenXApiMiddleware, TokenXApiMiddlewareRequest, TokenXApiOptions } from './api.ts'
