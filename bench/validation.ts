/**
 * Inbound validation on the warm path: what `createInboundValidator().validate()` costs per call once
 * the issuer's JWKS is cached, next to one raw RS256 verification by node:crypto measured in the same
 * process and rounds.
 *
 *   repeat     the same token again and again (a warm invocation by the same citizen): one SHA-256
 *              and one map look-up, no signature check;
 *   new token  a token never seen before on each call (JWKS cached): parse, claims, key look-up and
 *              one RSA verification;
 *   raw        `crypto.verify('sha256', signingInput, publicKey, signature)` over the same tokens,
 *              inputs prepared beforehand: the floor any validator pays;
 *   jose       jose's `jwtVerify` with the same key (`createLocalJWKSet`), issuer, audience and
 *              algorithm, over the same tokens: the library the kit's own verifier
 *              (lib/inbound/verify.ts) stands in for, measured to show what that buys.
 *
 * CPU time (`process.cpuUsage`) per call; ~1 KB ID-porten-shaped tokens. The JWKS is served over HTTP
 * on 127.0.0.1 and fetched once, before anything is measured.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { createInboundValidator } from '../lib/index.ts'
import { citizenTokenInput, progress, report, spread, type Spread } from './support.ts'

export interface ValidationResult {
  readonly tokenBytes: number
  readonly repeatBatch: number
  readonly newBatch: number
  /** CPU µs per call. */
  readonly repeatCpu: Spread
  readonly newTokenCpu: Spread
  readonly rawVerifyCpu: Spread
  /** jose `jwtVerify` per new token, same rounds. */
  readonly joseCpu: Spread
  /** Per round: new-token CPU ÷ raw verification CPU. */
  readonly newOverRaw: Spread
  /** JWKS requests the issuer saw (1: fetched once, then cached). */
  readonly jwksFetches: number
}

const ROUNDS = Number(process.env.BENCH_VALIDATION_ROUNDS ?? 11)
const NEW_BATCH = Number(process.env.BENCH_VALIDATION_BATCH ?? 500)
const REPEAT_BATCH = Number(process.env.BENCH_VALIDATION_REPEAT ?? 100_000)
const AUDIENCE = 'dev-gcp:team:app'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'idporten-bench', alg: 'RS256', use: 'sig' }
let jwksFetches = 0
const server = createServer((_request, response) => {
  jwksFetches++
  response.writeHead(200, { 'content-type': 'application/json' })
  response.end(JSON.stringify({ keys: [publicJwk] }))
})
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

const b64u = (value: string | Buffer): string => Buffer.from(value).toString('base64url')

/** A signed, ID-porten-shaped access token (~1 KB). */
function token(index: number): string {
  const input = citizenTokenInput(index, { iss: issuer, aud: AUDIENCE })
  return `${input}.${b64u(sign('sha256', Buffer.from(input), privateKey))}`
}

const validator = createInboundValidator({
  idporten: { issuer, jwksUri: `${issuer}/jwks`, audience: AUDIENCE },
  minimumAcr: 'idporten-loa-high',
  verifiedCacheMaxEntries: 100_000,
})

progress(`validation: signing ${(ROUNDS + 1) * NEW_BATCH} tokens`)
const batches = Array.from({ length: ROUNDS + 1 }, (_, round) => Array.from({ length: NEW_BATCH }, (_, i) => token(round * NEW_BATCH + i)))
const repeat = token(-1)
// The JWKS is fetched here, once; nothing after this fetches.
await validator.validate(repeat)
const verifyKey = createPublicKey({ key: publicJwk, format: 'jwk' })
const rawInputs = batches.map((tokens) =>
  tokens.map((t) => {
    const dot = t.lastIndexOf('.')
    return { input: Buffer.from(t.slice(0, dot)), signature: Buffer.from(t.slice(dot + 1), 'base64url') }
  }),
)

async function cpuPerCall(count: number, run: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage()
  await run()
  const used = process.cpuUsage(before)
  return (used.user + used.system) / count
}

const repeatRuns: number[] = []
const newRuns: number[] = []
const rawRuns: number[] = []
const joseRuns: number[] = []
const joseJwks = createLocalJWKSet({ keys: [publicJwk] })
const joseVerify = (t: string) => jwtVerify(t, joseJwks, { issuer, audience: AUDIENCE, algorithms: ['RS256'] })
const ratios: number[] = []

// Warm-up round (batch 0), not recorded.
for (const t of batches[0] as string[]) await validator.validate(t)
for (let i = 0; i < REPEAT_BATCH; i++) await validator.validate(repeat)
for (const { input, signature } of rawInputs[0]!) verify('sha256', input, verifyKey, signature)
for (const t of batches[0] as string[]) await joseVerify(t)

/** Slices of raw verifications, new tokens and jose's verification take turns, so all see the same machine load. */
const SLICE = 50

for (let round = 1; round <= ROUNDS; round++) {
  const tokens = batches[round] as string[]
  const raws = rawInputs[round]!
  let fresh = 0
  let raw = 0
  let jose = 0
  for (let from = 0; from < tokens.length; from += SLICE) {
    const rawSlice = raws.slice(from, from + SLICE)
    const tokenSlice = tokens.slice(from, from + SLICE)
    const measureRaw = async () => {
      raw += await cpuPerCall(1, () => {
        for (const { input, signature } of rawSlice) if (!verify('sha256', input, verifyKey, signature)) throw new Error('bad signature')
      })
    }
    const measureNew = async () => {
      fresh += await cpuPerCall(1, async () => {
        for (const t of tokenSlice) await validator.validate(t)
      })
    }
    const measureJose = async () => {
      jose += await cpuPerCall(1, async () => {
        for (const t of tokenSlice) await joseVerify(t)
      })
    }
    const order = [measureRaw, measureNew, measureJose]
    for (let k = 0; k < order.length; k++) await (order[(from / SLICE + round + k) % order.length] as () => Promise<void>)()
  }
  fresh /= tokens.length
  raw /= raws.length
  jose /= tokens.length
  const again = await cpuPerCall(REPEAT_BATCH, async () => {
    for (let i = 0; i < REPEAT_BATCH; i++) await validator.validate(repeat)
  })
  newRuns.push(fresh)
  rawRuns.push(raw)
  joseRuns.push(jose)
  ratios.push(fresh / raw)
  repeatRuns.push(again)
  progress(
    `validation round ${round}/${ROUNDS}: repeat ${again.toFixed(2)} µs, new ${fresh.toFixed(1)} µs, raw ${raw.toFixed(1)} µs, jose ${jose.toFixed(1)} µs`,
  )
}

server.close()
const result: ValidationResult = {
  tokenBytes: repeat.length,
  repeatBatch: REPEAT_BATCH,
  newBatch: NEW_BATCH,
  repeatCpu: spread(repeatRuns),
  newTokenCpu: spread(newRuns),
  rawVerifyCpu: spread(rawRuns),
  joseCpu: spread(joseRuns),
  newOverRaw: spread(ratios),
  jwksFetches,
}
report(result)
