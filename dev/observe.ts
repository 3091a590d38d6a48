/**
 * One readable line per request for the local stack, from the function's EMF record (the kit writes
 * one per invocation when POWERTOOLS_METRICS_NAMESPACE is set): cache hit or miss, exchange time,
 * downstream status. The record itself is printed as well, so a developer sees what CloudWatch gets.
 */

/** The summary of an EMF record line, or `undefined` for any other line. */
export function describeRecord(line: string): string | undefined {
  const start = line.indexOf('{"_aws"')
  if (start < 0) return undefined
  let record: Record<string, unknown>
  try {
    record = JSON.parse(line.slice(start)) as Record<string, unknown>
  } catch {
    return undefined
  }
  const number = (name: string): number => {
    const value = record[name]
    if (typeof value === 'number') return value
    return Array.isArray(value) ? value.reduce((sum: number, one) => sum + Number(one), 0) : 0
  }
  const ms = (name: string): string | undefined => {
    const value = record[name]
    const values = typeof value === 'number' ? [value] : Array.isArray(value) ? (value as number[]) : []
    return values.length === 0 ? undefined : values.map((one) => `${one.toFixed(1)} ms`).join(' + ')
  }
  const parts: string[] = []
  if (number('CacheHits') > 0) parts.push('cache hit')
  if (number('CacheMisses') > 0) parts.push('cache miss')
  if (number('KeyLoads') > 0) parts.push(`key loaded (${number('KeyLoads')})`)
  const exchange = ms('ExchangeLatency')
  if (exchange !== undefined) parts.push(`exchange ${exchange}`)
  if (number('ExchangeRetries') > 0) parts.push(`${number('ExchangeRetries')} retr${number('ExchangeRetries') === 1 ? 'y' : 'ies'}`)
  const downstream = ms('DownstreamLatency')
  if (downstream !== undefined) parts.push(`downstream ${String(record['downstreamStatus'] ?? '?')} in ${downstream}`)
  const errors = Object.keys(record)
    .filter((name) => name.startsWith('Errors_'))
    .map((name) => name.slice('Errors_'.length))
  if (errors.length > 0) parts.push(`answered ${errors.join(', ')}`)
  const id = typeof record['function_request_id'] === 'string' ? ` ${record['function_request_id'].slice(0, 8)}` : ''
  return `request${id}: ${parts.length === 0 ? 'no kit activity' : parts.join(', ')}`
}
