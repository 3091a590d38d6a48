/**
 * A local Maskinporten on 127.0.0.1 only: the token endpoint (`/token`) of the JWT grant (RFC 7523
 * §2.1; Digdir's "Maskinporten: JWT grant"), OpenID metadata and its JWKS. As strict as Maskinporten
 * on the grant assertion (dev/assertion-rules.ts): RS256 with a registered `kid`, `iss` = a
 * registered client id, `aud` = exactly the issuer, `iat` within 10 s of its clock, `exp` − `iat`
 * ≤ 120 s, `jti` once; `scope` must
 * be one the client may have (else `invalid_scope`), `resource` an absolute URI. Tokens live 120 s
 * by default. Errors are Maskinporten's `{ error, error_description }`.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose'
import { AssertionRefused, checkAssertion, parseForm } from './assertion-rules.ts'
import { readBody, sendJson } from './http.ts'
import { generateRsaJwk } from './keys.ts'
import { faults, serveStandIn } from './token-stand-in.ts'

export interface MaskinportenClient {
  readonly clientId: string
  readonly publicJwks: readonly JWK[]
  /** The scopes it may be given. */
  readonly scopes: readonly string[]
  readonly consumerOrgno?: string
}

export interface MaskinportenStandInOptions {
  readonly port?: number
  readonly clients?: readonly MaskinportenClient[]
  /** Seconds a token lives. Default 120. */
  readonly expiresIn?: number
  readonly now?: () => number
}

export interface LocalMaskinporten {
  readonly url: string
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly jwksUri: string
  /** The verified grant assertions' claims, in order (undefined for a refused one). */
  readonly requests: (JWTPayload | undefined)[]
  register(client: MaskinportenClient): void
  failNext(times: number, status: number, body?: unknown): void
  delay(ms: number): void
  close(): Promise<void>
}

export async function startMaskinporten(options: MaskinportenStandInOptions = {}): Promise<LocalMaskinporten> {
  const signer = await generateRsaJwk()
  const signingKey = await importJWK(signer.privateJwk, 'RS256')
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const clients = new Map<string, MaskinportenClient>()
  for (const client of options.clients ?? []) clients.set(client.clientId, client)
  const usedJtis = new Set<string>()
  const requests: (JWTPayload | undefined)[] = []
  const planned = faults()
  let base = ''
  const issuer = () => `${base}/`

  const error = (res: ServerResponse, code: string, description: string) =>
    sendJson(res, 400, { error: code, error_description: description })

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const form = parseForm(await readBody(req))
    if (await planned.answered(res)) {
      requests.push(undefined)
      return
    }
    if (form === undefined) return error(res, 'invalid_request', 'Duplicate parameter')
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return error(res, 'unsupported_grant_type', 'Invalid grant type')
    let claims: JWTPayload
    try {
      claims = await checkAssertion(
        form.get('assertion') ?? '',
        {
          audiences: [issuer()],
          maxLifetime: 120,
          // Digdir: `iat` within 10 seconds of Maskinporten's clock, either way.
          skew: 10,
          requireSub: false,
          clients: new Map([...clients].map(([id, client]) => [id, client.publicJwks])),
          now,
        },
        usedJtis,
      )
    } catch (err) {
      if (!(err instanceof AssertionRefused)) throw err
      requests.push(undefined)
      return error(res, 'invalid_grant', `Invalid assertion. Client authentication failed. ${err.message} (jti ${randomUUID()})`)
    }
    requests.push(claims)
    const client = clients.get(String(claims.iss)) as MaskinportenClient
    const scope = typeof claims['scope'] === 'string' ? claims['scope'] : ''
    const wanted = scope.split(' ').filter((s) => s !== '')
    if (wanted.length === 0 || wanted.some((s) => !client.scopes.includes(s))) {
      return error(res, 'invalid_scope', `Invalid scope: client ${client.clientId} is not allowed ${scope}`)
    }
    const resource = claims['resource']
    if (resource !== undefined && (typeof resource !== 'string' || !URL.canParse(resource)))
      return error(res, 'invalid_target', 'Invalid resource')
    const expiresIn = options.expiresIn ?? 120
    const accessToken = await new SignJWT({
      scope,
      client_id: client.clientId,
      consumer: { authority: 'iso6523-actorid-upis', ID: `0192:${client.consumerOrgno ?? '889640782'}` },
    })
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'at+jwt' })
      .setIssuer(issuer())
      .setAudience(typeof resource === 'string' ? resource : 'unspecified')
      .setIssuedAt(now())
      .setExpirationTime(now() + expiresIn)
      .setJti(randomUUID())
      .sign(signingKey)
    sendJson(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, scope })
  }

  const server = await serveStandIn(options.port ?? 0, {
    tokenPath: '/token',
    token,
    documents: {
      '/.well-known/oauth-authorization-server': () => ({ issuer: issuer(), token_endpoint: `${base}/token`, jwks_uri: `${base}/jwk` }),
      '/jwk': () => ({ keys: [signer.publicJwk] }),
    },
  })
  base = server.url
  return {
    url: base,
    issuer: issuer(),
    tokenEndpoint: `${base}/token`,
    jwksUri: `${base}/jwk`,
    requests,
    register: (client) => clients.set(client.clientId, client),
    failNext: planned.failNext,
    delay: planned.delay,
    close: server.close,
  }
}
