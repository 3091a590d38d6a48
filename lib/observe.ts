/**
 * `tokenx-handler-kit/observe`: the kit's logger, metric names, tracing types and events
 * (node:diagnostics_channel), for logs, metrics and traces of your own. An explicit list, as
 * lib/index.ts; a promise (semver) as well.
 */
export { createLogger } from './observe/logger.ts'
export type { JsonLogger, KitLogger, LogAttributes, LoggerOptions, LogLevel } from './observe/logger.ts'
export { METRICS } from './observe/metrics.ts'
export type { MetricName, MetricsLike, MetricUnit } from './observe/metrics.ts'
export type { SpanAttributes, SpanLike, TracerLike, XRaySubsegmentLike, XRayTracerLike } from './observe/tracing.ts'
export { channelName } from './events.ts'
export type { KitEventName, KitEvents } from './events.ts'
