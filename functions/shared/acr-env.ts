/**
 * The login level the example functions require: `REQUIRED_ACR`, default `idporten-loa-high`. A bad
 * value becomes a `ConfigError` the function answers with (500, JSON), as for its other settings.
 */
import { ConfigError } from 'tokenx-handler-kit'
import { isAcrLevel, type AcrLevel } from 'tokenx-handler-kit/config'

export const DEFAULT_REQUIRED_ACR: AcrLevel = 'idporten-loa-high'

export function requiredAcrFromEnv(env: Readonly<Record<string, string | undefined>>): AcrLevel | ConfigError {
  const value = env['REQUIRED_ACR']?.trim()
  if (value === undefined || value === '') return DEFAULT_REQUIRED_ACR
  if (!isAcrLevel(value)) return new ConfigError('REQUIRED_ACR must be idporten-loa-substantial, idporten-loa-high, Level3 or Level4')
  return value
}

/**
 * This function's environment as it was when its module loaded. serverless-offline runs every
 * function of serverless.yml in one process and writes each one's environment into the shared
 * `process.env` before each call; reading a copy keeps a function on its own settings (on Lambda,
 * where each function has its own process, the copy is the same as `process.env`).
 */
export function environmentAtLoad(): Readonly<Record<string, string | undefined>> {
  return Object.freeze({ ...process.env })
}

/**
 * INBOUND_VALIDATION: `on` (default) or `off`. Off leaves the citizen's token to TokenX alone (as the
 * kit's default does) — for measuring the exchange path by itself (bench/cold.ts), or behind a
 * gateway that already verified the token; then no login level is enforced.
 */
export function inboundValidationFromEnv(env: Readonly<Record<string, string | undefined>>): boolean | ConfigError {
  const value = env['INBOUND_VALIDATION']?.trim().toLowerCase()
  if (value === undefined || value === '' || value === 'on') return true
  if (value === 'off') return false
  return new ConfigError('INBOUND_VALIDATION must be "on" or "off"')
}
