/**
 * RSA signing keys as JWKs (RFC 7517) for the local servers and the example app.
 *
 * The `kid` is the key's RFC 7638 thumbprint, so it is stable for a key and differs between keys:
 * rotation tests rely on an old and a new key never sharing a `kid`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose'

type ImportedKey = Awaited<ReturnType<typeof importJWK>>

const imported = new WeakMap<JWK, Promise<ImportedKey>>()

/**
 * `jwk` imported for RS256, once per JWK object: the stand-ins sign and verify with the same few
 * keys for every token, and an import costs more than the signature. A failed import is not kept.
 */
export function rs256Key(jwk: JWK): Promise<ImportedKey> {
  let key = imported.get(jwk)
  if (key === undefined) {
    key = importJWK(jwk, 'RS256')
    imported.set(jwk, key)
    key.catch(() => imported.delete(jwk))
  }
  return key
}

/** An RSA key for RS256 signatures: the private JWK (with `d`) and its public half. */
export interface RsaJwkPair {
  readonly kid: string
  readonly privateJwk: JWK
  readonly publicJwk: JWK
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/** The public half of a JWK: every private member removed (RFC 7518 §6.3.2). */
export function publicJwkOf(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk }
  for (const member of PRIVATE_MEMBERS) delete copy[member]
  return copy as JWK
}

/** A fresh 2048-bit RSA key as `{ kty, n, e, d, ..., kid, alg: 'RS256', use: 'sig' }`. */
export async function generateRsaJwk(): Promise<RsaJwkPair> {
  const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true })
  const exported = await exportJWK(privateKey)
  const kid = await calculateJwkThumbprint(exported, 'sha256')
  return pairOf({ ...exported, kid, alg: 'RS256', use: 'sig' })
}

/** Wraps a private RSA JWK (from a file or a secret), checking that it can sign RS256. */
export async function rsaJwkPairFrom(privateJwk: JWK): Promise<RsaJwkPair> {
  if (privateJwk.kty !== 'RSA' || typeof privateJwk.d !== 'string') {
    throw new Error('expected a private RSA JWK')
  }
  await importJWK({ ...privateJwk, alg: 'RS256' }, 'RS256')
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(privateJwk, 'sha256'))
  return pairOf({ ...privateJwk, kid, alg: 'RS256', use: 'sig' })
}

function pairOf(privateJwk: JWK & { kid: string }): RsaJwkPair {
  return { kid: privateJwk.kid, privateJwk, publicJwk: publicJwkOf(privateJwk) }
}

/**
 * Loads the private JWK stored at `file`, or generates one and stores it (mode 0600). Used for the
 * `.dev/` folder, which is gitignored: these keys only ever sign tokens for the local stack.
 */
export async function loadOrCreateRsaJwk(file: string): Promise<{ pair: RsaJwkPair; created: boolean }> {
  try {
    const text = await readFile(file, 'utf8')
    return { pair: await rsaJwkPairFrom(JSON.parse(text) as JWK), created: false }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const pair = await generateRsaJwk()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await writeFile(file, `${JSON.stringify(pair.privateJwk, null, 2)}\n`, { mode: 0o600 })
  return { pair, created: true }
}
