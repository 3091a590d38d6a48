/**
 * Validation of a caller's Entra ID access token, for an API that exchanges it on-behalf-of: RS256
 * signature with a key from `AZURE_OPENID_CONFIG_JWKS_URI`, or from the `jwks_uri` of the discovery
 * document `AZURE_APP_WELL_KNOWN_URL` (the kit's JWKS cache, lib/inbound/jwks.ts, which checks the
 * document's issuer), `iss` = `AZURE_OPENID_CONFIG_ISSUER` (or the issuer the well-known URL names), `aud` = our client id, `exp`/`nbf`/`iat`, and — when
 * `AZURE_APP_PRE_AUTHORIZED_APPS` is given — `azp` (v2.0 tokens; `appid` in v1.0) one of the
 * pre-authorized apps' client ids, 403 otherwise (as NAIS's inbound access policy).
 */
import { BearerTokenError, ConfigError, ForbiddenCallerError, InvalidOptionError } from '../errors.ts'
import { checkWellKnownUrl, checkWellKnownUrlVariable, issuerOfWellKnownUrl } from '../exchange/discovery.ts'
import { inboundDefaults } from '../inbound/config.ts'
import { createIssuerKeys, type IssuerKeys } from '../inbound/jwks.ts'
import { checkClaims, decodeJwt, TokenRefusal, verifySignature } from '../inbound/verify.ts'
import type { FetchLike } from '../types.ts'
import { envReader } from '../util/env.ts'
import {
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkOptionsObject,
  checkUrl,
  optionKeys,
  withoutUndefined,
} from '../util/option-checks.ts'

/** One entry of `AZURE_APP_PRE_AUTHORIZED_APPS`. */
export interface PreAuthorizedApp {
  /** `cluster:namespace:app`. */
  readonly name: string
  /** Its Entra ID client id. */
  readonly clientId: string
}

export interface EntraInboundOptions {
  /** `AZURE_OPENID_CONFIG_ISSUER`. Required unless `wellKnownUrl` is given (then: the issuer its URL names, `…/{tenant}/v2.0`). */
  issuer?: string | undefined
  /** `AZURE_OPENID_CONFIG_JWKS_URI`. Required unless `wellKnownUrl` is given; wins over it. */
  jwksUri?: string | undefined
  /**
   * `AZURE_APP_WELL_KNOWN_URL` (OpenID Connect Discovery): without `jwksUri`, the keys are found through
   * its `jwks_uri`, fetched with the JWKS; its `issuer` must be `issuer`.
   */
  wellKnownUrl?: string | undefined
  /** Our client id, the `aud` of accepted tokens (`AZURE_APP_CLIENT_ID`). Required. */
  audience: string
  /** The apps that may call (`AZURE_APP_PRE_AUTHORIZED_APPS`); unset: any app Entra ID issued a token to for us. */
  preAuthorizedApps?: readonly PreAuthorizedApp[] | undefined
  /** Milliseconds of clock skew allowed for `exp`, `nbf`, `iat`. Default 5000; 0–300000. */
  clockTolerance?: number
  /** Milliseconds a JWKS fetch may take. Default 3000. */
  jwksTimeout?: number
  /** Largest accepted token, in characters. Default 16384. */
  maxTokenLength?: number
  /** The `fetch` for the JWKS. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined
  /** Current time, milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
}

/** Inbound validation's defaults (`inboundDefaults`): an Entra ID token is checked as an ID-porten one is. */
const entraInboundDefaults = Object.freeze({
  clockTolerance: inboundDefaults.clockTolerance,
  jwksTimeout: inboundDefaults.jwksTimeout,
  maxTokenLength: inboundDefaults.maxTokenLength,
  clock: inboundDefaults.clock,
})

const keys = optionKeys<EntraInboundOptions>()(
  'issuer',
  'jwksUri',
  'wellKnownUrl',
  'audience',
  'preAuthorizedApps',
  'clockTolerance',
  'jwksTimeout',
  'maxTokenLength',
  'fetch',
  'clock',
)

/** The verified claims of the caller's token (Entra ID's: `oid`, `NAVident`, `azp`, `azp_name`, `groups`, ...). */
export type EntraClaims = Readonly<Record<string, unknown>>

export interface EntraValidator {
  /** The verified claims; rejects with `BearerTokenError` (401), `ForbiddenCallerError` (403) or `JwksError` (5xx). */
  validate(token: string, deadline?: { readonly signal: AbortSignal | undefined }): Promise<EntraClaims>
  readonly maxTokenLength: number
}

export function createEntraValidator(options: EntraInboundOptions): EntraValidator {
  checkOptionsObject('inbound', options)
  checkKnownKeys(options, keys, 'inbound.')
  const resolved = {
    ...entraInboundDefaults,
    ...withoutUndefined(options),
  } as Required<Omit<EntraInboundOptions, 'wellKnownUrl' | 'jwksUri' | 'issuer'>> &
    Pick<EntraInboundOptions, 'wellKnownUrl' | 'jwksUri' | 'issuer'>
  if (resolved.wellKnownUrl !== undefined) checkWellKnownUrl('inbound.wellKnownUrl', resolved.wellKnownUrl)
  // Entra ID's v2.0 issuer ends in no "/", so it is the one its URL names (jwks.ts then checks the document's).
  const issuer = resolved.issuer ?? (resolved.wellKnownUrl === undefined ? undefined : issuerOfWellKnownUrl(resolved.wellKnownUrl))
  checkUrl('inbound.issuer', issuer)
  if (resolved.jwksUri !== undefined || resolved.wellKnownUrl === undefined) checkUrl('inbound.jwksUri', resolved.jwksUri)
  if (typeof resolved.audience !== 'string' || resolved.audience === '')
    throw new InvalidOptionError('inbound.audience', 'must be our client id')
  checkInteger('inbound.clockTolerance', resolved.clockTolerance, 0, 300_000)
  checkInteger('inbound.jwksTimeout', resolved.jwksTimeout, 1, 60_000)
  checkInteger('inbound.maxTokenLength', resolved.maxTokenLength, 64, 1_048_576)
  checkFunction('inbound.clock', resolved.clock, false)
  checkFunction('inbound.fetch', resolved.fetch)
  const allowed =
    options.preAuthorizedApps === undefined ? undefined : new Set(checkApps(options.preAuthorizedApps).map((app) => app.clientId))
  const issuerKeys: IssuerKeys = createIssuerKeys({
    issuer: issuer as string,
    ...(resolved.jwksUri === undefined ? { wellKnownUrl: resolved.wellKnownUrl } : { jwksUri: resolved.jwksUri }),
    timeout: resolved.jwksTimeout,
    cooldown: inboundDefaults.jwksCooldown,
    maxAge: inboundDefaults.jwksMaxAge,
    failureCooldown: inboundDefaults.jwksFailureCooldown,
    clock: resolved.clock,
    fetch: options.fetch,
  })
  return {
    maxTokenLength: resolved.maxTokenLength,
    async validate(token, deadline) {
      let claims: EntraClaims
      try {
        const jwt = decodeJwt(token)
        const key = issuerKeys.cached(jwt.kid) ?? (await issuerKeys.key({ kid: jwt.kid, alg: 'RS256' }, deadline))
        if (key === null) throw new TokenRefusal('unknown kid')
        if (!verifySignature(jwt, key)) throw new TokenRefusal('bad signature')
        checkClaims(jwt.payload, {
          issuer: issuer as string,
          audience: resolved.audience,
          now: resolved.clock(),
          leeway: resolved.clockTolerance,
        })
        claims = jwt.payload
      } catch (err) {
        if (err instanceof TokenRefusal) throw new BearerTokenError(`the Entra ID token was refused: ${err.message}`)
        throw err
      }
      if (allowed !== undefined) {
        const caller = claims['azp'] ?? claims['appid']
        if (typeof caller !== 'string' || !allowed.has(caller))
          throw new ForbiddenCallerError('the calling app is not pre-authorized (AZURE_APP_PRE_AUTHORIZED_APPS)')
      }
      return claims
    },
  }
}

function checkApps(apps: unknown): readonly PreAuthorizedApp[] {
  if (
    !Array.isArray(apps) ||
    apps.some((app) => app === null || typeof app !== 'object' || typeof (app as PreAuthorizedApp).clientId !== 'string')
  ) {
    throw new InvalidOptionError('inbound.preAuthorizedApps', 'must be a list of { name, clientId }')
  }
  return apps as PreAuthorizedApp[]
}

/**
 * Reads `AZURE_OPENID_CONFIG_ISSUER` and `AZURE_OPENID_CONFIG_JWKS_URI` (or, for what of them is unset,
 * `AZURE_APP_WELL_KNOWN_URL`), `AZURE_APP_CLIENT_ID` and the optional `AZURE_APP_PRE_AUTHORIZED_APPS`
 * (JSON). Throws `ConfigError` naming the variable.
 */
export function entraInboundFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): EntraInboundOptions {
  const { read, required, url } = envReader(env)
  const issuer = url('AZURE_OPENID_CONFIG_ISSUER')
  const jwksUri = url('AZURE_OPENID_CONFIG_JWKS_URI')
  // Read only when something is left to discover: explicit variables win.
  const wellKnownUrl = issuer === undefined || jwksUri === undefined ? read('AZURE_APP_WELL_KNOWN_URL') : undefined
  if (wellKnownUrl === undefined) {
    if (issuer === undefined) throw new ConfigError('AZURE_OPENID_CONFIG_ISSUER or AZURE_APP_WELL_KNOWN_URL must be set')
    if (jwksUri === undefined) throw new ConfigError('AZURE_OPENID_CONFIG_JWKS_URI or AZURE_APP_WELL_KNOWN_URL must be set')
  } else checkWellKnownUrlVariable('AZURE_APP_WELL_KNOWN_URL', wellKnownUrl)
  const audience = required('AZURE_APP_CLIENT_ID')
  const apps = env['AZURE_APP_PRE_AUTHORIZED_APPS']?.trim()
  let preAuthorizedApps: PreAuthorizedApp[] | undefined
  if (apps !== undefined && apps !== '') {
    try {
      preAuthorizedApps = checkApps(JSON.parse(apps)) as PreAuthorizedApp[]
    } catch {
      throw new ConfigError('AZURE_APP_PRE_AUTHORIZED_APPS must be a JSON array of {"name":"cluster:namespace:app","clientId":"<uuid>"}')
    }
  }
  return {
    ...(issuer === undefined ? {} : { issuer }),
    ...(jwksUri === undefined ? {} : { jwksUri }),
    ...(wellKnownUrl === undefined ? {} : { wellKnownUrl }),
    audience,
    preAuthorizedApps,
  }
}
