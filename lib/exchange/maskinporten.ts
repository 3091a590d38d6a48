/**
 * Maskinporten's grant (Digdir, "Maskinporten: JWT grant"; nais/texas src/oauth/grant.rs and
 * assertion.rs): RFC 7523 §2.1, only `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
 * `assertion`, a JWT our client signs with `iss` = our client id, `aud` = Maskinporten's issuer,
 * `scope` (space-separated), `iat` = `nbf` = now, `exp` = now + 30 s, `jti`, and optionally
 * `resource` (RFC 8707, an audience-restricted token) and `authorization_details` (RFC 9396). Tokens live 120 s unless the scope says more.
 *
 * Every refusal is about our client (there is no caller's token in this grant): 4xx → our fault
 * (500), 5xx → retryable (502). Maskinporten signs assertion failures as `invalid_grant` as well as
 * `invalid_client`, so both may cost one key reload (rate-limited by the key loader). Its
 * descriptions are withheld: no allow-list of its wording exists here yet.
 */
import { randomUUID } from 'node:crypto'
import { TokenExchangeError, type OAuthErrorBody } from '../errors.ts'
import type { HttpAnswer } from '../util/http.ts'
import { signClaims } from './assertion.ts'
import type { Grant } from './engine.ts'
import { JWT_BEARER_GRANT } from './entra.ts'
import { knownErrorCode, parseJsonObject } from './token-request.ts'

export const MASKINPORTEN = 'Maskinporten'
export const MASKINPORTEN_WITHHELD = '[withheld: Maskinporten descriptions are not kept]'

/** The `scope` parameter for `scope`: its names (a string is split at whitespace) joined by single spaces, empty ones dropped. */
export function maskinportenScope(scope: string | readonly string[]): string {
  return (typeof scope === 'string' ? scope.split(/\s+/) : [...scope]).filter((name) => name !== '').join(' ')
}

export interface MaskinportenGrantSettings {
  readonly clientId: string
  /** Maskinporten's issuer: the assertion's `aud`. */
  readonly issuer: string
  /** Seconds. */
  readonly assertionLifetime: number
  readonly clock: () => number
  /** Source of `jti`. */
  readonly newJti?: () => string
}

export interface MaskinportenRequest {
  /** Space-separated scopes. */
  readonly scope: string
  /** RFC 8707 resource indicator: the audience the token is restricted to. */
  readonly resource?: string | undefined
  /** RFC 9396 §2: a list of authorization detail objects, forwarded as they are (texas does not read them either). */
  readonly authorizationDetails?: readonly Readonly<Record<string, unknown>>[] | undefined
}

/** The grant assertion's claims (no `sub`: Maskinporten does not ask for one, and texas sends none). */
export function maskinportenClaims(settings: MaskinportenGrantSettings, request: MaskinportenRequest): Record<string, unknown> {
  const now = Math.floor(settings.clock() / 1000)
  return {
    iss: settings.clientId,
    aud: settings.issuer,
    scope: request.scope,
    iat: now,
    nbf: now,
    exp: now + settings.assertionLifetime,
    jti: (settings.newJti ?? randomUUID)(),
    ...(request.resource === undefined ? {} : { resource: request.resource }),
    ...(request.authorizationDetails === undefined ? {} : { authorization_details: request.authorizationDetails }),
  }
}

export function maskinportenGrant(settings: MaskinportenGrantSettings): Grant<MaskinportenRequest> {
  return {
    provider: MASKINPORTEN,
    target: (request) => request.scope,
    form: (request, key) =>
      new URLSearchParams({
        grant_type: JWT_BEARER_GRANT,
        assertion: signClaims(key, maskinportenClaims(settings, request)),
      }).toString(),
    errorFromAnswer: maskinportenError,
    refusesKey: (err) =>
      err.code === 'ERR_CLIENT_REJECTED' && (err.upstream.error === 'invalid_client' || err.upstream.error === 'invalid_grant'),
  }
}

export function maskinportenError(answer: HttpAnswer): TokenExchangeError {
  const status = answer.status
  const body = parseJsonObject(answer.body)
  const upstream: OAuthErrorBody = {
    error: typeof body?.['error'] === 'string' ? knownErrorCode(body['error']) : undefined,
    error_description: typeof body?.['error_description'] === 'string' ? MASKINPORTEN_WITHHELD : undefined,
  }
  const init = { tokenEndpointStatus: status, upstream }
  const said = upstream.error === undefined ? '' : `: ${upstream.error}`
  if (status >= 500 || status < 400) return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `${MASKINPORTEN} answered ${status}${said}`, init)
  return new TokenExchangeError('ERR_CLIENT_REJECTED', `${MASKINPORTEN} refused our client${said}`, init)
}
