/**
 * A bounded LRU cache of promises with expiry, for exchanged tokens.
 *
 * - Concurrent callers for one key share one load (the promise is cached, not the value).
 * - A failed load is never cached.
 * - Each caller may bring its own `AbortSignal`: it stops waiting when its signal aborts, and the
 *   shared load is aborted only when every caller waiting for it has given up.
 * - The least recently used entry goes first once `maxEntries` is reached.
 */
import { hash } from 'node:crypto'
import type { Loaded } from '../types.ts'
import { untilAborted } from '../util/abort.ts'

interface Entry<V> {
  value: V | undefined
  freshUntil: number
  pending: Promise<V> | undefined
  controller: AbortController | undefined
  /** Callers still waiting for `pending`; a caller without a signal counts forever. */
  waiters: number
}

export class PromiseCache<V> {
  readonly #entries = new Map<string, Entry<V>>()
  readonly #maxEntries: number
  readonly #clock: () => number
  /** The entry last set in `#entries`: the most recently used one (or one since deleted, which no lookup finds). */
  #newest: Entry<V> | undefined

  constructor(maxEntries: number, clock: () => number) {
    this.#maxEntries = maxEntries
    this.#clock = clock
  }

  get size(): number {
    return this.#entries.size
  }

  /** The fresh value for `key`, or the shared in-flight load, or a new load. */
  get(key: string, load: (signal: AbortSignal) => Promise<Loaded<V>>, signal?: AbortSignal): Promise<V> {
    const entry = this.#entries.get(key)
    if (entry !== undefined) {
      if (entry.value !== undefined && this.#clock() < entry.freshUntil) {
        this.#touch(key, entry)
        return Promise.resolve(entry.value)
      }
      // A load aborted because all its callers gave up is about to fail; a newcomer must not inherit
      // that failure, so it starts its own (the aborted one no longer touches the cache when it settles).
      if (entry.pending !== undefined && entry.controller?.signal.aborted !== true) return this.#join(entry, signal)
    }
    return this.#join(this.#start(key, load), signal)
  }

  /** The fresh value for `key`, counted as a use (as a hit in `get` is), without loading. */
  hit(key: string): V | undefined {
    const entry = this.#entries.get(key)
    if (entry?.value === undefined || this.#clock() >= entry.freshUntil) return undefined
    this.#touch(key, entry)
    return entry.value
  }

  /** The fresh value for `key`, without loading. */
  peek(key: string): V | undefined {
    const entry = this.#entries.get(key)
    return entry?.value !== undefined && this.#clock() < entry.freshUntil ? entry.value : undefined
  }

  /** Drops `key`; with `only`, only while it still holds that value (so a newer one is kept). */
  delete(key: string, only?: V): void {
    const entry = this.#entries.get(key)
    if (entry !== undefined && (only === undefined || entry.value === only)) this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
    this.#newest = undefined
  }

  #start(key: string, load: (signal: AbortSignal) => Promise<Loaded<V>>): Entry<V> {
    const controller = new AbortController()
    // Every field from the start, and cleared by assignment rather than `delete`: an object that loses
    // a property drops to dictionary mode, a larger entry.
    const entry: Entry<V> = { value: undefined, freshUntil: 0, pending: undefined, controller, waiters: 0 }
    entry.pending = load(controller.signal).then(
      (loaded) => {
        entry.pending = undefined
        entry.controller = undefined
        if (this.#entries.get(key) === entry) {
          entry.value = loaded.value
          entry.freshUntil = loaded.freshUntil
        }
        return loaded.value
      },
      (err: unknown) => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key)
        throw err
      },
    )
    // Every caller may have given up; the rejection must not become an unhandled one.
    entry.pending.catch(() => undefined)
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#newest = entry
    this.#evict()
    return entry
  }

  #join(entry: Entry<V>, signal: AbortSignal | undefined): Promise<V> {
    const pending = entry.pending as Promise<V>
    if (signal === undefined) {
      entry.waiters += Number.POSITIVE_INFINITY
      return pending
    }
    if (signal.aborted) return Promise.reject(signal.reason)
    entry.waiters += 1
    return untilAborted(pending, signal, () => {
      entry.waiters -= 1
      if (entry.waiters <= 0) entry.controller?.abort(signal.reason)
      return signal.reason
    })
  }

  #touch(key: string, entry: Entry<V>): void {
    // Already the most recently used (the same citizen again, the common warm case): a delete and a
    // set would leave the order as it is.
    if (entry === this.#newest) return
    // Map keeps insertion order: moving the key to the end makes the first key the least recently used.
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    this.#newest = entry
  }

  #evict(): void {
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string
      // Waiters of an evicted in-flight load keep their promise; only the cache forgets it.
      this.#entries.delete(oldest)
    }
  }
}

/**
 * The SHA-256 of a subject token (base64url), computed once per invocation: the token cache and the
 * inbound validator's cache both key on it, so no raw citizen token is ever a key, and two citizens
 * can only share an entry by breaking SHA-256.
 */
export function subjectDigest(subjectToken: string): string {
  // One-shot crypto.hash: the same digest as a Hash object, at about two thirds the cost.
  return hash('sha256', subjectToken, 'base64url')
}

/**
 * The key of the token for `audience` on behalf of the citizen whose token has `digest`
 * (`subjectDigest`). The space cannot occur in either part (a client id, base64url), so two
 * (audience, digest) pairs never give one key.
 */
export function cacheKeyFor(digest: string, audience: string): string {
  return `${audience} ${digest}`
}

/** `cacheKeyFor(subjectDigest(subjectToken), audience)`. */
export function tokenCacheKey(subjectToken: string, audience: string): string {
  return cacheKeyFor(subjectDigest(subjectToken), audience)
}
