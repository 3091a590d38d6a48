/**
 * The libraries the kit is measured against, set up as a team would use them without the kit: jose
 * signing the client assertion (RFC 7523, https://www.rfc-editor.org/rfc/rfc7523#section-3), and
 * openid-client 6 authenticating with `PrivateKeyJwt`. A module of its own, so that only the sections
 * that compare with these libraries load them: bench/support.ts is imported by every section, those
 * that measure memory and start-up included.
 */
import { randomUUID, webcrypto } from 'node:crypto'
import { SignJWT, type JWK, type KeyInput } from 'jose'
import * as oidc from 'openid-client'
import { CLIENT_ID } from './support.ts'

/** A client assertion signed with jose's `SignJWT` (RS256), valid 30 s: the claims the kit's own carries. */
export function joseAssertion(
  key: KeyInput,
  { kid, clientId, audience }: { kid: string; clientId: string; audience: string },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 30)
    .setJti(randomUUID())
    .sign(key)
}

/**
 * openid-client 6 configured for the bench endpoint at `endpointUrl` (token endpoint `/token`): our
 * client authenticating with `PrivateKeyJwt` and `jwk` imported into WebCrypto, over global fetch.
 */
export async function openidClientConfig(jwk: JWK & { kid: string }, endpointUrl: string): Promise<oidc.Configuration> {
  const cryptoKey = await webcrypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign'])
  const config = new oidc.Configuration(
    { issuer: endpointUrl, token_endpoint: `${endpointUrl}/token` },
    CLIENT_ID,
    {},
    oidc.PrivateKeyJwt({ key: cryptoKey, kid: jwk.kid }),
  )
  oidc.allowInsecureRequests(config) // the bench endpoint is plain http on 127.0.0.1
  return config
}
