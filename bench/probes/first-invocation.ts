/**
 * Probe, run in a fresh process by bench/cold.ts: imports a function bundle and invokes its handler
 * three times — the cold first invocation, a warm hit for the same citizen, and a warm miss for
 * another — and prints the figures as one JSON line. BENCH_PROBE_KIND says what runs:
 * - `inline`: the kit's function with its key in TOKEN_X_PRIVATE_JWK;
 * - `secrets-manager`: the same function with its key in Secrets Manager (the real SDK client, a
 *   local Secrets Manager);
 * - `floor`: a middy handler making the same downstream call with plain `fetch` and a token at hand.
 *
 * The bundle runs unmodified. The first invocation is cut into phases by what it publishes: the
 * kit's own `key.load` and `exchange` events (node:diagnostics_channel, docs/observability.md), which
 * carry their durations, and node:http's client channels for the AWS SDK's GetSecretValue request.
 * CPU (`process.cpuUsage()`, this process) is taken over the import and over the whole first
 * invocation: the waits for the other processes (Secrets Manager, the token endpoint, the downstream)
 * cost none.
 */
import diagnostics from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { citizenToken } from '../support.ts'

const bundle = process.env.BENCH_BUNDLE
const kind = process.env.BENCH_PROBE_KIND ?? 'inline'
if (bundle === undefined) throw new Error('BENCH_BUNDLE is not set')

const marks = new Map<string, number>()
const mark = (name: string, at = performance.now()) => void (marks.has(name) || marks.set(name, at))
const isSecretRequest = (request: ClientRequest): boolean => request.getHeader('x-amz-target') !== undefined
diagnostics.subscribe('http.client.request.start', (message) => {
  if (isSecretRequest((message as { request: ClientRequest }).request)) mark('secretStart')
})
diagnostics.subscribe('http.client.response.finish', (message) => {
  if (isSecretRequest((message as { request: ClientRequest }).request)) mark('secretEnd')
})
// The events say when they ended and how long they took.
for (const name of ['key.load', 'exchange'] as const) {
  diagnostics.subscribe(`tokenx-handler-kit:${name}`, (message) => {
    const now = performance.now()
    mark(`${name}Start`, now - (message as { durationMs: number }).durationMs)
    mark(`${name}End`, now)
  })
}

// Minted before anything is timed.
const events = [httpApiEvent(citizenToken(1)), httpApiEvent(citizenToken(2))]

type Handler = (event: unknown, context: unknown) => Promise<{ statusCode: number }>
async function invoke(handler: Handler, event: unknown): Promise<number> {
  const start = performance.now()
  const result = await handler(event, lambdaContext())
  if (result.statusCode !== 200) throw new Error(`the handler answered ${result.statusCode}`)
  return performance.now() - start
}

const importStart = performance.now()
const importCpuBefore = process.cpuUsage()
const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
const importCpu = process.cpuUsage(importCpuBefore)
const importMs = performance.now() - importStart
const importCpuMs = (importCpu.user + importCpu.system) / 1000

const coldStart = performance.now()
const cpuBefore = process.cpuUsage()
const coldMs = await invoke(handler, events[0])
const cpu = process.cpuUsage(cpuBefore)
const coldCpuMs = (cpu.user + cpu.system) / 1000
const at = (name: string): number => {
  const value = marks.get(name)
  if (value === undefined) throw new Error(`no ${name} mark: the first invocation did not go as expected`)
  return value - coldStart
}

/** Wall ms of each phase of the first invocation. */
function phasesOf(): Record<string, number> {
  if (kind === 'floor') return {}
  const keyStart = at('key.loadStart')
  const keyEnd = at('key.loadEnd')
  const exchangeEnd = at('exchangeEnd')
  const phases: Record<string, number> = { beforeKey: keyStart }
  if (kind === 'secrets-manager') {
    /** SDK chunk import, client creation, credentials, request signing, GetSecretValue on the wire. */
    phases['keySdk'] = at('secretEnd') - keyStart
    /** The SDK's answer parsed, the JWK imported. */
    phases['keyAfterSdk'] = keyEnd - at('secretEnd')
  } else {
    /** The JWK imported from the environment's JSON. */
    phases['key'] = keyEnd - keyStart
  }
  /** Assertion, form, the token request on the wire (TCP connect included), answer parsed. */
  phases['exchangeAfterKey'] = exchangeEnd - Math.max(keyEnd, at('exchangeStart'))
  /** Caching, and the handler's downstream call (global fetch, loaded on first use). */
  phases['afterExchange'] = coldMs - exchangeEnd
  return phases
}
const phases = phasesOf()
const warmHitMs = await invoke(handler, events[0])
const warmMissMs = await invoke(handler, events[1])
process.stdout.write(`${JSON.stringify({ importMs, importCpuMs, coldMs, coldCpuMs, warmHitMs, warmMissMs, phases })}\n`)
process.exit(0)
