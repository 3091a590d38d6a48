/**
 * Black box: the BUILT example function (dist/resource, as Lambda runs it) against what a team would
 * write without the kit, CPU per invocation. Three processes, one per method (bench/blackbox-worker.ts:
 * the function, jose + fetch, openid-client 6), each running its method interleaved one invocation
 * at a time with the same floor (a middy handler making the same downstream call with plain `fetch`
 * and a token at hand), a fresh Lambda context per invocation. The token endpoint and the downstream
 * are the bench endpoint, in yet another process.
 *
 * Rounds run in turn across the processes (the order rotating), so drift on the machine touches every
 * method alike, while no method's code, garbage or connections land in another's figures. A method's
 * exchange is its miss minus its own process's floor in the same round. Budgets (bench/run.ts): the
 * function's exchange ≤ 0.7× openid-client's (median of the per-round ratios); the function's warm
 * hit ≤ 1.10× the floor. Then bench/blackbox-parts.ts weighs each part of the exchange the kit writes
 * itself against the library it replaces.
 */
import { type ChildProcess, fork } from 'node:child_process'
import type { BlackboxPartsResult } from './blackbox-parts.ts'
import type { BlackboxMethod, BlackboxRound, BlackboxRoundResult } from './blackbox-worker.ts'
import { progress, report, runSection, spread, type Spread } from './support.ts'

export interface BlackboxResult {
  readonly rounds: number
  readonly missBatch: number
  readonly hitBatch: number
  /** CPU µs per invocation, one trimmed mean per round. The floor: the function's process's. */
  readonly floorCpu: Spread
  readonly kitMissCpu: Spread
  readonly kitHitCpu: Spread
  readonly joseCpu: Spread
  readonly openidClientCpu: Spread
  /** Miss − the same process's floor, per round: what the exchange costs each way. */
  readonly kitExchangeCpu: Spread
  readonly joseExchangeCpu: Spread
  readonly openidClientExchangeCpu: Spread
  /**
   * Kit exchange ÷ openid-client's, per round (both measured within the same seconds): the budget
   * is its median.
   */
  readonly kitOverOpenidClientPerRound: Spread
  /** Medians' ratios: kit exchange ÷ openid-client's, kit exchange ÷ jose's, warm hit ÷ floor (from the hit rounds). */
  readonly kitOverOpenidClient: number
  readonly kitOverJose: number
  readonly hitOverFloor: number
  /** The floor's CPU in the hit rounds (same rounds as kitHitCpu). */
  readonly hitFloorCpu: Spread
  /** The parts the kit writes itself, each against the library it replaces (bench/blackbox-parts.ts). */
  readonly parts: BlackboxPartsResult
}

const ROUNDS = Number(process.env['BENCH_BLACKBOX_ROUNDS'] ?? 11)
const MISS_BATCH = Number(process.env['BENCH_BLACKBOX_MISS_BATCH'] ?? 60)
const HIT_BATCH = Number(process.env['BENCH_BLACKBOX_HIT_BATCH'] ?? 500)
const METHODS: readonly BlackboxMethod[] = ['function', 'jose', 'openid-client']

interface Worker {
  readonly method: BlackboxMethod
  run(round: BlackboxRound): Promise<BlackboxRoundResult>
  close(): void
}

function startWorker(method: BlackboxMethod): Promise<Worker> {
  const child: ChildProcess = fork(new URL('./blackbox-worker.ts', import.meta.url), [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, BENCH_BLACKBOX_METHOD: method },
  })
  let pending: { resolve: (result: BlackboxRoundResult) => void; reject: (error: Error) => void } | undefined
  child.on('message', (message: BlackboxRoundResult) => {
    const settle = pending
    pending = undefined
    settle?.resolve(message)
  })
  child.once('exit', (code) => pending?.reject(new Error(`black box worker ${method} exited with ${code}`)))
  return new Promise((resolve, reject) => {
    child.once('message', () =>
      resolve({
        method,
        run: (round) =>
          new Promise((settleResolve, settleReject) => {
            pending = { resolve: settleResolve, reject: settleReject }
            child.send(round)
          }),
        close: () => child.disconnect(),
      }),
    )
    child.once('exit', (code) => reject(new Error(`black box worker ${method} exited with ${code} before it was ready`)))
  })
}

const workers: Worker[] = []
for (const method of METHODS) workers.push(await startWorker(method))
const [fn, jose, openidClient] = workers as [Worker, Worker, Worker]

// Warm-up: every path compiled and connected, the hit event exchanged.
for (const worker of workers) await worker.run({ kind: 'miss', batch: MISS_BATCH })
await fn.run({ kind: 'hit', batch: HIT_BATCH })
progress(
  `black box: ${ROUNDS} rounds; per round and process ${MISS_BATCH} misses of the method and of the floor, interleaved (function, jose + fetch, openid-client, one process each), and ${HIT_BATCH} hits of the function and the floor`,
)

const samples = {
  floor: [] as number[],
  kitMiss: [] as number[],
  jose: [] as number[],
  openidClient: [] as number[],
  kitHit: [] as number[],
  hitFloor: [] as number[],
}
const exchange = { kit: [] as number[], jose: [] as number[], openidClient: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  const misses = new Map<BlackboxMethod, BlackboxRoundResult>()
  for (let k = 0; k < workers.length; k++) {
    const worker = workers[(r + k) % workers.length] as Worker
    misses.set(worker.method, await worker.run({ kind: 'miss', batch: MISS_BATCH }))
  }
  const hit = await fn.run({ kind: 'hit', batch: HIT_BATCH })
  const kitMiss = misses.get('function') as BlackboxRoundResult
  const joseMiss = misses.get('jose') as BlackboxRoundResult
  const openidMiss = misses.get('openid-client') as BlackboxRoundResult
  samples.floor.push(kitMiss.floor)
  samples.kitMiss.push(kitMiss.method)
  samples.jose.push(joseMiss.method)
  samples.openidClient.push(openidMiss.method)
  samples.kitHit.push(hit.method)
  samples.hitFloor.push(hit.floor)
  exchange.kit.push(kitMiss.method - kitMiss.floor)
  exchange.jose.push(joseMiss.method - joseMiss.floor)
  exchange.openidClient.push(openidMiss.method - openidMiss.floor)
}
for (const worker of [fn, jose, openidClient]) worker.close()
progress("black box: the assertion and the token request, the kit's own against jose's SignJWT and fetch")
const parts = await runSection<BlackboxPartsResult>('./blackbox-parts.ts')

const kitExchangeCpu = spread(exchange.kit)
const joseExchangeCpu = spread(exchange.jose)
const openidClientExchangeCpu = spread(exchange.openidClient)
const kitHitCpu = spread(samples.kitHit)
const hitFloorCpu = spread(samples.hitFloor)
const result: BlackboxResult = {
  rounds: ROUNDS,
  missBatch: MISS_BATCH,
  hitBatch: HIT_BATCH,
  floorCpu: spread(samples.floor),
  kitMissCpu: spread(samples.kitMiss),
  kitHitCpu,
  joseCpu: spread(samples.jose),
  openidClientCpu: spread(samples.openidClient),
  kitExchangeCpu,
  joseExchangeCpu,
  openidClientExchangeCpu,
  kitOverOpenidClientPerRound: spread(exchange.kit.map((kit, r) => kit / (exchange.openidClient[r] as number))),
  kitOverOpenidClient: kitExchangeCpu.median / openidClientExchangeCpu.median,
  kitOverJose: kitExchangeCpu.median / joseExchangeCpu.median,
  hitOverFloor: kitHitCpu.median / hitFloorCpu.median,
  hitFloorCpu,
  parts,
}
report(result)
