/** The checks the options of every layer share (client, shared cache, inbound, middleware, logger). */
import { InvalidOptionError } from '../errors.ts'
import { isHttpUrl, isSafeUrl } from './url.ts'

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

/** A TokenX client id, `cluster:namespace:app`, each part a DNS-label-ish name. */
const CLIENT_ID = /^[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-]*:[a-z0-9][a-z0-9-.]*$/i

/** Whether `value` is a TokenX client id: our own, or a downstream app's (an audience is one, not a URL). */
export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value)
}

/** Throws `InvalidOptionError` unless `value` is an https: URL (http: on loopback only). */
export function checkUrl(name: string, value: unknown): void {
  if (typeof value !== 'string' || !isHttpUrl(value)) throw new InvalidOptionError(name, 'must be an http(s) URL')
  if (!isSafeUrl(new URL(value))) throw new InvalidOptionError(name, 'must be an https: URL (http: only on a loopback host)')
}
