/** The checks the options of every layer share (client, shared cache, inbound, middleware, logger). */
import { InvalidOptionError } from '../errors.ts'
import { isHttpUrl, isSafeUrl } from './url.ts'

/**
 * Every key of the options type `T`, listed once: `optionKeys<TokenXOptions>()('clientId', …)`. The
 * list is what unknown keys are refused against (`checkKnownKeys`), so it must not lag behind the
 * type: the call fails to compile when a key of `T` is missing (the error names it) or a listed one
 * is not a key of `T`.
 */
export function optionKeys<T>() {
  return <const K extends ReadonlyArray<keyof T & string>>(...keys: K & MissingKeys<T, K[number]>): Readonly<K> => Object.freeze(keys)
}

/** `unknown` when `Listed` covers every key of `T`; otherwise a shape no list has, naming the missing keys. */
type MissingKeys<T, Listed> = [Exclude<keyof T, Listed>] extends [never]
  ? unknown
  : { readonly missingOptionKeys: Exclude<keyof T, Listed> }

/**
 * `value` without its keys set to `undefined`, to merge over defaults: an option given as `undefined`
 * (`{ timeout: undefined }`, or a variable that is not set) takes the default.
 */
export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** Throws `InvalidOptionError` naming the first key of `options` that is not in `known`. */
export function checkKnownKeys(options: object, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new InvalidOptionError(`${prefix}${key}`, 'is not a known option')
  }
}

/** Throws `InvalidOptionError` (`name`, `detail`) unless `value` is an object; `arrays`: whether an array counts as one. */
export function checkOptionsObject(name: string, value: unknown, detail = 'must be an object', arrays = true): asserts value is object {
  if (value === null || typeof value !== 'object' || (!arrays && Array.isArray(value))) throw new InvalidOptionError(name, detail)
}

/** Throws `InvalidOptionError` unless `value` is a function, or undefined when `optional`. */
export function checkFunction(name: string, value: unknown, optional = true): void {
  if ((value !== undefined || !optional) && typeof value !== 'function') throw new InvalidOptionError(name, 'must be a function')
}

/** Throws `InvalidOptionError` unless `value` is undefined or a non-empty string. */
export function checkOptionalName(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) throw new InvalidOptionError(name, 'must be a non-empty string')
}

/** Throws `InvalidOptionError` unless `value` is an integer from `min` to `max`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}`)
  }
}

/** Throws `InvalidOptionError` unless `value` is an integer of 0 or more. */
export function checkNonNegativeInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
    throw new InvalidOptionError(name, 'must be a non-negative integer')
}

/**
 * A TokenX client id, `cluster:namespace:app`, each part a DNS-label-ish name, either case. Spelled
 * out rather than with the `i` flag: `tokenX()` checks its audiences when the function is built, and
 * the first match of a case-insensitive pattern costs that init phase a case-folding compile.
 */
const CLIENT_ID = /^[a-zA-Z0-9][a-zA-Z0-9-]*:[a-zA-Z0-9][a-zA-Z0-9-]*:[a-zA-Z0-9][a-zA-Z0-9-.]*$/

/** Whether `value` is a TokenX client id: our own, or a downstream app's (an audience is one, not a URL). */
export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value)
}

/** Throws `InvalidOptionError` unless `value` is an https: URL (http: on loopback only). */
export function checkUrl(name: string, value: unknown): void {
  if (typeof value !== 'string' || !isHttpUrl(value)) throw new InvalidOptionError(name, 'must be an http(s) URL')
  if (!isSafeUrl(new URL(value))) throw new InvalidOptionError(name, 'must be an https: URL (http: only on a loopback host)')
}
