/**
 * The run-time configuration checks of the kit, run at package time on one function's environment:
 * `sls package` / `sls deploy` (deploy/config.cjs) refuse what the function would refuse when it
 * starts, with the kit's own rules (imported from lib/, never restated here).
 *
 * A function says what it uses of the kit (`custom.functions.<name>.tokenX` in serverless.yml):
 * - `exchange`: the `tokenX()` middleware. The TokenX client's settings (`optionsFromEnv` and
 *   `resolveOptions`), inbound validation unless INBOUND_VALIDATION is `off` (`inboundFromEnv`, as
 *   the middleware builds it on its first call), and, when its environment has them, DOWNSTREAM_URL
 *   and DOWNSTREAM_AUDIENCE as the `audience` option (`audienceEntries`);
 * - `api`: the `tokenXApi()` middleware. TokenX tokens for TOKEN_X_CLIENT_ID (`inboundFromEnv` with
 *   TokenX as the only issuer) and ALLOWED_CALLERS as its `allowedClients` (`checkAllowedClients`);
 * - `entra-obo`: `entraOnBehalfOf()`. The Entra ID client (`entraOptionsFromEnv`,
 *   `resolveEntraOptions`), the caller token's checks (`entraInboundFromEnv`, `createEntraValidator`)
 *   and DOWNSTREAM_SCOPE / DOWNSTREAM_URL as its `target` (`checkTarget`);
 * - `entra-machine`: `createEntraClient().target()`: the client and the target;
 * - `maskinporten`: `createMaskinportenClient().target()`: the client and MASKINPORTEN_SCOPES,
 *   MASKINPORTEN_RESOURCE, EXTERNAL_API_URL as its target;
 * - `none`: no kit settings.
 * A deployed Entra ID or Maskinporten function reads its key from Secrets Manager only
 * (AZURE_APP_JWK_SECRET_ID, MASKINPORTEN_CLIENT_JWK_SECRET_ID; the inline key is no deploy setting).
 *
 * Runs under Node 24's type stripping (deploy/config.cjs imports it); only erasable TypeScript here.
 */
import { ConfigError, InvalidOptionError } from '../lib/errors.ts'
import { optionsFromEnv, resolveOptions } from '../lib/exchange/config.ts'
import { checkAllowedClients } from '../lib/inbound/config.ts'
import { inboundFromEnv } from '../lib/inbound/validator.ts'
import { audienceEntries } from '../lib/core/audience.ts'
import { isAcrLevel, type AcrLevel } from '../lib/inbound/acr.ts'
import {
  entraOptionsFromEnv,
  maskinportenOptionsFromEnv,
  resolveEntraOptions,
  resolveMaskinportenOptions,
} from '../lib/exchange/provider-options.ts'
import { createEntraValidator, entraInboundFromEnv } from '../lib/flows/entra-inbound.ts'
import { checkTarget } from '../lib/flows/bound-fetch.ts'

export type KitUse = 'exchange' | 'api' | 'none' | 'entra-obo' | 'entra-machine' | 'maskinporten'
type Env = Readonly<Record<string, string | undefined>>

/** The login level the example functions require when REQUIRED_ACR is unset (functions/shared/acr-env.ts). */
const DEFAULT_REQUIRED_ACR: AcrLevel = 'idporten-loa-high'

/**
 * Every problem the function would meet at start-up with `env`, one line per check, naming the
 * setting and never its value. Empty: it starts.
 */
export function configurationProblems(use: KitUse, env: Env): string[] {
  if (use === 'none') return []
  if (use === 'entra-obo' || use === 'entra-machine' || use === 'maskinporten') return providerProblems(use, env)
  const { problems, check, read } = collector(env)
  let minimumAcr: AcrLevel = DEFAULT_REQUIRED_ACR
  const acr = read('REQUIRED_ACR')
  if (acr !== undefined) {
    if (isAcrLevel(acr)) minimumAcr = acr
    else problems.push('REQUIRED_ACR must be idporten-loa-substantial, idporten-loa-high, Level3 or Level4')
  }

  if (use === 'exchange') {
    check('', () => resolveOptions(optionsFromEnv(env)))
    const inbound = read('INBOUND_VALIDATION')?.toLowerCase()
    if (inbound !== undefined && inbound !== 'on' && inbound !== 'off') problems.push('INBOUND_VALIDATION must be "on" or "off"')
    if (inbound !== 'off') check('', () => inboundFromEnv({ minimumAcr }, env))
    const url = read('DOWNSTREAM_URL')
    const audience = read('DOWNSTREAM_AUDIENCE')
    if (url !== undefined || audience !== undefined || 'DOWNSTREAM_URL' in env || 'DOWNSTREAM_AUDIENCE' in env) {
      if (url === undefined) problems.push('DOWNSTREAM_URL is not set')
      else if (audience === undefined) problems.push('DOWNSTREAM_AUDIENCE is not set')
      else check('DOWNSTREAM_URL / DOWNSTREAM_AUDIENCE', () => audienceEntries({ audience, url }))
    }
  } else {
    const callers = read('ALLOWED_CALLERS')
    const allowedClients = callers
      ?.split(',')
      .map((id) => id.trim())
      .filter((id) => id !== '')
    if (allowedClients !== undefined) check('ALLOWED_CALLERS', () => checkAllowedClients(allowedClients, true))
    check('', () =>
      inboundFromEnv({ minimumAcr, ...(allowedClients === undefined ? {} : { allowedClients }) }, env, { idporten: false, tokenX: true }),
    )
  }
  return problems
}

/** The Entra ID and Maskinporten functions: their client, the caller token's checks (on-behalf-of) and their target. */
function providerProblems(use: 'entra-obo' | 'entra-machine' | 'maskinporten', env: Env): string[] {
  const { problems, check, read } = collector(env)
  const maskinporten = use === 'maskinporten'
  const secret = maskinporten ? 'MASKINPORTEN_CLIENT_JWK_SECRET_ID' : 'AZURE_APP_JWK_SECRET_ID'
  // The key comes from Secrets Manager only: say so, then check the rest as if it were there.
  if (read(secret) === undefined) problems.push(`${secret} is not set`)
  const withKey = { ...env, [secret]: read(secret) ?? 'unset' }
  if (maskinporten) check('', () => resolveMaskinportenOptions(maskinportenOptionsFromEnv(withKey)))
  else check('', () => resolveEntraOptions(entraOptionsFromEnv(withKey)))
  if (use === 'entra-obo') check('', () => createEntraValidator(entraInboundFromEnv(env)))

  const [scopeName, urlName] = maskinporten ? ['MASKINPORTEN_SCOPES', 'EXTERNAL_API_URL'] : ['DOWNSTREAM_SCOPE', 'DOWNSTREAM_URL']
  const scope = read(scopeName)
  const url = read(urlName)
  if (url === undefined) problems.push(`${urlName} is not set`)
  if (scope === undefined) problems.push(`${scopeName} is not set`)
  if (url !== undefined && scope !== undefined) {
    const resource = maskinporten ? read('MASKINPORTEN_RESOURCE') : undefined
    // The client checks the resource on each request (lib/exchange/provider-client.ts): here before it runs.
    if (resource !== undefined && !URL.canParse(resource)) problems.push('MASKINPORTEN_RESOURCE must be an absolute URI (RFC 8707)')
    check(`${scopeName} / ${urlName}`, () => checkTarget({ scope, url, ...(resource === undefined ? {} : { resource }) }, maskinporten))
  }
  return problems
}

/**
 * The problem list of one function, with `check` (runs a kit check, adding its failure to the list)
 * and `read` (a setting, trimmed; empty counts as unset, as the kit reads it).
 */
function collector(env: Env): {
  problems: string[]
  check: (setting: string, run: () => void) => void
  read: (name: string) => string | undefined
} {
  const problems: string[] = []
  const check = (setting: string, run: () => void): void => {
    try {
      run()
    } catch (err) {
      problems.push(describe(setting, err))
    }
  }
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  return { problems, check, read }
}

function describe(setting: string, err: unknown): string {
  if (err instanceof ConfigError) return err.detail
  // An option check's message names the option (`audience.url must be ...`); say which setting fed it.
  if (err instanceof InvalidOptionError) return setting === '' ? err.message : `${setting}: ${err.message}`
  throw err
}
