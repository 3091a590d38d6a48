/**
 * The `audience` option: one downstream app, or named ones, each with the URL(s) its token may be
 * sent to; checked when the middleware is built (bad values throw `InvalidOptionError`).
 */
import { checkDownstreamUrls, type Downstream } from '../downstream/fetch.ts'
import { InvalidOptionError } from '../errors.ts'
import { checkKnownKeys, isClientId } from '../util/option-checks.ts'

/**
 * One downstream app: its TokenX audience (`cluster:namespace:app`) and the base URL(s) its token may
 * be sent to. `Downstream.fetch` refuses any URL outside their origins, and resolves a relative input
 * against the first one.
 */
export interface AudienceTarget {
  readonly audience: string
  readonly url: string | readonly string[]
}

/**
 * One audience, or named audiences; each a target with its URL(s) (recommended), or only the
 * `cluster:namespace:app`: then its token may go to any absolute `https:` URL whose host is not
 * loopback or link-local, and redirects are followed within that request's origin only
 * (docs/downstream-security.md). An object with an `audience` member is one target, so no name in a
 * record may be `audience`.
 */
export type AudienceOption = string | AudienceTarget | Readonly<Record<string, string | AudienceTarget>>

/** What the handler finds on `context.tokenX`: one `Downstream`, or one per name. */
export type TokenXContext<A extends AudienceOption> = A extends string | AudienceTarget
  ? Downstream
  : { readonly [K in keyof A]: Downstream }

/** `[name, audience, origins]`; the name is '' for a single audience. */
export type AudienceEntry = [name: string, audience: string, origins: readonly string[] | undefined]

export function audienceEntries(option: AudienceOption): AudienceEntry[] {
  if (typeof option === 'string' || isTarget(option)) return [['', ...audienceTarget('audience', option)]]
  if (option === null || typeof option !== 'object' || Object.keys(option).length === 0) {
    throw new InvalidOptionError('audience', 'must be "cluster:namespace:app", { audience, url } or a non-empty record of them')
  }
  return Object.entries(option).map(([name, target]) => [name, ...audienceTarget(`audience.${name}`, target)])
}

function isTarget(value: unknown): value is AudienceTarget {
  return value !== null && typeof value === 'object' && 'audience' in value
}

function audienceTarget(name: string, target: string | AudienceTarget): [string, readonly string[] | undefined] {
  if (typeof target === 'string') {
    if (!isClientId(target)) throw new InvalidOptionError(name, 'must be "cluster:namespace:app"')
    return [target, undefined]
  }
  if (target === null || typeof target !== 'object')
    throw new InvalidOptionError(name, 'must be "cluster:namespace:app" or { audience, url }')
  checkKnownKeys(target, ['audience', 'url'], `${name}.`)
  if (!isClientId(target.audience)) throw new InvalidOptionError(`${name}.audience`, 'must be "cluster:namespace:app"')
  const urls = typeof target.url === 'string' ? [target.url] : target.url
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((url) => typeof url === 'string')) {
    throw new InvalidOptionError(`${name}.url`, 'must be a URL or a non-empty array of URLs')
  }
  try {
    return [target.audience, Object.freeze([...checkDownstreamUrls(`${name}.url`, urls)])]
  } catch (err) {
    throw err instanceof TypeError && !(err instanceof InvalidOptionError)
      ? new InvalidOptionError(`${name}.url`, err.message.slice(`${name}.url `.length))
      : err
  }
}
