/**
 * Probe (not part of `npm run bench`): built function bundles side by side, e.g. before and after a
 * change, against bench/function.ts's floor (middy + plain fetch, the same token), interleaved
 * invocation by invocation, 10%-trimmed CPU means per round, minus the floor.
 *
 *   BENCH_AB=/path/to/old/dist/resource/index.mjs,dist/resource/index.mjs npm exec -- node bench/probes/ab.ts
 */
import middy from '@middy/core'
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { citizenToken, clientKey, exampleFunctionEnv, spread, startEndpoint } from '../support.ts'

const ROUNDS = Number(process.env['BENCH_PROBE_ROUNDS'] ?? 21)
const BATCH = Number(process.env['BENCH_PROBE_BATCH'] ?? 400)
const bundles = (process.env['BENCH_AB'] ?? 'dist/resource/index.mjs').split(',')
const endpoint = await startEndpoint()
const { jwk } = clientKey()
Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk), JSON.parse(process.env['BENCH_AB_ENV'] ?? '{}') as Record<string, string>)
type Invoke = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>
const issued = await fetch(`${endpoint.url}/token`, { method: 'POST', headers: { connection: 'close' } })
const TOKEN = ((await issued.json()) as { access_token: string }).access_token
// For variants that stand in a fixed token for the kit (same bytes on the wire).
process.env['BENCH_FAKE_TOKEN'] = TOKEN
const built: Invoke[] = []
for (const bundle of bundles) built.push(((await import(pathToFileURL(path.resolve(bundle)).href)) as { handler: Invoke }).handler)
const resourceUrl = `${endpoint.url}/resource`
const floor = middy(async (_e: unknown, _c: Context, { signal }: { signal: AbortSignal }) => {
  const response = await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${TOKEN}` } })
  return {
    statusCode: response.status,
    headers: { 'content-type': response.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' },
    body: await response.text(),
  }
}) as unknown as Invoke
const names = ['floor', ...bundles]
const variants = [floor, ...built]
const event = httpApiEvent(citizenToken(1))
const trimmed = (samples: Float64Array) => {
  const sorted = samples.slice().sort()
  const drop = Math.floor(sorted.length * 0.1)
  let sum = 0
  for (let i = drop; i < sorted.length - drop; i++) sum += sorted[i] as number
  return sum / (sorted.length - 2 * drop)
}
async function round(): Promise<number[]> {
  const context = lambdaContext()
  const samples = variants.map(() => new Float64Array(BATCH))
  for (let i = 0; i < BATCH; i++) {
    for (let k = 0; k < variants.length; k++) {
      const v = (k + i) % variants.length
      const before = process.cpuUsage()
      const result = await (variants[v] as Invoke)(event, context)
      const cpu = process.cpuUsage(before)
      if (result.statusCode !== 200) throw new Error(`${names[v]} answered ${result.statusCode}: ${result.body}`)
      ;(samples[v] as Float64Array)[i] = cpu.user + cpu.system
    }
  }
  return samples.map(trimmed)
}
await round()
await round()
const over: number[][] = names.map(() => [])
for (let r = 0; r < ROUNDS; r++) {
  const means = await round()
  means.forEach((m, v) => over[v]?.push(m - (means[0] as number)))
}
for (let v = 1; v < names.length; v++) {
  const o = spread(over[v] as number[])
  console.error(`${(names[v] as string).padEnd(48)} over floor ${o.median.toFixed(1).padStart(6)} µs (IQR ${o.q1.toFixed(1)}–${o.q3.toFixed(1)})`)
}
await endpoint.close()
process.exit(0)
