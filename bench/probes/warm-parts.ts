/**
 * Probe (not part of `npm run bench`): splits bench/function.ts's difference. Variants, interleaved
 * invocation by invocation, 10%-trimmed CPU means per round, minus the floor:
 * - floor:      middy + plain fetch with the kit's token;
 * - floor+ctl:  the same fetch with what Downstream.fetch adds (own AbortController, a listener on
 *               the caller's signal, a timer, redirect: 'manual', headers copied);
 * - middleware: middy + tokenX() from lib/ (logger off), handler sends with plain fetch;
 * - kit fetch:  middy + tokenX() from lib/ (logger off), handler sends with context.tokenX.fetch;
 * - built:      dist/resource (build first).
 */
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createTokenXClient, tokenX, type Downstream } from '../../lib/index.ts'
import { httpApiEvent } from '../lambda.ts'
import { compare } from './interleaved.ts'
import { answer, floorHandler, issuedToken, type Invoke } from '../floor.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, startEndpoint, exampleFunctionEnv } from '../support.ts'

const ROUNDS = Number(process.env['BENCH_PROBE_ROUNDS'] ?? 15)
const BATCH = Number(process.env['BENCH_PROBE_BATCH'] ?? 300)
const endpoint = await startEndpoint()
const { jwk } = clientKey()
Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk))
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const built = ((await import(pathToFileURL(path.join(root, 'dist', 'resource', 'index.mjs')).href)) as { handler: Invoke }).handler
const TOKEN = await issuedToken(endpoint.url)
const resourceUrl = `${endpoint.url}/resource`
const floor = floorHandler(resourceUrl, TOKEN)
const floorCtl = middy(async (_e: unknown, _c: Context, { signal }: { signal: AbortSignal }) => {
  const controller = new AbortController()
  const onAbort = () => controller.abort(signal.reason)
  signal.addEventListener('abort', onAbort)
  const timer = setTimeout(() => controller.abort(), 10_000)
  try {
    const init: RequestInit = { signal, headers: { accept: 'application/json' } }
    const headers = { ...(init.headers as Record<string, string>), authorization: `Bearer ${TOKEN}` }
    return answer(await fetch(resourceUrl, { ...init, headers, signal: controller.signal, redirect: 'manual' }))
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  }
}) as unknown as Invoke
const client = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
const target = { audience: AUDIENCE, url: endpoint.url }
const middleware = middy(async (_e: unknown, context: Context & { tokenX: Downstream }, { signal }: { signal: AbortSignal }) =>
  answer(await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${context.tokenX.token.accessToken}` } })))
  .use(tokenX({ audience: target, client, logger: false })) as unknown as Invoke
const kitFetch = middy(async (_e: unknown, context: Context & { tokenX: Downstream }, { signal }: { signal: AbortSignal }) =>
  answer(await context.tokenX.fetch('resource', { signal, headers: { accept: 'application/json' } })))
  .use(tokenX({ audience: target, client: createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk }), logger: false })) as unknown as Invoke

const names = ['floor', 'floor+ctl', 'middleware', 'kit fetch', 'built'] as const
const invokes = [floor, floorCtl, middleware, kitFetch, built]
await compare(names.map((name, i) => ({ name, invoke: invokes[i] as Invoke })), httpApiEvent(citizenToken(1)), { rounds: ROUNDS, batch: BATCH })
await endpoint.close()
process.exit(0)
