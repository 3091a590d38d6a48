/**
 * The flows side by side: client-side CPU per token request of each of the kit's grants, measured as
 * bench/miss.ts measures the TokenX exchange (`process.cpuUsage()` deltas in this process; the
 * token endpoint, bench/endpoint.ts, in another, answering every flow the same canned success).
 * Every request is a cache miss: a distinct subject or caller token per TokenX exchange and
 * on-behalf-of request, a distinct scope per client-credentials and Maskinporten request.
 *
 * One flow per process (BENCH_FLOW), so that no flow's garbage or pending timers land in another's
 * figures:
 * - `tokenx`: `createTokenXClient().exchange(subjectToken, audience)` (RFC 8693, client assertion RFC 7523 §2.2);
 * - `entra-cc`: `createEntraClient().token(scope)` (client credentials, RFC 6749 §4.4 with a client assertion);
 * - `entra-obo`: `createEntraClient().onBehalfOf(callerToken, scope)` (jwt-bearer grant, RFC 7523 §2.1);
 * - `maskinporten`: `createMaskinportenClient().token(scope)` (JWT grant, RFC 7523 §2.1).
 * Each signs one RS256 assertion per request. Each round is followed by a round of raw RSA-2048
 * signatures, `crypto.sign('sha256', data, keyObject)`, the floor every request pays once.
 */
import { createEntraClient } from '../lib/entra.ts'
import { createTokenXClient } from '../lib/index.ts'
import { createMaskinportenClient } from '../lib/maskinporten.ts'
import {
  AUDIENCE,
  CLIENT_ID,
  citizenToken,
  citizenTokenInput,
  clientKey,
  progress,
  report,
  requestsAgainstSignatures,
  sectionEndpoint,
} from './support.ts'

export const FLOWS = ['tokenx', 'entra-cc', 'entra-obo', 'maskinporten'] as const
export type Flow = (typeof FLOWS)[number]

export interface FlowWorkerResult {
  readonly flow: Flow
  readonly perRound: number
  /** CPU µs per token request, one sample per round. */
  readonly requestCpu: number[]
  /** Wall µs per sequential request (includes the endpoint's time), one sample per round. */
  readonly requestWall: number[]
  /** CPU µs per raw signature, one sample per round (run right after that round's requests). */
  readonly signatureCpu: number[]
  /** Token requests the endpoint counted, and how many this worker made. */
  readonly endpointRequests: number
  readonly expectedRequests: number
}

const FLOW = (process.env.BENCH_FLOW ?? 'tokenx') as Flow
const PER_ROUND = Number(process.env.BENCH_FLOWS_PER_ROUND ?? 200)
const ROUNDS = Number(process.env.BENCH_FLOWS_ROUNDS ?? 6)
const WARMUP = Number(process.env.BENCH_FLOWS_WARMUP ?? 600)

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const { jwk, keyObject } = clientKey()
const ENTRA_ISSUER = 'https://login.microsoftonline.com/00000000-0000-4000-8000-00000000a0e1/v2.0'
const ENTRA_CLIENT_ID = '11111111-2222-4333-8444-555555555555'
const common = { tokenEndpoint, privateJwk: jwk, cacheMaxEntries: 100_000 }

/** What one request needs, minted before anything is timed, so that every request is a miss. */
function inputs(flow: Flow): (index: number) => string {
  switch (flow) {
    case 'tokenx':
      return (i) => citizenToken(i)
    case 'entra-obo':
      // An employee's Entra ID token for our app, about the size of the citizen token TokenX gets.
      return (i) =>
        `${citizenTokenInput(i, { iss: ENTRA_ISSUER, aud: ENTRA_CLIENT_ID })}.${Buffer.alloc(256, i % 251).toString('base64url')}`
    case 'entra-cc':
      return (i) => `api://dev-gcp.team.api-${i}/.default`
    case 'maskinporten':
      return (i) => `nav:bench/api-${i}`
  }
}

function requester(flow: Flow): (input: string) => Promise<string> {
  switch (flow) {
    case 'tokenx': {
      const client = createTokenXClient({ ...common, clientId: CLIENT_ID })
      return async (subjectToken) => (await client.exchange(subjectToken, AUDIENCE)).accessToken
    }
    case 'entra-cc': {
      const client = createEntraClient({ ...common, clientId: ENTRA_CLIENT_ID, issuer: ENTRA_ISSUER })
      return async (scope) => (await client.token(scope)).accessToken
    }
    case 'entra-obo': {
      const client = createEntraClient({ ...common, clientId: ENTRA_CLIENT_ID, issuer: ENTRA_ISSUER })
      return async (callerToken) => (await client.onBehalfOf(callerToken, 'api://dev-gcp.team.downstream/.default')).accessToken
    }
    case 'maskinporten': {
      const client = createMaskinportenClient({ ...common, clientId: ENTRA_CLIENT_ID, issuer: 'https://test.maskinporten.no/' })
      return async (scope) => (await client.token(scope)).accessToken
    }
  }
}

const request = requester(FLOW)
const input = inputs(FLOW)
let minted = 0
const mint = (count: number): string[] => Array.from({ length: count }, () => input(++minted))

await endpoint.reset()
progress(`flows, ${FLOW}: ${ROUNDS} rounds of ${PER_ROUND} token requests, each followed by ${PER_ROUND} raw signatures`)
const { requestCpu, requestWall, signatureCpu } = await requestsAgainstSignatures({
  request,
  mint,
  key: keyObject,
  rounds: ROUNDS,
  perRound: PER_ROUND,
  warmup: WARMUP,
})

const result: FlowWorkerResult = {
  flow: FLOW,
  perRound: PER_ROUND,
  requestCpu,
  requestWall,
  signatureCpu,
  endpointRequests: await endpoint.tokenRequests(),
  expectedRequests: WARMUP + ROUNDS * PER_ROUND,
}
report(result)
