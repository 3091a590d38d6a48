/**
 * The shared cache (lib/cache/shared.ts): the scale model of issue #14 (bench/scale-model.ts) with
 * the table's cost at on-demand prices, and the measured cost of a second-level hit — one table read
 * and one decryption — next to a cache miss, an exchange against the bench's token endpoint.
 *
 * The table is dynalite (dev/dynamodb.ts) in a process of its own (bench/dynamodb-server.ts), so its
 * CPU is never counted as the client's; the endpoint runs in another (bench/endpoint.ts). Both are
 * on 127.0.0.1: the wall times are local round trips, not DynamoDB's or TokenX's own latency (in
 * the region a GetItem takes a few ms; TokenX is across the internet from AWS). The CPU figures
 * are what the function itself spends.
 *
 * Prices (USD per million request units, on-demand): BENCH_DDB_READ_PRICE (default 0.125) and
 * BENCH_DDB_WRITE_PRICE (default 0.625), us-east-1's list prices since November 2024; check your
 * region's.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb'
import { fork } from 'node:child_process'
import { tokenCacheKey } from '../lib/cache/memory.ts'
import { appBinding, itemKey, open, seal } from '../lib/cache/seal.ts'
import { createTokenXClient, type TokenXClient } from '../lib/index.ts'
import { issueTable, modelDefaults, scaleModel, tableCost, type ScaleModelRow } from './scale-model.ts'
import {
  AUDIENCE,
  CLIENT_ID,
  citizenToken,
  clientKey,
  cpuMicros,
  progress,
  report,
  sectionEndpoint,
  spread,
  type Spread,
} from './support.ts'

export interface SharedResult {
  readonly model: {
    readonly assumptions: typeof modelDefaults
    readonly rows: ReadonlyArray<ScaleModelRow & { readonly usdPerMonth: number; readonly usdPerMillionRequests: number }>
    readonly issue: typeof issueTable
    readonly prices: { readonly read: number; readonly write: number }
    readonly itemBytes: number
    readonly readUnits: number
    readonly writeUnits: number
  }
  readonly perRound: number
  /** A second-level hit through `exchange()` (first level empty): wall and client CPU µs per call. */
  readonly hitWall: Spread
  readonly hitCpu: Spread
  /** A cache miss without the shared level (an exchange): wall and client CPU µs per call. */
  readonly missWall: Spread
  readonly missCpu: Spread
  /** A miss with the shared level on: table read (a miss), exchange, table write. */
  readonly missWithTableWall: Spread
  readonly missWithTableCpu: Spread
  /** Opening one sealed item alone (HKDF + AES-256-GCM), CPU µs. */
  readonly openCpu: Spread
  /** One GetItem through the AWS SDK client alone (no kit), CPU µs: the SDK's request pipeline. */
  readonly sdkGetItemCpu: Spread
  /** Token requests the endpoint counted during the hit rounds (must be 0). */
  readonly exchangesDuringHits: number
}

const PER_ROUND = Number(process.env.BENCH_SHARED_PER_ROUND ?? 100)
const ROUNDS = Number(process.env.BENCH_SHARED_ROUNDS ?? 6)
const WARMUP = Number(process.env.BENCH_SHARED_WARMUP ?? 200)
const READ_PRICE = Number(process.env.BENCH_DDB_READ_PRICE ?? 0.125)
const WRITE_PRICE = Number(process.env.BENCH_DDB_WRITE_PRICE ?? 0.625)

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const { jwk, keyObject } = clientKey()

// The table, in a process of its own.
const server = fork(new URL('./dynamodb-server.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })
const table = await new Promise<{ url: string; table: string }>((resolve, reject) => {
  server.once('message', (message) => resolve(message as { url: string; table: string }))
  server.once('error', reject)
  server.once('exit', (code) => reject(new Error(`the DynamoDB server exited with ${code}`)))
})
Object.assign(process.env, {
  AWS_ENDPOINT_URL_DYNAMODB: table.url,
  AWS_REGION: 'eu-north-1',
  AWS_ACCESS_KEY_ID: 'local-dev-access-key',
  AWS_SECRET_ACCESS_KEY: 'local-dev-secret-key',
})
delete process.env.AWS_PROFILE
delete process.env.AWS_SESSION_TOKEN

// Budgets generous enough that a loaded machine does not turn hits into misses: the bench measures
// the cost of a hit, not the budget.
const sharedCache = { table: table.table, readTimeout: 2000, writeTimeout: 2000, coldTimeout: 5000 }
const newClient = (shared: boolean): TokenXClient =>
  createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint, privateJwk: jwk, cacheMaxEntries: 100_000, ...(shared ? { sharedCache } : {}) })

let minted = 0
const mint = (count: number): string[] => Array.from({ length: count }, () => citizenToken(++minted))

async function each(client: TokenXClient, tokens: readonly string[]): Promise<void> {
  for (const token of tokens) {
    if ((await client.exchange(token, AUDIENCE)).accessToken.length < 100) throw new Error('unexpected access token')
  }
}

/** Wall and CPU µs per call of `run` over `tokens`. */
async function measure(
  run: (tokens: readonly string[]) => Promise<void>,
  tokens: readonly string[],
): Promise<{ wall: number; cpu: number }> {
  const start = process.hrtime.bigint()
  const cpu = await cpuMicros(() => run(tokens))
  return { wall: Number(process.hrtime.bigint() - start) / 1000 / tokens.length, cpu: cpu / tokens.length }
}

progress(`shared cache: ${ROUNDS} rounds of ${PER_ROUND} second-level hits, misses with and without the table`)
// Warm-up: JIT, connections, the SDK's lazy parts.
{
  const writer = newClient(true)
  const warm = mint(WARMUP)
  await each(writer, warm)
  await each(newClient(true), warm)
  await each(newClient(false), mint(WARMUP))
}

const hitWall: number[] = []
const hitCpu: number[] = []
const missWall: number[] = []
const missCpu: number[] = []
const missWithTableWall: number[] = []
const missWithTableCpu: number[] = []
let exchangesDuringHits = 0
for (let round = 0; round < ROUNDS; round++) {
  // An environment that exchanges and writes (measured: a miss with the table on) ...
  const tokens = mint(PER_ROUND)
  const written = await measure((t) => each(newClient(true), t), tokens)
  missWithTableWall.push(written.wall)
  missWithTableCpu.push(written.cpu)
  // ... another that finds every token in the table (measured: second-level hits) ...
  await endpoint.reset()
  const hits = await measure((t) => each(newClient(true), t), tokens)
  exchangesDuringHits += await endpoint.tokenRequests()
  hitWall.push(hits.wall)
  hitCpu.push(hits.cpu)
  // ... and one without the table, for new citizens (measured: plain misses).
  const misses = await measure((t) => each(newClient(false), t), mint(PER_ROUND))
  missWall.push(misses.wall)
  missCpu.push(misses.cpu)
}

// Opening alone: HKDF-SHA256 and AES-256-GCM of one ~1 KB token (the app's secret is computed once per key).
const binding = appBinding(keyObject, CLIENT_ID)
const subject = citizenToken(++minted)
const pk = itemKey(binding, tokenCacheKey(subject, AUDIENCE))
const now = Date.now()
const sealedToken = {
  accessToken: 'x'.repeat(1024),
  audience: AUDIENCE,
  expiresAt: now + 900_000,
  freshUntil: now + 780_000,
  tokenType: 'Bearer' as const,
  issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
}
const sealed = seal(sealedToken, binding, subject, pk)
const openCpu: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  openCpu.push(
    (await cpuMicros(() => {
      for (let i = 0; i < 1000; i++) if (!open(sealed, binding, subject, AUDIENCE, pk).ok) throw new Error('open failed')
    })) / 1000,
  )
}

// The SDK alone: one GetItem of an existing item, as the kit sends it.
const sdk = new DynamoDBClient({ maxAttempts: 1 })
const getItem = () =>
  sdk.send(
    new GetItemCommand({ TableName: table.table, Key: { pk: { S: itemKey(binding, tokenCacheKey(mint(1)[0] as string, AUDIENCE)) } } }),
  )
for (let i = 0; i < WARMUP; i++) await getItem()
const sdkGetItemCpu: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  sdkGetItemCpu.push(
    (await cpuMicros(async () => {
      for (let i = 0; i < PER_ROUND; i++) await getItem()
    })) / PER_ROUND,
  )
}
sdk.destroy()

// DynamoDB's item size: attribute names plus values (a number counts about its digits / 2 + 1).
const ttl = String(Math.floor((now + 780_000) / 1000))
const itemBytes = 'pk'.length + pk.length + 'ttl'.length + Math.ceil(ttl.length / 2) + 1 + 'v'.length + 2 + 'data'.length + sealed.length
const rows = issueTable.map((issue) => {
  const row = scaleModel({ requestsPerSecond: issue.requestsPerSecond })
  return { ...row, ...tableCost(row, { readPrice: READ_PRICE, writePrice: WRITE_PRICE, itemBytes }) }
})

const result: SharedResult = {
  model: {
    assumptions: modelDefaults,
    rows,
    issue: issueTable,
    prices: { read: READ_PRICE, write: WRITE_PRICE },
    itemBytes,
    readUnits: rows[0]?.readUnits ?? 0,
    writeUnits: rows[0]?.writeUnits ?? 0,
  },
  perRound: PER_ROUND,
  hitWall: spread(hitWall),
  hitCpu: spread(hitCpu),
  missWall: spread(missWall),
  missCpu: spread(missCpu),
  missWithTableWall: spread(missWithTableWall),
  missWithTableCpu: spread(missWithTableCpu),
  openCpu: spread(openCpu),
  sdkGetItemCpu: spread(sdkGetItemCpu),
  exchangesDuringHits,
}
server.kill()
report(result)
