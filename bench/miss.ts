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
import * as oidc from 'openid-client'
import { createTokenXClient } from '../lib/index.ts'
import { openidClientConfig } from './libraries.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, progress, report, requestsAgainstSignatures, sectionEndpoint } from './support.ts'

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

await endpoint.reset()
progress(`cache miss, ${METHOD}: ${ROUNDS} rounds of ${PER_ROUND} exchanges, each followed by ${PER_ROUND} raw signatures`)
const {
  requestCpu: exchangeCpu,
  requestWall: exchangeWall,
  signatureCpu,
} = await requestsAgainstSignatures({
  request: exchange,
  mint,
  key: keyObject,
  rounds: ROUNDS,
  perRound: PER_ROUND,
  warmup: WARMUP,
})

// Untimed: how many timers that cannot be cleared each exchange leaves behind.
let uncancellable = 0
const { timeout, any } = AbortSignal
AbortSignal.timeout = (ms: number) => (uncancellable++, timeout.call(AbortSignal, ms))
AbortSignal.any = (signals: AbortSignal[]) => (uncancellable++, any.call(AbortSignal, signals))
const counted = 50
for (const token of mint(counted)) await exchange(token)
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
