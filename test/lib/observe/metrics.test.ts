import { describe, expect, it } from 'vitest'
import { addTo, emfSerializer, METRICS, MetricRecord } from '../../../lib/observe/metrics.ts'
import { EMF_UNITS, parseEmf, total } from '../../helpers/emf.ts'

describe('emfSerializer', () => {
  it('writes a record the specification accepts, names and values escaped, values capped at 100', () => {
    const serialize = emfSerializer({
      namespace: 'Team "A"/TokenX',
      dimensions: { service: 'svc\\1', audience: 'a:b:c' },
      dimensionSets: [['service'], ['service', 'audience']],
    })
    const record = new MetricRecord()
    record.count('Requests')
    record.count('Errors_ERR_TIMEOUT', 2)
    for (let i = 0; i < 150; i++) record.value('ExchangeLatency', i + 0.123456)
    record.property('function_request_id', 'id "quoted"')
    const parsed = parseEmf(serialize(record, Date.now() + 0.7))
    expect(parsed.namespace).toBe('Team "A"/TokenX')
    expect(parsed.dimensions).toEqual({ service: 'svc\\1', audience: 'a:b:c' })
    expect(parsed.metrics['ExchangeLatency']?.values).toHaveLength(100)
    expect(parsed.metrics['ExchangeLatency']?.values[0]).toBe(0.123)
    expect(total(parsed, 'Errors_ERR_TIMEOUT')).toBe(2)
    expect(parsed.metrics['Errors_ERR_TIMEOUT']?.unit).toBe('Count')
    expect(parsed.record['function_request_id']).toBe('id "quoted"')
  })

  it('a record reset for reuse writes what a new record would: figures, member order, values', () => {
    const serialize = emfSerializer({ namespace: 'N', dimensions: { service: 's' }, dimensionSets: [['service']] })
    const fill = (record: MetricRecord, id: string) => {
      record.count('CacheMisses')
      record.value('DownstreamLatency', 2)
      record.property('downstreamStatus', 200)
      record.count('Requests')
      record.count('Errors_ERR_TIMEOUT')
      record.property('function_request_id', id)
    }
    const reused = new MetricRecord()
    reused.count('Requests')
    reused.count('KeyLoads')
    reused.value('ExchangeLatency', 1)
    reused.value('DownstreamLatency', 1)
    reused.property('function_request_id', 'first')
    serialize(reused, 1)
    reused.reset()
    expect(reused.empty).toBe(true)
    fill(reused, 'second')
    const fresh = new MetricRecord()
    fill(fresh, 'second')
    expect(serialize(reused, 1)).toBe(serialize(fresh, 1))
    expect(serialize(fresh, 1)).toBe(
      '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["service"]],"Metrics":[{"Name":"CacheMisses","Unit":"Count"},{"Name":"Requests","Unit":"Count"},{"Name":"Errors_ERR_TIMEOUT","Unit":"Count"},{"Name":"DownstreamLatency","Unit":"Milliseconds"}]}]},"downstreamStatus":200,"function_request_id":"second","service":"s","CacheMisses":1,"Requests":1,"Errors_ERR_TIMEOUT":1,"DownstreamLatency":2}\n',
    )
  })

  it('uses only units the specification allows', () => {
    for (const unit of Object.values(METRICS)) expect(EMF_UNITS.has(unit)).toBe(true)
  })

  it('the spec checker itself refuses what the specification does', () => {
    const good = {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [['service']], Metrics: [{ Name: 'M', Unit: 'Count' }] }],
      },
      service: 's',
      M: 1,
    }
    const line = (value: object) => `${JSON.stringify(value)}\n`
    expect(() => parseEmf(line(good))).not.toThrow()
    expect(() => parseEmf(line({ ...good, M: 'one' }))).toThrow(/value is a number/)
    expect(() => parseEmf(line({ ...good, service: undefined }))).toThrow(/dimension service/)
    expect(() => parseEmf(line({ ...good, _aws: { ...good._aws, Timestamp: Math.floor(Date.now() / 1000) } }))).toThrow(/milliseconds/)
    expect(() =>
      parseEmf(
        line({
          ...good,
          _aws: { ...good._aws, CloudWatchMetrics: [{ ...good._aws.CloudWatchMetrics[0], Metrics: [{ Name: 'M', Unit: 'Requests' }] }] },
        }),
      ),
    ).toThrow(/allowed units/)
    const wide = Array.from({ length: 31 }, (_, i) => `d${i}`)
    expect(() =>
      parseEmf(
        line({
          ...good,
          ...Object.fromEntries(wide.map((d) => [d, 'v'])),
          _aws: { ...good._aws, CloudWatchMetrics: [{ ...good._aws.CloudWatchMetrics[0], Dimensions: [wide] }] },
        }),
      ),
    ).toThrow(/at most 30/)
  })
})

describe('addTo', () => {
  it('adds each value to a Powertools-style instance and leaves publishing to its owner', () => {
    const calls: unknown[] = []
    const record = new MetricRecord()
    record.count('CacheHits')
    record.value('DownstreamLatency', 5)
    record.value('DownstreamLatency', 7)
    addTo({ addMetric: (...args) => void calls.push(args), publishStoredMetrics: () => void calls.push('publish') }, record)
    expect(calls).toEqual([
      ['CacheHits', 'Count', 1],
      ['DownstreamLatency', 'Milliseconds', 5],
      ['DownstreamLatency', 'Milliseconds', 7],
    ])
  })
})
