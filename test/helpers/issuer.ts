/**
 * A token issuer for inbound-validation tests: a real HTTP server on 127.0.0.1 serving a discovery
 * document and a JWKS whose keys (and failures) a test controls, and a minting function that can make
 * every kind of hostile token (any header, any claims, any key, HS256, `alg: none`).
 */
import { createHmac, createPrivateKey, sign } from 'node:crypto'
import type { JWK } from 'jose'
import { newTestKey, type TestKey } from './keys.ts'
import { startServer, type Answer, type TestServer } from './servers.ts'

export interface TestIssuer {
  readonly server: TestServer
  /** `${server.url}` — also the issuer value (`iss`). */
  readonly issuer: string
  readonly jwksUri: string
  readonly wellKnownUrl: string
  /** The key that signs by default and is published. */
  key: TestKey
  /** Keys published in the JWKS (default: `[key]`). */
  published: TestKey[]
  /** Answers JWKS requests instead of the JWKS when set (down, hanging, garbage). */
  jwksAnswer: (() => Answer) | undefined
  /** How many JWKS requests arrived. */
  jwksFetches(): number
  /** Publishes a new key and signs with it from now on (the old one is unpublished). */
  rotate(): Promise<TestKey>
  close(): Promise<void>
}

export async function startIssuer(): Promise<TestIssuer> {
  const key = await newTestKey()
  const state = {
    key,
    published: [key],
    jwksAnswer: undefined as (() => Answer) | undefined,
  }
  const server = await startServer((request) => {
    if (request.url === '/.well-known/openid-configuration') {
      return { status: 200, body: { issuer: server.url, jwks_uri: `${server.url}/jwks` } }
    }
    if (request.url === '/jwks') {
      if (state.jwksAnswer !== undefined) return state.jwksAnswer()
      return { status: 200, body: { keys: state.published.map((k) => k.publicJwk) } }
    }
    return { status: 404, body: { error: 'not_found' } }
  })
  const issuer: TestIssuer = Object.assign(state, {
    server,
    issuer: server.url,
    jwksUri: `${server.url}/jwks`,
    wellKnownUrl: `${server.url}/.well-known/openid-configuration`,
    jwksFetches: () => server.requests.filter((r) => r.url === '/jwks').length,
    async rotate() {
      const next = await newTestKey()
      state.key = next
      state.published = [next]
      return next
    },
    close: () => server.close(),
  })
  return issuer
}

export interface MintInput {
  /** Protected header; `alg` RS256 and the signing key's `kid` unless given. */
  readonly header?: Record<string, unknown>
  readonly claims: Record<string, unknown>
  /** RS256 key to sign with. Default: none given means `sign: 'none'` must be set. */
  readonly key?: JWK
  /** How to sign: RS256 with `key` (default), HS256 with `secret`, or no signature. */
  readonly sign?: 'RS256' | 'HS256' | 'none'
  readonly secret?: string | Buffer
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A compact JWS exactly as asked, however wrong. */
export function mint(input: MintInput): string {
  const method = input.sign ?? 'RS256'
  const header = { alg: method, typ: 'JWT', ...(input.key?.kid === undefined ? {} : { kid: input.key.kid }), ...input.header }
  const signingInput = `${b64(header)}.${b64(input.claims)}`
  if (method === 'none') return `${signingInput}.`
  if (method === 'HS256')
    return `${signingInput}.${createHmac('sha256', input.secret ?? '')
      .update(signingInput)
      .digest('base64url')}`
  const privateKey = createPrivateKey({ key: input.key as JWK & { kty: string }, format: 'jwk' })
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), privateKey).toString('base64url')}`
}

/** Claims a valid citizen token of `issuer` for `audience` would have. */
export function citizenClaims(issuer: string, audience: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: issuer,
    aud: audience,
    sub: 'pairwise-sub',
    pid: '12345678910',
    acr: 'idporten-loa-high',
    client_id: 'test-frontend',
    iat: now,
    nbf: now,
    exp: now + 600,
    jti: crypto.randomUUID(),
    ...extra,
  }
}
