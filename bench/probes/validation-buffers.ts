/**
 * Probe: the per-token Buffer work of inbound validation, fresh Buffers (Node's pool) against one reused
 * buffer, next to JSON.parse and the SHA-256 cache key. Best and median µs of 15 passes over 2,000
 * ID-porten-shaped tokens: `npm exec -- node bench/probes/validation-buffers.ts`.
 */
import { randomBytes } from 'node:crypto'
const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url')
const payloads = Array.from({ length: 2000 }, (_, i) => b64u(JSON.stringify({ sub: b64u(randomBytes(32)), iss: 'https://idporten.no', pid: String(i), scope: 'openid profile nav:dine-pengesaker/les nav:dine-pengesaker/skriv', client_id: 'b8a8c4e2-7d5c-4b7e-9d0a-2f6e1c3b5a77', aud: 'dev-gcp:team:app', acr: 'idporten-loa-high', exp: 1, iat: 1, jti: 'abc-def', consumer: { authority: 'iso6523-actorid-upis', ID: '0192:889640782' } })))
const tokens = payloads.map((p) => `eyJraWQiOiJpZHBvcnRlbi1iZW5jaCIsInR5cCI6ImF0K2p3dCIsImFsZyI6IlJTMjU2In0.${p}.${b64u(randomBytes(256))}`)
const scratch = Buffer.allocUnsafeSlow(16 * 1024)
let sink: unknown
function t(label: string, fn: (i: number) => unknown) {
  const r: number[] = []
  for (let k = 0; k < 15; k++) { const s = performance.now(); for (let i = 0; i < 2000; i++) sink = fn(i); r.push((performance.now() - s) * 1000 / 2000) }
  r.sort((a, b) => a - b); console.log(label.padEnd(40), r[0]!.toFixed(3), r[7]!.toFixed(3))
}
t('Buffer.from b64u + toString', (i) => Buffer.from(payloads[i]!, 'base64url').toString('utf8'))
t('scratch.write b64u + toString', (i) => { const n = scratch.write(payloads[i]!, 'base64url'); return scratch.toString('utf8', 0, n) })
t('JSON.parse', (i) => JSON.parse(Buffer.from(payloads[i]!, 'base64url').toString('utf8')))
t('Buffer.from(signingInput) utf8', (i) => Buffer.from(tokens[i]!.slice(0, tokens[i]!.lastIndexOf('.'))))
t('Buffer.from(signingInput) latin1', (i) => Buffer.from(tokens[i]!.slice(0, tokens[i]!.lastIndexOf('.')), 'latin1'))
t('scratch.write(signingInput) utf8', (i) => scratch.subarray(0, scratch.write(tokens[i]!.slice(0, tokens[i]!.lastIndexOf('.')))))
t('signature b64u', (i) => Buffer.from(tokens[i]!.slice(tokens[i]!.lastIndexOf('.') + 1), 'base64url'))
t('regex sig', (i) => /^[A-Za-z0-9_-]+$/.test(tokens[i]!.slice(tokens[i]!.lastIndexOf('.') + 1)))
const { hash } = await import('node:crypto')
t('hash b64url', (i) => hash('sha256', tokens[i]!, 'base64url'))
const objs = payloads.map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()))
t('freeze-copy', (i) => Object.freeze({ ...objs[i] }))
t('ascii check byteLength', (i) => Buffer.byteLength(tokens[i]!) === tokens[i]!.length)
void sink
