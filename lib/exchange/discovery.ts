/**
 * Where a token request goes: the provider's token endpoint and issuer (the client assertion's `aud`),
 * given explicitly or read from its discovery document (`wellKnownUrl`; NAIS's `TOKEN_X_WELL_KNOWN_URL`,
 * `AZURE_APP_WELL_KNOWN_URL`, `MASKINPORTEN_WELL_KNOWN_URL`): RFC 8414 authorization server metadata,
 * or OpenID Connect Discovery 1.0. One module for TokenX, Entra ID and Maskinporten.
 *
 * The document is fetched once per client (one per execution environment), lazily on the first
 * exchange, and kept; concurrent first exchanges share one fetch, which stops once no exchange waits
 * for it. Each fetch has the client's `timeout`, reads at most 256 KiB, follows no redirect, and goes
 * only to https: (http: on loopback). As with the JWKS (lib/inbound/jwks.ts), a failure is not kept:
 * the next exchange fetches again, but not before `DISCOVERY_FAILURE_COOLDOWN` has passed; within it,
 * exchanges fail at once with the same code, instead of each waiting on an endpoint that is down.
 */
import { ConfigError, InvalidOptionError, safeErrorName, TokenExchangeError, TokenXError } from '../errors.ts'
import type { FetchLike, Loaded } from '../types.ts'
import { PromiseCache } from '../cache/memory.ts'
import { within } from '../util/abort.ts'
import { DocumentError, getJsonObject } from '../util/http.ts'
import { isSafeUrlString } from '../util/url.ts'
import { checkUrl } from '../util/option-checks.ts'

/** The token endpoint requests go to, and the client assertion's `aud`. */
export interface ExchangeTarget {
  readonly tokenEndpoint: URL
  readonly assertionAudience: string
}

export interface ExchangeTargetSource {
  /** The target; on the first call with discovery, once the document is in. Stops waiting when `signal` aborts. */
  get(signal: AbortSignal): ExchangeTarget | Promise<ExchangeTarget>
}

/** What the source is built from: the client's resolved options. */
export interface TargetOptions {
  readonly tokenEndpoint?: string | undefined
  readonly issuer?: string | undefined
  readonly wellKnownUrl?: string | undefined
  readonly assertionAudience: 'token_endpoint' | 'issuer'
  /** Milliseconds the discovery fetch may take (the client's `timeout`). */
  readonly timeout: number
  readonly fetch?: FetchLike | undefined
  readonly clock: () => number
  /** The provider, as error details name it. Default `'TokenX'`. */
  readonly provider?: string | undefined
  /** How the explicit issuer is named in errors. Default `'TOKEN_X_ISSUER (issuer)'`. */
  readonly issuerName?: string | undefined
}

/** A discovery document is a few KB; anything much larger is not one. */
const MAX_DOCUMENT_BYTES = 256 * 1024

/** Milliseconds after a failed discovery fetch during which exchanges fail at once instead of fetching (as the JWKS's default). */
export const DISCOVERY_FAILURE_COOLDOWN = 5000

const WELL_KNOWN_SUFFIXES = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'] as const

/**
 * The issuer a discovery URL was made from, which the document's `issuer` must equal exactly:
 * RFC 8414 §3 inserts the well-known path between the host and the issuer's path (§3.3: the issuer
 * "MUST be identical" to the one the URL was made from); OpenID Connect Discovery 1.0 §4 appends it
 * to the issuer (§4.3 likewise). `undefined` for a URL of neither form.
 */
export function issuerOfWellKnownUrl(wellKnownUrl: string): string | undefined {
  let url: URL
  try {
    url = new URL(wellKnownUrl)
  } catch {
    return undefined
  }
  if (url.search !== '' || url.hash !== '') return undefined
  for (const suffix of WELL_KNOWN_SUFFIXES) {
    if (url.pathname.endsWith(suffix)) return url.origin + url.pathname.slice(0, -suffix.length)
    if (url.pathname.startsWith(`${suffix}/`)) return url.origin + url.pathname.slice(suffix.length)
  }
  return undefined
}

/**
 * Whether a document's `issuer` is the one its URL was made from. Both specifications remove a
 * terminating "/" of the issuer before adding the well-known path (RFC 8414 §3.1, OpenID Connect
 * Discovery §4), so the URL cannot tell `https://maskinporten.no/` (Maskinporten's issuer) from
 * `https://maskinporten.no`: either is the one.
 */
export function isIssuerOf(issuer: unknown, wellKnownUrl: string): issuer is string {
  const made = issuerOfWellKnownUrl(wellKnownUrl)
  return made !== undefined && (issuer === made || issuer === `${made}/`)
}

/** What is wrong with a discovery URL, or `undefined`: https: (http: on loopback), of a well-known form whose issuer can be told. */
export function wellKnownUrlProblem(value: string): string | undefined {
  if (!isSafeUrlString(value)) return 'must be an https: URL (http: only on a loopback host)'
  if (issuerOfWellKnownUrl(value) === undefined)
    return 'must end in /.well-known/oauth-authorization-server or /.well-known/openid-configuration (RFC 8414, OpenID Connect Discovery)'
  return undefined
}

/** Throws `InvalidOptionError` naming the option `name` unless `value` is a usable discovery URL. */
export function checkWellKnownUrl(name: string, value: unknown): void {
  checkUrl(name, value)
  const problem = wellKnownUrlProblem(value as string)
  if (problem !== undefined) throw new InvalidOptionError(name, problem)
}

/** Throws `ConfigError` naming the environment variable `name` unless `value` is a usable discovery URL. */
export function checkWellKnownUrlVariable(name: string, value: string): void {
  const problem = wellKnownUrlProblem(value)
  if (problem !== undefined) throw new ConfigError(`${name} ${problem}`)
}

/**
 * The target from explicit options (`tokenEndpoint` given, and `issuer` too when the assertion is
 * addressed to it: nothing is fetched, `wellKnownUrl` is not read), or from the discovery document,
 * explicit values winning over it (an explicit `issuer` must be the document's).
 */
export function exchangeTargets(options: TargetOptions): ExchangeTargetSource {
  const explicit =
    options.tokenEndpoint !== undefined &&
    (options.wellKnownUrl === undefined || options.assertionAudience === 'token_endpoint' || options.issuer !== undefined)
  if (explicit) {
    const target: ExchangeTarget = {
      tokenEndpoint: new URL(options.tokenEndpoint as string),
      assertionAudience: options.assertionAudience === 'issuer' ? (options.issuer as string) : (options.tokenEndpoint as string),
    }
    return { get: () => target }
  }
  const wellKnownUrl = options.wellKnownUrl as string
  const provider = options.provider ?? 'TokenX'
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  // A cache of one entry: one fetch shared by concurrent exchanges, aborted once none waits, a failure never kept.
  const cache = new PromiseCache<ExchangeTarget>(1, options.clock)
  let known: ExchangeTarget | undefined
  let failure: { readonly err: TokenXError; readonly until: number } | undefined

  const load = async (signal: AbortSignal): Promise<Loaded<ExchangeTarget>> => {
    try {
      const document = await within(
        { abortAfter: options.timeout, outer: signal, message: `the ${provider} discovery document did not arrive in time` },
        (fetchSignal) => fetchDocument(fetchImpl, wellKnownUrl, fetchSignal, provider),
      )
      known = targetOf(document, wellKnownUrl, options, provider)
      failure = undefined
      return { value: known, freshUntil: Number.POSITIVE_INFINITY }
    } catch (err) {
      const translated = translate(err, provider)
      // Given up by every exchange that waited: not the endpoint's failure.
      if (!signal.aborted) failure = { err: translated, until: options.clock() + DISCOVERY_FAILURE_COOLDOWN }
      throw translated
    }
  }

  return {
    get(signal) {
      if (known !== undefined) return known
      if (failure !== undefined) {
        if (options.clock() < failure.until) return Promise.reject(coolingDown(failure.err))
        failure = undefined
      }
      return cache.get('discovery', load, signal).catch((err: unknown) => {
        // The cache rejects a waiter whose own signal aborted with the signal's reason.
        if (err instanceof TokenXError) throw err
        throw new TokenExchangeError('ERR_TIMEOUT', `the ${provider} discovery document did not arrive before the request was given up`, {
          cause: err,
        })
      })
    },
  }
}

/**
 * The document's issuer (RFC 8414 §3.3; OpenID Connect Discovery §4.3) and a token endpoint
 * credentials may go to (RFC 8414 §2: `token_endpoint`); an explicit `tokenEndpoint` wins.
 */
function targetOf(document: Record<string, unknown>, wellKnownUrl: string, options: TargetOptions, provider: string): ExchangeTarget {
  const issuer = document['issuer']
  if (!isIssuerOf(issuer, wellKnownUrl))
    throw new ConfigError(`the ${provider} discovery document names another issuer than its URL was made from (RFC 8414 §3.3)`)
  if (options.issuer !== undefined && options.issuer !== issuer)
    throw new ConfigError(`${options.issuerName ?? 'TOKEN_X_ISSUER (issuer)'} is not the issuer of the ${provider} discovery document`)
  const endpoint = options.tokenEndpoint ?? document['token_endpoint']
  // A cleartext token endpoint off loopback would hand citizens' tokens and our assertions to anyone on the path.
  if (!isSafeUrlString(endpoint)) {
    throw new ConfigError(`the ${provider} discovery document has no usable token_endpoint (an https: URL)`)
  }
  return { tokenEndpoint: new URL(endpoint), assertionAudience: options.assertionAudience === 'issuer' ? issuer : endpoint }
}

/** The document, or why not: 5xx is the provider failing (502); any other status or a document that is none means the URL is not the provider's (500). */
async function fetchDocument(fetchImpl: FetchLike, url: string, signal: AbortSignal, provider: string): Promise<Record<string, unknown>> {
  try {
    return await getJsonObject(fetchImpl, url, signal, MAX_DOCUMENT_BYTES)
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err
    if (err.problem === 'status' && err.status >= 500)
      throw new TokenExchangeError('ERR_TOKEN_ENDPOINT', `the ${provider} discovery ${err.message}`)
    throw new ConfigError(`the ${provider} discovery ${err.message}`)
  }
}

/** The kit's own errors pass; a timeout is ERR_TIMEOUT (504), anything else the provider unreachable (503). */
function translate(err: unknown, provider: string): TokenXError {
  if (err instanceof TokenXError) return err
  if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
    return new TokenExchangeError('ERR_TIMEOUT', `the ${provider} discovery document did not arrive in time`, { cause: err })
  }
  return new TokenExchangeError(
    'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
    `the ${provider} discovery document could not be fetched (${safeErrorName(err)})`,
    { cause: err },
  )
}

/** A fresh error of the failure's kind, for an exchange refused within the cooldown (no fetch made). */
function coolingDown(err: TokenXError): TokenXError {
  const detail = `${err.detail}; not fetched again until the failure cooldown ends`
  return err instanceof TokenExchangeError
    ? new TokenExchangeError(err.code as ConstructorParameters<typeof TokenExchangeError>[0], detail)
    : new ConfigError(detail)
}
