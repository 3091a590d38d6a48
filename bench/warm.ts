/**
 * Warm cache hit: what `tokenX()` adds to a middy invocation once the citizen's token is cached.
 * Two middy handlers with the same trivial handler, one bare and one with the middleware, are invoked
 * in alternating batches with HTTP API events (a ~1 KB citizen JWT each) and a Lambda context; the
 * per-invocation difference between the two batches of a round is the middleware's cost. CPU time
 * (`process.cpuUsage`) is the measure, as it does not count the time other processes on the machine
 * take from us; wall time is reported alongside.
 *
 * Two scenarios: one citizen calling again and again, and 1,000 cached citizens taking turns (every
 * hit then moves its entry to the front of the LRU order).
 */
import middy from '@middy/core'
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { tokenCacheKey } from '../lib/cache/memory.ts'
import { createTokenXClient, tokenX } from '../lib/index.ts'
import { httpApiEvent, lambdaContext } from './lambda.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report, sectionEndpoint, spread, type Spread } from './support.ts'

export interface WarmScenario {
  /** CPU µs per invocation, one sample per batch. */
  readonly bareCpu: Spread
  readonly withMiddlewareCpu: Spread
  /** CPU µs per invocation, withMiddleware − bare, per round (two batches run back to back). */
  readonly overheadCpu: Spread
  /** Wall-clock µs per invocation, withMiddleware − bare, per round. */
  readonly overheadWall: Spread
}

export interface WarmResult {
  readonly subjectTokenBytes: number
  readonly batchSize: number
  readonly oneCitizen: WarmScenario
  readonly manyCitizens: WarmScenario & { readonly citizens: number }
  /** CPU µs to compute the cache key (SHA-256 over the subject token) once, for scale. */
  readonly cacheKeyCpu: number
  /** AbortSignal.timeout / AbortSignal.any calls per warm invocation: timers that cannot be cleared. */
  readonly uncancellableTimersPerInvocation: number
  /** Token requests the endpoint saw (the first invocation's exchange only). */
  readonly endpointRequests: number
}

const BATCH = Number(process.env.BENCH_WARM_BATCH ?? 10_000)
const ROUNDS = Number(process.env.BENCH_WARM_ROUNDS ?? 15)
const CITIZENS = 1000

const endpoint = sectionEndpoint()
const { jwk } = clientKey()
const client = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
const subjectToken = citizenToken(1)
const oneEvent = [httpApiEvent(subjectToken)]
const manyEvents = Array.from({ length: CITIZENS }, (_, i) => httpApiEvent(citizenToken(i + 2)))

type Invoke = (event: unknown, context: Context) => Promise<unknown>
const handler = async (): Promise<APIGatewayProxyStructuredResultV2> => ({ statusCode: 200, body: '' })
const bare = middy(handler) as unknown as Invoke
const withMiddleware = middy(handler).use(tokenX({ audience: AUDIENCE, client, logger: false })) as unknown as Invoke

/** CPU and wall µs per invocation over one batch; a fresh context per batch keeps the deadline far. */
async function batch(invoke: Invoke, events: readonly unknown[]): Promise<{ cpu: number; wall: number }> {
  const context = lambdaContext()
  const count = events.length
  const cpuBefore = process.cpuUsage()
  const start = process.hrtime.bigint()
  for (let i = 0; i < BATCH; i++) await invoke(events[i % count], context)
  const wall = Number(process.hrtime.bigint() - start) / 1000 / BATCH
  const cpu = process.cpuUsage(cpuBefore)
  return { cpu: (cpu.user + cpu.system) / BATCH, wall }
}

async function scenario(events: readonly unknown[]): Promise<WarmScenario> {
  // Warm-up: let both paths reach optimized code before anything is recorded.
  await batch(bare, events)
  await batch(withMiddleware, events)
  const bareCpu: number[] = []
  const kitCpu: number[] = []
  const overheadCpu: number[] = []
  const overheadWall: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither side always runs right after (and pays for the GC of) the other.
    let a: { cpu: number; wall: number }
    let b: { cpu: number; wall: number }
    if (round % 2 === 0) {
      a = await batch(bare, events)
      b = await batch(withMiddleware, events)
    } else {
      b = await batch(withMiddleware, events)
      a = await batch(bare, events)
    }
    bareCpu.push(a.cpu)
    kitCpu.push(b.cpu)
    overheadCpu.push(b.cpu - a.cpu)
    overheadWall.push(b.wall - a.wall)
  }
  return {
    bareCpu: spread(bareCpu),
    withMiddlewareCpu: spread(kitCpu),
    overheadCpu: spread(overheadCpu),
    overheadWall: spread(overheadWall),
  }
}

await endpoint.reset()
// The first invocation per citizen exchanges; every later one is a cache hit.
for (const event of [...oneEvent, ...manyEvents]) {
  const first = (await withMiddleware(event, lambdaContext())) as APIGatewayProxyStructuredResultV2
  if (first.statusCode !== 200) throw new Error(`the first invocation answered ${first.statusCode}`)
}
progress(`warm cache hit: ${ROUNDS} rounds of ${BATCH} invocations each, bare middy and with tokenX(), one citizen and ${CITIZENS} in turn`)
const oneCitizen = await scenario(oneEvent)
const manyCitizens = await scenario(manyEvents)

// For scale: the one thing a hit cannot skip, hashing the citizen's token into the cache key.
const hashes = 50_000
const hashBefore = process.cpuUsage()
for (let i = 0; i < hashes; i++) tokenCacheKey(subjectToken, AUDIENCE)
const hashCpu = process.cpuUsage(hashBefore)

// Timers that cannot be cleared outlive the invocation and fire later, in someone else's time.
// Counted in a separate, untimed pass.
let uncancellable = 0
const { timeout, any } = AbortSignal
AbortSignal.timeout = (ms: number) => (uncancellable++, timeout.call(AbortSignal, ms))
AbortSignal.any = (signals: AbortSignal[]) => (uncancellable++, any.call(AbortSignal, signals))
const counted = 1000
const context = lambdaContext()
for (let i = 0; i < counted; i++) await withMiddleware(manyEvents[i % CITIZENS], context)
AbortSignal.timeout = timeout
AbortSignal.any = any

const result: WarmResult = {
  subjectTokenBytes: subjectToken.length,
  batchSize: BATCH,
  oneCitizen,
  manyCitizens: { ...manyCitizens, citizens: CITIZENS },
  cacheKeyCpu: (hashCpu.user + hashCpu.system) / hashes,
  uncancellableTimersPerInvocation: uncancellable / counted,
  endpointRequests: await endpoint.tokenRequests(),
}
report(result)
