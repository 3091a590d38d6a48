/**
 * Probe (not part of `npm run bench`): splits the middleware's part of bench/function.ts's
 * difference into middy's own cost, the cache key and the rest. Variants, interleaved invocation by
 * invocation against the bench endpoint in another process, 10%-trimmed CPU means per round, minus
 * the floor (all send with plain fetch except `kit fetch`):
 * - floor:      middy + plain fetch with the kit's token;
 * - noop mw:    + a middleware whose before/after/onError do nothing;
 * - bearer+key: + its before reads the bearer token and computes the cache key;
 * - tokenX off: + tokenX() with logger, metrics, tracer false (cache hit);
 * - tokenX def: + tokenX() with the defaults (JSON logger at INFO, tracer looked up);
 * - kit fetch:  tokenX() defaults, the handler sends with context.tokenX.fetch.
 */
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { bearerToken } from '../../lib/inbound/bearer.ts'
import { tokenCacheKey } from '../../lib/cache/memory.ts'
import { createTokenXClient, tokenX, type Downstream, type TokenXCoreOptions } from '../../lib/index.ts'
import { httpApiEvent } from '../lambda.ts'
import { compare } from './interleaved.ts'
import { answer, issuedToken, type Invoke } from '../floor.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, startEndpoint } from '../support.ts'

const ROUNDS = Number(process.env['BENCH_PROBE_ROUNDS'] ?? 15)
const BATCH = Number(process.env['BENCH_PROBE_BATCH'] ?? 300)
const endpoint = await startEndpoint()
const { jwk } = clientKey()
const TOKEN = await issuedToken(endpoint.url)
const resourceUrl = `${endpoint.url}/resource`
const plain = async (_e: unknown, _c: Context, { signal }: { signal: AbortSignal }) =>
  answer(await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${TOKEN}` } }))
let sink = ''
const floor = middy(plain) as unknown as Invoke
const noop = middy(plain).use({ before: async () => undefined, after: () => undefined, onError: () => undefined }) as unknown as Invoke
const keyed = middy(plain).use({
  before: async (request: { event: unknown }) => { sink = tokenCacheKey(bearerToken(request.event, 16384), AUDIENCE) },
  after: () => undefined,
  onError: () => undefined,
}) as unknown as Invoke
const subject = bearerToken(httpApiEvent(citizenToken(1)), 16384)
const bearerOnly = middy(plain).use({
  before: async (request: { event: unknown }) => { sink = bearerToken(request.event, 16384) },
  after: () => undefined,
  onError: () => undefined,
}) as unknown as Invoke
const keyOnly = middy(plain).use({
  before: async () => { sink = tokenCacheKey(subject, AUDIENCE) },
  after: () => undefined,
  onError: () => undefined,
}) as unknown as Invoke
const target = { audience: AUDIENCE, url: endpoint.url }
const client = () => createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint: `${endpoint.url}/token`, privateJwk: jwk })
const kit = (options: Partial<TokenXCoreOptions<typeof target>>, send: 'plain' | 'kit') =>
  middy(send === 'plain' ? plain : async (_e: unknown, context: Context & { tokenX: Downstream }, { signal }: { signal: AbortSignal }) =>
    answer(await context.tokenX.fetch('resource', { signal, headers: { accept: 'application/json' } })))
    .use(tokenX({ audience: target, client: client(), ...options })) as unknown as Invoke
process.stdout.write = (() => true) as typeof process.stdout.write
const names = ['floor', 'noop mw', 'bearer', 'key', 'bearer+key', 'tokenX off', 'tokenX def', 'kit fetch'] as const
const invokes = [floor, noop, bearerOnly, keyOnly, keyed, kit({ logger: false, metrics: false, tracer: false }, 'plain'), kit({ env: {} }, 'plain'), kit({ env: {} }, 'kit')]
await compare(names.map((name, i) => ({ name, invoke: invokes[i] as Invoke })), httpApiEvent(citizenToken(1)), { rounds: ROUNDS, batch: BATCH })
void sink
await endpoint.close()
process.exit(0)
