/**
 * Probe (not part of `npm run bench`): built function bundles side by side, e.g. before and after a
 * change, against bench/function.ts's floor (middy + plain fetch, the same token), interleaved
 * invocation by invocation, 10%-trimmed CPU means per round, minus the floor.
 *
 *   BENCH_AB=/path/to/old/dist/resource/index.mjs,dist/resource/index.mjs npm exec -- node bench/probes/ab.ts
 */
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { httpApiEvent } from '../lambda.ts'
import { compare } from './interleaved.ts'
import { floorHandler, issuedToken, type Invoke } from '../floor.ts'
import { citizenToken, clientKey, exampleFunctionEnv, startEndpoint } from '../support.ts'

const ROUNDS = Number(process.env['BENCH_PROBE_ROUNDS'] ?? 21)
const BATCH = Number(process.env['BENCH_PROBE_BATCH'] ?? 400)
const bundles = (process.env['BENCH_AB'] ?? 'dist/resource/index.mjs').split(',')
const endpoint = await startEndpoint()
const { jwk } = clientKey()
Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk), JSON.parse(process.env['BENCH_AB_ENV'] ?? '{}') as Record<string, string>)
const TOKEN = await issuedToken(endpoint.url)
// For variants that stand in a fixed token for the kit (same bytes on the wire).
process.env['BENCH_FAKE_TOKEN'] = TOKEN
const built: Invoke[] = []
for (const bundle of bundles) built.push(((await import(pathToFileURL(path.resolve(bundle)).href)) as { handler: Invoke }).handler)
const resourceUrl = `${endpoint.url}/resource`
const floor = floorHandler(resourceUrl, TOKEN)
await compare([{ name: 'floor', invoke: floor }, ...bundles.map((name, i) => ({ name, invoke: built[i] as Invoke }))], httpApiEvent(citizenToken(1)), { rounds: ROUNDS, batch: BATCH })
await endpoint.close()
process.exit(0)
