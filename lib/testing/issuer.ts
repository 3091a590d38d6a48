/**
 * In-process token issuers for a consumer's unit tests: ID-porten and TokenX stand-ins on 127.0.0.1
 * that mint tokens of their shape with the claims a test chooses and serve their JWKS (and a
 * discovery document), so that inbound validation runs for real. The TokenX one also answers token
 * exchanges (RFC 8693) from a client whose key it made, so a handler's exchange runs for real too.
 * Test doubles: nothing here is fit for production, and nothing of it is in the root export.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { decodeJwt, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose'
import type { TokenXOptions } from '../exchange/config.ts'
import type { InboundIssuer } from '../inbound/config.ts'

/** Claims to set on a minted token; a claim given as `undefined` is left out. */
export type TestClaims = Readonly<Record<string, unknown>>

export interface MintOptions {
  /** Seconds from now until `exp`; negative for an expired token. Default 3600. */
  readonly expiresIn?: number | undefined
}

export interface TestIssuer {
  /** The issuer URL (`iss`), `http://127.0.0.1:<port>`. */
  readonly issuer: string
  readonly jwksUri: string
  readonly wellKnownUrl: string
  /** The `aud` of its tokens unless a test sets another. */
  readonly audience: string
  /** This issuer as inbound validation's options take it (`inbound: { idporten }` or `{ tokenX }`). */
  readonly inboundIssuer: InboundIssuer
  /** A signed RS256 token of this issuer's shape, `claims` over its defaults. */
  mint(claims?: TestClaims, options?: MintOptions): Promise<string>
  /** How many JWKS requests it answered. */
  jwksFetches(): number
  close(): Promise<void>
}

export interface TestIdportenOptions {
  /** The `aud` of its tokens: the ID-porten client id of the app (`IDPORTEN_AUDIENCE`). Default `test-client`. */
  readonly audience?: string | undefined
}

export interface TestTokenXOptions {
  /** The app's own client id: the `aud` of its tokens, and the client the exchange accepts. Default `dev-gcp:team:app`. */
  readonly clientId?: string | undefined
}

/** The TokenX stand-in: an issuer that also exchanges tokens. */
export interface TestTokenX extends TestIssuer {
  readonly tokenEndpoint: string
  /** Client options for the kit (`client:`): this client id, this token endpoint, a private key it accepts. */
  readonly clientOptions: TokenXOptions
  /** How many token exchanges it answered with a token. */
  exchanges(): number
}

/**
 * An ID-porten stand-in. Its tokens carry `pid` `12345678910`, `acr` `idporten-loa-high`, `amr`
 * `['BankID']`, `locale` `nb`, `client_id` (the audience), a pairwise `sub`, `iat`, `nbf`, `exp` and `jti` unless `claims` say otherwise.
 */
export async function startTestIdporten(options: TestIdportenOptions = {}): Promise<TestIssuer> {
  const audience = options.audience ?? 'test-client'
  const issuer = await startIssuer(audience, (url) => ({
    sub: `pairwise-${randomUUID()}`,
    pid: '12345678910',
    acr: 'idporten-loa-high',
    amr: ['BankID'],
    client_id: audience,
    locale: 'nb',
    iss: url,
    aud: audience,
  }))
  return issuer.api
}

/**
 * A TokenX stand-in. Its tokens carry `pid` `12345678910`, `acr` `idporten-loa-high`, `client_id`
 * `dev-gcp:team:frontend` (the calling app), `idp` (an ID-porten issuer), `sub`, `iat`, `nbf`, `exp`
 * and `jti` unless `claims` say otherwise. Its token endpoint verifies the client assertion against
 * the key of `clientOptions` (RFC 7523) and answers an exchange (RFC 8693) with a token for the
 * requested audience that keeps the subject token's `pid`, `acr` and `sub`.
 */
export async function startTestTokenX(options: TestTokenXOptions = {}): Promise<TestTokenX> {
  const clientId = options.clientId ?? 'dev-gcp:team:app'
  const client = await newKey()
  let exchanges = 0
  const started = await startIssuer(
    clientId,
    (url) => ({
      sub: randomUUID(),
      pid: '12345678910',
      acr: 'idporten-loa-high',
      client_id: 'dev-gcp:team:frontend',
      idp: 'https://test.idporten.no',
      iss: url,
      aud: clientId,
    }),
    async (request, form) => {
      if (request.url !== '/token' || request.method !== 'POST') return undefined
      const refuse = (status: number, error: string) => ({ status, body: { error } })
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return refuse(400, 'unsupported_grant_type')
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        return refuse(401, 'invalid_client')
      try {
        await jwtVerify(form.get('client_assertion') ?? '', await importJWK(client.publicJwk, 'RS256'), {
          issuer: clientId,
          subject: clientId,
          audience: [started.api.issuer, `${started.api.issuer}/token`],
          algorithms: ['RS256'],
        })
      } catch {
        return refuse(401, 'invalid_client')
      }
      const audience = form.get('audience')
      let subject: JWTPayload
      try {
        subject = decodeJwt(form.get('subject_token') ?? '')
      } catch {
        return refuse(400, 'invalid_request')
      }
      if (audience === null || audience === '') return refuse(400, 'invalid_request')
      exchanges += 1
      const accessToken = await started.mint(
        { aud: audience, sub: subject.sub, pid: subject['pid'], acr: subject['acr'], idp: subject.iss, client_id: clientId },
        { expiresIn: 900 },
      )
      return {
        status: 200,
        body: {
          access_token: accessToken,
          issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          token_type: 'Bearer',
          expires_in: 900,
        },
      }
    },
  )
  const api = started.api
  return Object.assign(api, {
    tokenEndpoint: `${api.issuer}/token`,
    clientOptions: { clientId, tokenEndpoint: `${api.issuer}/token`, issuer: api.issuer, privateJwk: client.privateJwk },
    exchanges: () => exchanges,
  })
}

interface Answer {
  readonly status: number
  readonly body: object
}

type Route = (request: IncomingMessage, form: URLSearchParams) => Promise<Answer | undefined>

interface TestKey {
  readonly privateJwk: JWK & { kid: string }
  readonly publicJwk: JWK & { kid: string }
}

async function newKey(): Promise<TestKey> {
  const kid = randomUUID()
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  }
}

async function startIssuer(
  audience: string,
  defaults: (url: string) => Record<string, unknown>,
  route?: Route,
): Promise<{ api: TestIssuer; mint: TestIssuer['mint'] }> {
  const key = await newKey()
  const signingKey = await importJWK(key.privateJwk, 'RS256')
  let jwksFetches = 0
  let url = ''
  const answer = async (request: IncomingMessage): Promise<Answer> => {
    const chunks: Buffer[] = []
    let size = 0
    // A bounded body: a token request is a few kilobytes.
    for await (const chunk of request) {
      chunks.push(chunk as Buffer)
      size += (chunk as Buffer).length
      if (size > 1_048_576) return { status: 413, body: { error: 'invalid_request' } }
    }
    const routed = await route?.(request, new URLSearchParams(Buffer.concat(chunks).toString()))
    if (routed !== undefined) return routed
    if (request.url === '/.well-known/openid-configuration') {
      return { status: 200, body: { issuer: url, jwks_uri: `${url}/jwks`, token_endpoint: `${url}/token` } }
    }
    if (request.url === '/jwks') {
      jwksFetches += 1
      return { status: 200, body: { keys: [key.publicJwk] } }
    }
    return { status: 404, body: { error: 'not_found' } }
  }
  const server = createServer((request, response: ServerResponse) => {
    answer(request).then(
      ({ status, body }) =>
        response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body)),
      () => response.writeHead(500).end(),
    )
  })
  // Loopback only: the kit accepts http: issuers there, and nothing outside the machine can reach it.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const mint: TestIssuer['mint'] = async (claims = {}, options = {}) => {
    const now = Math.floor(Date.now() / 1000)
    const payload: Record<string, unknown> = {
      ...defaults(url),
      iat: now,
      nbf: now,
      exp: now + (options.expiresIn ?? 3600),
      jti: randomUUID(),
      ...claims,
    }
    for (const name of Object.keys(payload)) if (payload[name] === undefined) delete payload[name]
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.privateJwk.kid, typ: 'JWT' }).sign(signingKey)
  }
  const api: TestIssuer = {
    issuer: url,
    jwksUri: `${url}/jwks`,
    wellKnownUrl: `${url}/.well-known/openid-configuration`,
    audience,
    inboundIssuer: { issuer: url, jwksUri: `${url}/jwks`, audience },
    mint,
    jwksFetches: () => jwksFetches,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return { api, mint }
}
