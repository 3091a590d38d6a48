/**
 * A stand-in for ID-porten, the citizen login: it publishes an OpenID Connect discovery document
 * (OpenID Connect Discovery 1.0 §4) and a JWKS, and mints RS256 access tokens shaped like
 * ID-porten's (`pid`, `acr`, `client_id`, ...). TokenX validates citizen tokens through exactly
 * these two documents, as tokendings does with its subject token issuers.
 *
 * Minting is also exported as plain functions (no server needed), so `npm run token` and the tests
 * can make tokens with the running stack's key, and can make deliberately bad ones.
 */
import { createHash, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { SignJWT, type JWK } from 'jose'
import { closeServer, listen, LOOPBACK, pathOf, sendJson } from './http.ts'
import { generateRsaJwk, rs256Key, type RsaJwkPair } from './keys.ts'

export const DEFAULT_ACR = 'idporten-loa-high'
/**
 * The levels a citizen token may carry: ID-porten's names, and the Level3/Level4 that tokendings
 * maps them to in the tokens it issues (the kit accepts both spellings wherever a level is checked).
 */
export const ACR_VALUES = ['idporten-loa-substantial', 'idporten-loa-high', 'Level3', 'Level4'] as const
/** The client id a citizen logged in through; ID-porten access tokens carry it as `client_id`. */
export const DEFAULT_IDPORTEN_CLIENT_ID = 'local-idporten-client'
export const DEFAULT_IDPORTEN_AUDIENCE = 'local:team:tokenx-kit-example'

export interface MintOptions {
  /** The citizen's national identity number (fødselsnummer): the `pid` claim. */
  readonly pid: string
  readonly acr?: string
  /** Seconds from `iat` to `exp`; negative or zero gives an already expired token. Default 3600. */
  readonly expiresIn?: number
  /** `iat` in seconds since the epoch. Default now. */
  readonly issuedAt?: number
  /** Default: a pairwise-looking identifier derived from `pid` and the issuer. */
  readonly sub?: string
  readonly aud?: string
  readonly clientId?: string
  /** Further claims (they cannot override the ones above). */
  readonly claims?: Readonly<Record<string, unknown>>
}

/** What signs a token: the issuer it claims and the private key (`kid` taken from the JWK). */
export interface Signer {
  readonly issuer: string
  readonly privateJwk: JWK
}

/** Mints an RS256 citizen token. */
export async function mintCitizenToken(signer: Signer, options: MintOptions): Promise<string> {
  const now = options.issuedAt ?? Math.floor(Date.now() / 1000)
  const expiresIn = options.expiresIn ?? 3600
  const key = await rs256Key(signer.privateJwk)
  return new SignJWT({
    ...options.claims,
    pid: options.pid,
    acr: options.acr ?? DEFAULT_ACR,
    amr: ['local'],
    client_id: options.clientId ?? DEFAULT_IDPORTEN_CLIENT_ID,
    locale: 'nb',
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', ...(signer.privateJwk.kid ? { kid: signer.privateJwk.kid } : {}) })
    .setIssuer(signer.issuer)
    .setSubject(options.sub ?? pairwiseSub(signer.issuer, options.pid))
    .setAudience(options.aud ?? DEFAULT_IDPORTEN_AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(Math.min(now, now + expiresIn))
    .setExpirationTime(now + expiresIn)
    .setJti(randomUUID())
    .sign(key)
}

/**
 * A token that claims `signer.issuer` and the signer's `kid` but is signed by a different,
 * throwaway key: the signature check, not the key lookup, must reject it.
 */
export async function mintBadlySignedToken(signer: Signer, options: MintOptions): Promise<string> {
  const impostor = await generateRsaJwk()
  return mintCitizenToken({ issuer: signer.issuer, privateJwk: { ...impostor.privateJwk, kid: signer.privateJwk.kid } }, options)
}

/** ID-porten's `sub` is a per-client pseudonym; a hash of issuer and pid stands in for it. */
function pairwiseSub(issuer: string, pid: string): string {
  return createHash('sha256').update(`${issuer}|${pid}`).digest('base64url').slice(0, 43)
}

export interface IdPortenOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number
  readonly host?: string
  /** A private RSA JWK to sign with (e.g. loaded from `.dev/`); default a fresh key. */
  readonly key?: RsaJwkPair
}

export interface IdPorten {
  /** `http://127.0.0.1:PORT` */
  readonly issuer: string
  readonly url: string
  readonly discoveryUrl: string
  readonly jwksUri: string
  readonly key: RsaJwkPair
  readonly signer: Signer
  /** Counts of requests per path (`/jwks` shows how often TokenX fetched the keys). */
  readonly stats: { readonly requests: Record<string, number> }
  mint(options: MintOptions): Promise<string>
  /** Same claims, `exp` `secondsAgo` seconds in the past. */
  mintExpired(options: MintOptions, secondsAgo?: number): Promise<string>
  mintBadlySigned(options: MintOptions): Promise<string>
  close(): Promise<void>
}

export async function startIdPorten(options: IdPortenOptions = {}): Promise<IdPorten> {
  const key = options.key ?? (await generateRsaJwk())
  const requests: Record<string, number> = {}
  let issuer = ''

  const server = createServer((req, res) => {
    const path = pathOf(req)
    requests[path] = (requests[path] ?? 0) + 1
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' })
    } else if (path === '/.well-known/openid-configuration') {
      sendJson(res, 200, discoveryDocument(issuer))
    } else if (path === '/jwks') {
      sendJson(res, 200, { keys: [key.publicJwk] })
    } else {
      sendJson(res, 404, { error: 'not_found' })
    }
  })

  const port = await listen(server, options.port ?? 0, options.host ?? LOOPBACK)
  issuer = `http://${options.host ?? LOOPBACK}:${port}`
  const signer: Signer = { issuer, privateJwk: key.privateJwk }

  return {
    issuer,
    url: issuer,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwksUri: `${issuer}/jwks`,
    key,
    signer,
    stats: { requests },
    mint: (mintOptions) => mintCitizenToken(signer, mintOptions),
    mintExpired: (mintOptions, secondsAgo = 60) =>
      mintCitizenToken(signer, {
        ...mintOptions,
        issuedAt: Math.floor(Date.now() / 1000) - 3600 - secondsAgo,
        expiresIn: 3600,
      }),
    mintBadlySigned: (mintOptions) => mintBadlySignedToken(signer, mintOptions),
    close: () => closeServer(server),
  }
}

/** The subset of ID-porten's discovery document a token validator needs. */
function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    response_types_supported: ['code'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    acr_values_supported: ['idporten-loa-substantial', 'idporten-loa-high'],
  }
}
