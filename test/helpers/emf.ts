/**
 * Checks a CloudWatch embedded metric format record against the specification
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
 * and returns its metrics by name. Throws, naming the rule, when the record breaks one.
 */

/** The units the specification allows. */
export const EMF_UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
])

export interface ParsedEmf {
  readonly namespace: string
  readonly timestamp: number
  readonly dimensionSets: string[][]
  /** Dimension name → value. */
  readonly dimensions: Record<string, string>
  /** Metric name → unit and values (a single value as a one-element list). */
  readonly metrics: Record<string, { unit: string; values: number[] }>
  readonly record: Record<string, unknown>
}

function fail(rule: string): never {
  throw new Error(`not a valid EMF record: ${rule}`)
}

export function parseEmf(line: string): ParsedEmf {
  if (!line.endsWith('\n') || line.indexOf('\n') !== line.length - 1) fail('one record is one line')
  const record = JSON.parse(line) as Record<string, unknown>
  const aws = record['_aws'] as Record<string, unknown> | undefined
  if (aws === undefined || typeof aws !== 'object') fail('_aws is required')
  const timestamp = aws['Timestamp']
  // Milliseconds since the epoch: within a day of now (seconds would be ~1000 times smaller).
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || Math.abs(timestamp - Date.now()) > 86_400_000)
    fail('Timestamp is epoch milliseconds')
  const directives = aws['CloudWatchMetrics']
  if (!Array.isArray(directives) || directives.length !== 1) fail('CloudWatchMetrics holds the directive (exactly one here)')
  const directive = directives[0] as Record<string, unknown>
  const namespace = directive['Namespace']
  if (typeof namespace !== 'string' || namespace.length < 1 || namespace.length > 1024) fail('Namespace is a 1-1024 character string')
  const dimensionSets = directive['Dimensions']
  if (!Array.isArray(dimensionSets)) fail('Dimensions is an array of DimensionSets')
  const dimensions: Record<string, string> = {}
  for (const set of dimensionSets as unknown[]) {
    if (!Array.isArray(set)) fail('a DimensionSet is an array')
    if (set.length > 30) fail('a DimensionSet holds at most 30 dimensions')
    for (const name of set as unknown[]) {
      if (typeof name !== 'string') fail('a dimension is named by a string')
      const value = record[name]
      if (typeof value !== 'string' || value.length < 1 || value.length > 1024) fail(`dimension ${name} is a top-level string member`)
      dimensions[name] = value
    }
  }
  const definitions = directive['Metrics']
  if (!Array.isArray(definitions) || definitions.length > 100) fail('Metrics is an array of at most 100 MetricDefinitions')
  const metrics: ParsedEmf['metrics'] = {}
  for (const definition of definitions as Array<Record<string, unknown>>) {
    const name = definition['Name']
    const unit = definition['Unit'] ?? 'None'
    if (typeof name !== 'string' || name.length < 1 || name.length > 1024) fail('a MetricDefinition has a Name')
    if (typeof unit !== 'string' || !EMF_UNITS.has(unit)) fail(`unit ${String(unit)} of ${name} is one of the allowed units`)
    if (name in metrics) fail(`metric ${name} is defined once`)
    const value = record[name]
    const values = Array.isArray(value) ? value : [value]
    if (values.length < 1 || values.length > 100) fail(`metric ${name} has 1-100 values`)
    for (const one of values) if (typeof one !== 'number' || !Number.isFinite(one)) fail(`metric ${name}'s value is a number`)
    metrics[name] = { unit, values: values as number[] }
  }
  return { namespace, timestamp, dimensionSets: dimensionSets as string[][], dimensions, metrics, record }
}

/** A metric's single value, or its values summed (0 when absent). */
export function total(parsed: ParsedEmf, name: string): number {
  return parsed.metrics[name]?.values.reduce((sum, value) => sum + value, 0) ?? 0
}
