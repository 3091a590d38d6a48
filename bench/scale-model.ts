/**
 * The scale model of issue #14: how often a citizen's request finds its exchanged token cached, with
 * one cache per Lambda execution environment (the module-scope cache) and with one shared cache (the
 * DynamoDB second level), and what that means for the load on TokenX and the table.
 *
 * Model: citizens arrive in sessions of `sessionRequests` requests, `gapSeconds` apart. Each request
 * goes to one of the function's warm environments, uniformly at random (Lambda keeps no affinity
 * between a caller and an environment). There are ⌈`environmentFactor` × concurrency⌉ warm
 * environments, concurrency being requests/s × `invocationMs`. An exchanged token lives
 * `tokenLifetimeSeconds` and is renewed `renewBeforeSeconds` early. Sessions do not interact (each
 * citizen has its own token), so each is simulated on its own: a Monte Carlo over `sessions`
 * sessions with a seeded generator — the same figures on every run.
 */

export interface ScaleModelOptions {
  readonly requestsPerSecond: number
  readonly sessionRequests?: number
  readonly gapSeconds?: number
  readonly invocationMs?: number
  readonly tokenLifetimeSeconds?: number
  readonly renewBeforeSeconds?: number
  readonly environmentFactor?: number
  /** Sessions simulated. */
  readonly sessions?: number
  readonly seed?: number
}

export interface ScaleModelRow {
  readonly requestsPerSecond: number
  readonly environments: number
  /** Share of requests served from the environment's own cache. */
  readonly perEnvironmentHitRate: number
  /** Share of requests served from either cache level when the second level is shared. */
  readonly sharedHitRate: number
  /** Exchanges per second at TokenX, per-environment caches only. */
  readonly exchangesPerEnvironmentCache: number
  /** Exchanges per second at TokenX with the shared level. */
  readonly exchangesShared: number
  /** Table reads per second (every first-level miss) and writes per second (every exchange). */
  readonly tableReadsPerSecond: number
  readonly tableWritesPerSecond: number
  /** The closed form for uniform routing, as a check on the simulation: 1 − (1/n)·Σ_{k<n} (1 − 1/E)^k. */
  readonly perEnvironmentHitRateExact: number
}

export const modelDefaults = Object.freeze({
  sessionRequests: 30,
  gapSeconds: 20,
  invocationMs: 50,
  tokenLifetimeSeconds: 900,
  renewBeforeSeconds: 120,
  environmentFactor: 1.5,
  sessions: 20_000,
  seed: 14,
})

/** The issue's table, for comparison: requests/s, environments, hit rates, exchanges/s. */
export const issueTable = [
  {
    requestsPerSecond: 83.33,
    environments: 7,
    perEnvironmentHitRate: 0.768,
    sharedHitRate: 0.966,
    exchangesPerEnvironmentCache: 19.3,
    exchangesShared: 2.9,
  },
  {
    requestsPerSecond: 833.3,
    environments: 63,
    perEnvironmentHitRate: 0.2,
    sharedHitRate: 0.966,
    exchangesPerEnvironmentCache: 667,
    exchangesShared: 29,
  },
  {
    requestsPerSecond: 8333,
    environments: 625,
    perEnvironmentHitRate: 0.024,
    sharedHitRate: 0.966,
    exchangesPerEnvironmentCache: 8131,
    exchangesShared: 287,
  },
] as const

/** mulberry32: a small seeded generator, so the model gives the same figures on every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function scaleModel(options: ScaleModelOptions): ScaleModelRow {
  const o = { ...modelDefaults, ...options }
  const environments = Math.max(1, Math.ceil(o.environmentFactor * o.requestsPerSecond * (o.invocationMs / 1000)))
  const fresh = (o.tokenLifetimeSeconds - Math.min(o.renewBeforeSeconds, o.tokenLifetimeSeconds / 2)) * 1000
  const random = generator(o.seed)
  let requests = 0
  let localHits = 0
  let sharedHits = 0
  // Per session: when each environment's copy of the citizen's token stops being fresh.
  const freshUntil = new Map<number, number>()
  for (let session = 0; session < o.sessions; session++) {
    freshUntil.clear()
    let sharedFreshUntil = -1
    for (let k = 0; k < o.sessionRequests; k++) {
      const now = k * o.gapSeconds * 1000
      const environment = Math.floor(random() * environments)
      requests += 1
      if ((freshUntil.get(environment) ?? -1) > now) {
        localHits += 1
        sharedHits += 1
        continue
      }
      if (sharedFreshUntil > now) {
        // A second-level hit: the environment keeps the token in memory as well.
        sharedHits += 1
        freshUntil.set(environment, sharedFreshUntil)
        continue
      }
      // An exchange, written to both levels; without the shared level only this environment has it.
      sharedFreshUntil = now + fresh
      freshUntil.set(environment, now + fresh)
    }
  }
  // One run gives both figures: an environment's first visit fills its cache from the table or, with
  // per-environment caches only, from an exchange — the same visits hit locally either way. (With
  // sessions longer than a token's freshness the table's copy is older and the two drift slightly.)
  const perEnvironmentHitRate = localHits / requests
  const sharedHitRate = sharedHits / requests
  const q = 1 - 1 / environments
  const n = o.sessionRequests
  const perEnvironmentHitRateExact = environments === 1 ? 1 - 1 / n : 1 - (1 - q ** n) / (n * (1 - q))
  return {
    requestsPerSecond: o.requestsPerSecond,
    environments,
    perEnvironmentHitRate,
    sharedHitRate,
    exchangesPerEnvironmentCache: o.requestsPerSecond * (1 - perEnvironmentHitRate),
    exchangesShared: o.requestsPerSecond * (1 - sharedHitRate),
    tableReadsPerSecond: o.requestsPerSecond * (1 - perEnvironmentHitRate),
    tableWritesPerSecond: o.requestsPerSecond * (1 - sharedHitRate),
    perEnvironmentHitRateExact,
  }
}

export interface CostOptions {
  /** USD per million read request units (on-demand). */
  readonly readPrice: number
  /** USD per million write request units (on-demand). */
  readonly writePrice: number
  /** Bytes of one item as DynamoDB counts them (attribute names plus values). */
  readonly itemBytes: number
}

/**
 * DynamoDB on-demand cost of the shared level at one scale: an eventually consistent GetItem costs
 * ½ read unit per 4 KB, a PutItem one write unit per 1 KB of item (both rounded up).
 */
export function tableCost(
  row: ScaleModelRow,
  cost: CostOptions,
): { readUnits: number; writeUnits: number; usdPerMonth: number; usdPerMillionRequests: number } {
  const readUnits = 0.5 * Math.ceil(cost.itemBytes / 4096)
  const writeUnits = Math.ceil(cost.itemBytes / 1024)
  const perSecond = (row.tableReadsPerSecond * readUnits * cost.readPrice + row.tableWritesPerSecond * writeUnits * cost.writePrice) / 1e6
  return {
    readUnits,
    writeUnits,
    usdPerMonth: perSecond * 3600 * 24 * 30,
    usdPerMillionRequests: (perSecond / row.requestsPerSecond) * 1e6,
  }
}
