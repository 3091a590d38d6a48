/**
 * The checks every options object shares. A module of its own because config.ts imports
 * shared-cache.ts (its `sharedCache` option), and shared-cache.ts needs these too.
 */
import { InvalidOptionError } from '../errors.ts'

/** Throws `InvalidOptionError` naming the first key of `options` that is not in `known`. */
export function checkKnownKeys(options: object, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new InvalidOptionError(`${prefix}${key}`, 'is not a known option')
  }
}

/** Throws `InvalidOptionError` unless `value` is an integer from `min` to `max`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}`)
  }
}

/** Throws `InvalidOptionError` unless `value` is an integer of 0 or more. */
export function checkNonNegativeInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new InvalidOptionError(name, 'must be a non-negative integer')
}
