/**
 * The token clients of the Entra ID and Maskinporten flows: the engine's loop (engine.ts) behind the
 * same promise cache as TokenX's (single flight, no cached failures, bounded, renewed early), keyed
 * per scope (and per caller for on-behalf-of, by the SHA-256 of the caller's token). The token
 * endpoint and issuer are configured or come from the provider's discovery document (discovery.ts),
 * fetched on the first token request that is not a cache hit.
 */
import { PromiseCache, tokenCacheKey } from '../cache/memory.ts'
import { ConfigError, TokenXError } from '../errors.ts'
import { publish } from '../events.ts'
import type { ExchangedToken } from '../types.ts'
import { fetchPost } from '../util/http.ts'
import { http1Post } from '../util/http1.ts'
import { ACCESS_TOKEN_TYPE } from '../util/access-token.ts'
import type { ExchangeOptions } from './client.ts'
import { exchangeTargets, type ExchangeTarget, type ExchangeTargetSource } from './discovery.ts'
import { createTokenRunner, loadedToken, type EngineSettings, type Grant, type TokenRunner } from './engine.ts'
import {
  clientCredentialsGrant,
  ENTRA,
  entraScope,
  onBehalfOfGrant,
  type ClientCredentialsRequest,
  type OnBehalfOfRequest,
} from './entra.ts'
import { withoutKey } from './config.ts'
import { createKeyLoader, type KeyLoader } from './key.ts'
import { MASKINPORTEN, maskinportenGrant, maskinportenScope, type MaskinportenRequest } from './maskinporten.ts'
import {
  resolveEntraOptions,
  resolveMaskinportenOptions,
  type EntraOptions,
  type MaskinportenOptions,
  type ProviderClientOptions,
  type ResolvedProviderOptions,
  type ResolvedProviderWithKey,
} from './provider-options.ts'
import { subjectTokenExpiry } from './subject-token.ts'
import { requestTimeout, type TokenResponse } from './token-request.ts'

export interface EntraTokenClient {
  /**
   * The app's own token for `scope` (client credentials): `api://cluster.namespace.app/.default`, or
   * the NAIS name `cluster:namespace:app` (made into that scope). Cached per scope.
   */
  token(scope: string, options?: ExchangeOptions): Promise<ExchangedToken>
  /**
   * A token for `scope` on behalf of the user whose Entra ID token is `callerToken` (validate it
   * first). Cached per caller and scope, never past the caller's token's `exp`. Throws
   * `BearerTokenError` (without any I/O) for a token that is not an unexpired JWT.
   */
  onBehalfOf(callerToken: string, scope: string, options?: ExchangeOptions): Promise<ExchangedToken>
  /** Forgets `token` (the downstream answered 401 to it); `callerToken` for an on-behalf-of token. */
  evict(token: ExchangedToken, callerToken?: string): void
  /** The options in force, defaults applied; an inline key shows as `'[redacted]'`. */
  readonly options: ResolvedProviderOptions<EntraOptions>
}

export interface MaskinportenTokenOptions extends ExchangeOptions {
  /** RFC 8707 resource indicator: the audience the token is restricted to. */
  readonly resource?: string | undefined
  /** RFC 9396 rich authorization requests: a list of objects, sent as the assertion's `authorization_details`. */
  readonly authorizationDetails?: readonly Readonly<Record<string, unknown>>[] | undefined
}

export interface MaskinportenTokenClient {
  /** A token for `scope` (one scope, several space-separated, or a list); cached per scopes and resource. */
  token(scope: string | readonly string[], options?: MaskinportenTokenOptions): Promise<ExchangedToken>
  /** Forgets `token` (the API answered 401 to it); with the `resource` and `authorizationDetails` it was asked with. */
  evict(token: ExchangedToken, resource?: string, authorizationDetails?: MaskinportenTokenOptions['authorizationDetails']): void
  readonly options: ResolvedProviderOptions<MaskinportenOptions>
}

/** Builds an Entra ID token client; throws `TypeError` for a bad option, before any request. */
export function createEntraTokenClient(options: EntraOptions): EntraTokenClient {
  const resolved = resolveEntraOptions(options)
  const base = basics(resolved, ENTRA, 'AZURE_OPENID_CONFIG_ISSUER (issuer)')
  const settings = (target: ExchangeTarget) => ({
    clientId: resolved.clientId,
    assertionAudience: target.assertionAudience,
    assertionLifetime: resolved.assertionLifetime / 1000,
    clock: resolved.clock,
  })
  const credentials = base.runner<ClientCredentialsRequest>((target) => clientCredentialsGrant(settings(target)))
  const obo = base.runner<OnBehalfOfRequest>((target) => onBehalfOfGrant(settings(target)))
  const cache = new PromiseCache<ExchangedToken>(resolved.cacheMaxEntries, resolved.clock)
  // Client-credentials keys start with a character no digest or scope key of on-behalf-of does.
  const ownKey = (scope: string) => `\u0000${scope}`
  return {
    options: withoutKey(resolved),
    async token(scope, tokenOptions = {}) {
      const target = checkScope(scope)
      return cached(
        cache,
        ownKey(target),
        (signal) => credentials({ scope: target }, signal),
        target,
        resolved,
        Infinity,
        tokenOptions,
        ENTRA,
      )
    },
    async onBehalfOf(callerToken, scope, tokenOptions = {}) {
      const target = checkScope(scope)
      const exp = subjectTokenExpiry(callerToken, Math.floor(resolved.clock() / 1000), resolved.maxSubjectTokenLength)
      return cached(
        cache,
        tokenCacheKey(callerToken, target),
        (signal) => obo({ scope: target, assertion: callerToken }, signal),
        target,
        resolved,
        exp,
        tokenOptions,
        ENTRA,
      )
    },
    evict(token, callerToken) {
      cache.delete(callerToken === undefined ? ownKey(token.audience) : tokenCacheKey(callerToken, token.audience), token)
    },
  }
}

/** Builds a Maskinporten token client; throws `TypeError` for a bad option, before any request. */
export function createMaskinportenTokenClient(options: MaskinportenOptions): MaskinportenTokenClient {
  const resolved = resolveMaskinportenOptions(options)
  const base = basics(resolved, MASKINPORTEN, 'MASKINPORTEN_ISSUER (issuer)')
  // Maskinporten's grant assertion is addressed to its issuer (the assertion audience of the target).
  const run = base.runner<MaskinportenRequest>((target) =>
    maskinportenGrant({
      clientId: resolved.clientId,
      issuer: target.assertionAudience,
      assertionLifetime: resolved.assertionLifetime / 1000,
      clock: resolved.clock,
    }),
  )
  const cache = new PromiseCache<ExchangedToken>(resolved.cacheMaxEntries, resolved.clock)
  // texas caches by target, resource and authorization details alike.
  const keyOf = (scope: string, resource: string | undefined, details: string | undefined) =>
    resource === undefined && details === undefined ? scope : `${scope}\u0000${resource ?? ''}\u0000${details ?? ''}`
  return {
    options: withoutKey(resolved),
    async token(scope, tokenOptions = {}) {
      const target = maskinportenScope(scope)
      if (target === '' || /[^\x21-\x7e ]/.test(target)) throw new ConfigError('the Maskinporten scope must be one or more scope names')
      const resource = tokenOptions.resource
      if (resource !== undefined && (typeof resource !== 'string' || !URL.canParse(resource)))
        throw new ConfigError('the Maskinporten resource must be an absolute URI')
      const details = authorizationDetails(tokenOptions.authorizationDetails)
      const key = keyOf(target, resource, details)
      return cached(
        cache,
        key,
        (signal) => run({ scope: target, resource, authorizationDetails: tokenOptions.authorizationDetails }, signal),
        target,
        resolved,
        Infinity,
        tokenOptions,
        MASKINPORTEN,
      )
    },
    evict(token, resource, details) {
      cache.delete(keyOf(token.audience, resource, authorizationDetails(details)), token)
    },
  }
}

/**
 * What both clients share: the key loader, and runners of a grant that is made for the target (the
 * token endpoint and the assertion's `aud`) once it is known, configured or discovered. The target
 * never changes once known, so each runner is built once.
 */
function basics(
  resolved: ResolvedProviderWithKey<ProviderClientOptions> & { readonly assertionAudience?: 'issuer' | 'token_endpoint' },
  provider: string,
  issuerName: string,
) {
  const keys: KeyLoader = createKeyLoader(resolved)
  const targets: ExchangeTargetSource = exchangeTargets({
    tokenEndpoint: resolved.tokenEndpoint,
    issuer: resolved.issuer,
    wellKnownUrl: resolved.wellKnownUrl,
    assertionAudience: resolved.assertionAudience ?? 'issuer',
    timeout: resolved.timeout,
    fetch: resolved.fetch,
    clock: resolved.clock,
    provider,
    issuerName,
  })
  const runner = <R>(grantFor: (target: ExchangeTarget) => Grant<R>): TokenRunner<R> => {
    let built: { readonly target: ExchangeTarget; readonly run: TokenRunner<R> } | undefined
    return async (request, signal, firstKey) => {
      const target = await targets.get(signal)
      if (built?.target !== target) {
        const engine: EngineSettings<R> = {
          post: resolved.fetch === undefined ? http1Post : fetchPost(resolved.fetch),
          tokenEndpoint: () => target.tokenEndpoint,
          keys,
          timeout: resolved.timeout,
          retries: resolved.retries,
          retryBackoff: resolved.retryBackoff,
        }
        built = { target, run: createTokenRunner(grantFor(target), engine) }
      }
      return built.run(request, signal, firstKey)
    }
  }
  return { runner }
}

/** `authorization_details` as its cache key part (JSON); `ConfigError` unless a list of objects. */
function authorizationDetails(details: unknown): string | undefined {
  if (details === undefined) return undefined
  if (!Array.isArray(details) || details.some((item) => item === null || typeof item !== 'object' || Array.isArray(item))) {
    throw new ConfigError('the Maskinporten authorizationDetails must be a list of objects (RFC 9396)')
  }
  return JSON.stringify(details)
}

/** A scope Entra ID can be asked for: printable, no spaces (one resource per token). */
function checkScope(scope: unknown): string {
  if (typeof scope !== 'string' || scope === '' || scope.length > 1024 || !/^[\x21-\x7e]+$/.test(scope)) {
    throw new ConfigError('the Entra ID scope must be one scope, e.g. "api://cluster.namespace.app/.default"')
  }
  return entraScope(scope)
}

async function cached(
  cache: PromiseCache<ExchangedToken>,
  key: string,
  load: (signal: AbortSignal) => Promise<TokenResponse>,
  target: string,
  resolved: { readonly clock: () => number; readonly renewBefore: number },
  subjectExp: number,
  options: ExchangeOptions,
  provider: string,
): Promise<ExchangedToken> {
  const hit = cache.hit(key)
  publish('cache', () => ({ audience: target, hit: hit !== undefined }))
  if (hit !== undefined) return hit
  // Read only now: the signal may be a getter that starts the invocation's deadline timer.
  const { signal } = options
  try {
    return await cache.get(
      key,
      async (shared) => {
        const response = await load(shared)
        // An empty issued_token_type names no type: an access token, as a missing one is (token-request.ts).
        const issuedTokenType = response.issued_token_type === '' ? ACCESS_TOKEN_TYPE : response.issued_token_type
        return loadedToken(response, target, subjectExp, resolved, issuedTokenType)
      },
      signal,
    )
  } catch (err) {
    if (!(err instanceof TokenXError) && signal?.aborted === true) throw requestTimeout(signal, provider)
    throw err
  }
}
