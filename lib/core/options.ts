/**
 * The options of `createTokenXHandlerCore` and `tokenX()`: their type, the list of known keys, the
 * defaults, and the observability options (shared with the API side) turned into an `Observer`.
 */
import type { TokenXClient } from '../exchange/client.ts'
import type { TokenXOptions } from '../exchange/config.ts'
import { InvalidOptionError } from '../errors.ts'
import { createLogger, isKitLogger, serviceNameFromEnv, type KitLogger } from '../observe/logger.ts'
import { isMetricsLike, type MetricsLike } from '../observe/metrics.ts'
import { createObserver, metricsNamespace, type Observer } from '../observe/observer.ts'
import { isTracerLike, isXRayTracerLike, type TracerLike, type XRayTracerLike } from '../observe/tracing.ts'
import type { FetchLike } from '../types.ts'
import { checkOptionalName, optionKeys } from '../util/option-checks.ts'
import type { AudienceOption } from './audience.ts'
import type { InboundOption } from './context.ts'

/**
 * `A` and `I` are inferred from `audience` and `inbound` by `tokenX()` and `createTokenXHandlerCore()`,
 * so that the handler's context says what it holds (lib/core/context.ts).
 */
export interface TokenXCoreOptions<A extends AudienceOption = AudienceOption, I extends InboundOption = InboundOption> {
  /** The downstream app(s) to exchange for. Required. */
  audience: A
  /**
   * A client, or options for one. Default: a client built on the first invocation from the
   * `TOKEN_X_*` environment variables (a `ConfigError` names the bad one and is answered as 500).
   */
  client?: TokenXClient | TokenXOptions | undefined
  /** Where the default configuration (client, issuers) is read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>> | undefined
  /** The `fetch` the downstream calls go through. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined
  /** Milliseconds a downstream request may take. Default 10000. */
  downstreamTimeout?: number
  /** Milliseconds kept free before the Lambda's deadline: token requests and key fetches stop by then. Default 500. */
  deadlineMargin?: number
  /**
   * Where the kit logs (key loads, exchange failures and retries, refused tokens, one line per kit
   * error answered): a Powertools `Logger`, or anything with `debug`/`info`/`warn`/`error`; `false`
   * logs nothing. Default: `createLogger()`, JSON lines on stdout in Powertools' shape, level from
   * `POWERTOOLS_LOG_LEVEL` / `AWS_LAMBDA_LOG_LEVEL` (default INFO).
   */
  logger?: KitLogger | false | undefined
  /**
   * Where the per-invocation metrics go: a Powertools `Metrics` instance (the kit adds its metrics;
   * `logMetrics(metrics)` used before `tokenX()`, or the app after `core.end()`, publishes them with
   * the app's, one record: docs/observability.md), or `false` for none. Default: one EMF record per
   * invocation on stdout when `POWERTOOLS_METRICS_NAMESPACE` is set, none otherwise.
   */
  metrics?: MetricsLike | false | undefined
  /**
   * Spans for key loads, exchanges and downstream calls: an OpenTelemetry `Tracer`, a Powertools
   * `Tracer` (X-Ray subsegments of the same names, attributes as annotations), or `false` for none.
   * Default: the tracer provider registered with `@opentelemetry/api` 1.x (e.g. by the ADOT layer),
   * looked up per invocation; none when nothing is registered.
   */
  tracer?: TracerLike | XRayTracerLike | false | undefined
  /** The `service` of log lines and the metrics dimension. Default `POWERTOOLS_SERVICE_NAME`, else `service_undefined`. */
  serviceName?: string | undefined
  /**
   * Inbound validation of the caller's token before any key load or exchange (docs/inbound-validation.md). Default `false`: TokenX alone judges the token. `true`: the issuers from the
   * environment (`IDPORTEN_*`, `TOKEN_X_JWKS_URI`/`TOKEN_X_WELL_KNOWN_URL`), read on the first
   * invocation, with `inboundDefaults`. An `InboundOptions` object: those options; without `idporten`
   * and `tokenX` the issuers still come from the environment. Or a validator of your own making.
   * The verified claims are put on `context.citizen`, typed `VerifiedClaims` when this is on.
   */
  inbound?: I
}

/**
 * The options every core takes beside its own (the TokenX handler core, the API side, Entra ID
 * on-behalf-of): where the default configuration is read, the deadline margin, logs, metrics, traces.
 */
export type CoreRuntimeOptions = Pick<TokenXCoreOptions<string>, 'env' | 'deadlineMargin' | 'logger' | 'metrics' | 'tracer' | 'serviceName'>

/** Every key of `CoreRuntimeOptions`. */
export const coreRuntimeOptionKeys = optionKeys<CoreRuntimeOptions>()('env', 'deadlineMargin', 'logger', 'metrics', 'tracer', 'serviceName')

/** Every key of `TokenXCoreOptions`, in one list: any other key is refused. */
export const coreOptionKeys = optionKeys<TokenXCoreOptions<string>>()(
  'audience',
  'client',
  'fetch',
  'downstreamTimeout',
  'inbound',
  ...coreRuntimeOptionKeys,
)

export const middlewareDefaults = Object.freeze({
  downstreamTimeout: 10_000,
  deadlineMargin: 500,
})

/** Logger, metrics and tracer from the options and the environment; checked now, `TypeError` when bad. */
export function observerFor(
  options: Pick<TokenXCoreOptions<AudienceOption>, 'env' | 'serviceName' | 'logger' | 'metrics' | 'tracer'>,
  audiences: ReadonlyArray<readonly [string, string, ...unknown[]]>,
): Observer {
  const env = options.env ?? process.env
  checkOptionalName('serviceName', options.serviceName)
  const serviceName = options.serviceName ?? serviceNameFromEnv(env)
  if (options.logger !== undefined && options.logger !== false && !isKitLogger(options.logger)) {
    throw new InvalidOptionError('logger', 'must have debug, info, warn and error methods, or be false')
  }
  if (options.metrics !== undefined && options.metrics !== false && !isMetricsLike(options.metrics)) {
    throw new InvalidOptionError('metrics', 'must have addMetric and publishStoredMetrics methods (a Powertools Metrics), or be false')
  }
  if (options.tracer !== undefined && options.tracer !== false && !isTracerLike(options.tracer) && !isXRayTracerLike(options.tracer)) {
    throw new InvalidOptionError('tracer', 'must be an OpenTelemetry Tracer or a Powertools Tracer, or false')
  }
  const logger = options.logger === false ? undefined : (options.logger ?? createLogger({ serviceName, env }))
  const namespace = metricsNamespace(env)
  const metrics = options.metrics === false ? undefined : (options.metrics ?? (namespace === undefined ? undefined : { namespace }))
  return createObserver({
    logger,
    metrics,
    tracer: options.tracer === false ? undefined : (options.tracer ?? 'global'),
    serviceName,
    audience: audiences.length === 1 ? audiences[0]?.[1] : undefined,
  })
}
