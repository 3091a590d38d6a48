/** Citizen (subject) tokens for tests: signed JWTs as ID-porten would issue them. */
import { importJWK, SignJWT } from 'jose'
import { newTestKey, type TestKey } from './keys.ts'

let issuerKey: Promise<TestKey> | undefined

/** The `iss` and `aud` of `citizenToken`'s tokens. */
export const CITIZEN_ISSUER = 'https://test.idporten.no'
export const CITIZEN_AUDIENCE = 'test-frontend'

/** The JWKS that verifies `citizenToken`'s tokens (serve it to test inbound validation). */
export async function citizenJwks(): Promise<{ keys: object[] }> {
  issuerKey ??= newTestKey('idporten-test')
  return { keys: [(await issuerKey).publicJwk] }
}

export async function citizenToken(pid: string, options: { expiresIn?: number; now?: number; acr?: string } = {}): Promise<string> {
  issuerKey ??= newTestKey('idporten-test')
  const { privateJwk } = await issuerKey
  const now = options.now ?? Math.floor(Date.now() / 1000)
  return new SignJWT({ pid, acr: options.acr ?? 'idporten-loa-high', client_id: 'test-frontend' })
    .setProtectedHeader({ alg: 'RS256', kid: privateJwk.kid, typ: 'JWT' })
    .setIssuer('https://test.idporten.no')
    .setSubject(`sub-${pid}`)
    .setAudience('test-frontend')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .setJti(crypto.randomUUID())
    .sign(await importJWK(privateJwk, 'RS256'))
}
