/**
 * Entra ID's two grants, as texas sends them (nais/texas src/oauth/grant.rs, assertion.rs):
 *
 * - client credentials (RFC 6749 §4.4): `grant_type=client_credentials`, `scope`, `client_id` and an
 *   RFC 7523 §2.2 client assertion;
 * - on-behalf-of (Microsoft identity platform, the RFC 7523 §2.1 jwt-bearer grant): the same plus
 *   `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `requested_token_use=on_behalf_of`
 *   and `assertion` = the caller's token.
 *
 * The client assertion: `iss` = `sub` = our client id, `aud` = the issuer (texas) or the token
 * endpoint, `jti`, `iat` = `nbf` = now, `exp` = now + 30 s, header `kid`.
 *
 * Entra ID's error answers are JSON with `error`, `error_description` ("AADSTS50013: …" followed by
 * free text that may name the user, the tenant and the apps) and `error_codes`. Of them the kit keeps
 * the registered `error` code and, for the description, a fixed text per known AADSTS code (nothing
 * Entra ID wrote). Conditional access answers `interaction_required` with a `claims` challenge,
 * which the API hands back to its caller (Microsoft identity platform, "Claims challenges").
 */
import { TokenExchangeError, type OAuthErrorBody } from '../errors.ts'
import type { SigningKey } from '../types.ts'
import type { HttpAnswer } from '../util/http.ts'
import { signAssertion } from './assertion.ts'
import type { Grant } from './engine.ts'
import { JWT_BEARER_ASSERTION, knownErrorCode, parseJsonObject } from './token-request.ts'

/** RFC 7523 §2.1: the grant on-behalf-of uses. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

export const ENTRA = 'Entra ID'

/** Any description whose AADSTS code is not listed below. */
export const ENTRA_WITHHELD = '[withheld: not a known Entra ID message]'

/**
 * Fixed texts for the AADSTS codes an app meets in these two grants (Microsoft identity platform,
 * "Microsoft Entra authentication and authorization error codes"). Only these, written here, are
 * ever logged; Entra ID's own sentence is not.
 */
const AADSTS: ReadonlyMap<string, string> = new Map([
  ['50013', 'Assertion failed signature validation'],
  ['50027', 'Invalid JWT token'],
  ['50076', 'Multi-factor authentication is required'],
  ['50079', 'The user must enrol for multi-factor authentication'],
  ['53003', 'Access has been blocked by conditional access policies'],
  ['65001', 'The user or administrator has not consented to use the application'],
  ['70011', 'The provided value for the input parameter scope is not valid'],
  ['90009', 'The application is requesting a token for itself'],
  ['500011', 'The resource principal was not found in the tenant'],
  ['500133', 'The assertion is not within its valid time range'],
  ['700016', 'Application not found in the directory'],
  ['700024', 'Client assertion is not within its valid time range'],
  ['700027', 'Client assertion failed signature validation'],
  ['7000112', 'Application is disabled'],
  ['7000215', 'Invalid client secret provided'],
])

/** The description kept: `AADSTS<code>: <fixed text>` for a listed code, `ENTRA_WITHHELD` otherwise. */
export function keptEntraDescription(text: string): string {
  const code = /^AADSTS(\d{5,7})[:\s]/.exec(text.slice(0, 16))?.[1]
  const known = code === undefined ? undefined : AADSTS.get(code)
  return known === undefined ? ENTRA_WITHHELD : `AADSTS${code}: ${known}`
}

/**
 * `api://<cluster>.<namespace>.<app>/.default` for a NAIS app name `cluster:namespace:app` (as texas
 * normalises targets); any other scope as given.
 */
export function entraScope(target: string): string {
  if (target.startsWith('api://') || target.startsWith('https://')) return target
  const parts = target.split(':')
  if (parts.length !== 3 || parts.some((part) => part === '')) return target
  return `api://${parts.join('.')}/.default`
}

export interface EntraGrantSettings {
  readonly clientId: string
  /** The client assertion's `aud`. */
  readonly assertionAudience: string
  /** Seconds. */
  readonly assertionLifetime: number
  readonly clock: () => number
}

export interface ClientCredentialsRequest {
  readonly scope: string
}

export interface OnBehalfOfRequest {
  readonly scope: string
  /** The caller's Entra ID access token. */
  readonly assertion: string
}

function clientAuthentication(settings: EntraGrantSettings, key: SigningKey): Record<string, string> {
  return {
    client_id: settings.clientId,
    client_assertion_type: JWT_BEARER_ASSERTION,
    client_assertion: signAssertion(key, {
      clientId: settings.clientId,
      audience: settings.assertionAudience,
      lifetime: settings.assertionLifetime,
      clock: settings.clock,
    }),
  }
}

export function clientCredentialsGrant(settings: EntraGrantSettings): Grant<ClientCredentialsRequest> {
  return {
    provider: ENTRA,
    target: (request) => request.scope,
    form: (request, key) =>
      new URLSearchParams({
        grant_type: 'client_credentials',
        scope: request.scope,
        ...clientAuthentication(settings, key),
      }).toString(),
    errorFromAnswer: (answer) => entraError(answer, false),
    refusesKey: refusesOurKey,
  }
}

export function onBehalfOfGrant(settings: EntraGrantSettings): Grant<OnBehalfOfRequest> {
  return {
    provider: ENTRA,
    target: (request) => request.scope,
    form: (request, key) =>
      new URLSearchParams({
        grant_type: JWT_BEARER_GRANT,
        requested_token_use: 'on_behalf_of',
        assertion: request.assertion,
        scope: request.scope,
        ...clientAuthentication(settings, key),
      }).toString(),
    errorFromAnswer: (answer) => entraError(answer, true),
    refusesKey: refusesOurKey,
  }
}

/** RFC 6749 §5.2 `invalid_client`: our client assertion was refused (its key was probably rotated). */
function refusesOurKey(err: TokenExchangeError): boolean {
  return err.code === 'ERR_CLIENT_REJECTED' && err.upstream.error === 'invalid_client'
}

/** `invalid_grant` codes that are about our app, not the caller's token (consent, the scope's app). */
const OUR_INVALID_GRANT = new Set(['AADSTS65001', 'AADSTS500011', 'AADSTS90009'])

/** Largest claims challenge handed on; Microsoft's are a few hundred bytes. */
const MAX_CLAIMS = 4096

/**
 * Entra ID's answer as a typed error. On-behalf-of: `invalid_grant` about the caller's token is the
 * caller's (401), `interaction_required` with a claims challenge is answered as that challenge.
 * Everything else 4xx is ours (500), 5xx retryable (502).
 */
export function entraError(answer: HttpAnswer, onBehalfOf: boolean): TokenExchangeError {
  const status = answer.status
  const body = parseJsonObject(answer.body)
  const description = typeof body?.['error_description'] === 'string' ? keptEntraDescription(body['error_description']) : undefined
  const upstream: OAuthErrorBody = {
    error: typeof body?.['error'] === 'string' ? knownEntraError(body['error']) : undefined,
    error_description: description,
  }
  const init = { tokenEndpointStatus: status, upstream }
  const said = upstream.error === undefined ? '' : `: ${upstream.error}${description ? ` (${description})` : ''}`
  if (status >= 500 || status < 400) return new TokenExchangeError('ERR_TOKEN_ENDPOINT', `${ENTRA} answered ${status}${said}`, init)
  if (onBehalfOf && upstream.error === 'interaction_required') {
    const claims = claimsChallenge(body?.['claims'])
    if (claims !== undefined) {
      return new TokenExchangeError('ERR_CLAIMS_CHALLENGE', `${ENTRA} asks for more claims in the caller's token${said}`, {
        ...init,
        challenge: `Bearer error="insufficient_claims", claims="${claims}"`,
      })
    }
    return new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', `${ENTRA} requires the user's interaction${said}`, init)
  }
  if (onBehalfOf && upstream.error === 'invalid_grant' && !OUR_INVALID_GRANT.has(description?.split(':')[0] ?? '')) {
    return new TokenExchangeError('ERR_SUBJECT_TOKEN_REJECTED', `${ENTRA} rejected the caller's token${said}`, init)
  }
  return new TokenExchangeError('ERR_CLIENT_REJECTED', `${ENTRA} refused our client${said}`, init)
}

/** Registered codes, and Entra ID's `interaction_required` (OpenID Connect Core §3.1.2.6). */
function knownEntraError(text: string): string {
  return text === 'interaction_required' || text === 'consent_required' || text === 'login_required' ? text : knownErrorCode(text)
}

/**
 * The claims challenge, base64 of its JSON, for `WWW-Authenticate` — only when it is a JSON object
 * of bounded size, re-serialised, so nothing but JSON reaches the header.
 */
function claimsChallenge(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_CLAIMS) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return undefined
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined
  return Buffer.from(JSON.stringify(parsed)).toString('base64')
}
