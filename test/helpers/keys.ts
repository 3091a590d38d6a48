/** RSA key pairs for tests, generated once per test file (RSA generation is the slow part). */
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import { randomUUID } from 'node:crypto'

export interface TestKey {
  readonly privateJwk: JWK & { kid: string }
  readonly publicJwk: JWK & { kid: string }
}

export async function newTestKey(kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' }
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  return { privateJwk, publicJwk }
}
