/**
 * Reading NAIS-style environment variables (`TOKEN_X_*`, `IDPORTEN_*`, `AZURE_*`, `MASKINPORTEN_*`),
 * the one way every `…FromEnv` reads them: a value is trimmed, and an empty one counts as unset.
 * Failures are `ConfigError`s naming the variable, never echoing its value (one may be a private key).
 */
import { ConfigError } from '../errors.ts'
import { isSafeUrlString } from './url.ts'

export type Env = Readonly<Record<string, string | undefined>>

export interface EnvReader {
  /** The variable's value, trimmed; `undefined` when unset or blank. */
  read(name: string): string | undefined
  /** As `read`, but unset or blank is a `ConfigError`. */
  required(name: string): string
  /** As `read`, but a value that is not an https: URL (http: only on a loopback host) is a `ConfigError`. */
  url(name: string): string | undefined
}

export function envReader(env: Env): EnvReader {
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  return {
    read,
    required(name) {
      const value = read(name)
      if (value === undefined) throw new ConfigError(`${name} is not set`)
      return value
    },
    url(name) {
      const value = read(name)
      if (value !== undefined && !isSafeUrlString(value))
        throw new ConfigError(`${name} must be an https: URL (http: only on a loopback host)`)
      return value
    },
  }
}
