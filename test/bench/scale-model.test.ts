import { describe, expect, it } from 'vitest'
import { issueTable, scaleModel, tableCost } from '../../bench/scale-model.ts'

describe('the scale model of issue #14 (bench/scale-model.ts)', () => {
  it("reproduces the issue's table within a percentage point, and the closed form", () => {
    for (const issue of issueTable) {
      const row = scaleModel({ requestsPerSecond: issue.requestsPerSecond, sessions: 5000 })
      expect(row.environments).toBe(issue.environments)
      expect(Math.abs(row.perEnvironmentHitRate - issue.perEnvironmentHitRate)).toBeLessThan(0.01)
      expect(Math.abs(row.sharedHitRate - issue.sharedHitRate)).toBeLessThan(0.01)
      expect(Math.abs(row.perEnvironmentHitRate - row.perEnvironmentHitRateExact)).toBeLessThan(0.01)
      expect(row.exchangesShared).toBeLessThan(row.exchangesPerEnvironmentCache)
    }
  })

  it("is deterministic, and follows the tokens' freshness when sessions outlast it", () => {
    expect(scaleModel({ requestsPerSecond: 833.3, sessions: 2000 })).toEqual(scaleModel({ requestsPerSecond: 833.3, sessions: 2000 }))
    // 60 requests 20 s apart (1180 s) with 780 s of freshness: two exchanges per session with one cache.
    const long = scaleModel({ requestsPerSecond: 10, sessionRequests: 60, sessions: 1000 })
    expect(long.sharedHitRate).toBeCloseTo(58 / 60, 5)
  })

  it('prices reads at ½ unit per 4 KB and writes at 1 unit per KB', () => {
    const row = scaleModel({ requestsPerSecond: 100, sessions: 1000 })
    const cost = tableCost(row, { readPrice: 0.125, writePrice: 0.625, itemBytes: 1268 })
    expect(cost).toMatchObject({ readUnits: 0.5, writeUnits: 2 })
    const perSecond = (row.tableReadsPerSecond * 0.5 * 0.125 + row.tableWritesPerSecond * 2 * 0.625) / 1e6
    expect(cost.usdPerMonth).toBeCloseTo(perSecond * 30 * 24 * 3600, 6)
  })
})
