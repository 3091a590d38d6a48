/**
 * Probe, run in a fresh process by bench/cold.ts: imports a function bundle and invokes its handler
 * three times — the cold first invocation (lazy SDK chunk, secret fetch, JWK import, first exchange,
 * the handler's downstream call), a warm hit for the same citizen, and a warm miss for another — and
 * prints the figures as one JSON line. The first invocation is split into phases by timestamps taken
 * from node:http's diagnostics channels, which both the AWS SDK and the kit's token requests use, so
 * the bundle runs unmodified.
 */
import diagnostics from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { httpApiEvent, lambdaContext } from '../lambda.ts'
import { citizenToken } from '../support.ts'

const bundle = process.env.BENCH_BUNDLE
if (bundle === undefined) throw new Error('BENCH_BUNDLE is not set')

const marks = new Map<string, number>()
const mark = (name: string) => void (marks.has(name) || marks.set(name, performance.now()))
const phaseOf = (request: ClientRequest): string | undefined =>
  request.getHeader('x-amz-target') !== undefined ? 'secret' : request.path === '/token' ? 'token' : undefined
diagnostics.subscribe('http.client.request.start', (message) => {
  const phase = phaseOf((message as { request: ClientRequest }).request)
  if (phase !== undefined) mark(`${phase}Start`)
})
diagnostics.subscribe('http.client.response.finish', (message) => {
  const phase = phaseOf((message as { request: ClientRequest }).request)
  if (phase !== undefined) mark(`${phase}End`)
})

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
const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
const importMs = performance.now() - importStart

const coldStart = performance.now()
const coldMs = await invoke(handler, events[0])
const at = (name: string): number => {
  const value = marks.get(name)
  if (value === undefined) throw new Error(`no ${name} mark: the first invocation did not go as expected`)
  return value - coldStart
}
const phases = {
  /** Middleware prelude, SDK chunk import, client creation, credentials, request signing. */
  untilSecretRequest: at('secretStart'),
  /** GetSecretValue on the wire: TCP connect and round trip. */
  secretRequest: at('secretEnd') - at('secretStart'),
  /** SDK response parsing, JWK import, assertion signing, form. */
  untilTokenRequest: at('tokenStart') - at('secretEnd'),
  /** The token request on the wire: TCP connect and round trip. */
  tokenRequest: at('tokenEnd') - at('tokenStart'),
  /** Answer parsing, caching, and the handler's downstream call (global fetch, loaded on first use). */
  afterTokenRequest: coldMs - at('tokenEnd'),
}
const warmHitMs = await invoke(handler, events[0])
const warmMissMs = await invoke(handler, events[1])
process.stdout.write(`${JSON.stringify({ importMs, coldMs, warmHitMs, warmMissMs, phases })}\n`)
process.exit(0)
