/**
 * The APIs the Entra ID and Maskinporten example functions call in the local stack, one server:
 *
 * - `GET /employee` (functions/employee.ts): an Entra ID on-behalf-of token for the downstream app;
 * - `GET /machine` (functions/machine.ts): an Entra ID client-credentials token for the same app;
 * - `GET /external` (functions/maskinporten.ts): a Maskinporten token with the expected scope.
 *
 * Each checks the bearer token (RFC 6750) against its issuer's JWKS, `iss` and `aud`, and answers
 * with a few non-secret claims so tests can see whose token arrived. Loopback only; nothing logged.
 */
import { createServer } from 'node:http'
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose'
import { closeServer, listen, LOOPBACK, pathOf, sendJson } from './http.ts'

export interface FlowsDownstreamOptions {
  readonly port?: number
  readonly entra: { readonly issuer: string; readonly jwksUri: string; readonly audience: string }
  readonly maskinporten: { readonly issuer: string; readonly jwksUri: string; readonly scope: string }
}

export interface FlowsDownstream {
  readonly url: string
  /** Requests answered 200, per path. */
  readonly authorized: Record<string, number>
  close(): Promise<void>
}

export async function startFlowsDownstream(options: FlowsDownstreamOptions): Promise<FlowsDownstream> {
  const entraKeys = createRemoteJWKSet(new URL(options.entra.jwksUri))
  const maskinportenKeys = createRemoteJWKSet(new URL(options.maskinporten.jwksUri))
  const authorized: Record<string, number> = {}

  const verify = async (authorization: string | undefined, path: string): Promise<JWTPayload | undefined> => {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1]
    if (token === undefined) return undefined
    try {
      if (path === '/external') {
        const { payload } = await jwtVerify(token, maskinportenKeys, { issuer: options.maskinporten.issuer, algorithms: ['RS256'] })
        const scopes = typeof payload['scope'] === 'string' ? payload['scope'].split(' ') : []
        return scopes.includes(options.maskinporten.scope) ? payload : undefined
      }
      const { payload } = await jwtVerify(token, entraKeys, {
        issuer: options.entra.issuer,
        audience: options.entra.audience,
        algorithms: ['RS256'],
      })
      // A user's token (on-behalf-of) for /employee, the app's own (client credentials) for /machine.
      const isApp = payload['idtyp'] === 'app'
      return (path === '/machine') === isApp ? payload : undefined
    } catch {
      return undefined
    }
  }

  const server = createServer((req, res) => {
    const path = pathOf(req)
    if (req.method !== 'GET' || !['/employee', '/machine', '/external'].includes(path)) {
      sendJson(res, 404, { error: 'not_found' })
      return
    }
    verify(req.headers.authorization, path)
      .then((claims) => {
        if (claims === undefined) {
          sendJson(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' })
          return
        }
        authorized[path] = (authorized[path] ?? 0) + 1
        sendJson(res, 200, {
          path,
          sub: claims.sub,
          azp_name: claims['azp_name'],
          idtyp: claims['idtyp'],
          consumer: claims['consumer'],
        })
      })
      .catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
      })
  })
  const port = await listen(server, options.port ?? 0)
  return { url: `http://${LOOPBACK}:${port}`, authorized, close: () => closeServer(server) }
}
