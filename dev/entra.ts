/**
 * A local Entra ID for the on-behalf-of and client-credentials flows, on 127.0.0.1 only: the v2.0
 * token endpoint (`/token`), OpenID metadata, the JWKS its tokens are signed with, and a minting
 * helper for users' tokens. As strict as Entra ID on the client assertion (dev/assertion-rules.ts:
 * `iss` = `sub` = `client_id`, `aud` = the issuer or the token endpoint, `jti` once, RS256, `kid`);
 * answers errors in Entra ID's shape (`error`, `error_description` starting with an AADSTS code and
 * followed by free text, `error_codes`, `trace_id`), and the conditional-access claims challenge
 * (`interaction_required` with `claims`) for scopes that require MFA of a user's token that lacks it.
 *
 * Startable on its own (`startEntra()`), from tests, and by the dev stack.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload } from 'jose'
import { AssertionRefused, checkAssertion, parseForm } from './assertion-rules.ts'
import { readBody, sendJson } from './http.ts'
import { generateRsaJwk, type RsaJwkPair } from './keys.ts'
import { faults, serveStandIn } from './token-stand-in.ts'

export const ENTRA_TENANT = '00000000-0000-4000-8000-00000000a0e1'

export interface EntraApp {
  /** Application (client) id, a UUID. */
  readonly clientId: string
  /** The NAIS name `cluster:namespace:app`; its scope is `api://cluster.namespace.app/.default`. */
  readonly name: string
  /** Public keys registered for client assertions. */
  readonly publicJwks?: readonly JWK[]
}

export interface EntraOptions {
  readonly port?: number
  readonly apps?: readonly EntraApp[]
  /** Seconds an issued token lives. Default 3600. */
  readonly expiresIn?: number
  /** Scopes (`api://…/.default`) whose on-behalf-of requests need `amr` to include `mfa` (conditional access). */
  readonly mfaScopes?: readonly string[]
  /** Seconds since the epoch; default real time. */
  readonly now?: () => number
}

export interface TokenRequestSeen {
  readonly form: ReadonlyMap<string, string>
  readonly assertionClaims?: JWTPayload | undefined
}

export interface LocalEntra {
  readonly url: string
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly jwksUri: string
  readonly requests: TokenRequestSeen[]
  /** Registers an app (or replaces its keys). */
  register(app: EntraApp): void
  /** The next `times` token requests are answered `status` with `body` (or a bare 503). */
  failNext(times: number, status: number, body?: unknown): void
  /** Delays every token answer by `ms`. */
  delay(ms: number): void
  /** A user's access token for `audience` (our client id), as Entra ID issues them. */
  mintUserToken(claims: { aud: string; azp: string; sub?: string; amr?: string[]; exp?: number; name?: string }): Promise<string>
  close(): Promise<void>
}

export async function startEntra(options: EntraOptions = {}): Promise<LocalEntra> {
  const signer: RsaJwkPair = await generateRsaJwk()
  const signingKey = await importJWK(signer.privateJwk, 'RS256')
  const verifyKey = await importJWK(signer.publicJwk, 'RS256')
  const now = options.now ?? (() => Math.floor(Date.now() / 1000))
  const apps = new Map<string, EntraApp>()
  for (const app of options.apps ?? []) apps.set(app.clientId, app)
  const usedJtis = new Set<string>()
  const requests: TokenRequestSeen[] = []
  const planned = faults()
  let base = ''
  const issuer = () => `${base}/${ENTRA_TENANT}/v2.0`
  const tokenEndpoint = () => `${base}/${ENTRA_TENANT}/oauth2/v2.0/token`
  const jwksUri = () => `${base}/${ENTRA_TENANT}/discovery/v2.0/keys`

  const error = (res: ServerResponse, status: number, code: string, aadsts: number, text: string) =>
    sendJson(res, status, {
      error: code,
      error_description: `AADSTS${aadsts}: ${text} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [aadsts],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
    })

  const appOfScope = (scope: string): EntraApp | undefined => {
    const match = /^api:\/\/([^/]+)\/\.default$/.exec(scope)
    if (match === null) return undefined
    for (const app of apps.values()) if (app.name.split(':').join('.') === match[1] || app.clientId === match[1]) return app
    return undefined
  }

  const issue = async (res: ServerResponse, claims: JWTPayload, audience: string) => {
    const expiresIn = options.expiresIn ?? 3600
    const token = await new SignJWT({ ...claims, tid: ENTRA_TENANT, ver: '2.0' })
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'JWT' })
      .setIssuer(issuer())
      .setAudience(audience)
      .setIssuedAt(now())
      .setNotBefore(now())
      .setExpirationTime(now() + expiresIn)
      .setJti(randomUUID())
      .sign(signingKey)
    sendJson(res, 200, { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token })
  }

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const form = parseForm(await readBody(req))
    if (form === undefined) return error(res, 400, 'invalid_request', 900144, 'A parameter is repeated.')
    const seen: { form: Map<string, string>; assertionClaims?: JWTPayload } = { form }
    requests.push(seen)
    if (await planned.answered(res)) return
    const clientId = form.get('client_id')
    if (clientId === undefined)
      return error(res, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.")
    const app = apps.get(clientId)
    if (app === undefined)
      return error(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${ENTRA_TENANT}'.`,
      )
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      return error(res, 400, 'invalid_request', 50027, 'Invalid client_assertion_type.')
    }
    try {
      seen.assertionClaims = await checkAssertion(
        form.get('client_assertion') ?? '',
        {
          audiences: [issuer(), tokenEndpoint()],
          maxLifetime: 600,
          requireSub: true,
          clients: new Map([[clientId, app.publicJwks ?? []]]),
          now,
        },
        usedJtis,
        clientId,
      )
    } catch (err) {
      if (!(err instanceof AssertionRefused)) throw err
      return error(
        res,
        401,
        'invalid_client',
        700027,
        `Client assertion failed signature validation (${err.message}) for app '${clientId}'.`,
      )
    }
    const scope = form.get('scope') ?? ''
    const target = appOfScope(scope)
    if (target === undefined)
      return error(
        res,
        400,
        'invalid_scope',
        70011,
        `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
      )
    const grantType = form.get('grant_type')
    if (grantType === 'client_credentials') {
      if (form.has('assertion') || form.has('requested_token_use'))
        return error(res, 400, 'invalid_request', 900144, 'Unexpected parameters.')
      return issue(
        res,
        { azp: clientId, azp_name: app.name, sub: clientId, oid: clientId, roles: ['access_as_application'], idtyp: 'app' },
        target.clientId,
      )
    }
    if (grantType === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && form.get('requested_token_use') === 'on_behalf_of') {
      let user: JWTPayload
      try {
        ;({ payload: user } = await jwtVerify(form.get('assertion') ?? '', verifyKey, {
          issuer: issuer(),
          audience: clientId,
          currentDate: new Date(now() * 1000),
        }))
      } catch {
        return error(
          res,
          400,
          'invalid_grant',
          50013,
          `Assertion failed signature validation or has expired. [Reason - The user token of '${String(decodeSub(form.get('assertion')))}' is invalid.]`,
        )
      }
      if ((options.mfaScopes ?? []).includes(scope) && !(Array.isArray(user['amr']) && user['amr'].includes('mfa'))) {
        return sendJson(res, 400, {
          error: 'interaction_required',
          error_description: `AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '${target.clientId}'. User: ${String(user['name'] ?? user.sub)} Trace ID: ${randomUUID()}`,
          error_codes: [50076],
          suberror: 'basic_action',
          claims: '{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}',
        })
      }
      return issue(
        res,
        {
          azp: clientId,
          azp_name: app.name,
          sub: user.sub,
          oid: user['oid'] ?? user.sub,
          NAVident: user['NAVident'],
          name: user['name'],
          scp: 'defaultaccess',
        },
        target.clientId,
      )
    }
    return error(res, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType ?? ''}'.`)
  }

  const server = await serveStandIn(options.port ?? 0, {
    tokenPath: `/${ENTRA_TENANT}/oauth2/v2.0/token`,
    token,
    documents: {
      [`/${ENTRA_TENANT}/v2.0/.well-known/openid-configuration`]: () => ({
        issuer: issuer(),
        token_endpoint: tokenEndpoint(),
        jwks_uri: jwksUri(),
      }),
      [`/${ENTRA_TENANT}/discovery/v2.0/keys`]: () => ({ keys: [signer.publicJwk] }),
    },
  })
  base = server.url
  return {
    url: base,
    issuer: issuer(),
    tokenEndpoint: tokenEndpoint(),
    jwksUri: jwksUri(),
    requests,
    register: (app) => apps.set(app.clientId, app),
    failNext: planned.failNext,
    delay: planned.delay,
    mintUserToken: (claims) =>
      new SignJWT({
        azp: claims.azp,
        amr: claims.amr ?? ['pwd'],
        name: claims.name ?? 'Ola Nordmann',
        NAVident: 'Z990000',
        oid: randomUUID(),
        tid: ENTRA_TENANT,
        ver: '2.0',
      })
        .setProtectedHeader({ alg: 'RS256', kid: signer.kid, typ: 'JWT' })
        .setIssuer(issuer())
        .setAudience(claims.aud)
        .setSubject(claims.sub ?? randomUUID())
        .setIssuedAt(now())
        .setExpirationTime(claims.exp ?? now() + 3600)
        .sign(signingKey),
    close: server.close,
  }
}

function decodeSub(token: string | undefined): unknown {
  try {
    return (JSON.parse(Buffer.from(token?.split('.')[1] ?? '', 'base64url').toString('utf8')) as JWTPayload).sub
  } catch {
    return undefined
  }
}
