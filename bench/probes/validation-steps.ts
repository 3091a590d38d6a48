/**
 * Probe: what the inbound validator spends per new token beyond `crypto.verify`, step by step
 * (`npm exec -- node bench/probes/validation-steps.ts`; add `--cpu-prof --cpu-prof-interval 100` for a profile).
 * Each step runs over the same pre-signed ~1 KB ID-porten-shaped tokens; wall-clock µs per token.
 */
import { createPublicKey, generateKeyPairSync, hash, randomBytes, randomUUID, sign, verify } from 'node:crypto'
import { createInboundValidator } from '../../lib/index.ts'
import { checkClaims, decodeJwt, verifySignature } from '../../lib/inbound/verify.ts'

const N = Number(process.env.PROBE_TOKENS ?? 2000)
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
const issuer = 'https://idporten.example'
const AUDIENCE = 'dev-gcp:team:app'
const b64u = (value: string | Buffer): string => Buffer.from(value).toString('base64url')
const HEADER = b64u(JSON.stringify({ kid: 'k1', typ: 'at+jwt', alg: 'RS256' }))
const now = Math.floor(Date.now() / 1000)
const tokens = Array.from({ length: N }, (_, index) => {
  const payload = b64u(JSON.stringify({
    sub: b64u(randomBytes(32)), iss: issuer, client_amr: 'private_key_jwt', pid: String(10_000_000_000 + index), token_type: 'Bearer',
    client_id: 'b8a8c4e2-7d5c-4b7e-9d0a-2f6e1c3b5a77', aud: AUDIENCE, acr: 'idporten-loa-high',
    scope: 'openid profile nav:dine-pengesaker/les nav:dine-pengesaker/skriv', exp: now + 3600, iat: now, client_orgno: '889640782',
    jti: randomUUID(), consumer: { authority: 'iso6523-actorid-upis', ID: '0192:889640782' },
  }))
  const input = `${HEADER}.${payload}`
  return `${input}.${b64u(sign('sha256', Buffer.from(input), privateKey))}`
})
const key = createPublicKey({ key: publicJwk, format: 'jwk' })
const fetch = async () => new Response(JSON.stringify({ keys: [publicJwk] }), { headers: { 'content-type': 'application/json' } })
const makeValidator = () => createInboundValidator({ idporten: { issuer, jwksUri: 'https://idporten.example/jwks', audience: AUDIENCE }, minimumAcr: 'idporten-loa-high', verifiedCacheMaxEntries: 100_000, fetch })
const raws = tokens.map((t) => { const dot = t.lastIndexOf('.'); return { input: Buffer.from(t.slice(0, dot)), signature: Buffer.from(t.slice(dot + 1), 'base64url') } })

async function time(label: string, fn: (t: string, i: number) => unknown, before?: () => Promise<void>): Promise<number> {
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    await before?.()
    const started = performance.now()
    for (let i = 0; i < N; i++) {
      const out = fn(tokens[i]!, i)
      if (out instanceof Promise) await out
    }
    runs.push(((performance.now() - started) * 1000) / N)
  }
  runs.sort((a, b) => a - b)
  console.log(`${label.padEnd(44)} ${runs[2]!.toFixed(2).padStart(7)} µs  (${runs[0]!.toFixed(2)}–${runs[4]!.toFixed(2)})`)
  return runs[2]!
}

await time('raw crypto.verify', (_t, i) => verify('sha256', raws[i]!.input, key, raws[i]!.signature))
await time('sha256 of token (cache key)', (t) => hash('sha256', t, 'base64url'))
await time('decodeJwt', (t) => decodeJwt(t))
const decoded = tokens.map((t) => decodeJwt(t))
await time('checkClaims', (_t, i) => checkClaims(decoded[i]!.payload, { issuer, audience: AUDIENCE, now: Date.now(), leeway: 5000 }))
await time('Buffer.from(signingInput)', (_t, i) => Buffer.from(decoded[i]!.signingInput))
await time('verifySignature (decoded token)', (_t, i) => verifySignature(decoded[i]!, key))
await time('hash + decode + claims + verify, no cache', (t) => {
  hash('sha256', t, 'base64url')
  const jwt = decodeJwt(t)
  checkClaims(jwt.payload, { issuer, audience: AUDIENCE, now: Date.now(), leeway: 5000 })
  return verifySignature(jwt, key)
})
// A fresh validator per run: each token is new to its verified-token cache.
let validator = makeValidator()
const fresh = async () => {
  validator = makeValidator()
  await validator.validate(tokens[0]!)
}
await time('validate, new token', (t) => validator.validate(t), fresh)
await time('raw crypto.verify, awaited', async (_t, i) => verify('sha256', raws[i]!.input, key, raws[i]!.signature))
await time('raw crypto.verify (again)', (_t, i) => verify('sha256', raws[i]!.input, key, raws[i]!.signature))
