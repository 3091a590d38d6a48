/**
 * `createEntraClient` and `createMaskinportenClient`: the token clients of lib/exchange/ with a
 * `fetch` bound to each target, for any Lambda (a scheduled function, an SQS consumer, an API).
 */
import { ConfigError } from '../errors.ts'
import { entraScope } from '../exchange/entra.ts'
import { maskinportenScope } from '../exchange/maskinporten.ts'
import {
  createEntraTokenClient,
  createMaskinportenTokenClient,
  type EntraTokenClient,
  type MaskinportenTokenClient,
} from '../exchange/provider-client.ts'
import {
  entraOptionsFromEnv,
  maskinportenOptionsFromEnv,
  type EntraOptions,
  type MaskinportenOptions,
} from '../exchange/provider-options.ts'
import type { ExchangedToken } from '../types.ts'
import { bindTarget, checkTarget, type BoundTarget, type TargetOptions } from './bound-fetch.ts'

export interface EntraClient extends EntraTokenClient {
  /** The API at `target.url`, called with the app's own token for `target.scope` (client credentials). */
  target(target: TargetOptions): BoundTarget
  /** The API at `target.url`, called on behalf of the user whose (validated) Entra ID token is `callerToken`. */
  onBehalfOfTarget(callerToken: string, target: TargetOptions): BoundTarget
}

export interface MaskinportenClient extends MaskinportenTokenClient {
  /** The external API at `target.url`, called with a Maskinporten token for `target.scope` (and `target.resource`). */
  target(target: TargetOptions): BoundTarget
}

/**
 * An Entra ID client; without options, from NAIS's variables (`AZURE_APP_CLIENT_ID`,
 * `AZURE_OPENID_CONFIG_TOKEN_ENDPOINT` and `AZURE_OPENID_CONFIG_ISSUER` or `AZURE_APP_WELL_KNOWN_URL`,
 * `AZURE_APP_JWK` or `AZURE_APP_JWK_SECRET_ID`). Throws `TypeError` for a bad option, `ConfigError` for a bad variable.
 */
export function createEntraClient(options: EntraOptions = entraOptionsFromEnv()): EntraClient {
  const tokens = createEntraTokenClient(options)
  const bind = (target: TargetOptions, callerToken: string | undefined): BoundTarget => {
    checkTarget(target, false)
    const scope = entraScope(target.scope)
    return bindTarget(target, scope, {
      token: (options) => (callerToken === undefined ? tokens.token(scope, options) : tokens.onBehalfOf(callerToken, scope, options)),
      evict: (token) => tokens.evict(token, callerToken),
    })
  }
  return {
    options: tokens.options,
    token: (scope, tokenOptions) => tokens.token(scope, tokenOptions),
    onBehalfOf: (callerToken, scope, tokenOptions) => tokens.onBehalfOf(callerToken, scope, tokenOptions),
    evict: (token, callerToken) => tokens.evict(token, callerToken),
    target: (target) => bind(target, undefined),
    onBehalfOfTarget: (callerToken, target) => {
      if (typeof callerToken !== 'string') throw new ConfigError("onBehalfOfTarget needs the caller's token")
      return bind(target, callerToken)
    },
  }
}

/**
 * A Maskinporten client; without options, from NAIS's variables (`MASKINPORTEN_CLIENT_ID`,
 * `MASKINPORTEN_TOKEN_ENDPOINT` and `MASKINPORTEN_ISSUER` or `MASKINPORTEN_WELL_KNOWN_URL`,
 * `MASKINPORTEN_CLIENT_JWK` or `MASKINPORTEN_CLIENT_JWK_SECRET_ID`).
 */
export function createMaskinportenClient(options: MaskinportenOptions = maskinportenOptionsFromEnv()): MaskinportenClient {
  const tokens = createMaskinportenTokenClient(options)
  return {
    options: tokens.options,
    token: (scope, tokenOptions) => tokens.token(scope, tokenOptions),
    evict: (token, resource, details) => tokens.evict(token, resource, details),
    target(target) {
      checkTarget(target, true)
      const resource = target.resource
      const scope = maskinportenScope(target.scope)
      return bindTarget(target, scope, {
        token: (options): Promise<ExchangedToken> =>
          tokens.token(scope, {
            resource,
            get signal() {
              return options.signal
            },
          }),
        evict: (token) => tokens.evict(token, resource),
      })
    },
  }
}
