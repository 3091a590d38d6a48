/**
 * A local TokenX: an OAuth 2.0 Token Exchange (RFC 8693) authorization server that behaves like
 * NAV's tokendings, built on oidc-provider.
 *
 * What oidc-provider does here (its own, unmodified machinery):
 * - the token endpoint, form parsing, duplicate-parameter rejection and RFC 6749 §5.2 / RFC 8693
 *   §2.2.2 JSON error rendering;
 * - the client registry (through a small adapter over `registry` below) and `private_key_jwt`
 *   client authentication (RFC 7523 §2.2, §3): RS256 only, signature against the client's
 *   registered public JWKs, `iss` = client id, `aud` = issuer or token endpoint, `exp` required,
 *   `jti` single use (its ReplayDetection model);
 * - RFC 8414 metadata at `/.well-known/oauth-authorization-server` and the JWKS at `/jwks`.
 *
 * What tokendings does that oidc-provider has no setting for, done in hooks here:
 * - `assertJwtClientAuthClaimsAndHeader` adds tokendings' extra assertion rules
 *   (TokenRequestContext.kt: `sub iss aud iat exp jti nbf` required; at most 120 s between now
 *   and `exp`; ClientAssertionJwtClaimsVerifier.kt: exactly one `aud`);
 * - the token exchange grant itself is a custom grant handler (`registerGrantType`): tokendings'
 *   `audience` is a `cluster:namespace:app` name, not an RFC 8707 resource URI, so oidc-provider's
 *   resource indicators cannot carry it; the handler checks the audience and the inbound access
 *   policy (TokenRequestAuthorizer.kt), verifies the subject token (TokenIssuer.kt,
 *   TokenValidator.kt) and signs the new token with the provider's own key;
 * - error descriptions are rewritten to tokendings' wording in a `grant.error` listener
 *   (oidc-provider puts the reason of a client authentication failure in `error_detail`, which it
 *   does not send); with `errorStyle: 'tokendings'` also tokendings' statuses for assertion
 *   failures and Nimbus' messages (dev/tokendings-errors.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createRemoteJWKSet, createLocalJWKSet, decodeJwt, type JWK, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import Provider, {
  errors,
  type Adapter,
  type AdapterPayload,
  type ClientMetadata,
  type JsonValue,
  type KoaContextWithOIDC,
  type TokenEndpointGrantContext,
} from 'oidc-provider'
import { closeServer, listen, LOOPBACK } from './http.ts'
import { generateRsaJwk, publicJwkOf, type RsaJwkPair } from './keys.ts'
import {
  ACCESS_TOKEN_TYPE,
  ASSERTION_REQUIRED_CLAIMS,
  issueTokenXToken,
  JWT_BEARER_ASSERTION,
  JWT_TOKEN_TYPE,
  MAX_ASSERTION_LIFETIME,
  SubjectTokenRefused,
  TOKEN_EXCHANGE_GRANT,
  verifySubjectToken,
} from './local-tokenx.ts'
import { formEncode, nimbusMessageForAssertion, type ErrorStyle } from './tokendings-errors.ts'

export { ACCESS_TOKEN_TYPE, JWT_BEARER_ASSERTION, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT }

/** A client registered at TokenX: its id (`cluster:namespace:app`) and its public signing keys. */
export interface TokenXClient {
  readonly clientId: string
  /** Public RSA JWKs; private members are stripped before registration. */
  readonly jwks: readonly JWK[]
}

/** Target audience → client ids allowed to get tokens for it (tokendings' `accessPolicyInbound`). */
export type AccessPolicy = Readonly<Record<string, readonly string[]>>

export type { ErrorStyle } from './tokendings-errors.ts'

export interface TokenXOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number
  readonly host?: string
  /** Path of the issuer URL, e.g. `/tokenx`; default none (issuer = `http://127.0.0.1:PORT`). */
  readonly path?: string
  readonly clients?: readonly TokenXClient[]
  readonly accessPolicy?: AccessPolicy
  /** Discovery document URLs of accepted subject token issuers (ID-porten, ...), loopback only. */
  readonly subjectIssuers?: readonly string[]
  /** Lifetime of issued tokens in seconds. Default 900. */
  readonly tokenExpiry?: number
  /** Longest accepted `exp - now` of a client assertion, in seconds. Default 120 (tokendings). */
  readonly clientAssertionMaxLifetime?: number
  /** Error wording: `'oauth'` (default) or `'tokendings'`; see ErrorStyle. Can be changed later. */
  readonly errorStyle?: ErrorStyle
  /** The signing key of issued tokens; default a fresh one. */
  readonly signingKey?: RsaJwkPair
}

export interface TokenXStats {
  /** Successful exchanges. */
  exchanges: number
  /** Failed token requests, any reason. */
  failures: number
  /** Failed token requests by `error` code. */
  errors: Record<string, number>
  /** Successful exchanges by target audience. */
  byAudience: Record<string, number>
  /** Successful exchanges by client id. */
  byClient: Record<string, number>
  /** The last error answered (descriptions carry no tokens). */
  lastError: { status: number; error: string; error_description?: string } | undefined
}

export interface TokenX {
  readonly issuer: string
  readonly url: string
  readonly tokenEndpoint: string
  readonly jwksUri: string
  readonly metadataUrl: string
  readonly stats: TokenXStats
  /** The error wording in force (see ErrorStyle); assignable at any time. */
  errorStyle: ErrorStyle
  /** Registers a client, or replaces its keys if it exists. */
  registerClient(client: TokenXClient): void
  /** Replaces a client's keys (rotation: register the new key, drop the old). */
  setClientJwks(clientId: string, jwks: readonly JWK[]): void
  removeClient(clientId: string): void
  /** Sets who may get tokens for `audience`; an empty list keeps the audience known but denies all. */
  setAccessPolicy(audience: string, clientIds: readonly string[]): void
  removeAudience(audience: string): void
  /** Fetches another issuer's discovery document and accepts its tokens as subject tokens. */
  addSubjectIssuer(discoveryUrl: string): Promise<string>
  resetStats(): void
  close(): Promise<void>
}

/** Loopback only: the dev stack never fetches anything from another machine. */
function assertLoopback(url: string): URL {
  const parsed = new URL(url)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) {
    throw new Error(`refusing to fetch ${parsed.origin}: only loopback addresses are allowed`)
  }
  return parsed
}

interface SubjectIssuer {
  readonly issuer: string
  readonly keys: JWTVerifyGetKey
}

async function discoverSubjectIssuer(discoveryUrl: string): Promise<SubjectIssuer> {
  const response = await fetch(assertLoopback(discoveryUrl), { signal: AbortSignal.timeout(5000) })
  if (!response.ok) throw new Error(`discovery document ${discoveryUrl} answered ${response.status}`)
  const metadata = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown }
  if (typeof metadata.issuer !== 'string' || typeof metadata.jwks_uri !== 'string') {
    throw new Error(`discovery document ${discoveryUrl} has no issuer or jwks_uri`)
  }
  return { issuer: metadata.issuer, keys: createRemoteJWKSet(assertLoopback(metadata.jwks_uri)) }
}

/** Registry state shared by the adapter, the grant handler and the control API. */
interface Registry {
  readonly clients: Map<string, ClientMetadata>
  readonly policy: Map<string, Set<string>>
  readonly subjectIssuers: Map<string, SubjectIssuer>
}

function clientMetadata(client: TokenXClient): ClientMetadata {
  return {
    client_id: client.clientId,
    token_endpoint_auth_method: 'private_key_jwt',
    // Pins RS256: tokendings' key selector accepts RS256 only (Extensions.kt).
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: client.jwks.map(publicJwkOf) as ClientMetadataJwk[] },
    grant_types: [TOKEN_EXCHANGE_GRANT],
    response_types: [],
    redirect_uris: [],
  }
}
type ClientMetadataJwk = NonNullable<ClientMetadata['jwks']>['keys'][number]

/**
 * oidc-provider's storage. Clients come from the registry (oidc-provider rebuilds its Client object
 * whenever the metadata changes, since it caches dynamic clients by a hash of their metadata, so
 * rotating a client's keys takes effect on the next request). Everything else (here only
 * ReplayDetection, the used `jti`s) lives in an expiring map owned by this instance; the built-in
 * memory adapter is module-global and would be shared between TokenX instances in one process.
 */
class ExpiringStore implements Adapter {
  readonly #entries: Map<string, { payload: AdapterPayload; expiresAt: number }>

  constructor(entries: Map<string, { payload: AdapterPayload; expiresAt: number }>) {
    this.#entries = entries
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.#entries.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity })
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(id)
      return undefined
    }
    return entry.payload
  }

  async findByUserCode(): Promise<undefined> {
    return undefined
  }

  async findByUid(): Promise<undefined> {
    return undefined
  }

  async consume(id: string): Promise<void> {
    const entry = this.#entries.get(id)
    if (entry) entry.payload = { ...entry.payload, consumed: Math.floor(Date.now() / 1000) }
  }

  async destroy(id: string): Promise<void> {
    this.#entries.delete(id)
  }

  async revokeByGrantId(): Promise<void> {}
}

class ClientStore extends ExpiringStore {
  readonly #registry: Registry

  constructor(registry: Registry) {
    super(new Map())
    this.#registry = registry
  }

  override async find(id: string): Promise<AdapterPayload | undefined> {
    const metadata = this.#registry.clients.get(id)
    return metadata ? structuredClone(metadata) : undefined
  }
}

function adapterFactory(registry: Registry): (name: string) => Adapter {
  const stores = new Map<string, ExpiringStore>()
  return (name) => {
    if (name === 'Client') return new ClientStore(registry)
    let store = stores.get(name)
    if (!store) {
      store = new ExpiringStore(new Map())
      stores.set(name, store)
    }
    return store
  }
}

/** Marks assertion failures that tokendings reports with its own wording. */
const LIFETIME_EXCEEDED = 'client assertion exceeded max lifetime'
/** oidc-provider's replay detail. tokendings keeps no jti store; this TokenX enforces single use anyway (RFC 7523 §3 item 7). */
const REPLAYED = 'client assertion tokens must only be used once'

function assertionRules(maxLifetime: number) {
  return function assertTokendingsAssertionRules(_ctx: KoaContextWithOIDC, claims: Record<string, JsonValue>): void {
    // tokendings' claims verifier requires all of these (TokenRequestContext.kt);
    // oidc-provider itself only insists on iss, aud, exp and jti.
    for (const claim of ASSERTION_REQUIRED_CLAIMS) {
      if (claims[claim] === undefined || claims[claim] === null) {
        throw new errors.InvalidClientAuth(`JWT missing required claims: [${claim}]`)
      }
    }
    if (claims.sub !== claims.iss)
      throw new errors.InvalidClientAuth(`JWT sub claim has value ${String(claims.sub)}, must be ${String(claims.iss)}`)
    // ClientAssertionJwtClaimsVerifier.kt: "must be exactly one of" the accepted audiences.
    if (Array.isArray(claims.aud) && claims.aud.length !== 1) {
      throw new errors.InvalidClientAuth(`JWT aud claim has value ${JSON.stringify(claims.aud)}, must be exactly one value`)
    }
    const now = Math.floor(Date.now() / 1000)
    if (typeof claims.iat !== 'number' || claims.iat > now) throw new errors.InvalidClientAuth('JWT issue time ahead of current time')
    if (typeof claims.nbf !== 'number' || claims.nbf > now) throw new errors.InvalidClientAuth('JWT before use time')
    // tokendings: `expiresIn() <= lifetime`, i.e. seconds from now to exp, with no skew allowance.
    if (typeof claims.exp !== 'number' || claims.exp - now > maxLifetime) {
      throw new errors.InvalidClientAuth(`${LIFETIME_EXCEEDED} (${maxLifetime}s).`)
    }
  }
}

interface TokenExchangeParams {
  subject_token?: string
  subject_token_type?: string
  audience?: string
  scope?: string
}

/** Parameters.require of tokendings (ParametersExtensions.kt), with its messages. */
function required(params: TokenExchangeParams, name: keyof TokenExchangeParams, value?: string): string {
  const actual = params[name]
  if (value !== undefined && actual !== value) throw new errors.InvalidRequest(`Parameter ${name} must be ${value}`)
  if (typeof actual !== 'string' || actual === '') throw new errors.InvalidRequest(`Parameter ${name} missing`)
  return actual
}

export async function startTokenX(options: TokenXOptions = {}): Promise<TokenX> {
  const host = options.host ?? LOOPBACK
  const mountPath = (options.path ?? '').replace(/\/+$/, '')
  if (mountPath !== '' && !mountPath.startsWith('/')) throw new Error('path must start with /')
  const tokenExpiry = options.tokenExpiry ?? 900
  const maxLifetime = options.clientAssertionMaxLifetime ?? MAX_ASSERTION_LIFETIME
  const control = { errorStyle: options.errorStyle ?? ('oauth' as ErrorStyle) }
  const signingKey = options.signingKey ?? (await generateRsaJwk())

  const registry: Registry = { clients: new Map(), policy: new Map(), subjectIssuers: new Map() }
  for (const client of options.clients ?? []) registry.clients.set(client.clientId, clientMetadata(client))
  for (const [audience, clientIds] of Object.entries(options.accessPolicy ?? {})) {
    registry.policy.set(audience, new Set(clientIds))
  }
  for (const discoveryUrl of options.subjectIssuers ?? []) {
    const subjectIssuer = await discoverSubjectIssuer(discoveryUrl)
    registry.subjectIssuers.set(subjectIssuer.issuer, subjectIssuer)
  }

  const stats: TokenXStats = emptyStats()

  // The issuer includes the port, which is known only once listening: listen first, then build the provider.
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end()
  }
  const server = createServer((req, res) => handle(req, res))
  const port = await listen(server, options.port ?? 0, host)
  const url = `http://${host}:${port}`
  const issuer = `${url}${mountPath}`

  // tokendings also accepts its own tokens as subject tokens (TokenIssuer.kt `internalTokenValidator`).
  const ownKeys = createLocalJWKSet({ keys: [signingKey.publicJwk] })

  const provider = new Provider(issuer, {
    adapter: adapterFactory(registry),
    jwks: { keys: [signingKey.privateJwk] },
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256'] },
    // No skew allowance for assertions' exp/nbf (tokendings' lifetime rule allows none either).
    clockTolerance: 0,
    // No authorization endpoint flows: with response type `none` and no offline_access scope,
    // the only grant type left is the token exchange registered below.
    responseTypes: ['none'],
    scopes: ['openid'],
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: false } },
    routes: { token: '/token', jwks: '/jwks' },
    assertJwtClientAuthClaimsAndHeader: assertionRules(maxLifetime),
    // Errors are JSON whatever the Accept header says (the default renders HTML for browsers).
    renderError(ctx, out) {
      ctx.type = 'application/json'
      ctx.body = out
    },
  })

  /** The subject token's claims; a failure is 400 invalid_request, worded per the error style. */
  async function verifySubject(token: string): Promise<JWTPayload> {
    try {
      return await verifySubjectToken(token, (subjectIssuer) =>
        subjectIssuer === issuer ? ownKeys : registry.subjectIssuers.get(String(subjectIssuer))?.keys,
      )
    } catch (error) {
      if (!(error instanceof SubjectTokenRefused)) throw error
      throw new errors.InvalidRequest(control.errorStyle === 'tokendings' ? `invalid subject_token: ${error.tokendings}` : error.message)
    }
  }

  async function tokenExchange(ctx: TokenEndpointGrantContext<TokenExchangeParams>): Promise<void> {
    const { params, client } = ctx.oidc
    // Same order as tokendings' TokenExchangeRequestAuthorizer: parameters, audience, policy, then the token.
    required(params, 'subject_token_type', JWT_TOKEN_TYPE)
    const subjectToken = required(params, 'subject_token')
    const audience = required(params, 'audience')
    const inbound = registry.policy.get(audience)
    if (inbound === undefined) throw new errors.InvalidRequest(`audience ${audience} is invalid`)
    if (!inbound.has(client.clientId)) {
      throw new errors.InvalidRequest(`client '${client.clientId}' is not authorized to get token with aud=${audience}`)
    }
    const subject = await verifySubject(subjectToken)
    const accessToken = await issueTokenXToken({ issuer, key: signingKey }, subject, client.clientId, audience, tokenExpiry)

    ctx.status = 200
    ctx.body = {
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: tokenExpiry,
      ...(params.scope ? { scope: params.scope } : {}),
    }
    stats.exchanges += 1
    stats.byAudience[audience] = (stats.byAudience[audience] ?? 0) + 1
    stats.byClient[client.clientId] = (stats.byClient[client.clientId] ?? 0) + 1
  }

  provider.registerGrantType<TokenExchangeParams>(TOKEN_EXCHANGE_GRANT, tokenExchange, [
    'subject_token',
    'subject_token_type',
    'audience',
    'scope',
  ])

  // oidc-provider renders the error before emitting `grant.error`, synchronously: the listener can
  // still replace the body with tokendings' wording and count the failure.
  provider.on('grant.error', (ctx, error) => {
    if (error.error === 'invalid_client') {
      const clientId = ctx.oidc.client?.clientId ?? String(assertionClaim(ctx.oidc.params?.client_assertion, 'sub'))
      const detail = error.error_detail ?? ''
      if (detail === 'client not found') {
        ctx.body = clientError(clientId, 'client not registered.')
      } else if (detail.startsWith(LIFETIME_EXCEEDED)) {
        ctx.body = clientError(clientId, detail)
      } else if (control.errorStyle === 'tokendings' && detail !== REPLAYED) {
        ctx.status = 400
        const aud = assertionClaim(ctx.oidc.params?.client_assertion, 'aud')
        ctx.body = {
          error: 'invalid_request',
          error_description: `token verification failed: ${formEncode(nimbusMessageForAssertion(detail, aud))}`,
        }
      } else {
        ctx.body = clientError(clientId, `token verification failed: ${detail}`)
      }
    }
    const body = ctx.body as { error: string; error_description?: string }
    stats.failures += 1
    stats.errors[body.error] = (stats.errors[body.error] ?? 0) + 1
    stats.lastError = { status: ctx.status, ...body }
  })
  provider.on('server_error', (_ctx, error) => {
    stats.failures += 1
    stats.errors.server_error = (stats.errors.server_error ?? 0) + 1
    // The message only: errors here never carry request parameters.
    console.error(`tokenx: server_error: ${error.message}`)
  })

  const callback = provider.callback()
  handle =
    mountPath === ''
      ? callback
      : (req, res) => {
          // Mounted below a path: oidc-provider derives its endpoint URLs from originalUrl vs url.
          const original = req.url ?? '/'
          if (original !== mountPath && !original.startsWith(`${mountPath}/`) && !original.startsWith(`${mountPath}?`)) {
            res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}')
            return
          }
          Object.assign(req, { originalUrl: original })
          req.url = original.slice(mountPath.length) || '/'
          callback(req, res)
        }

  return {
    issuer,
    url,
    tokenEndpoint: `${issuer}/token`,
    jwksUri: `${issuer}/jwks`,
    metadataUrl: `${issuer}/.well-known/oauth-authorization-server`,
    stats,
    registerClient(client) {
      registry.clients.set(client.clientId, clientMetadata(client))
    },
    setClientJwks(clientId, jwks) {
      if (!registry.clients.has(clientId)) throw new Error(`client ${clientId} is not registered`)
      registry.clients.set(clientId, clientMetadata({ clientId, jwks }))
    },
    removeClient(clientId) {
      registry.clients.delete(clientId)
    },
    setAccessPolicy(audience, clientIds) {
      registry.policy.set(audience, new Set(clientIds))
    },
    removeAudience(audience) {
      registry.policy.delete(audience)
    },
    async addSubjectIssuer(discoveryUrl) {
      const subjectIssuer = await discoverSubjectIssuer(discoveryUrl)
      registry.subjectIssuers.set(subjectIssuer.issuer, subjectIssuer)
      return subjectIssuer.issuer
    },
    get errorStyle() {
      return control.errorStyle
    },
    set errorStyle(style: ErrorStyle) {
      control.errorStyle = style
    },
    resetStats() {
      Object.assign(stats, emptyStats())
    },
    close: () => closeServer(server),
  }
}

function clientError(clientId: string, reason: string): { error: string; error_description: string } {
  // tokendings' wording (TokenRequestContext.kt).
  return { error: 'invalid_client', error_description: `invalid client authentication for client_id=${clientId}, ${reason}` }
}

/** A claim of an unverified assertion, only to word an error description. */
function assertionClaim(assertion: unknown, claim: string): unknown {
  try {
    return typeof assertion === 'string' ? decodeJwt(assertion)[claim] : undefined
  } catch {
    return undefined
  }
}

function emptyStats(): TokenXStats {
  return { exchanges: 0, failures: 0, errors: {}, byAudience: {}, byClient: {}, lastError: undefined }
}
