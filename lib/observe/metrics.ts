/**
 * Per-invocation metrics, written as one CloudWatch embedded metric format (EMF) record
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
 * or handed to a Powertools `Metrics` instance. Counts and durations only: no token, no citizen.
 */

/** The EMF units the kit uses (a subset of the specification's list). */
export type MetricUnit = 'Count' | 'Milliseconds'

/**
 * What the kit needs of a metrics sink: a Powertools `Metrics` instance fits
 * (https://docs.powertools.aws.dev/lambda/typescript/latest/core/metrics/). The kit adds its metrics
 * to it and leaves publishing to its owner (`logMetrics`, or `publishStoredMetrics()` after the
 * handler); `publishStoredMetrics` is called only for metrics that would otherwise be left behind.
 */
export interface MetricsLike {
  addMetric(name: string, unit: MetricUnit, value: number): unknown
  publishStoredMetrics(): unknown
  /** Whether metrics are stored and not yet published (Powertools has it); tells the kit whether its owner published before the kit's invocation ended. */
  hasStoredMetrics?(): boolean
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
  /**
   * Downstream 401s that made the kit drop the token (and exchange again, unless the body is a
   * stream); not counted: a 401 `insufficient_user_authentication`, which keeps it.
   */
  DownstreamTokenRefused: 'Count',
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

/**
 * A member name of the record (a metric or a property) with its EMF text, encoded once per process
 * and numbered: METRICS' names at start, an `Errors_<code>` name when first counted (the codes are a
 * closed set), the properties when first set.
 */
interface Name {
  readonly name: string
  readonly unit: MetricUnit
  /** `{"Name":…,"Unit":…}` */
  readonly definition: string
  /** `,"<name>":`, the start of the top-level member. */
  readonly member: string
}

const names: Name[] = []
const slotByName = new Map<string, number>()

function slotOf(name: string): number {
  let slot = slotByName.get(name)
  if (slot === undefined) {
    const unit = (METRICS as Record<string, MetricUnit>)[name] ?? 'Count'
    slot =
      names.push({ name, unit, definition: `{"Name":${JSON.stringify(name)},"Unit":"${unit}"}`, member: `,${JSON.stringify(name)}:` }) - 1
    slotByName.set(name, slot)
  }
  return slot
}
for (const name of Object.keys(METRICS)) slotOf(name)

/**
 * Values by name slot, with the slots in the order first set (the order of the EMF members): the
 * first `size` entries of `order`. Reset, not replaced, between invocations. `order` keeps its
 * length: `order.length = 0` would free the array's storage for the next push to allocate again.
 */
class Slots<T> {
  readonly at: Array<T | undefined> = []
  readonly order: number[] = []
  size = 0

  set(slot: number, value: T): void {
    if (this.at[slot] === undefined) this.order[this.size++] = slot
    this.at[slot] = value
  }

  reset(): void {
    for (let i = 0; i < this.size; i++) this.at[this.order[i] as number] = undefined
    this.size = 0
  }
}

/** The record's non-metric members (searchable in Logs Insights, never a metric). */
export type PropertyName = 'function_request_id' | 'downstreamStatus'

/**
 * One invocation's figures, gathered from events, written once at the end, then reset and reused.
 * Slots, not Maps: this runs on every warm invocation. Our own EMF writer, not Powertools': it needs
 * less CPU per invocation (figures in bench/README.md).
 */
export class MetricRecord {
  readonly counts = new Slots<number>()
  /** An array per metric only once a value is recorded. */
  readonly values = new Slots<number[]>()
  readonly properties = new Slots<string | number>()

  count(name: MetricName | `Errors_${string}`, by = 1): void {
    const slot = slotOf(name)
    this.counts.set(slot, (this.counts.at[slot] ?? 0) + by)
  }

  value(name: 'ExchangeLatency' | 'DownstreamLatency', value: number): void {
    const slot = slotOf(name)
    const values = this.values.at[slot]
    if (values === undefined) this.values.set(slot, [Math.round(value * 1000) / 1000])
    else if (values.length < MAX_VALUES) values.push(Math.round(value * 1000) / 1000)
  }

  /** Sets a non-metric member; setting it again replaces the value and keeps its place. */
  property(name: PropertyName, value: string | number): void {
    this.properties.set(slotOf(name), value)
  }

  get empty(): boolean {
    return this.counts.size === 0 && this.values.size === 0
  }

  reset(): void {
    this.counts.reset()
    this.values.reset()
    this.properties.reset()
  }
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
 * top-level members, as the specification asks. This runs on every invocation, warm hits included:
 * the names are encoded once (here and in `names`), counts and single values become text directly;
 * JSON.stringify is left for lists of values and for properties (it escapes the request id).
 */
export function emfSerializer(context: EmfContext): (record: MetricRecord, timestamp: number) => string {
  const head = `{"_aws":{"Timestamp":`
  const directive = `,"CloudWatchMetrics":[{"Namespace":${JSON.stringify(context.namespace)},"Dimensions":${JSON.stringify(context.dimensionSets)},"Metrics":[`
  const dimensions = Object.entries(context.dimensions)
    .map(([name, value]) => `,${JSON.stringify(name)}:${JSON.stringify(value)}`)
    .join('')
  return (record, timestamp) => {
    const { counts, values } = record
    let definitions = ''
    let members = ''
    for (let i = 0; i < counts.size; i++) {
      const slot = counts.order[i] as number
      const { definition, member } = names[slot] as Name
      definitions += definitions === '' ? definition : `,${definition}`
      members += `${member}${counts.at[slot] as number}`
    }
    for (let i = 0; i < values.size; i++) {
      const slot = values.order[i] as number
      const { definition, member } = names[slot] as Name
      const list = values.at[slot] as number[]
      definitions += definitions === '' ? definition : `,${definition}`
      members += `${member}${list.length === 1 ? (list[0] as number) : JSON.stringify(list)}`
    }
    let properties = ''
    for (let i = 0; i < record.properties.size; i++) {
      const slot = record.properties.order[i] as number
      properties += `${(names[slot] as Name).member}${JSON.stringify(record.properties.at[slot])}`
    }
    return `${head}${Math.trunc(timestamp)}${directive}${definitions}]}]}${properties}${dimensions}${members}}\n`
  }
}

/** Hands a record's figures to a Powertools-style `Metrics` instance (publishing is its owner's). */
export function addTo(metrics: MetricsLike, { counts, values }: MetricRecord): void {
  for (let i = 0; i < counts.size; i++) {
    const slot = counts.order[i] as number
    const { name, unit } = names[slot] as Name
    metrics.addMetric(name, unit, counts.at[slot] as number)
  }
  for (let i = 0; i < values.size; i++) {
    const slot = values.order[i] as number
    const { name, unit } = names[slot] as Name
    for (const value of values.at[slot] as number[]) metrics.addMetric(name, unit, value)
  }
}

export function isMetricsLike(value: unknown): value is MetricsLike {
  if (value === null || typeof value !== 'object') return false
  const candidate = value as Partial<Record<keyof MetricsLike, unknown>>
  return typeof candidate.addMetric === 'function' && typeof candidate.publishStoredMetrics === 'function'
}
