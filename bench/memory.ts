/**
 * Memory of the token cache, run with --expose-gc; heapUsed is read after full collections.
 *
 * - 100,000 distinct citizens cached, driving `PromiseCache` (lib/cache/memory.ts) directly with what the
 *   client stores: a `tokenCacheKey` key and a frozen `ExchangedToken` whose access token is a distinct
 *   1,024-character string (an exchange per entry through the client would spend most of the run on
 *   RSA signatures). Compared with the same 100,000 strings alone, the token's own size in the heap.
 * - The same through the client itself for 5,000 citizens, with an injected `fetch` that answers
 *   in-process, to see that the real path keeps nothing more per entry (no subject tokens, signals,
 *   timers or closures).
 * - The bound: with `cacheMaxEntries` 1,000, 100,000 citizens (resolved loads, and loads still in
 *   flight) never make the cache hold more than 1,000 entries, and the heap grows by 1,000 entries' worth.
 */
import { randomBytes } from 'node:crypto'
import { PromiseCache, tokenCacheKey } from '../lib/cache/memory.ts'
import type { Loaded } from '../lib/types.ts'
import { createTokenXClient, type ExchangedToken } from '../lib/index.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report } from './support.ts'

export interface MemoryResult {
  readonly tokenChars: number
  /** Heap bytes per token string kept alone (its own size in the heap). */
  readonly tokenHeapBytes: number
  readonly cache: { readonly entries: number; readonly heapGrowthBytes: number; readonly bytesPerEntry: number }
  readonly client: { readonly entries: number; readonly heapGrowthBytes: number; readonly bytesPerEntry: number }
  readonly bound: {
    readonly maxEntries: number
    readonly citizens: number
    /** Largest `size` seen after any insertion, with resolved loads and with loads in flight. */
    readonly largestSizeResolved: number
    readonly largestSizeInFlight: number
    readonly finalSize: number
    readonly heapGrowthBytes: number
  }
}

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')
const ENTRIES = Number(process.env.BENCH_MEMORY_ENTRIES ?? 100_000)
const CLIENT_ENTRIES = Number(process.env.BENCH_MEMORY_CLIENT_ENTRIES ?? 5_000)
const TOKEN_CHARS = 1024
const BOUND = 1_000

function heapUsed(): number {
  for (let i = 0; i < 3; i++) gc?.()
  return process.memoryUsage().heapUsed
}

/** A distinct, flat 1,024-character access token (768 random bytes, base64url), like JSON.parse makes. */
const accessToken = (): string => randomBytes(768).toString('base64url')

/** A key as the client makes it, from a cheap stand-in for a citizen token (not kept). */
const keyFor = (i: number): string => tokenCacheKey(`eyJhbGciOiJSUzI1NiJ9.citizen-${i}.signature`, AUDIENCE)

const value = (token: string): Loaded<ExchangedToken> => ({
  value: Object.freeze({
    accessToken: token,
    audience: AUDIENCE,
    expiresAt: Date.now() + 900_000,
    tokenType: 'Bearer' as const,
    issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
  }),
  freshUntil: Date.now() + 780_000,
})

progress(`memory: ${ENTRIES} citizens in PromiseCache, ${CLIENT_ENTRIES} through the client, the ${BOUND}-entry bound`)

// The tokens' own size: the same number of distinct strings, kept in an array.
let before = heapUsed()
let strings: string[] | undefined = Array.from({ length: ENTRIES }, accessToken)
const tokenHeapBytes = (heapUsed() - before) / ENTRIES
if (strings.length !== ENTRIES) throw new Error('unreachable')
strings = undefined

// 100,000 citizens in the cache.
before = heapUsed()
let cache: PromiseCache<ExchangedToken> | undefined = new PromiseCache<ExchangedToken>(ENTRIES, Date.now)
for (let i = 0; i < ENTRIES; i++) await cache.get(keyFor(i), async () => value(accessToken()))
if (cache.size !== ENTRIES) throw new Error(`the cache holds ${cache.size} entries, not ${ENTRIES}`)
const cacheGrowth = heapUsed() - before
cache = undefined

// Through the client, with a fetch that answers at once.
const { jwk } = clientKey()
before = heapUsed()
let client: ReturnType<typeof createTokenXClient> | undefined = createTokenXClient({
  clientId: CLIENT_ID,
  tokenEndpoint: 'http://127.0.0.1:9/token',
  privateJwk: jwk,
  cacheMaxEntries: CLIENT_ENTRIES,
  fetch: async () =>
    new Response(
      JSON.stringify({
        access_token: accessToken(),
        issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        token_type: 'Bearer',
        expires_in: 900,
      }),
      { headers: { 'content-type': 'application/json' } },
    ),
})
for (let i = 0; i < CLIENT_ENTRIES; i++) await client.exchange(citizenToken(i), AUDIENCE)
// What dropping the client frees is what it held: its entries, plus its key and closures (a few KB).
// (Code compiled on first use stays, and is not counted.)
const withEntries = heapUsed()
client = undefined
const clientGrowth = withEntries - heapUsed()

// The bound, with loads that resolve and with loads left in flight.
before = heapUsed()
const bounded = new PromiseCache<ExchangedToken>(BOUND, Date.now)
let largestResolved = 0
for (let i = 0; i < ENTRIES; i++) {
  await bounded.get(keyFor(i), async () => value(accessToken()))
  largestResolved = Math.max(largestResolved, bounded.size)
}
const boundGrowth = heapUsed() - before
// (Read after the measurement, so that the cache is certainly alive during it.)
const finalSize = bounded.size
const inFlight = new PromiseCache<ExchangedToken>(BOUND, Date.now)
let largestInFlight = 0
const never = new Promise<Loaded<ExchangedToken>>(() => undefined)
for (let i = 0; i < ENTRIES / 10; i++) {
  void inFlight.get(keyFor(i), () => never)
  largestInFlight = Math.max(largestInFlight, inFlight.size)
}

const result: MemoryResult = {
  tokenChars: TOKEN_CHARS,
  tokenHeapBytes,
  cache: { entries: ENTRIES, heapGrowthBytes: cacheGrowth, bytesPerEntry: cacheGrowth / ENTRIES },
  client: { entries: CLIENT_ENTRIES, heapGrowthBytes: clientGrowth, bytesPerEntry: clientGrowth / CLIENT_ENTRIES },
  bound: {
    maxEntries: BOUND,
    citizens: ENTRIES,
    largestSizeResolved: largestResolved,
    largestSizeInFlight: largestInFlight,
    finalSize,
    heapGrowthBytes: boundGrowth,
  },
}
report(result)
