/**
 * Probe for profiling (not part of `npm run bench`): one observability variant of bench/obs.ts on a
 * warm hit, invoked BENCH_PROBE_COUNT times in one process, so that `node --cpu-prof` shows where
 * its CPU goes. Variant from BENCH_PROBE_VARIANT: off | default | on | metrics (EMF alone, no
 * tracer) | bare. Prints CPU µs per invocation.
 *
 *   npm exec -- node --cpu-prof --cpu-prof-dir=/tmp/prof bench/probes/obs-profile.ts
 */
import middy from '@middy/core'
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { Context } from 'aws-lambda'
import { openSync, writeSync } from 'node:fs'
import { createTokenXClient, tokenX, type TokenXCoreOptions } from '../../lib/index.ts'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, startEndpoint } from '../support.ts'

const variant = process.env['BENCH_PROBE_VARIANT'] ?? 'on'
const count = Number(process.env['BENCH_PROBE_COUNT'] ?? 200_000)
const devNull = openSync('/dev/null', 'w')
process.stdout.write = ((chunk: string | Uint8Array) => (typeof chunk === 'string' ? writeSync(devNull, chunk) : writeSync(devNull, chunk), true)) as typeof process.stdout.write
const dropping: SpanExporter = { export: (_batch, done) => done({ code: 0 }), shutdown: async () => undefined }
const tracer = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping)] }).getTracer('probe')

const endpoint = await startEndpoint()
const { jwk } = clientKey()
type Invoke = (event: unknown, context: Context) => Promise<unknown>
const handler = async () => ({ statusCode: 200, body: '' })
const withKit = (options: Omit<TokenXCoreOptions<string>, 'audience' | 'client'>): Invoke => {
  const client = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
  return middy(handler).use(tokenX({ audience: AUDIENCE, client, ...options })) as unknown as Invoke
}
const invoke: Invoke =
  variant === 'bare' ? (middy(handler) as unknown as Invoke)
  : variant === 'off' ? withKit({ logger: false, metrics: false, tracer: false })
  : variant === 'default' ? withKit({ env: {} })
  : variant === 'metrics' ? withKit({ logger: false, tracer: false, env: { POWERTOOLS_METRICS_NAMESPACE: 'Bench', POWERTOOLS_SERVICE_NAME: 'bench' } })
  : withKit({ logger: false, tracer, env: { POWERTOOLS_METRICS_NAMESPACE: 'Bench', POWERTOOLS_SERVICE_NAME: 'bench' } })
const event = httpApiEvent(citizenToken(1))
const context = lambdaContext()
await invoke(event, context)
const before = process.cpuUsage()
for (let i = 0; i < count; i++) await invoke(event, context)
const cpu = process.cpuUsage(before)
process.stderr.write(`${variant}: ${((cpu.user + cpu.system) / count).toFixed(2)} µs CPU per invocation\n`)
await endpoint.close()
process.exit(0)
