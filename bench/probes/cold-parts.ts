/**
 * Probe (not part of `npm run bench`): parts of the warm path in process, each run right after a
 * system call (as between a Lambda's network round trips: on VMs with page-table isolation a system
 * call leaves TLB and caches cold), timed with hrtime (no system call), median ns over many runs.
 * Variants from the kit's source, the downstream answered by a fake fetch (no network).
 */
import { openSync, writeSync } from 'node:fs'
import { createDownstream } from '../../lib/downstream/fetch.ts'
import { createTokenXClient, tokenX } from '../../lib/index.ts'
import { subjectDigest } from '../../lib/cache/memory.ts'
import { authorizationHeader, bearerFromHeader } from '../../lib/inbound/bearer.ts'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, startEndpoint } from '../support.ts'

const RUNS = Number(process.env['BENCH_PROBE_RUNS'] ?? 20_000)
const devNull = openSync('/dev/null', 'w')
const endpoint = await startEndpoint()
const { jwk } = clientKey()
const client = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
const event = httpApiEvent(citizenToken(1))
const subject = bearerFromHeader(authorizationHeader(event), 16384)
const token = await client.exchange(subject, AUDIENCE)
const response = new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } })
const fakeFetch = (_url: string | URL, _init?: RequestInit) => Promise.resolve(response)
const controller = new AbortController()
const init = { signal: controller.signal, headers: { accept: 'application/json' } }
const origins = Object.freeze([endpoint.url])
const downstream = () => createDownstream({ client, subjectToken: subject, token, timeout: 10_000, deadline: undefined, fetch: fakeFetch, origins })
const middleware = tokenX({ audience: { audience: AUDIENCE, url: endpoint.url }, client, fetch: fakeFetch, logger: false, metrics: false, tracer: false })
const context = lambdaContext()
const request = { event, context: context as never, response: { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '' }, error: undefined }
let sink: unknown
const variants: Record<string, () => unknown> = {
  'nothing': () => undefined,
  'await fake fetch': async () => { sink = await fakeFetch('x', init) },
  'Downstream.fetch': async () => { sink = await downstream().fetch('resource', init) },
  'subjectDigest': () => { sink = subjectDigest(subject) },
  'authorizationHeader': () => { sink = authorizationHeader(event) },
  'bearerFromHeader': () => { sink = bearerFromHeader(authorizationHeader(event), 16384) },
  'tokenX before+after': () => { const r = middleware.before(request); if (r instanceof Promise) throw new Error('not warm'); middleware.after(request) },
  'new AbortController': () => { sink = new AbortController() },
  'setTimeout+clear': () => { clearTimeout(setTimeout(() => undefined, 10_000)) },
  'setTimeout+clear (kept)': () => { clearTimeout(setTimeout(() => undefined, 9_999)) },
  'listener add+remove': () => { const f = () => undefined; controller.signal.addEventListener('abort', f); controller.signal.removeEventListener('abort', f) },
  'createDownstream': () => { sink = downstream() },
  'AbortSignal.any': () => { sink = AbortSignal.any([controller.signal, new AbortController().signal]) },
  'Date.now x2': () => { sink = Date.now() + Date.now() },
  'performance.now x2': () => { sink = performance.now() + performance.now() },
  'init spread+headers': () => { sink = { ...init, headers: { ...init.headers, authorization: 'x' }, signal: controller.signal, redirect: 'manual' } },
}
const names = Object.keys(variants)
const keep = setInterval(() => undefined, 9_999); void keep
const samples = new Map(names.map((name) => [name, new Float64Array(RUNS)]))
for (let i = 0; i < RUNS; i++) {
  for (const name of names) {
    writeSync(devNull, 'x')
    const start = process.hrtime.bigint()
    const result = (variants[name] as () => unknown)()
    if (result instanceof Promise) await result
    ;(samples.get(name) as Float64Array)[i] = Number(process.hrtime.bigint() - start)
  }
}
const median = (a: Float64Array) => a.slice().sort()[a.length >> 1] as number
const base = median(samples.get('nothing') as Float64Array)
for (const name of names) console.error(`${name.padEnd(24)} ${(median(samples.get(name) as Float64Array) - base).toFixed(0).padStart(7)} ns`)
void sink
clearInterval(keep)
await endpoint.close()
process.exit(0)
