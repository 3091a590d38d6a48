/**
 * Turns the kit's events (lib/events.ts) into log lines, one EMF metrics record per invocation (its
 * own, or the app's Powertools `Metrics`, published by its owner) and spans (OpenTelemetry, or X-Ray
 * subsegments through a Powertools `Tracer`), for one middleware (or core) instance.
 *
 * Events are process-wide (`node:diagnostics_channel`), and a process may hold several cores (tests
 * do; a Lambda function normally holds one). An observer therefore listens only while an invocation
 * of its own core is open (`begin` … `end`): one shared subscription per event name hands each event
 * to the observers open at that moment. Under Lambda's one-invocation-at-a-time model, each record
 * holds exactly its invocation's figures; with overlapping invocations (managed instances' multi-
 * concurrency) every event is still counted once, in the record of the next invocation to end.
 *
 * With nothing enabled no channel has a subscriber, so publishing stays a `hasSubscribers` check.
 */
import type { LambdaContext } from '../types.ts'
import { publicAnswer, safeErrorName, type TokenXErrorCode } from '../errors.ts'
import { kitChannel, type KitEventName, type KitEvents } from '../events.ts'
import { isJsonLogger, logsDebug, serviceNameFromEnv, type KitLogger } from './logger.ts'
import { addTo, emfSerializer, isMetricsLike, MetricRecord, type MetricsLike } from './metrics.ts'
import {
  activeSpan,
  globalTracer,
  isXRayTracerLike,
  recordSpan,
  recordSubsegment,
  SPAN_KIND_CLIENT,
  type TracerLike,
  type XRayTracerLike,
} from './tracing.ts'

export interface ObserverOptions {
  /** Where lines go; `undefined` logs nothing. */
  readonly logger: KitLogger | undefined
  /** EMF to stdout under this namespace, or a Powertools-style instance, or nothing. */
  readonly metrics: { readonly namespace: string } | MetricsLike | undefined
  /**
   * An OpenTelemetry tracer, a Powertools `Tracer` (X-Ray subsegments), `'global'` for the registered
   * OpenTelemetry provider if any, or `undefined` for none.
   */
  readonly tracer: TracerLike | XRayTracerLike | 'global' | undefined
  readonly serviceName: string
  /** The single audience of the core, as a metrics dimension; unset for several audiences. */
  readonly audience: string | undefined
  /** Receives each EMF record as one line (with its newline). Default `process.stdout.write`. */
  readonly write?: ((line: string) => void) | undefined
}

type Handlers = { [K in KitEventName]: (event: KitEvents[K]) => void }

interface OpenObserver {
  readonly handlers: Handlers
  /** Whether this invocation uses the events of every warm invocation, `cache` and `downstream` (metrics, tracing or debug lines). */
  wantsWarmPath: boolean
}

/**
 * Published on every warm invocation: listened to only once an observer uses them, so that with
 * metrics and tracing off and no debug lines a warm invocation builds no event at all.
 */
const WARM_PATH_EVENTS: ReadonlySet<KitEventName> = new Set(['cache', 'downstream'])
/** Set once some observer subscribed to them (no iterator per invocation after that). */
let warmPathSubscribed = false

/**
 * Observers with an open invocation, for all events. An array, not a Set: a Set that becomes empty
 * shrinks its table on `delete` (allocating a new one), once per invocation.
 */
const open: OpenObserver[] = []
const subscribed = new Set<KitEventName>()

function subscribeOnce(name: KitEventName): void {
  if (subscribed.has(name)) return
  subscribed.add(name)
  kitChannel(name).subscribe(
    WARM_PATH_EVENTS.has(name)
      ? (message) => {
          for (const observer of open) {
            if (!observer.wantsWarmPath) continue
            try {
              ;(observer.handlers[name] as (event: unknown) => void)(message)
            } catch (err) {
              failed(err)
            }
          }
        }
      : (message) => {
          for (const observer of open) {
            try {
              ;(observer.handlers[name] as (event: unknown) => void)(message)
            } catch (err) {
              failed(err)
            }
          }
        },
  )
}

/** Removes an observer from `open`, keeping the others' order (the usual case: the last and only one). */
function leave(observer: OpenObserver): void {
  if (open[open.length - 1] === observer) open.pop()
  else {
    const index = open.indexOf(observer)
    if (index !== -1) open.splice(index, 1)
  }
}

let warned = false

/**
 * Observability never fails a request: a logger, metrics instance or tracer that throws is reported
 * once as a process warning and otherwise ignored. (An error thrown in a diagnostics_channel
 * subscriber would become an uncaught exception.)
 */
function guard(run: () => void): void {
  try {
    run()
  } catch (err) {
    failed(err)
  }
}

/** Reports the first failure of a logger, metrics or tracer call (the warm path calls it without a closure). */
function failed(err: unknown): void {
  if (warned) return
  warned = true
  process.emitWarning(
    `tokenx-handler-kit: a logger, metrics or tracer call failed (${safeErrorName(err)}); further failures are not reported`,
    {
      code: 'TOKENX_OBSERVABILITY',
    },
  )
}

/** Set once the first invocation of this process began: Powertools' `cold_start`. */
let warm = false

export interface Observer {
  /** Opens an invocation: the logger gets its Lambda context, a metrics record starts. */
  begin(context: Partial<LambdaContext> | undefined): void
  /** Closes it: the metrics record is written (one stdout write) or added to the app's `Metrics`. Idempotent per `begin`. */
  end(): void
  /** Whether an invocation is open. */
  readonly isOpen: boolean
}

const NOOP_OBSERVER: Observer = Object.freeze({ begin() {}, end() {}, isOpen: false })

export function createObserver(options: ObserverOptions): Observer {
  const { logger, metrics, serviceName, audience } = options
  if (logger === undefined && metrics === undefined && options.tracer === undefined) return NOOP_OBSERVER
  const write = options.write ?? ((line: string) => void process.stdout.write(line))
  const debug = logger !== undefined && logsDebug(logger)
  const ownLogger = isJsonLogger(logger) ? logger : undefined
  let record = new MetricRecord()
  let tracer: TracerLike | undefined
  // A Powertools Tracer: the same names and attributes (as annotations) as X-Ray subsegments.
  const xray = isXRayTracerLike(options.tracer) ? options.tracer : undefined
  let openCount = 0

  const span = (
    name: string,
    kind: number,
    durationMs: number,
    attributes: Record<string, string | number | boolean>,
    error?: TokenXErrorCode | string,
    status?: number,
  ) => {
    if (tracer !== undefined) recordSpan(tracer, name, { kind, endTime: Date.now(), durationMs, attributes, error })
    else if (xray !== undefined)
      recordSubsegment(xray, name, { endTime: Date.now(), durationMs, attributes, error, status: status ?? statusOf(error) })
  }

  const handlers = {} as Handlers
  handlers.cache = (event) => {
    if (metrics !== undefined) record.count(event.hit ? 'CacheHits' : 'CacheMisses')
    if (debug) logger?.debug(event.hit ? 'token cache hit' : 'token cache miss', { audience: event.audience })
    // A hit gets no span of its own (one would cost more than the hit): the invocation's span, when
    // there is one, says it. A miss gets the exchange span when the exchange finishes.
    if (tracer !== undefined) activeSpan()?.setAttributes({ 'tokenx.cache_hit': event.hit, 'tokenx.audience': event.audience })
  }
  handlers.exchange = (event) => {
    if (metrics !== undefined) {
      record.count('Exchanges')
      record.value('ExchangeLatency', event.durationMs)
      if (event.code !== undefined) record.count('ExchangeFailures')
    }
    const attributes = {
      audience: event.audience,
      attempts: event.attempts,
      durationMs: round(event.durationMs),
      tokenEndpointStatus: event.tokenEndpointStatus,
    }
    if (event.code === undefined) {
      if (debug) logger?.debug('token exchanged', attributes)
    } else {
      logger?.warn('token exchange failed', { ...attributes, code: event.code, upstreamError: event.upstreamError })
    }
    span(
      'tokenx.exchange',
      SPAN_KIND_CLIENT,
      event.durationMs,
      {
        'tokenx.audience': event.audience,
        'tokenx.cache_hit': false,
        'tokenx.attempts': event.attempts,
        'http.response.status_code': event.tokenEndpointStatus,
        ...(event.code === undefined ? {} : { 'tokenx.error_code': event.code }),
      },
      event.code,
    )
  }
  handlers['exchange.retry'] = (event) => {
    if (metrics !== undefined) record.count('ExchangeRetries')
    logger?.warn('token exchange retried', {
      audience: event.audience,
      attempt: event.attempt,
      code: event.code,
      tokenEndpointStatus: event.tokenEndpointStatus,
      upstreamError: event.upstreamError,
    })
  }
  handlers['key.load'] = (event) => {
    if (metrics !== undefined) record.count('KeyLoads')
    const attributes = { source: event.source, reason: event.reason, durationMs: round(event.durationMs) }
    if (event.code === undefined) {
      logger?.info(event.reason === 'initial' ? 'signing key loaded' : 'signing key reloaded', { ...attributes, kid: event.kid })
    } else {
      logger?.error('signing key load failed', { ...attributes, code: event.code, errorName: event.errorName })
    }
    span(
      'tokenx.key.load',
      SPAN_KIND_CLIENT,
      event.durationMs,
      {
        'tokenx.key.source': event.source,
        'tokenx.key.reason': event.reason,
        ...(event.kid === undefined ? {} : { 'tokenx.key.kid': event.kid }),
        ...(event.code === undefined ? {} : { 'tokenx.error_code': event.code }),
      },
      event.code,
    )
  }
  handlers['validation.refused'] = (event) => {
    // INFO: the answer's own line (`request refused`, WARN) follows; this one says why.
    logger?.info('inbound token refused', { code: event.code, reason: event.reason, issuer: event.issuer })
  }
  handlers['jwks.fetch'] = (event) => {
    if (!event.ok)
      logger?.warn('JWKS fetch failed', { issuer: event.issuer, durationMs: round(event.durationMs), errorName: event.errorName })
    else if (debug) logger?.debug('JWKS fetched', { issuer: event.issuer, durationMs: round(event.durationMs) })
  }
  handlers['shared-cache'] = (event) => {
    if (metrics !== undefined && event.operation === 'get') {
      if (event.outcome === 'hit') record.count('SharedCacheHits')
      else if (event.outcome === 'miss') record.count('SharedCacheMisses')
    }
    if (metrics !== undefined && event.outcome === 'error') record.count('SharedCacheErrors')
    // An item that fails authentication was altered or moved: worth a look, never served.
    if (metrics !== undefined && event.outcome === 'rejected') record.count('SharedCacheRejected')
    if (metrics !== undefined && event.outcome === 'skipped') record.count('SharedCacheSkipped')
    const attributes = {
      audience: event.audience,
      operation: event.operation,
      outcome: event.outcome,
      durationMs: round(event.durationMs),
      errorName: event.errorName,
      breaker: event.breaker,
    }
    if (event.outcome === 'error') logger?.warn('shared cache failed', attributes)
    else if (event.outcome === 'rejected') logger?.warn('shared cache item refused', attributes)
    else if (event.breaker === 'closed') logger?.info('shared cache answering again', attributes)
    else if (debug) logger?.debug('shared cache', attributes)
  }
  handlers.downstream = (event) => {
    if (metrics !== undefined) {
      record.value('DownstreamLatency', event.durationMs)
      record.property('downstreamStatus', event.status)
    }
    // (A request that got no answer is logged from `downstream.failed`.)
    if (debug && event.status !== 0)
      logger?.debug('downstream answered', { audience: event.audience, status: event.status, durationMs: round(event.durationMs) })
    if (tracer !== undefined || xray !== undefined)
      span(
        'tokenx.downstream',
        SPAN_KIND_CLIENT,
        event.durationMs,
        {
          'tokenx.audience': event.audience,
          'http.response.status_code': event.status,
          ...(event.code === undefined ? {} : { 'tokenx.error_code': event.code }),
        },
        event.code ?? (event.status === 0 ? 'no answer' : undefined),
      )
  }
  handlers['downstream.failed'] = (event) => {
    logger?.warn('downstream request failed', {
      audience: event.audience,
      status: 0,
      durationMs: round(event.durationMs),
      code: event.code,
    })
  }
  handlers['downstream.refused'] = (event) => {
    const attributes = { audience: event.audience, status: 401, error: event.error, action: event.action }
    if (event.action === 'keep') {
      // The citizen's login level, not the token: the handler decides (a step-up, lib/response.ts).
      logger?.info('downstream asked for a higher login level', attributes)
      return
    }
    if (metrics !== undefined) record.count('DownstreamTokenRefused')
    logger?.warn('downstream refused the token', attributes)
  }
  handlers.error = (event) => {
    if (metrics !== undefined) {
      record.count('Errors')
      record.count(`Errors_${event.code}`)
    }
    const attributes = {
      code: event.code,
      status: event.statusCode,
      detail: event.detail,
      tokenEndpointStatus: event.tokenEndpointStatus,
      upstreamError: event.upstreamError,
      upstreamErrorDescription: event.upstreamErrorDescription,
    }
    if (event.statusCode >= 500) logger?.error('request failed', attributes)
    else logger?.warn('request refused', attributes)
  }

  for (const name of Object.keys(handlers) as KitEventName[]) if (!WARM_PATH_EVENTS.has(name)) subscribeOnce(name)
  const self: OpenObserver = { handlers, wantsWarmPath: false }
  const serialize =
    metrics === undefined || isMetricsLike(metrics)
      ? undefined
      : emfSerializer({
          namespace: metrics.namespace,
          dimensions: audience === undefined ? { service: serviceName } : { service: serviceName, audience },
          dimensionSets: audience === undefined ? [['service']] : [['service'], ['service', 'audience']],
        })

  const flush = (): void => {
    if (metrics === undefined || record.empty) return
    const done = record
    // A Powertools instance is the user's code, run while it reads the record: anything recorded
    // meanwhile goes to a fresh record. The kit's own EMF path (kit code until the line is written)
    // resets and reuses its one record: no allocation per invocation but the line and values lists.
    if (serialize === undefined) record = new MetricRecord()
    try {
      if (serialize === undefined) handOver(metrics as MetricsLike, done)
      else write(serialize(done, Date.now()))
    } catch (err) {
      failed(err)
    }
    done.reset()
  }

  return {
    begin(context) {
      if (context !== undefined && ownLogger !== undefined) ownLogger.addContext(context, !warm)
      warm = true
      tracer = options.tracer === 'global' ? globalTracer() : xray === undefined ? (options.tracer as TracerLike | undefined) : undefined
      if (metrics !== undefined) {
        // Into a Powertools instance at once: while it holds this count, nobody has published it
        // since the invocation began (see handOver).
        if (serialize === undefined) guard(() => (metrics as MetricsLike).addMetric('Requests', 'Count', 1))
        else record.count('Requests')
        if (typeof context?.awsRequestId === 'string') record.property('function_request_id', context.awsRequestId)
      }
      self.wantsWarmPath = metrics !== undefined || tracer !== undefined || xray !== undefined || debug
      if (self.wantsWarmPath && !warmPathSubscribed) {
        for (const name of WARM_PATH_EVENTS) subscribeOnce(name)
        warmPathSubscribed = true
      }
      if (openCount++ === 0) open.push(self)
    },
    get isOpen() {
      return openCount > 0
    },
    end() {
      if (openCount === 0) return
      if (--openCount === 0) leave(self)
      flush()
    },
  }
}

/**
 * Adds the invocation's figures to the app's `Metrics`, whose owner publishes them: Powertools'
 * `logMetrics` used before `tokenX()` (its `after`/`onError` run after the kit's), or the app after
 * `core.end()`. So an invocation has one EMF record, the app's metrics and the kit's in it. When the
 * instance holds nothing at this point, it was published after `begin` stored `Requests` in it
 * (`logMetrics` used after `tokenX()`, or `publishStoredMetrics()` in the handler): nobody would
 * publish these figures with this invocation, so the kit does, in a record of their own, and warns
 * once. An instance without `hasStoredMetrics` is taken to be published later.
 */
function handOver(metrics: MetricsLike, figures: MetricRecord): void {
  const publishedAlready = typeof metrics.hasStoredMetrics === 'function' && !metrics.hasStoredMetrics()
  addTo(metrics, figures)
  if (!publishedAlready) return
  metrics.publishStoredMetrics()
  if (publishedEarlyWarned) return
  publishedEarlyWarned = true
  process.emitWarning(
    'tokenx-handler-kit: the Metrics instance given as `metrics` was published before the kit ended the invocation (logMetrics used after tokenX(), or publishStoredMetrics() called in the handler); the kit published its own metrics in a second record. Use logMetrics before tokenX() for one record per invocation',
    { code: 'TOKENX_METRICS_ORDER' },
  )
}

let publishedEarlyWarned = false

/** The status the kit answers for a failure's code (X-Ray flags 4xx as `error`, the rest as `fault`). */
function statusOf(error: TokenXErrorCode | string | undefined): number | undefined {
  if (error === undefined || !error.startsWith('ERR_')) return undefined
  return publicAnswer(error as TokenXErrorCode)?.statusCode
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}

/** What the observer is built from: the middleware's options and the environment. */
export function metricsNamespace(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const namespace = env['POWERTOOLS_METRICS_NAMESPACE']
  return namespace === undefined || namespace === '' ? undefined : namespace
}

export { serviceNameFromEnv }
