import { describe, expect, it } from 'vitest'
import { annotationKey, isTracerLike, isXRayTracerLike, recordSubsegment, type XRaySubsegmentLike } from '../../../lib/observe/tracing.ts'

function fakeTracer(enabled: boolean, active = true) {
  const subsegments: Array<{ name: string; start_time: number; annotations: Record<string, unknown>; flags: string[]; closed: boolean }> =
    []
  const tracer = {
    isTracingEnabled: () => enabled,
    getSegment: () =>
      active
        ? {
            addNewSubsegment(name: string): XRaySubsegmentLike {
              const made = { name, start_time: 0, annotations: {} as Record<string, unknown>, flags: [] as string[], closed: false }
              subsegments.push(made)
              return {
                set start_time(value: number) {
                  made.start_time = value
                },
                get start_time() {
                  return made.start_time
                },
                addAnnotation: (key, value) => void (made.annotations[key] = value),
                addErrorFlag: () => void made.flags.push('error'),
                addFaultFlag: () => void made.flags.push('fault'),
                close: () => void (made.closed = true),
              }
            },
          }
        : undefined,
  }
  return { tracer, subsegments }
}

describe('recordSubsegment', () => {
  it('adds a closed subsegment that started durationMs before the end, attributes as X-Ray annotation keys', () => {
    const { tracer, subsegments } = fakeTracer(true)
    recordSubsegment(tracer, 'tokenx.exchange', {
      endTime: 10_000,
      durationMs: 250,
      attributes: { 'tokenx.audience': 'a:b:c', 'http.response.status_code': 200, 'tokenx.cache_hit': false },
    })
    expect(subsegments).toStrictEqual([
      {
        name: 'tokenx.exchange',
        start_time: 9.75,
        annotations: { tokenx_audience: 'a:b:c', http_response_status_code: 200, tokenx_cache_hit: false },
        flags: [],
        closed: true,
      },
    ])
  })

  it('flags a failure answered 4xx as an error, any other as a fault', () => {
    const { tracer, subsegments } = fakeTracer(true)
    recordSubsegment(tracer, 'x', { endTime: 1, durationMs: 0, attributes: {}, error: 'ERR_SUBJECT_TOKEN_REJECTED', status: 401 })
    recordSubsegment(tracer, 'y', { endTime: 1, durationMs: 0, attributes: {}, error: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', status: 503 })
    recordSubsegment(tracer, 'z', { endTime: 1, durationMs: 0, attributes: {}, error: 'no answer' })
    expect(subsegments.map((made) => made.flags)).toStrictEqual([['error'], ['fault'], ['fault']])
  })

  it('records nothing when tracing is off or there is no active segment', () => {
    for (const [enabled, active] of [
      [false, true],
      [true, false],
    ] as const) {
      const { tracer, subsegments } = fakeTracer(enabled, active)
      recordSubsegment(tracer, 'x', { endTime: 1, durationMs: 0, attributes: { a: 1 } })
      expect(subsegments).toStrictEqual([])
    }
  })
})

describe('tracer kinds', () => {
  it('tells a Powertools Tracer from an OpenTelemetry one', () => {
    const xray = { isTracingEnabled: () => true, getSegment: () => undefined }
    expect(isXRayTracerLike(xray)).toBe(true)
    expect(isTracerLike(xray)).toBe(false)
    expect(isXRayTracerLike({ startSpan: () => undefined })).toBe(false)
  })

  it('makes annotation keys of letters, digits and underscores', () => {
    expect(annotationKey('tokenx.key.kid')).toBe('tokenx_key_kid')
    expect(annotationKey('http.response.status_code')).toBe('http_response_status_code')
  })
})
