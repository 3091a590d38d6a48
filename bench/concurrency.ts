/**
 * Concurrency on a cold cache, counted at the token endpoint (another process):
 * - 100 concurrent `exchange` calls for one citizen make exactly one request (they share one load);
 * - 100 concurrent calls for 100 citizens make exactly 100.
 * Each check uses a fresh client, so its cache (and its key) start cold.
 */
import { createTokenXClient, type TokenXClient } from '../lib/index.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report, sectionEndpoint } from './support.ts'

export interface ConcurrencyCheck {
  readonly calls: number
  readonly citizens: number
  readonly requests: number
  readonly expectedRequests: number
  /** Distinct access tokens handed out, and how many every caller of one citizen shared (must be 1). */
  readonly distinctTokensPerCitizen: number
  /** Wall-clock ms from the first call to the last answer. */
  readonly ms: number
}

export interface ConcurrencyResult {
  readonly oneCitizen: ConcurrencyCheck
  readonly manyCitizens: ConcurrencyCheck
}

const CALLS = 100
const endpoint = sectionEndpoint()
const { jwk } = clientKey()
const freshClient = (): TokenXClient => createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })

async function check(subjects: readonly string[]): Promise<ConcurrencyCheck> {
  const client = freshClient()
  await endpoint.reset()
  const start = process.hrtime.bigint()
  const tokens = await Promise.all(subjects.map((subject) => client.exchange(subject, AUDIENCE)))
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  // The canned endpoint answers every request with the same access token, so "shared" is checked
  // by object identity: callers of one shared load get the very same frozen ExchangedToken.
  const perCitizen = new Map<string, Set<object>>()
  subjects.forEach((subject, i) => {
    const seen = perCitizen.get(subject) ?? new Set<object>()
    seen.add(tokens[i] as object)
    perCitizen.set(subject, seen)
  })
  return {
    calls: subjects.length,
    citizens: perCitizen.size,
    requests: await endpoint.tokenRequests(),
    expectedRequests: perCitizen.size,
    distinctTokensPerCitizen: Math.max(...[...perCitizen.values()].map((set) => set.size)),
    ms,
  }
}

progress(`concurrency: ${CALLS} concurrent exchanges on a cold cache, for one citizen and for ${CALLS} citizens`)
const one = citizenToken(1)
const result: ConcurrencyResult = {
  oneCitizen: await check(Array.from({ length: CALLS }, () => one)),
  manyCitizens: await check(Array.from({ length: CALLS }, (_, i) => citizenToken(i + 2))),
}
report(result)
