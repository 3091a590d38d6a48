/**
 * Black box: the BUILT example function (dist/resource, as Lambda runs it) against what a team would
 * write without the kit, per invocation, CPU of this process only (the token endpoint and the
 * downstream are the bench endpoint, in another process):
 * - floor: a middy handler making the same downstream call with plain `fetch` and a token it already
 *   has (bench/floor.ts);
 * - jose + fetch: a middy handler that signs the client assertion with jose (RS256, RFC 7523), posts
 *   the RFC 8693 exchange with `fetch`, then calls the downstream; no cache;
 * - openid-client 6: the same with `genericGrantRequest` and `PrivateKeyJwt`;
 * - the function on a miss (a citizen it has not seen: an exchange, then the downstream call), and on
 *   a warm hit (the same citizen again).
 * All run interleaved one invocation at a time, the order rotating, in rounds; per round and side a
 * trimmed mean (bench/function.ts explains why). The exchange's cost of a method is its miss minus
 * the floor. Budgets (bench/run.ts): the kit's exchange ≤ 0.7× openid-client's; the warm hit ≤ 1.10×
 * the floor.
 */
import { randomUUID, webcrypto } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { importJWK, SignJWT } from 'jose'
import * as oidc from 'openid-client'
import { answer, floorHandler, issuedToken, type Invoke } from './floor.ts'
import { httpApiEvent, lambdaContext } from './lambda.ts'
import {
  AUDIENCE,
  CLIENT_ID,
  citizenToken,
  clientKey,
  exampleFunctionEnv,
  progress,
  report,
  sectionEndpoint,
  spread,
  type Spread,
} from './support.ts'

export interface BlackboxResult {
  readonly rounds: number
  readonly missBatch: number
  readonly hitBatch: number
  /** CPU µs per invocation, one trimmed mean per round. */
  readonly floorCpu: Spread
  readonly kitMissCpu: Spread
  readonly kitHitCpu: Spread
  readonly joseCpu: Spread
  readonly openidClientCpu: Spread
  /** Miss − floor per round: what the exchange costs each way. */
  readonly kitExchangeCpu: Spread
  readonly joseExchangeCpu: Spread
  readonly openidClientExchangeCpu: Spread
  /** Medians' ratios: kit exchange ÷ openid-client's, kit exchange ÷ jose's, warm hit ÷ floor (from the hit rounds). */
  readonly kitOverOpenidClient: number
  readonly kitOverJose: number
  readonly hitOverFloor: number
  /** The floor's CPU in the hit rounds (same rounds as kitHitCpu). */
  readonly hitFloorCpu: Spread
}

const ROUNDS = Number(process.env['BENCH_BLACKBOX_ROUNDS'] ?? 11)
const MISS_BATCH = Number(process.env['BENCH_BLACKBOX_MISS_BATCH'] ?? 40)
const HIT_BATCH = Number(process.env['BENCH_BLACKBOX_HIT_BATCH'] ?? 300)
const TRIM = 0.1

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const resourceUrl = `${endpoint.url}/resource`
const { jwk } = clientKey()
Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk))
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const kit = ((await import(pathToFileURL(path.join(root, 'dist', 'resource', 'index.mjs')).href)) as { handler: Invoke }).handler
const floor = floorHandler(resourceUrl, await issuedToken(endpoint.url))

const bearer = (event: unknown): string =>
  String((event as { headers: { authorization: string } }).headers.authorization).slice('Bearer '.length)
const EXCHANGE = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  audience: AUDIENCE,
}

// jose + fetch, as a team would hand-roll it: one key import, a fresh assertion per exchange.
const joseKey = await importJWK(jwk, 'RS256')
const jose = middy(async (event: unknown, _context: Context, { signal }: { signal: AbortSignal }) => {
  const now = Math.floor(Date.now() / 1000)
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' })
    .setIssuer(CLIENT_ID)
    .setSubject(CLIENT_ID)
    .setAudience(tokenEndpoint)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 30)
    .setJti(randomUUID())
    .sign(joseKey)
  const exchanged = await fetch(tokenEndpoint, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      ...EXCHANGE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      subject_token: bearer(event),
    }),
  })
  if (!exchanged.ok) throw new Error(`token endpoint answered ${exchanged.status}`)
  const { access_token: token } = (await exchanged.json()) as { access_token: string }
  return answer(await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${token}` } }))
}) as unknown as Invoke

// openid-client 6, global fetch and WebCrypto, as bench/miss.ts uses it.
const cryptoKey = await webcrypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
const config = new oidc.Configuration(
  { issuer: endpoint.url, token_endpoint: tokenEndpoint },
  CLIENT_ID,
  {},
  oidc.PrivateKeyJwt({ key: cryptoKey, kid: jwk.kid }),
)
oidc.allowInsecureRequests(config) // the bench endpoint is plain http on 127.0.0.1
const openidClient = middy(async (event: unknown, _context: Context, { signal }: { signal: AbortSignal }) => {
  const { audience, subject_token_type } = EXCHANGE
  const response = await oidc.genericGrantRequest(config, EXCHANGE.grant_type, {
    subject_token: bearer(event),
    subject_token_type,
    audience,
  })
  return answer(
    await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${response.access_token}` } }),
  )
}) as unknown as Invoke

function trimmedMean(samples: Float64Array): number {
  const sorted = samples.slice().sort()
  const drop = Math.floor(sorted.length * TRIM)
  let sum = 0
  for (let i = drop; i < sorted.length - drop; i++) sum += sorted[i] as number
  return sum / (sorted.length - 2 * drop)
}

let minted = 0
const hitEvent = httpApiEvent(citizenToken(++minted))

/** `batch` invocations of each side, interleaved one by one (the order rotates); trimmed CPU µs per side. */
async function round<S extends string>(
  sides: Record<S, { invoke: Invoke; event: () => unknown }>,
  batch: number,
): Promise<Record<S, number>> {
  const names = Object.keys(sides) as S[]
  const cpu = Object.fromEntries(names.map((name) => [name, new Float64Array(batch)])) as Record<S, Float64Array>
  const context = lambdaContext()
  for (let i = 0; i < batch; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] as S
      const side = sides[name]
      const event = side.event()
      const before = process.cpuUsage()
      const result = await side.invoke(event, context)
      const used = process.cpuUsage(before)
      if (result.statusCode !== 200) throw new Error(`${name} answered ${result.statusCode}: ${String(result.body)}`)
      cpu[name][i] = used.user + used.system
    }
  }
  return Object.fromEntries(names.map((name) => [name, trimmedMean(cpu[name])])) as Record<S, number>
}

const fresh = () => httpApiEvent(citizenToken(++minted))
const missSides = {
  floor: { invoke: floor, event: fresh },
  kitMiss: { invoke: kit, event: fresh },
  jose: { invoke: jose, event: fresh },
  openidClient: { invoke: openidClient, event: fresh },
}
const hitSides = {
  floor: { invoke: floor, event: () => hitEvent },
  kitHit: { invoke: kit, event: () => hitEvent },
}

await endpoint.reset()
// Warm-up: every path compiled and connected.
await round(missSides, MISS_BATCH)
await round(hitSides, HIT_BATCH)
progress(
  `black box: ${ROUNDS} rounds of ${MISS_BATCH} interleaved misses (floor, kit, jose + fetch, openid-client) and ${HIT_BATCH} interleaved hits (floor, kit)`,
)
const samples = {
  floor: [] as number[],
  kitMiss: [] as number[],
  jose: [] as number[],
  openidClient: [] as number[],
  kitHit: [] as number[],
  hitFloor: [] as number[],
}
const exchange = { kit: [] as number[], jose: [] as number[], openidClient: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  const miss = await round(missSides, MISS_BATCH)
  const hit = await round(hitSides, HIT_BATCH)
  samples.floor.push(miss.floor)
  samples.kitMiss.push(miss.kitMiss)
  samples.jose.push(miss.jose)
  samples.openidClient.push(miss.openidClient)
  samples.kitHit.push(hit.kitHit)
  samples.hitFloor.push(hit.floor)
  exchange.kit.push(miss.kitMiss - miss.floor)
  exchange.jose.push(miss.jose - miss.floor)
  exchange.openidClient.push(miss.openidClient - miss.floor)
}

const kitExchangeCpu = spread(exchange.kit)
const joseExchangeCpu = spread(exchange.jose)
const openidClientExchangeCpu = spread(exchange.openidClient)
const kitHitCpu = spread(samples.kitHit)
const hitFloorCpu = spread(samples.hitFloor)
const result: BlackboxResult = {
  rounds: ROUNDS,
  missBatch: MISS_BATCH,
  hitBatch: HIT_BATCH,
  floorCpu: spread(samples.floor),
  kitMissCpu: spread(samples.kitMiss),
  kitHitCpu,
  joseCpu: spread(samples.jose),
  openidClientCpu: spread(samples.openidClient),
  kitExchangeCpu,
  joseExchangeCpu,
  openidClientExchangeCpu,
  kitOverOpenidClient: kitExchangeCpu.median / openidClientExchangeCpu.median,
  kitOverJose: kitExchangeCpu.median / joseExchangeCpu.median,
  hitOverFloor: kitHitCpu.median / hitFloorCpu.median,
  hitFloorCpu,
}
report(result)
