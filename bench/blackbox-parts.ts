/**
 * The black box's second half (bench/blackbox.ts runs it in a process of its own): each part of the
 * exchange the kit writes itself instead of taking a library's, against that library, per call, in
 * the shape of a cache miss (every token request is followed by the downstream call, as in the
 * function):
 * - the client assertion: the kit's JWS over `node:crypto` (lib/exchange/assertion.ts) against
 *   jose's `SignJWT` (RS256), the same claims;
 * - the token request: the kit's HTTP/1.1 client (lib/util/http1.ts) against global `fetch` (the kit's
 *   `fetchPost`, what an injected `fetch` uses), the same form to the bench endpoint, answer read.
 * Interleaved one call at a time, in rounds; per round and side a 10%-trimmed mean of CPU µs (this
 * process; the endpoint is another). A part is worth its code only when the library costs more.
 */
import { importJWK } from 'jose'
import { signAssertion } from '../lib/exchange/assertion.ts'
import { exchangeForm } from '../lib/exchange/token-request.ts'
import { importPrivateJwk } from '../lib/exchange/key.ts'
import { fetchPost, type PostForm } from '../lib/util/http.ts'
import { http1Post } from '../lib/util/http1.ts'
import { joseAssertion } from './libraries.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, report, sectionEndpoint, spread, trimmedMean, type Spread } from './support.ts'

export interface BlackboxPartsResult {
  readonly rounds: number
  readonly batch: number
  /** CPU µs per call, one trimmed mean per round. */
  readonly assertion: { readonly kit: Spread; readonly jose: Spread; readonly saved: Spread }
  readonly tokenRequest: { readonly kit: Spread; readonly fetch: Spread; readonly saved: Spread }
}

const ROUNDS = Number(process.env['BENCH_BLACKBOX_ROUNDS'] ?? 11)
const BATCH = Number(process.env['BENCH_BLACKBOX_PARTS_BATCH'] ?? 200)

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const tokenUrl = new URL(tokenEndpoint)
const resourceUrl = `${endpoint.url}/resource`
const { jwk } = clientKey()
const kitKey = importPrivateJwk(jwk)
const joseKey = await importJWK(jwk, 'RS256')

const assertionOptions = { clientId: CLIENT_ID, audience: tokenEndpoint, lifetime: 30, clock: Date.now }
const joseOptions = { kid: jwk.kid, clientId: CLIENT_ID, audience: tokenEndpoint }
const sides = {
  assertion: {
    kit: async () => void signAssertion(kitKey, assertionOptions),
    jose: async () => void (await joseAssertion(joseKey, joseOptions)),
  },
  tokenRequest: {
    kit: request(http1Post),
    fetch: request(fetchPost((input, init) => fetch(input, init))),
  },
}

let minted = 0
/** One token request with a form of the real size (a signed assertion, a fresh ~1 KB citizen token); the form is built before timing. */
function request(post: PostForm): () => Promise<void> {
  return async () => {
    const answer = await post(tokenUrl, forms.pop() as string, neverAborted)
    JSON.parse(answer.body)
  }
}
const neverAborted = new AbortController().signal
const forms: string[] = []
const refill = (count: number) => {
  while (forms.length < count) {
    forms.push(
      exchangeForm({ clientAssertion: signAssertion(kitKey, assertionOptions), subjectToken: citizenToken(++minted), audience: AUDIENCE }),
    )
  }
}

async function round<S extends string>(pair: Record<S, () => Promise<void>>): Promise<Record<S, number>> {
  const names = Object.keys(pair) as S[]
  const cpu = names.map(() => new Float64Array(BATCH))
  refill(BATCH * names.length)
  for (let i = 0; i < BATCH; i++) {
    for (let k = 0; k < names.length; k++) {
      const side = (i + k) % names.length
      const before = process.cpuUsage()
      await pair[names[side] as S]()
      const used = process.cpuUsage(before)
      ;(cpu[side] as Float64Array)[i] = used.user + used.system
      // As in a miss: the downstream call follows (not timed).
      await (await fetch(resourceUrl)).text()
    }
  }
  return Object.fromEntries(names.map((name, side) => [name, trimmedMean(cpu[side] as Float64Array)])) as Record<S, number>
}

await round(sides.assertion)
await round(sides.tokenRequest)
const samples = { assertionKit: [] as number[], jose: [] as number[], requestKit: [] as number[], fetch: [] as number[] }
for (let r = 0; r < ROUNDS; r++) {
  const assertion = await round(sides.assertion)
  const tokenRequest = await round(sides.tokenRequest)
  samples.assertionKit.push(assertion.kit)
  samples.jose.push(assertion.jose)
  samples.requestKit.push(tokenRequest.kit)
  samples.fetch.push(tokenRequest.fetch)
}
const saved = (library: number[], kit: number[]): Spread => spread(library.map((value, r) => value - (kit[r] as number)))
const result: BlackboxPartsResult = {
  rounds: ROUNDS,
  batch: BATCH,
  assertion: { kit: spread(samples.assertionKit), jose: spread(samples.jose), saved: saved(samples.jose, samples.assertionKit) },
  tokenRequest: { kit: spread(samples.requestKit), fetch: spread(samples.fetch), saved: saved(samples.fetch, samples.requestKit) },
}
report(result)
