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
 * - `none`: no kit settings.
 *
 * Runs under Node 24's type stripping (deploy/config.cjs imports it); only erasable TypeScript here.
 */
import { ConfigError, InvalidOptionError } from '../lib/errors.ts'
import { optionsFromEnv, resolveOptions } from '../lib/exchange/config.ts'
import { checkAllowedClients } from '../lib/inbound/config.ts'
import { inboundFromEnv } from '../lib/inbound/validator.ts'
import { audienceEntries } from '../lib/core/audience.ts'
import { isAcrLevel, type AcrLevel } from '../lib/inbound/acr.ts'

export type KitUse = 'exchange' | 'api' | 'none'
type Env = Readonly<Record<string, string | undefined>>

/** The login level the example functions require when REQUIRED_ACR is unset (functions/shared/acr-env.ts). */
const DEFAULT_REQUIRED_ACR: AcrLevel = 'idporten-loa-high'

/**
 * Every problem the function would meet at start-up with `env`, one line per check, naming the
 * setting and never its value. Empty: it starts.
 */
export function configurationProblems(use: KitUse, env: Env): string[] {
  if (use === 'none') return []
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
    const allowedClients = callers?.split(',').map((id) => id.trim()).filter((id) => id !== '')
    if (allowedClients !== undefined) check('ALLOWED_CALLERS', () => checkAllowedClients(allowedClients, true))
    check('', () => inboundFromEnv({ minimumAcr, ...(allowedClients === undefined ? {} : { allowedClients }) }, env, { idporten: false, tokenX: true }))
  }
  return problems
}

function describe(setting: string, err: unknown): string {
  if (err instanceof ConfigError) return err.detail
  // An option check's message names the option (`audience.url must be ...`); say which setting fed it.
  if (err instanceof InvalidOptionError) return setting === '' ? err.message : `${setting}: ${err.message}`
  throw err
}
