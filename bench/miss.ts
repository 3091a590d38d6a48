/**
 * Cache miss: client-side CPU per token exchange, measured with `process.cpuUsage()` deltas in this
 * process while the token endpoint runs in another (bench/endpoint.ts). Each exchange uses a distinct,
 * pre-minted subject token, so every call is a miss and makes one request.
 *
 * One method per process (BENCH_MISS_METHOD), so that no method's garbage or pending timers are
 * collected or fired during another's measurement:
 * - `kit`: `createTokenXClient(...).exchange()` (its own HTTP/1.1 keep-alive client, node:crypto JWS);
 * - `openid-client`: openid-client v6 `genericGrantRequest` with `PrivateKeyJwt` client
 *   authentication (global fetch, WebCrypto) — the way a user would otherwise do it.
 * Each round is followed by a round of raw RSA-2048 PKCS#1 v1.5 signatures,
 * `crypto.sign('sha256', data, keyObject)`, the floor every exchange pays once.
 */
import { sign } from 'node:crypto'
import * as oidc from 'openid-client'
import { createTokenXClient } from '../lib/index.ts'
import { openidClientConfig } from './libraries.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, cpuMicros, progress, report, sectionEndpoint } from './support.ts'

export type MissMethod = 'kit' | 'openid-client'

export interface MissWorkerResult {
  readonly method: MissMethod
  readonly perRound: number
  /** CPU µs per exchange, one sample per round. */
  readonly exchangeCpu: number[]
  /** Wall µs per sequential exchange (includes the endpoint's time), one sample per round. */
  readonly exchangeWall: number[]
  /** CPU µs per raw signature, one sample per round (run right after that round's exchanges). */
  readonly signatureCpu: number[]
  /** AbortSignal.timeout / AbortSignal.any calls per exchange: timers that cannot be cleared. */
  readonly uncancellableTimersPerExchange: number
  /** Token requests the endpoint counted, and how many this worker made. */
  readonly endpointRequests: number
  readonly expectedRequests: number
  /** TCP connections the endpoint accepted (keep-alive: one, plus the bench's own admin calls). */
  readonly connections: number
}

const METHOD = (process.env.BENCH_MISS_METHOD ?? 'kit') as MissMethod
const PER_ROUND = Number(process.env.BENCH_MISS_PER_ROUND ?? 200)
const ROUNDS = Number(process.env.BENCH_MISS_ROUNDS ?? 6)
const WARMUP = Number(process.env.BENCH_MISS_WARMUP ?? 800)

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const { jwk, keyObject } = clientKey()

// What the kit signs: a header and claims of the same length as a real assertion's signing input.
const signingInput = Buffer.from(`${'h'.repeat(70)}.${'c'.repeat(250)}`)

async function exchanger(method: MissMethod): Promise<(subjectToken: string) => Promise<string>> {
  if (method === 'kit') {
    const kit = createTokenXClient({ clientId: CLIENT_ID, tokenEndpoint, privateJwk: jwk, cacheMaxEntries: 100_000 })
    return async (subjectToken) => (await kit.exchange(subjectToken, AUDIENCE)).accessToken
  }
  const config = await openidClientConfig(jwk, endpoint.url)
  return async (subjectToken) => {
    const response = await oidc.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', {
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      audience: AUDIENCE,
    })
    return response.access_token
  }
}

const exchange = await exchanger(METHOD)
// Every subject token is minted before anything is timed.
let minted = 0
const mint = (count: number): string[] => Array.from({ length: count }, () => citizenToken(++minted))

async function exchangeAll(tokens: readonly string[]): Promise<void> {
  for (const token of tokens) {
    if ((await exchange(token)).length < 100) throw new Error('unexpected access token')
  }
}

await endpoint.reset()
progress(`cache miss, ${METHOD}: ${ROUNDS} rounds of ${PER_ROUND} exchanges, each followed by ${PER_ROUND} raw signatures`)
// Warm-up: JIT, the first connection, the lazily loaded parts of undici and of the kit.
await exchangeAll(mint(WARMUP))
for (let i = 0; i < WARMUP; i++) sign('sha256', signingInput, keyObject)

const exchangeCpu: number[] = []
const exchangeWall: number[] = []
const signatureCpu: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  const tokens = mint(PER_ROUND)
  const start = process.hrtime.bigint()
  exchangeCpu.push((await cpuMicros(() => exchangeAll(tokens))) / PER_ROUND)
  exchangeWall.push(Number(process.hrtime.bigint() - start) / 1000 / PER_ROUND)
  signatureCpu.push(
    (await cpuMicros(() => {
      for (let i = 0; i < PER_ROUND; i++) sign('sha256', signingInput, keyObject)
    })) / PER_ROUND,
  )
}

// Untimed: how many timers that cannot be cleared each exchange leaves behind.
let uncancellable = 0
const { timeout, any } = AbortSignal
AbortSignal.timeout = (ms: number) => (uncancellable++, timeout.call(AbortSignal, ms))
AbortSignal.any = (signals: AbortSignal[]) => (uncancellable++, any.call(AbortSignal, signals))
const counted = 50
await exchangeAll(mint(counted))
AbortSignal.timeout = timeout
AbortSignal.any = any

const result: MissWorkerResult = {
  method: METHOD,
  perRound: PER_ROUND,
  exchangeCpu,
  exchangeWall,
  signatureCpu,
  uncancellableTimersPerExchange: uncancellable / counted,
  endpointRequests: await endpoint.tokenRequests(),
  expectedRequests: WARMUP + ROUNDS * PER_ROUND + counted,
  connections: await endpoint.connections(),
}
report(result)
