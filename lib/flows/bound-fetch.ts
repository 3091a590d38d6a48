/**
 * A `fetch` bound to one target of an Entra ID or Maskinporten client, as the TokenX downstream is
 * (lib/downstream/fetch.ts, which does the work): the token goes only to the target's origin, over
 * `https:` (`http:` on loopback), with a timeout, the caller's signal, typed errors (502/504/500),
 * redirects within the origin, and after a 401 one retry with a fresh token.
 */
import { checkDownstreamUrls, createDownstream } from '../downstream/fetch.ts'
import type { ExchangeOptions, TokenXClient } from '../exchange/client.ts'
import { InvalidOptionError } from '../errors.ts'
import type { ExchangedToken, FetchLike } from '../types.ts'
import { checkFunction, checkInteger, checkKnownKeys, checkOptionsObject } from '../util/option-checks.ts'

/** One API a client calls: its scope and where it lives. */
export interface TargetOptions {
  /** The scope to ask for (Entra ID: `api://cluster.namespace.app/.default` or `cluster:namespace:app`; Maskinporten: space-separated scopes). Required. */
  scope: string
  /** The API's base URL: the token is sent to this origin only; relative inputs resolve against it. Required. */
  url: string
  /** Maskinporten only: RFC 8707 resource indicator. Default none. */
  resource?: string | undefined
  /** Milliseconds a request may take until the answer's headers arrive. Default 10000. */
  timeout?: number
  /** The `fetch` for the API. Default `globalThis.fetch`. */
  fetch?: FetchLike | undefined
}

export interface BoundTarget {
  /** The scope asked for, as sent. */
  readonly scope: string
  /** The token for this target: from the cache, or fetched. */
  token(options?: ExchangeOptions): Promise<ExchangedToken>
  /**
   * `fetch` with the token attached; `input` within the target's origin or relative to its URL.
   * Rejects with `TokenExchangeError` (the token could not be had) or `DownstreamError` (502
   * unreachable, 504 too slow, 500 a URL outside the origin); any answer is returned. `init.signal`
   * bounds the token request and the call.
   */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>
}

/** What a bound target needs of its token client. */
export interface TargetTokens {
  /** `options.signal` is read only when the token has to be fetched (it may be a lazy getter). */
  token(options: ExchangeOptions): Promise<ExchangedToken>
  evict(token: ExchangedToken): void
}

const TARGET_KEYS = ['scope', 'url', 'resource', 'timeout', 'fetch']
export const DEFAULT_TARGET_TIMEOUT = 10_000

/** Checks a target's options; throws `TypeError` naming the bad one. */
export function checkTarget(target: TargetOptions, allowResource: boolean): void {
  checkOptionsObject('target', target)
  checkKnownKeys(target, allowResource ? TARGET_KEYS : TARGET_KEYS.filter((key) => key !== 'resource'), 'target.')
  if (typeof target.scope !== 'string' || target.scope.trim() === '')
    throw new InvalidOptionError('target.scope', 'must be a non-empty string')
  if (typeof target.url !== 'string') throw new InvalidOptionError('target.url', 'must be an absolute URL')
  checkDownstreamUrls('target.url', [target.url])
  if (target.timeout !== undefined) checkInteger('target.timeout', target.timeout, 1, 900_000)
  checkFunction('target.fetch', target.fetch)
}

export function bindTarget(target: TargetOptions, scope: string, tokens: TargetTokens): BoundTarget {
  const timeout = target.timeout ?? DEFAULT_TARGET_TIMEOUT
  const fetchImpl: FetchLike = target.fetch ?? ((input, init) => globalThis.fetch(input, init))
  // The downstream re-fetches through this after a 401: there is no caller's token to exchange.
  const client: Pick<TokenXClient, 'exchange' | 'evict'> = {
    exchange: (_subject, _audience, options) => tokens.token(options ?? {}),
    evict: (_subject, _audience, token) => tokens.evict(token),
  }
  return {
    scope,
    token: (options = {}) => tokens.token(options),
    async fetch(input, init = {}) {
      const signal = init.signal ?? undefined
      const token = await tokens.token({ signal })
      return createDownstream({
        client,
        subjectToken: '',
        token,
        timeout,
        fetch: fetchImpl,
        origins: [target.url],
        deadline: signal === undefined ? undefined : { signal },
      }).fetch(input, init)
    },
  }
}
