import { describe, expect, it } from 'vitest'
import { describeRecord } from '../../dev/observe.ts'

const record = (members: Record<string, unknown>) =>
  JSON.stringify({
    _aws: { Timestamp: Date.now(), CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [['service']], Metrics: [] }] },
    service: 's',
    ...members,
  })

describe("describeRecord (the local stack's line per request)", () => {
  it('says cache hit or miss, exchange time and downstream status', () => {
    expect(
      describeRecord(
        record({
          function_request_id: '756ac3b4-58a5',
          Requests: 1,
          CacheMisses: 1,
          KeyLoads: 1,
          ExchangeLatency: 61.14,
          ExchangeRetries: 1,
          DownstreamLatency: 12,
          downstreamStatus: 200,
        }),
      ),
    ).toBe('request 756ac3b4: cache miss, key loaded (1), exchange 61.1 ms, 1 retry, downstream 200 in 12.0 ms')
    expect(describeRecord(`[offline] ${record({ Requests: 1, CacheHits: 1, DownstreamLatency: [3, 4], downstreamStatus: 404 })}`)).toBe(
      'request: cache hit, downstream 404 in 3.0 ms + 4.0 ms',
    )
    expect(describeRecord(record({ Requests: 1, Errors: 1, Errors_ERR_BEARER_TOKEN: 1 }))).toBe('request: answered ERR_BEARER_TOKEN')
  })

  it('ignores every other line', () => {
    expect(describeRecord('{"level":"INFO","message":"signing key loaded"}')).toBeUndefined()
    expect(describeRecord('GET /resource (λ: resource)')).toBeUndefined()
    expect(describeRecord('{"_aws": broken')).toBeUndefined()
  })
})
