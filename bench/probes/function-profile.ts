/**
 * Probe for profiling (not part of `npm run bench`): one side of bench/function.ts — the built
 * dist/resource function (`fn`) or the middy + plain fetch floor (`floor`) — invoked
 * BENCH_PROBE_COUNT times against the bench endpoint in another process, so that `node --cpu-prof`
 * shows where the function process's CPU goes. Side from BENCH_PROBE_SIDE. Build first (npm run build).
 *
 *   BENCH_PROBE_SIDE=fn npm exec -- node --cpu-prof --cpu-prof-dir=/tmp/prof bench/probes/function-profile.ts
 */
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { floorHandler, type Invoke } from '../floor.ts'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { citizenToken, clientKey, startEndpoint, exampleFunctionEnv } from '../support.ts'

const side = process.env['BENCH_PROBE_SIDE'] ?? 'fn'
const count = Number(process.env['BENCH_PROBE_COUNT'] ?? 20_000)
const endpoint = await startEndpoint()
const { jwk } = clientKey()
Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk))
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const bundle = process.env['BENCH_PROBE_BUNDLE'] ?? path.join(root, 'dist', 'resource', 'index.mjs')
const fn = ((await import(pathToFileURL(bundle).href)) as { handler: Invoke }).handler
const FIXED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.' + 'x'.repeat(700) + '.' + 'y'.repeat(342)
const floor = floorHandler(`${endpoint.url}/resource`, FIXED_TOKEN)
const invoke = side === 'fn' ? fn : floor
const event = httpApiEvent(citizenToken(1))
// A fresh context per invocation, as the runtime gives: a reused one would pass its deadline.
for (let i = 0; i < 2000; i++) await invoke(event, lambdaContext())
const before = process.cpuUsage()
for (let i = 0; i < count; i++) await invoke(event, lambdaContext())
const cpu = process.cpuUsage(before)
process.stderr.write(`${side}: ${((cpu.user + cpu.system) / count).toFixed(1)} µs CPU per invocation\n`)
await endpoint.close()
process.exit(0)
