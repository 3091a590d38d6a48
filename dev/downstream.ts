/**
 * The downstream API of the example: a resource server that accepts only TokenX tokens issued
 * for its own audience (RFC 6750 bearer tokens; RFC 9068-style checks of `iss`, `aud`, `exp` and
 * the signature against TokenX's JWKS). `GET /resource` echoes the identity it was called for,
 * so tests can see whose token arrived.
 *
 * In the full local stack, `GET /resource` is forwarded to the kit's own API side
 * (functions/api-resource.ts under serverless-offline, `forwardTo`); this server then only records.
 *
 * It records every request's Authorization header (in memory only, never logged) so tests can
 * assert which tokens reached it, and how many calls were made at all.
 */
import { createServer } from 'node:http'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { closeServer, listen, LOOPBACK, pathOf, sendJson } from './http.ts'

export interface DownstreamOptions {
  readonly port?: number
  readonly host?: string
  /** The audience tokens must carry, e.g. `local:team:downstream-api`. */
  readonly audience: string
  /** TokenX's issuer URL (exact match of `iss`). */
  readonly issuer: string
  /** TokenX's JWKS URL (loopback). */
  readonly jwksUri: string
  /**
   * Where `GET /resource` is really answered: the base URL of serverless-offline, whose
   * `GET /api/resource` (functions/api-resource.ts, the kit's API side) validates the token and says
   * who called. Read per request (the functions start after this server). While it returns
   * `undefined`, the token is checked here with jose instead.
   */
  readonly forwardTo?: () => string | undefined
  /**
   * Answer every path and method (the body adds `method` and `path`), as a stand-in for a consumer's
   * downstream app (`tokenx-local`, dev/local-stack.ts). Default false: `GET /resource` only.
   */
  readonly anyPath?: boolean
}

export interface DownstreamRequest {
  readonly method: string
  readonly path: string
  /** The raw header, for tests; `undefined` when absent. */
  readonly authorization: string | undefined
  readonly status: number
}

export interface Downstream {
  readonly url: string
  readonly audience: string
  readonly stats: {
    /** Requests received, any path and outcome. */
    requests: number
    /** Requests answered 200. */
    authorized: number
    /** Requests answered 401. */
    rejected: number
  }
  /** Every request seen, oldest first. */
  readonly seen: DownstreamRequest[]
  resetStats(): void
  close(): Promise<void>
}

/** The identity claims the resource echoes. */
export interface ResourceBody {
  readonly pid: unknown
  readonly acr: unknown
  readonly client_id: unknown
  readonly aud: unknown
  readonly idp: unknown
  readonly sub: unknown
}

function identity(claims: JWTPayload): ResourceBody {
  return { pid: claims.pid, acr: claims.acr, client_id: claims.client_id, aud: claims.aud, idp: claims.idp, sub: claims.sub }
}

export async function startDownstream(options: DownstreamOptions): Promise<Downstream> {
  const jwksUrl = new URL(options.jwksUri)
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(jwksUrl.hostname)) {
    throw new Error('the downstream API fetches keys from loopback only')
  }
  const keys = createRemoteJWKSet(jwksUrl)
  const stats = { requests: 0, authorized: 0, rejected: 0 }
  const seen: DownstreamRequest[] = []

  async function authenticate(header: string | undefined): Promise<JWTPayload | string> {
    const match = /^Bearer ([A-Za-z0-9\-_.~+/]+=*)$/.exec(header ?? '')
    if (match?.[1] === undefined) return 'missing or malformed bearer token'
    try {
      const { payload } = await jwtVerify(match[1], keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'iat'],
      })
      return payload
    } catch (error) {
      return (error as Error).message
    }
  }

  const server = createServer((req, res) => {
    const path = pathOf(req)
    const authorization = req.headers.authorization
    stats.requests += 1
    void (async () => {
      let status: number
      const anyPath = options.anyPath === true
      if (!anyPath && path !== '/resource') {
        status = 404
        sendJson(res, status, { error: 'not_found' })
      } else if (!anyPath && req.method !== 'GET') {
        status = 405
        sendJson(res, status, { error: 'method_not_allowed' }, { allow: 'GET' })
      } else if (!anyPath && options.forwardTo?.() !== undefined) {
        // The API side of the kit answers; this server only records what went through.
        const answer = await fetch(new URL('/api/resource', options.forwardTo()), {
          headers: authorization === undefined ? {} : { authorization },
          signal: AbortSignal.timeout(15_000),
        })
        status = answer.status
        if (status === 200) stats.authorized += 1
        if (status === 401 || status === 403) stats.rejected += 1
        const headers: Record<string, string> = {}
        const challenge = answer.headers.get('www-authenticate')
        if (challenge !== null) headers['www-authenticate'] = challenge
        sendJson(res, status, JSON.parse(await answer.text()) as object, headers)
      } else {
        const result = await authenticate(authorization)
        if (typeof result === 'string') {
          status = 401
          stats.rejected += 1
          // RFC 6750 §3: the challenge names the error; the description never includes the token.
          sendJson(
            res,
            status,
            { error: 'invalid_token', error_description: result },
            {
              'www-authenticate': `Bearer realm="downstream", error="invalid_token"`,
            },
          )
        } else {
          status = 200
          stats.authorized += 1
          sendJson(res, status, anyPath ? { method: req.method, path, ...identity(result) } : identity(result))
        }
      }
      seen.push({ method: req.method ?? 'GET', path, authorization, status })
    })().catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
    })
  })

  const port = await listen(server, options.port ?? 0, options.host ?? LOOPBACK)
  return {
    url: `http://${options.host ?? LOOPBACK}:${port}`,
    audience: options.audience,
    stats,
    seen,
    resetStats() {
      Object.assign(stats, { requests: 0, authorized: 0, rejected: 0 })
      seen.length = 0
    },
    close: () => closeServer(server),
  }
}
