/**
 * Spans through OpenTelemetry, or X-Ray subsegments through a Powertools `Tracer`, without depending
 * on either. An OpenTelemetry `Tracer` fits `TracerLike`, a Powertools `Tracer` `XRayTracerLike`;
 * without one passed, the kit uses the tracer provider registered globally through
 * `@opentelemetry/api` 1.x (by the ADOT Lambda layer, or `trace.setGlobalTracerProvider`), found
 * under the API's own global symbol: no import, so a function bundle without OpenTelemetry stays
 * without it, and a bundle with it finds the same provider any other copy of the API would.
 */

export type SpanAttributes = Readonly<Record<string, string | number | boolean>>

/** The part of an OpenTelemetry `Span` the kit uses. */
export interface SpanLike {
  setStatus(status: { code: number; message?: string }): unknown
  end(endTime?: number): void
}

/** The part of an OpenTelemetry `Tracer` the kit uses. */
export interface TracerLike {
  startSpan(name: string, options?: { kind?: number; startTime?: number; attributes?: SpanAttributes }): SpanLike
}

/** OpenTelemetry's `SpanKind.CLIENT` and `SpanKind.INTERNAL`, `SpanStatusCode.ERROR`. */
export const SPAN_KIND_INTERNAL = 0
export const SPAN_KIND_CLIENT = 2
export const SPAN_STATUS_ERROR = 2

/** `@opentelemetry/api` 1.x keeps its registered globals here (src/internal/global-utils.ts). */
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1')

/** The span the context manager registered with the API holds as active (the key is the API's `SPAN_KEY`). */
const SPAN_KEY = Symbol.for('OpenTelemetry Context Key SPAN')

interface OtelGlobals {
  trace?: TracerProviderLike
  context?: { active(): { getValue(key: symbol): unknown } }
}

interface TracerProviderLike {
  getTracer(name: string, version?: string): TracerLike
}

let cached: { provider: TracerProviderLike; tracer: TracerLike } | undefined

/** The globally registered OpenTelemetry tracer, or `undefined` when nobody registered a provider. */
export function globalTracer(): TracerLike | undefined {
  const registered = (globalThis as { [OTEL_API_GLOBAL]?: OtelGlobals })[OTEL_API_GLOBAL]?.trace
  if (registered === undefined || typeof registered.getTracer !== 'function') return undefined
  if (cached?.provider !== registered) cached = { provider: registered, tracer: registered.getTracer('tokenx-handler-kit') }
  return cached.tracer
}

/**
 * The active span (e.g. the invocation's span the ADOT Lambda instrumentation starts), through the
 * context manager registered with `@opentelemetry/api`; `undefined` without one.
 */
export function activeSpan(): { setAttributes(attributes: SpanAttributes): unknown } | undefined {
  const context = (globalThis as { [OTEL_API_GLOBAL]?: OtelGlobals })[OTEL_API_GLOBAL]?.context
  if (context === undefined || typeof context.active !== 'function') return undefined
  const span = context.active().getValue(SPAN_KEY) as { setAttributes?: unknown } | undefined
  return typeof span?.setAttributes === 'function' ? (span as { setAttributes(attributes: SpanAttributes): unknown }) : undefined
}

/** A span that started `durationMs` before `endTime` and ends now: the kit's events report on completion. */
export function recordSpan(
  tracer: TracerLike,
  name: string,
  options: { kind: number; endTime: number; durationMs: number; attributes: SpanAttributes; error?: string | undefined },
): void {
  const span = tracer.startSpan(name, {
    kind: options.kind,
    startTime: options.endTime - options.durationMs,
    attributes: options.attributes,
  })
  if (options.error !== undefined) span.setStatus({ code: SPAN_STATUS_ERROR, message: options.error })
  span.end(options.endTime)
}

export function isTracerLike(value: unknown): value is TracerLike {
  return value !== null && typeof value === 'object' && typeof (value as TracerLike).startSpan === 'function'
}

/** The part of an X-Ray subsegment (aws-xray-sdk-core's `Subsegment`) the kit uses. */
export interface XRaySubsegmentLike {
  /** Seconds since the epoch, as X-Ray's segment documents have it. */
  start_time: number
  addAnnotation(key: string, value: string | number | boolean): unknown
  addErrorFlag(): unknown
  addFaultFlag(): unknown
  close(): unknown
}

/** The part of a Powertools `Tracer` (@aws-lambda-powertools/tracer) the kit uses. */
export interface XRayTracerLike {
  isTracingEnabled(): boolean
  /** The active segment or subsegment: the function's facade segment, or e.g. `captureLambdaHandler`'s `## index.handler`. */
  getSegment(): { addNewSubsegment(name: string): XRaySubsegmentLike } | undefined
}

export function isXRayTracerLike(value: unknown): value is XRayTracerLike {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as Partial<Record<keyof XRayTracerLike, unknown>>
  return typeof candidate.getSegment === 'function' && typeof candidate.isTracingEnabled === 'function'
}

/**
 * X-Ray annotation keys are letters, digits and underscores only
 * (https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html#api-segmentdocuments-annotations):
 * the span attribute names with every other character made `_`, as the ADOT collector's X-Ray
 * exporter does, so one query (`annotation.tokenx_audience = "..."`) finds both.
 */
const annotationKeys = new Map<string, string>()
export function annotationKey(attribute: string): string {
  let key = annotationKeys.get(attribute)
  if (key === undefined) {
    key = attribute.replace(/[^A-Za-z0-9_]/g, '_')
    annotationKeys.set(attribute, key)
  }
  return key
}

/**
 * `recordSpan` for X-Ray: a subsegment of the active (sub)segment that started `durationMs` before
 * now and closes now (closing sends it, in Lambda), the attributes as annotations; no metadata. A
 * failure is flagged `error` for a 4xx answer (`status` 400–499, the caller's or TokenX's refusal)
 * and `fault` otherwise, as X-Ray distinguishes them. Nothing when tracing is off or there is no
 * active segment (outside Lambda).
 */
export function recordSubsegment(
  tracer: XRayTracerLike,
  name: string,
  options: { endTime: number; durationMs: number; attributes: SpanAttributes; error?: string | undefined; status?: number | undefined },
): void {
  if (!tracer.isTracingEnabled()) return
  const parent = tracer.getSegment()
  if (parent === undefined) return
  const subsegment = parent.addNewSubsegment(name)
  subsegment.start_time = (options.endTime - options.durationMs) / 1000
  for (const attribute in options.attributes)
    subsegment.addAnnotation(annotationKey(attribute), options.attributes[attribute] as string | number | boolean)
  if (options.error !== undefined) {
    if (options.status !== undefined && options.status >= 400 && options.status < 500) subsegment.addErrorFlag()
    else subsegment.addFaultFlag()
  }
  subsegment.close()
}
