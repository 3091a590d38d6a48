/**
 * Per-invocation metrics, written as one CloudWatch embedded metric format (EMF) record
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
 * or handed to a Powertools `Metrics` instance. Counts and durations only: no token, no citizen.
 */

/** The EMF units the kit uses (a subset of the specification's list). */
export type MetricUnit = 'Count' | 'Milliseconds'

/**
 * What the kit needs of a metrics sink: a Powertools `Metrics` instance fits
 * (https://docs.powertools.aws.dev/lambda/typescript/latest/core/metrics/).
 */
export interface MetricsLike {
  addMetric(name: string, unit: MetricUnit, value: number): unknown
  publishStoredMetrics(): unknown
}

/** Every metric the kit writes, with its unit. Error counts per code are `Errors_<code>` (Count). */
export const METRICS = Object.freeze({
  /** Invocations that went through the kit (`authorize` called). */
  Requests: 'Count',
  /** Tokens served from the in-memory cache. */
  CacheHits: 'Count',
  /** Look-ups that found no fresh token (an exchange follows, or joins one in flight). */
  CacheMisses: 'Count',
  /** Exchanges finished at TokenX, successful or not (all attempts of one count once). */
  Exchanges: 'Count',
  /** Exchanges that ended in an error. */
  ExchangeFailures: 'Count',
  /** Milliseconds per exchange, all attempts and backoff included; one value per exchange. */
  ExchangeLatency: 'Milliseconds',
  /** Attempts repeated after a retryable failure or a key reload. */
  ExchangeRetries: 'Count',
  /** Signing key loads, the first one included, failed ones too. */
  KeyLoads: 'Count',
  /** Milliseconds per downstream request made through `context.tokenX.fetch`. */
  DownstreamLatency: 'Milliseconds',
  /** Look-ups at the shared cache that found / did not find a token, and failed ones. */
  SharedCacheHits: 'Count',
  SharedCacheMisses: 'Count',
  SharedCacheErrors: 'Count',
  SharedCacheRejected: 'Count',
  SharedCacheSkipped: 'Count',
  /** Kit errors answered (one per failed invocation); `Errors_<code>` splits them by code. */
  Errors: 'Count',
} satisfies Record<string, MetricUnit>)

export type MetricName = keyof typeof METRICS

/** Values arrays are limited to 100 entries per metric and record by the specification. */
const MAX_VALUES = 100

/** One invocation's figures, gathered from events, written once at the end. */
export class MetricRecord {
  readonly #counts = new Map<string, number>()
  readonly #values = new Map<string, number[]>()
  /** Non-metric members (searchable in Logs Insights, never a metric): the last downstream status. */
  readonly properties: Record<string, string | number> = {}

  count(name: MetricName | `Errors_${string}`, by = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + by)
  }

  value(name: 'ExchangeLatency' | 'DownstreamLatency', value: number): void {
    let values = this.#values.get(name)
    if (values === undefined) this.#values.set(name, (values = []))
    if (values.length < MAX_VALUES) values.push(Math.round(value * 1000) / 1000)
  }

  get empty(): boolean {
    return this.#counts.size === 0 && this.#values.size === 0
  }

  /** `[name, unit, value(s)]` of every metric recorded, counts first. */
  entries(): Array<[string, MetricUnit, number | number[]]> {
    const out: Array<[string, MetricUnit, number | number[]]> = []
    for (const [name, count] of this.#counts) out.push([name, unitOf(name), count])
    for (const [name, values] of this.#values) out.push([name, unitOf(name), values.length === 1 ? (values[0] as number) : values])
    return out
  }
}

function unitOf(name: string): MetricUnit {
  return (METRICS as Record<string, MetricUnit>)[name] ?? 'Count'
}

export interface EmfContext {
  readonly namespace: string
  /** Dimension name → value, all of them in every dimension set below. */
  readonly dimensions: Readonly<Record<string, string>>
  /** Dimension sets (each a list of names from `dimensions`), at most 30 names each. */
  readonly dimensionSets: ReadonlyArray<readonly string[]>
}

/**
 * Serializes records of one namespace and dimension set as EMF lines (JSON plus newline): the
 * `_aws` metadata with its one directive, then properties, dimensions and metric values as
 * top-level members, as the specification asks. The parts that never change are encoded once:
 * this runs on every invocation, warm hits included.
 */
export function emfSerializer(context: EmfContext): (record: MetricRecord, timestamp: number) => string {
  const head = `{"_aws":{"Timestamp":`
  const directive = `,"CloudWatchMetrics":[{"Namespace":${JSON.stringify(context.namespace)},"Dimensions":${JSON.stringify(context.dimensionSets)},"Metrics":[`
  const dimensions = Object.entries(context.dimensions).map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`).join('')
  const definitions = new Map<string, string>()
  const definition = (name: string, unit: MetricUnit): string => {
    let text = definitions.get(name)
    if (text === undefined) definitions.set(name, (text = `{"Name":${JSON.stringify(name)},"Unit":"${unit}"}`))
    return text
  }
  return (record, timestamp) => {
    const entries = record.entries()
    let defs = ''
    let values = ''
    for (const [name, unit, value] of entries) {
      defs += defs === '' ? definition(name, unit) : `,${definition(name, unit)}`
      values += `,${JSON.stringify(name)}:${typeof value === 'number' ? value : JSON.stringify(value)}`
    }
    let properties = ''
    for (const name in record.properties) properties += `,${JSON.stringify(name)}:${JSON.stringify(record.properties[name])}`
    return `${head}${Math.trunc(timestamp)}${directive}${defs}]}]}${properties}${dimensions}${values}}\n`
  }
}

/** Hands a record's figures to a Powertools-style `Metrics` instance and publishes it. */
export function publishTo(metrics: MetricsLike, record: MetricRecord): void {
  for (const [name, unit, value] of record.entries()) {
    if (typeof value === 'number') metrics.addMetric(name, unit, value)
    else for (const one of value) metrics.addMetric(name, unit, one)
  }
  metrics.publishStoredMetrics()
}

export function isMetricsLike(value: unknown): value is MetricsLike {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as Partial<Record<keyof MetricsLike, unknown>>
  return typeof candidate.addMetric === 'function' && typeof candidate.publishStoredMetrics === 'function'
}
