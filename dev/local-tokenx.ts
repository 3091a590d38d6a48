/**
 * The TokenX of `tokenx-local` (the command the package ships, dev/local-cli.ts): the token exchange
 * of NAV's tokendings (RFC 8693) with `private_key_jwt` client authentication (RFC 7523), on jose and
 * node:http only, because a consumer's install has nothing else (the repository's own dev stack uses
 * dev/tokenx.ts, on oidc-provider, a devDependency).
 *
 * The rules are tokendings' and dev/tokenx.ts's, answered in tokendings' wording (its errorStyle
 * 'tokendings'): the assertion RS256, signed by a registered key of the client, `iss` = `sub` =
 * client id, exactly one `aud` (the issuer or the token endpoint), `sub iss aud iat exp jti nbf`
 * present, `exp` at most 120 s from now, each `jti` used once; then the audience, the inbound access
 * policy, and the subject token (a citizen token of the local ID-porten, or a token of this TokenX:
 * a chained re-exchange). The new token copies the subject's claims and sets `iss`, `aud`,
 * `client_id`, `idp` and its own times (TokenIssuer.kt).
 */
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import {
  createLocalJWKSet,
  decodeJwt,
  errors as joseErrors,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose'
import { closeServer, listen, LOOPBACK, pathOf, readBody, sendJson } from './http.ts'
import { rs256Key, type RsaJwkPair } from './keys.ts'
import { formEncode, nimbusMessageForSubjectToken } from './tokendings-errors.ts'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface LocalTokenXOptions {
  readonly port?: number
  /** Signs the tokens it issues. */
  readonly signingKey: RsaJwkPair
  /** Client id → its public JWKs. */
  readonly clients: ReadonlyMap<string, readonly JWK[]>
  /** Audience → the client ids that may get tokens for it (tokendings' `accessPolicyInbound`). */
  readonly accessPolicy: ReadonlyMap<string, ReadonlySet<string>>
  /** Issuers of accepted subject tokens (the local ID-porten) and their public JWKs. */
  readonly subjectIssuers: ReadonlyMap<string, readonly JWK[]>
  /** Lifetime of issued tokens in seconds. Default 900. */
  readonly tokenExpiry?: number
}

export interface LocalTokenX {
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly jwksUri: string
  readonly metadataUrl: string
  readonly stats: { exchanges: number; failures: number }
  close(): Promise<void>
}

/** Claims a new token always sets itself (TokenIssuer.kt builds on the subject's claims, then sets these). */
const OVERRIDDEN = new Set(['iss', 'aud', 'exp', 'nbf', 'iat', 'jti', 'client_id'])
/** The claims tokendings requires of a client assertion (TokenRequestContext.kt). */
export const ASSERTION_REQUIRED_CLAIMS = ['sub', 'iss', 'aud', 'iat', 'exp', 'jti', 'nbf'] as const
/** tokendings' longest `exp - now` of a client assertion, in seconds, with no skew allowance. */
export const MAX_ASSERTION_LIFETIME = 120
/** Bounds the single-use `jti` memory (assertions live ≤ 120 s, so it holds a few minutes' worth). */
const MAX_REMEMBERED_JTIS = 10_000

/**
 * The token this TokenX issues to `clientId` for `audience` on behalf of the subject token's claims.
 * Used by the token endpoint and by `tokenx-local token --client` (same claims, chosen lifetime).
 */
export async function issueTokenXToken(
  signer: { readonly issuer: string; readonly key: RsaJwkPair },
  subject: JWTPayload,
  clientId: string,
  audience: string,
  expiresIn: number,
  now: number = Math.floor(Date.now() / 1000),
): Promise<string> {
  const copied = Object.fromEntries(Object.entries(subject).filter(([name]) => !OVERRIDDEN.has(name)))
  // `idp` names the original login: kept from a TokenX subject token, else the subject's issuer.
  const idp = typeof subject.idp === 'string' ? subject.idp : subject.iss
  return new SignJWT({ ...copied, client_id: clientId, idp })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: signer.key.kid })
    .setIssuer(signer.issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setNotBefore(Math.min(now, now + expiresIn))
    .setExpirationTime(now + expiresIn)
    .setJti(randomUUID())
    .sign(await rs256Key(signer.key.privateJwk))
}

/**
 * A refused subject token, worded both ways (dev/tokendings-errors.ts, ErrorStyle): the message is
 * the `oauth` wording, `tokendings` the text tokendings puts after "invalid subject_token: ".
 */
export class SubjectTokenRefused extends Error {
  readonly tokendings: string
  constructor(oauth: string, tokendings: string = oauth) {
    super(oauth)
    this.tokendings = tokendings
  }
}

/**
 * tokendings' check of a subject token (TokenIssuer.kt, TokenValidator.kt): signed RS256 with a key
 * of its issuer (`keysOf` its unverified `iss`), `sub iss iat exp` present, and 60 s of clock skew
 * (Nimbus' DefaultJWTClaimsVerifier, which tokendings uses). Throws SubjectTokenRefused.
 */
export async function verifySubjectToken(token: string, keysOf: (issuer: unknown) => JWTVerifyGetKey | undefined): Promise<JWTPayload> {
  let subjectIssuer: unknown
  try {
    subjectIssuer = decodeJwt(token).iss
  } catch {
    throw new SubjectTokenRefused('invalid request, cannot parse token')
  }
  const keys = keysOf(subjectIssuer)
  if (keys === undefined) {
    throw new SubjectTokenRefused(
      `invalid request, validator for issuer=${String(subjectIssuer)} not found`,
      `invalid request, cannot validate token from issuer=${String(subjectIssuer)}`,
    )
  }
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: String(subjectIssuer),
      algorithms: ['RS256'],
      requiredClaims: ['sub', 'iss', 'iat', 'exp'],
      clockTolerance: 60,
    })
    return payload
  } catch (error) {
    throw new SubjectTokenRefused(
      `token verification failed: ${formEncode(error instanceof Error ? error.message : 'unknown error')}`,
      `token verification failed: ${formEncode(nimbusMessageForSubjectToken(error, String(subjectIssuer), subjectIssuer))}`,
    )
  }
}

class OAuthError extends Error {
  readonly status: number
  readonly error: string
  readonly description: string
  constructor(status: number, error: string, description: string) {
    super(description)
    this.status = status
    this.error = error
    this.description = description
  }
}

const invalidRequest = (description: string): OAuthError => new OAuthError(400, 'invalid_request', description)
const invalidClient = (clientId: string, reason: string): OAuthError =>
  new OAuthError(401, 'invalid_client', `invalid client authentication for client_id=${clientId}, ${reason}`)

/** Nimbus' message for a jose failure of an assertion (dev/tokendings-errors.ts for subject tokens). */
function assertionMessage(error: unknown, aud: unknown): string {
  if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud')
    return `JWT audience rejected: [${[aud].flat().join(', ')}]`
  return nimbusMessageForSubjectToken(error, '', undefined)
}

export async function startLocalTokenX(options: LocalTokenXOptions): Promise<LocalTokenX> {
  const tokenExpiry = options.tokenExpiry ?? 900
  const stats = { exchanges: 0, failures: 0 }
  const usedJtis = new Map<string, number>()
  const subjectKeys = new Map([...options.subjectIssuers].map(([issuer, keys]) => [issuer, createLocalJWKSet({ keys: [...keys] })]))
  const clientKeys = new Map([...options.clients].map(([id, keys]) => [id, createLocalJWKSet({ keys: [...keys] })]))
  const ownKeys = createLocalJWKSet({ keys: [options.signingKey.publicJwk] })
  let issuer = ''

  async function authenticate(form: URLSearchParams): Promise<string> {
    if (form.get('client_assertion_type') !== JWT_BEARER_ASSERTION)
      throw invalidRequest(`Parameter client_assertion_type must be ${JWT_BEARER_ASSERTION}`)
    const assertion = form.get('client_assertion') ?? ''
    let claims: JWTPayload
    try {
      claims = decodeJwt(assertion)
    } catch {
      throw invalidRequest('Parameter client_assertion missing or not a JWT')
    }
    const clientId = String(claims.sub ?? claims.iss)
    const keys = clientKeys.get(clientId)
    if (keys === undefined) throw invalidClient(clientId, 'client not registered.')
    for (const claim of ASSERTION_REQUIRED_CLAIMS) {
      if (claims[claim] === undefined)
        throw invalidRequest(`token verification failed: ${formEncode(`JWT missing required claims: [${claim}]`)}`)
    }
    if (claims.iss !== claims.sub)
      throw invalidRequest(
        `token verification failed: ${formEncode(`JWT sub claim has value ${String(claims.sub)}, must be ${String(claims.iss)}`)}`,
      )
    if (Array.isArray(claims.aud) && claims.aud.length !== 1) {
      throw invalidRequest(`token verification failed: ${formEncode(`JWT audience rejected: [${claims.aud.join(', ')}]`)}`)
    }
    const now = Math.floor(Date.now() / 1000)
    if (typeof claims.exp === 'number' && claims.exp - now > MAX_ASSERTION_LIFETIME) {
      throw invalidClient(clientId, `client assertion exceeded max lifetime (${MAX_ASSERTION_LIFETIME}s).`)
    }
    try {
      await jwtVerify(assertion, keys, {
        algorithms: ['RS256'],
        issuer: clientId,
        subject: clientId,
        audience: [issuer, `${issuer}/token`],
        clockTolerance: 0,
      })
    } catch (error) {
      throw invalidRequest(`token verification failed: ${formEncode(assertionMessage(error, claims.aud))}`)
    }
    // RFC 7523 §3 item 7: a `jti` is used once (tokendings keeps no store; dev/tokenx.ts enforces it too).
    for (const [jti, exp] of usedJtis) if (exp < now || usedJtis.size > MAX_REMEMBERED_JTIS) usedJtis.delete(jti)
    const key = `${clientId}|${String(claims.jti)}`
    if (usedJtis.has(key)) throw invalidClient(clientId, 'token verification failed: client assertion tokens must only be used once')
    usedJtis.set(key, Number(claims.exp))
    return clientId
  }

  async function verifySubject(token: string): Promise<JWTPayload> {
    try {
      return await verifySubjectToken(token, (subjectIssuer) =>
        subjectIssuer === issuer ? ownKeys : subjectKeys.get(String(subjectIssuer)),
      )
    } catch (error) {
      if (error instanceof SubjectTokenRefused) throw invalidRequest(`invalid subject_token: ${error.tokendings}`)
      throw error
    }
  }

  function required(form: URLSearchParams, name: string, value?: string): string {
    const actual = form.get(name)
    if (value !== undefined && actual !== null && actual !== value) throw invalidRequest(`Parameter ${name} must be ${value}`)
    if (actual === null || actual === '') throw invalidRequest(`Parameter ${name} missing`)
    return actual
  }

  async function exchange(form: URLSearchParams): Promise<Record<string, unknown>> {
    if (form.get('grant_type') !== TOKEN_EXCHANGE_GRANT) {
      throw new OAuthError(400, 'unsupported_grant_type', `grant_type must be ${TOKEN_EXCHANGE_GRANT}`)
    }
    const clientId = await authenticate(form)
    required(form, 'subject_token_type', JWT_TOKEN_TYPE)
    const subjectToken = required(form, 'subject_token')
    const audience = required(form, 'audience')
    const allowed = options.accessPolicy.get(audience)
    if (allowed === undefined) throw invalidRequest(`audience ${audience} is invalid`)
    if (!allowed.has(clientId)) throw invalidRequest(`client '${clientId}' is not authorized to get token with aud=${audience}`)
    const subject = await verifySubject(subjectToken)
    const accessToken = await issueTokenXToken({ issuer, key: options.signingKey }, subject, clientId, audience, tokenExpiry)
    return { access_token: accessToken, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: tokenExpiry }
  }

  const server = createServer((req, res) => {
    const path = pathOf(req)
    void (async () => {
      if (path === '/jwks' && req.method === 'GET') return sendJson(res, 200, { keys: [options.signingKey.publicJwk] })
      if ((path === '/.well-known/oauth-authorization-server' || path === '/.well-known/openid-configuration') && req.method === 'GET') {
        return sendJson(res, 200, {
          issuer,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          grant_types_supported: [TOKEN_EXCHANGE_GRANT],
          token_endpoint_auth_methods_supported: ['private_key_jwt'],
          token_endpoint_auth_signing_alg_values_supported: ['RS256'],
        })
      }
      if (path !== '/token') return sendJson(res, 404, { error: 'not_found' })
      if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'POST only' }, { allow: 'POST' })
      try {
        if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
          throw invalidRequest('only application/x-www-form-urlencoded is accepted')
        }
        const form = new URLSearchParams(await readBody(req))
        const answer = await exchange(form)
        stats.exchanges += 1
        sendJson(res, 200, answer)
      } catch (error) {
        stats.failures += 1
        // Descriptions name claims and ids, never a token or an assertion.
        if (error instanceof OAuthError) sendJson(res, error.status, { error: error.error, error_description: error.description })
        else sendJson(res, 500, { error: 'server_error' })
      }
    })()
  })

  const port = await listen(server, options.port ?? 0, LOOPBACK)
  issuer = `http://${LOOPBACK}:${port}`
  return {
    issuer,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    metadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
    stats,
    close: () => closeServer(server),
  }
}
