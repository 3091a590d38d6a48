/**
 * Options of the Entra ID and Maskinporten clients: one shape, the same documented defaults as the
 * TokenX client (config.ts), validation at construction, and NAIS's own environment variable names
 * (`AZURE_APP_*`, `AZURE_OPENID_CONFIG_*`, `MASKINPORTEN_*`). The token endpoint and issuer are
 * given, or read from the provider's discovery document (lib/exchange/discovery.ts), as TokenX's.
 */
import type { JWK } from 'jose'
import { ConfigError, InvalidOptionError } from '../errors.ts'
import { envReader, type Env } from '../util/env.ts'
import { checkInteger, checkKnownKeys, checkOptionsObject, checkUrl, optionKeys, withoutUndefined } from '../util/option-checks.ts'
import {
  checkKeyAndRequestOptions,
  keySourceFromEnv,
  clientIdentityKeys,
  defaults as tokenXDefaults,
  type REDACTED_KEY,
  tokenClientDefaults,
  tokenClientOptionKeys,
  type TokenClientOptions,
} from './config.ts'
import { checkWellKnownUrl, checkWellKnownUrlVariable } from './discovery.ts'

/** What every provider client takes (Entra ID, Maskinporten); each option says its unit and default. */
export interface ProviderClientOptions extends TokenClientOptions {
  /** Our client id at the provider (`AZURE_APP_CLIENT_ID`, `MASKINPORTEN_CLIENT_ID`). Required. */
  clientId: string
  /**
   * The provider's token endpoint (`AZURE_OPENID_CONFIG_TOKEN_ENDPOINT`, `MASKINPORTEN_TOKEN_ENDPOINT`).
   * Required unless `wellKnownUrl` is given; wins over the document's.
   */
  tokenEndpoint?: string | undefined
  /**
   * The provider's issuer (`AZURE_OPENID_CONFIG_ISSUER`, `MASKINPORTEN_ISSUER`): the assertion's `aud`.
   * Required unless `wellKnownUrl` is given; must then be the document's.
   */
  issuer?: string | undefined
  /**
   * The provider's discovery document (`AZURE_APP_WELL_KNOWN_URL`, `MASKINPORTEN_WELL_KNOWN_URL`;
   * OpenID Connect Discovery or RFC 8414): what of `tokenEndpoint` and `issuer` is not given is read
   * from it on the first token request (fetched once, within `timeout`). Not read when both are given.
   */
  wellKnownUrl?: string | undefined
  /** The private RSA JWK, inline, as JSON text or object (`AZURE_APP_JWK`, `MASKINPORTEN_CLIENT_JWK`). */
  privateJwk?: string | JWK | undefined
  /** Name or ARN of a Secrets Manager secret holding the JWK JSON (`AZURE_APP_JWK_SECRET_ID`, `MASKINPORTEN_CLIENT_JWK_SECRET_ID`). */
  privateJwkSecretId?: string | undefined
}

export interface EntraOptions extends ProviderClientOptions {
  /**
   * The client assertion's `aud`: `'issuer'` (the default, as texas sends it) or `'token_endpoint'`
   * (Microsoft's older documentation); Entra ID accepts both.
   */
  assertionAudience?: 'issuer' | 'token_endpoint'
  /** Largest accepted caller token (on-behalf-of), in characters. Default 16384. */
  maxSubjectTokenLength?: number
}

export type MaskinportenOptions = ProviderClientOptions

/** The options in force, defaults applied; an inline key shows as `'[redacted]'`. */
export type ResolvedProviderOptions<O extends ProviderClientOptions> = Readonly<
  Required<Omit<O, 'tokenEndpoint' | 'issuer' | 'wellKnownUrl' | 'privateJwk' | 'privateJwkSecretId' | 'fetch' | 'secretsManager'>> &
    Pick<O, 'tokenEndpoint' | 'issuer' | 'wellKnownUrl' | 'privateJwkSecretId' | 'fetch' | 'secretsManager'> & {
      privateJwk?: typeof REDACTED_KEY | undefined
    }
>

/** The options in force with the inline key itself: for the key loader only. */
export type ResolvedProviderWithKey<O extends ProviderClientOptions> = Readonly<
  Omit<ResolvedProviderOptions<O>, 'privateJwk'> & Pick<O, 'privateJwk'>
>

/** The documented defaults of `createEntraClient`'s options. */
export const entraDefaults = Object.freeze({
  ...tokenClientDefaults,
  assertionAudience: 'issuer' as 'issuer' | 'token_endpoint',
  maxSubjectTokenLength: tokenXDefaults.maxSubjectTokenLength,
})

/** The documented defaults of `createMaskinportenClient`'s options. */
export const maskinportenDefaults = Object.freeze({ ...tokenClientDefaults })

const commonKeys = [...clientIdentityKeys, ...tokenClientOptionKeys] as const

export const entraOptionKeys = optionKeys<EntraOptions>()(...commonKeys, 'assertionAudience', 'maxSubjectTokenLength')
export const maskinportenOptionKeys = optionKeys<MaskinportenOptions>()(...commonKeys)

/** Entra ID's client ids are UUIDs (the app registration's application id). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function resolveEntraOptions(options: EntraOptions): ResolvedProviderWithKey<EntraOptions> {
  const resolved = resolveCommon(options, entraOptionKeys, entraDefaults) as unknown as Record<string, unknown>
  if (!UUID.test(String(resolved['clientId']))) throw new InvalidOptionError('clientId', 'must be the application (client) id, a UUID')
  if (resolved['assertionAudience'] !== 'issuer' && resolved['assertionAudience'] !== 'token_endpoint') {
    throw new InvalidOptionError('assertionAudience', 'must be "issuer" or "token_endpoint"')
  }
  checkInteger('maxSubjectTokenLength', resolved['maxSubjectTokenLength'], 64, 1_048_576)
  return Object.freeze(resolved) as unknown as ResolvedProviderWithKey<EntraOptions>
}

export function resolveMaskinportenOptions(options: MaskinportenOptions): ResolvedProviderWithKey<MaskinportenOptions> {
  const resolved = resolveCommon(options, maskinportenOptionKeys, maskinportenDefaults)
  if (typeof resolved.clientId !== 'string' || !/^[\w.:-]{1,200}$/.test(resolved.clientId)) {
    throw new InvalidOptionError('clientId', 'must be the Maskinporten client id')
  }
  return Object.freeze(resolved) as ResolvedProviderWithKey<MaskinportenOptions>
}

function resolveCommon<O extends ProviderClientOptions>(
  options: O,
  keys: readonly string[],
  defaultsOf: object,
): O & typeof tokenClientDefaults {
  checkOptionsObject('options', options)
  checkKnownKeys(options, keys)
  const resolved = { ...defaultsOf, ...withoutUndefined(options) } as O & typeof tokenClientDefaults
  if (resolved.wellKnownUrl !== undefined) checkWellKnownUrl('wellKnownUrl', resolved.wellKnownUrl)
  if (resolved.tokenEndpoint !== undefined || resolved.wellKnownUrl === undefined) checkUrl('tokenEndpoint', resolved.tokenEndpoint)
  if (resolved.issuer !== undefined || resolved.wellKnownUrl === undefined) checkUrl('issuer', resolved.issuer)
  checkKeyAndRequestOptions(resolved, false)
  return resolved
}

/** The variable names of one provider, as NAIS sets them. */
interface EnvNames {
  readonly clientId: string
  readonly tokenEndpoint: string
  readonly issuer: string
  readonly wellKnownUrl: string
  readonly jwk: string
  readonly jwkSecretId: string
}

const ENTRA_ENV: EnvNames = {
  clientId: 'AZURE_APP_CLIENT_ID',
  tokenEndpoint: 'AZURE_OPENID_CONFIG_TOKEN_ENDPOINT',
  issuer: 'AZURE_OPENID_CONFIG_ISSUER',
  wellKnownUrl: 'AZURE_APP_WELL_KNOWN_URL',
  jwk: 'AZURE_APP_JWK',
  jwkSecretId: 'AZURE_APP_JWK_SECRET_ID',
}

const MASKINPORTEN_ENV: EnvNames = {
  clientId: 'MASKINPORTEN_CLIENT_ID',
  tokenEndpoint: 'MASKINPORTEN_TOKEN_ENDPOINT',
  issuer: 'MASKINPORTEN_ISSUER',
  wellKnownUrl: 'MASKINPORTEN_WELL_KNOWN_URL',
  jwk: 'MASKINPORTEN_CLIENT_JWK',
  jwkSecretId: 'MASKINPORTEN_CLIENT_JWK_SECRET_ID',
}

/**
 * Reads `AZURE_APP_CLIENT_ID`, `AZURE_OPENID_CONFIG_TOKEN_ENDPOINT` and `AZURE_OPENID_CONFIG_ISSUER`
 * (or, for what of them is unset, `AZURE_APP_WELL_KNOWN_URL`), and `AZURE_APP_JWK` or
 * `AZURE_APP_JWK_SECRET_ID`. Throws `ConfigError` naming the variable; values are
 * never echoed (one of them is a private key).
 */
export function entraOptionsFromEnv(env: Env = process.env): EntraOptions {
  const options = fromEnv(env, ENTRA_ENV)
  if (!UUID.test(options.clientId)) throw new ConfigError('AZURE_APP_CLIENT_ID must be the application (client) id, a UUID')
  return options
}

/**
 * Reads `MASKINPORTEN_CLIENT_ID`, `MASKINPORTEN_TOKEN_ENDPOINT` and `MASKINPORTEN_ISSUER` (or, for
 * what of them is unset, `MASKINPORTEN_WELL_KNOWN_URL`), and `MASKINPORTEN_CLIENT_JWK` or `MASKINPORTEN_CLIENT_JWK_SECRET_ID`; as `entraOptionsFromEnv`.
 */
export function maskinportenOptionsFromEnv(env: Env = process.env): MaskinportenOptions {
  return fromEnv(env, MASKINPORTEN_ENV)
}

function fromEnv(env: Env, names: EnvNames): ProviderClientOptions {
  const { read, required, url } = envReader(env)
  const clientId = required(names.clientId)
  const tokenEndpoint = url(names.tokenEndpoint)
  const issuer = url(names.issuer)
  // Read only when something is left to discover: explicit variables win.
  const wellKnownUrl = tokenEndpoint === undefined || issuer === undefined ? read(names.wellKnownUrl) : undefined
  if (wellKnownUrl === undefined) {
    if (tokenEndpoint === undefined) throw new ConfigError(`${names.tokenEndpoint} or ${names.wellKnownUrl} must be set`)
    if (issuer === undefined) throw new ConfigError(`${names.issuer} or ${names.wellKnownUrl} must be set`)
  } else checkWellKnownUrlVariable(names.wellKnownUrl, wellKnownUrl)
  const { privateJwk, privateJwkSecretId } = keySourceFromEnv(read, names.jwk, names.jwkSecretId)
  return {
    clientId,
    ...(tokenEndpoint === undefined ? {} : { tokenEndpoint }),
    ...(issuer === undefined ? {} : { issuer }),
    ...(wellKnownUrl === undefined ? {} : { wellKnownUrl }),
    ...(privateJwk === undefined ? { privateJwkSecretId } : { privateJwk }),
  }
}
