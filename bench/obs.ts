/**
 * What observability costs on a warm cache hit. Four middy handlers over the same kind of cached
 * client, invoked in alternating batches as in warm.ts (CPU µs per invocation):
 *
 * - off:      `logger: false, metrics: false, tracer: false` — no observer, no subscriber;
 * - default:  the defaults with no POWERTOOLS_METRICS_NAMESPACE and no tracer provider registered —
 *             the kit's JSON logger at INFO (a hit logs nothing), which is what most functions run;
 * - on:       EMF metrics (one record per invocation, written with one synchronous write to
 *             /dev/null, as a pipe write would be) and a real OpenTelemetry tracer
 *             (BasicTracerProvider, BatchSpanProcessor, an exporter that drops the spans);
 * - bare:     middy without the kit, for scale;
 * - off+write: `off`, plus one write per invocation of the record `on` last wrote, to the same sink:
 *             what the write costs in place. A write system call costs more than its own time: on
 *             this kind of VM (page-table isolation) it leaves the caches and TLB cold for the code
 *             that runs after it, which a loop of writes alone does not show.
 *
 * Every invocation of every variant is followed by one more write, standing in for the Lambda
 * runtime's own I/O (it posts the answer to the Runtime API and asks for the next event): on Lambda
 * no invocation runs without those system calls, so the caches and TLB a record's write leaves cold
 * would be cold after the runtime's calls anyway. Without that write, a loop of invocations charges
 * the record's write with after-effects the runtime causes on Lambda whether or not metrics are on.
 *
 * Budgets (bench/run.ts): on − off ≤ 5 µs; default − off ≤ 0.5 µs ("nothing measurable": below
 * the spread of alternating batches). The stdout write is also measured alone, as on a loaded VM a
 * write system call alone can take several µs of CPU.
 */
import middy from '@middy/core'
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import { openSync, writeSync } from 'node:fs'
import { createTokenXClient, tokenX, type TokenXCoreOptions } from '../lib/index.ts'
import { httpApiEvent, lambdaContext } from './lambda.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report, sectionEndpoint, spread, type Spread } from './support.ts'

export interface ObsResult {
  readonly batchSize: number
  /** CPU µs per invocation, per batch. */
  readonly bareCpu: Spread
  readonly offCpu: Spread
  readonly defaultCpu: Spread
  readonly onCpu: Spread
  /** Per round: on − off, default − off (CPU µs per invocation). */
  readonly onOverOff: Spread
  readonly defaultOverOff: Spread
  /**
   * CPU µs of the one stdout write alone (a typical record, same sink, same count), measured after
   * each round: the part of on − off that any EMF writer, Powertools' included, pays.
   */
  readonly writeCpu: Spread
  /** Per round: on − off − the write. */
  readonly onOverOffWithoutWrite: Spread
  /** CPU µs per invocation of `off` plus the one record write per invocation. */
  readonly offWriteCpu: Spread
  /** Per round: (off + the write) − off: the write in place, its after-effects included. */
  readonly writeInPlace: Spread
  /** Per round: on − (off + the write): what metrics and tracing cost beyond the record's write. */
  readonly onOverOffWrite: Spread
  /** EMF records written and spans exported during the timed batches (proof that "on" was on). */
  readonly emfRecordsPerInvocation: number
  readonly spansPerInvocation: number
}

const BATCH = Number(process.env.BENCH_OBS_BATCH ?? 10_000)
const ROUNDS = Number(process.env.BENCH_OBS_ROUNDS ?? 15)

// EMF records go where a Lambda's stdout goes: one write each; here a synchronous write to /dev/null.
const devNull = openSync('/dev/null', 'w')
/** Stands in for the Lambda runtime's own I/O around each invocation (its Runtime API requests). */
const runtimeApi = openSync('/dev/null', 'w')
const RUNTIME_RESPONSE = '{"statusCode":200,"body":""}'
let emfRecords = 0
let lastRecord = ''
const sink = (chunk: string | Uint8Array): boolean => {
  if (typeof chunk === 'string') writeSync(devNull, chunk)
  else writeSync(devNull, chunk)
  return true
}
process.stdout.write = ((chunk: string | Uint8Array) => {
  if (typeof chunk === 'string' && chunk.startsWith('{"_aws"')) {
    emfRecords += 1
    lastRecord = chunk
  }
  return sink(chunk)
}) as typeof process.stdout.write

let spans = 0
const dropping: SpanExporter = {
  export: (batch, done) => {
    spans += batch.length
    done({ code: 0 })
  },
  shutdown: async () => undefined,
}
const tracer = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(dropping, { maxQueueSize: 100_000, maxExportBatchSize: 512, scheduledDelayMillis: 200 })],
}).getTracer('bench')

const endpoint = sectionEndpoint()
const { jwk } = clientKey()
const event = httpApiEvent(citizenToken(1))

type Invoke = (event: unknown, context: Context) => Promise<unknown>
const handler = async (): Promise<APIGatewayProxyStructuredResultV2> => ({ statusCode: 200, body: '' })
const withKit = (options: Omit<TokenXCoreOptions<string>, 'audience' | 'client'>): Invoke => {
  const client = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
  return middy(handler).use(tokenX({ audience: AUDIENCE, client, ...options })) as unknown as Invoke
}
const bare = middy(handler) as unknown as Invoke
const off = withKit({ logger: false, metrics: false, tracer: false })
const byDefault = withKit({ env: {} })
const on = withKit({ logger: false, tracer, env: { POWERTOOLS_METRICS_NAMESPACE: 'Bench', POWERTOOLS_SERVICE_NAME: 'bench' } })
const offWrite: Invoke = async (event, context) => {
  const answer = await off(event, context)
  sink(lastRecord)
  return answer
}

async function batch(invoke: Invoke): Promise<number> {
  const context = lambdaContext()
  const before = process.cpuUsage()
  for (let i = 0; i < BATCH; i++) {
    await invoke(event, context)
    // The runtime posts the answer to the Runtime API (and asks for the next event): system calls
    // around every invocation, in every variant, as on Lambda.
    writeSync(runtimeApi, RUNTIME_RESPONSE)
  }
  const cpu = process.cpuUsage(before)
  return (cpu.user + cpu.system) / BATCH
}

await endpoint.reset()
for (const invoke of [off, byDefault, on]) {
  const first = (await invoke(event, lambdaContext())) as APIGatewayProxyStructuredResultV2
  if (first.statusCode !== 200) throw new Error(`the first invocation answered ${first.statusCode}`)
}
progress(`observability on a warm hit: ${ROUNDS} rounds of ${BATCH} invocations, bare / off / default / metrics+tracing on / off + write`)
const variants = [bare, off, byDefault, on, offWrite]
for (const invoke of variants) await batch(invoke)
const cpu: number[][] = [[], [], [], [], []]
const onOverOff: number[] = []
const defaultOverOff: number[] = []
const writeCpu: number[] = []
const withoutWrite: number[] = []
const writeInPlace: number[] = []
const onOverOffWrite: number[] = []
const writeAlone = (): number => {
  const record = lastRecord
  const before = process.cpuUsage()
  for (let i = 0; i < BATCH; i++) writeSync(devNull, record)
  const cpu = process.cpuUsage(before)
  return (cpu.user + cpu.system) / BATCH
}
emfRecords = 0
spans = 0
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no variant always follows (and pays for the GC of) the same other one.
  const results: number[] = [0, 0, 0, 0, 0]
  for (let k = 0; k < variants.length; k++) {
    const index = (k + round) % variants.length
    results[index] = await batch(variants[index] as Invoke)
  }
  results.forEach((value, i) => cpu[i]?.push(value))
  onOverOff.push((results[3] as number) - (results[1] as number))
  const write = writeAlone()
  writeCpu.push(write)
  withoutWrite.push((results[3] as number) - (results[1] as number) - write)
  defaultOverOff.push((results[2] as number) - (results[1] as number))
  writeInPlace.push((results[4] as number) - (results[1] as number))
  onOverOffWrite.push((results[3] as number) - (results[4] as number))
}
await new Promise((resolve) => setTimeout(resolve, 400))

const result: ObsResult = {
  batchSize: BATCH,
  bareCpu: spread(cpu[0] as number[]),
  offCpu: spread(cpu[1] as number[]),
  defaultCpu: spread(cpu[2] as number[]),
  onCpu: spread(cpu[3] as number[]),
  onOverOff: spread(onOverOff),
  defaultOverOff: spread(defaultOverOff),
  writeCpu: spread(writeCpu),
  onOverOffWithoutWrite: spread(withoutWrite),
  offWriteCpu: spread(cpu[4] as number[]),
  writeInPlace: spread(writeInPlace),
  onOverOffWrite: spread(onOverOffWrite),
  emfRecordsPerInvocation: emfRecords / (ROUNDS * BATCH),
  spansPerInvocation: spans / (ROUNDS * BATCH),
}
report(result)
