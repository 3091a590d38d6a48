/**
 * The whole warm path: the BUILT example function (dist/resource, as Lambda runs it) against the
 * floor, a middy handler that makes the same downstream request with plain `fetch` and a fixed token.
 * Both answer the same HTTP API event with the downstream's status and body; the downstream is the
 * bench endpoint's GET /resource, in another process. Rounds in one process, the two interleaved
 * invocation by invocation; CPU (`process.cpuUsage`) per invocation; the per-round difference is what
 * the kit costs on a warm invocation that calls its downstream once (issue #9: budget 10 µs).
 *
 * Also counted, untimed: timers and listeners alive after an invocation has returned (none may be).
 */
import middy from '@middy/core'
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { httpApiEvent, lambdaContext } from './lambda.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report, sectionEndpoint, spread, type Spread } from './support.ts'

export interface FunctionResult {
  readonly batchSize: number
  /** CPU µs per invocation of the floor: middy + plain fetch with a fixed token. */
  readonly floorCpu: Spread
  /** CPU µs per invocation of the built dist/resource function, token cached. */
  readonly functionCpu: Spread
  /** CPU µs per invocation, function − floor, per round. */
  readonly overheadCpu: Spread
  /** Wall µs per invocation, function − floor, per round. */
  readonly overheadWall: Spread
  /** Active `Timeout` resources after an invocation returned, minus before (should be 0). */
  readonly timersLeftPerInvocation: number
  /** AbortSignal.timeout / AbortSignal.any calls per warm invocation of the function. */
  readonly uncancellableSignalsPerInvocation: number
}

const BATCH = Number(process.env['BENCH_FUNCTION_BATCH'] ?? 1_000)
const ROUNDS = Number(process.env['BENCH_FUNCTION_ROUNDS'] ?? 15)

const endpoint = sectionEndpoint()
const { jwk } = clientKey()
// The function reads its configuration at import, as on Lambda.
Object.assign(process.env, {
  TOKEN_X_CLIENT_ID: CLIENT_ID,
  TOKEN_X_TOKEN_ENDPOINT: `${endpoint.url}/token`,
  TOKEN_X_PRIVATE_JWK: JSON.stringify(jwk),
  DOWNSTREAM_URL: endpoint.url,
  DOWNSTREAM_AUDIENCE: AUDIENCE,
})
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
type Invoke = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>
const built = (await import(pathToFileURL(path.join(root, 'dist', 'resource', 'index.mjs')).href)) as { handler: Invoke }
const fn = built.handler

// The floor: what a function without the kit would do with a token it already had.
const FIXED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.' + 'x'.repeat(700) + '.' + 'y'.repeat(342)
const resourceUrl = `${endpoint.url}/resource`
const floor = middy(async (_event: unknown, _context: Context, { signal }: { signal: AbortSignal }) => {
  const response = await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${FIXED_TOKEN}` } })
  return {
    statusCode: response.status,
    headers: { 'content-type': response.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' },
    body: await response.text(),
  }
}) as unknown as Invoke

const event = httpApiEvent(citizenToken(1))

/**
 * One round: BATCH invocations of each, interleaved one by one (the order flips every pair), each
 * timed on its own. On a shared machine, load changes within a batch; interleaving puts both sides
 * under the same load, so the difference keeps only what the kit costs.
 */
async function round(): Promise<{ floor: { cpu: number; wall: number }; fn: { cpu: number; wall: number } }> {
  const context = lambdaContext()
  const sums = { floor: { cpu: 0, wall: 0 }, fn: { cpu: 0, wall: 0 } }
  const one = async (side: 'floor' | 'fn') => {
    const invoke = side === 'fn' ? fn : floor
    const cpuBefore = process.cpuUsage()
    const start = process.hrtime.bigint()
    const answer = await invoke(event, context)
    const wall = Number(process.hrtime.bigint() - start) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    if (answer.statusCode !== 200) throw new Error(`answered ${answer.statusCode}: ${answer.body}`)
    sums[side].cpu += cpu.user + cpu.system
    sums[side].wall += wall
  }
  for (let i = 0; i < BATCH; i++) {
    if (i % 2 === 0) {
      await one('floor')
      await one('fn')
    } else {
      await one('fn')
      await one('floor')
    }
  }
  const per = (sum: { cpu: number; wall: number }) => ({ cpu: sum.cpu / BATCH, wall: sum.wall / BATCH })
  return { floor: per(sums.floor), fn: per(sums.fn) }
}

await endpoint.reset()
// The first invocation exchanges; every later one is a cache hit plus the downstream call. Warm-up
// until both paths run optimized code.
await round()
await round()
progress(`whole warm path: ${ROUNDS} rounds of ${BATCH} interleaved pairs, built dist/resource vs middy + plain fetch`)
const floorCpu: number[] = []
const fnCpu: number[] = []
const overheadCpu: number[] = []
const overheadWall: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  const { floor: a, fn: b } = await round()
  floorCpu.push(a.cpu)
  fnCpu.push(b.cpu)
  overheadCpu.push(b.cpu - a.cpu)
  overheadWall.push(b.wall - a.wall)
}

// Untimed: what an invocation leaves alive, and uncancellable signals it creates.
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
let uncancellable = 0
const { timeout, any } = AbortSignal
AbortSignal.timeout = (ms: number) => (uncancellable++, timeout.call(AbortSignal, ms))
AbortSignal.any = (signals: AbortSignal[]) => (uncancellable++, any.call(AbortSignal, signals))
const counted = 200
let left = 0
const context = lambdaContext()
for (let i = 0; i < counted; i++) {
  const before = timers()
  await fn(event, context)
  left += timers() - before
}
AbortSignal.timeout = timeout
AbortSignal.any = any

const result: FunctionResult = {
  batchSize: BATCH,
  floorCpu: spread(floorCpu),
  functionCpu: spread(fnCpu),
  overheadCpu: spread(overheadCpu),
  overheadWall: spread(overheadWall),
  timersLeftPerInvocation: left / counted,
  uncancellableSignalsPerInvocation: uncancellable / counted,
}
report(result)
