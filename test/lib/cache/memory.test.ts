import { describe, expect, it, vi } from 'vitest'
import { createHash } from 'node:crypto'
import { cacheKeyFor, PromiseCache, subjectDigest, tokenCacheKey } from '../../../lib/cache/memory.ts'
import type { Loaded } from '../../../lib/types.ts'
import { deferred, type Deferred } from '../../helpers/deferred.ts'

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

function setup(maxEntries = 10) {
  let now = 1_000_000
  const cache = new PromiseCache<string>(maxEntries, () => now)
  return {
    cache,
    advance: (ms: number) => {
      now += ms
    },
    now: () => now,
    /** A load that resolves at once with `value`, fresh for `ttl` ms. */
    fixed: (value: string, ttl = 60_000) => vi.fn(async (): Promise<Loaded<string>> => ({ value, freshUntil: now + ttl })),
  }
}

/** A load the test settles itself, recording the shared signal it was given. */
function controlledLoad() {
  const gate = deferred<Loaded<string>>()
  const signals: AbortSignal[] = []
  const load = vi.fn((signal: AbortSignal) => {
    signals.push(signal)
    return gate.promise
  })
  return { load, gate, signals }
}

describe('PromiseCache', () => {
  it('loads on a miss and serves a hit without loading', async () => {
    const { cache, fixed } = setup()
    const load = fixed('v1')
    expect(await cache.get('k', load)).toBe('v1')
    expect(await cache.get('k', fixed('other'))).toBe('v1')
    expect(load).toHaveBeenCalledTimes(1)
    expect(cache.peek('k')).toBe('v1')
    expect(cache.peek('missing')).toBeUndefined()
    expect(cache.size).toBe(1)
  })

  it('serves a value until freshUntil, then loads again', async () => {
    const { cache, fixed, advance } = setup()
    await cache.get('k', fixed('v1', 1_000))
    advance(999)
    expect(await cache.get('k', fixed('v2'))).toBe('v1')
    advance(1)
    expect(cache.peek('k')).toBeUndefined()
    const reload = fixed('v2')
    expect(await cache.get('k', reload)).toBe('v2')
    expect(reload).toHaveBeenCalledTimes(1)
  })

  it('never serves a value that was stale on arrival', async () => {
    const { cache, fixed } = setup()
    expect(await cache.get('k', fixed('v1', 0))).toBe('v1')
    const again = fixed('v2')
    expect(await cache.get('k', again)).toBe('v2')
    expect(again).toHaveBeenCalledTimes(1)
  })

  it('evicts the least recently used entry, a hit counting as use', async () => {
    const { cache, fixed } = setup(3)
    await cache.get('a', fixed('A'))
    await cache.get('b', fixed('B'))
    await cache.get('c', fixed('C'))
    await cache.get('a', fixed('unused')) // touches a: b is now the oldest
    await cache.get('d', fixed('D'))
    expect(cache.size).toBe(3)
    expect(['a', 'b', 'c', 'd'].map((k) => cache.peek(k))).toEqual(['A', undefined, 'C', 'D'])
    await cache.get('e', fixed('E')) // c goes next
    expect(['a', 'c', 'd', 'e'].map((k) => cache.peek(k))).toEqual(['A', undefined, 'D', 'E'])
    const reload = fixed('B2')
    expect(await cache.get('b', reload)).toBe('B2')
    expect(reload).toHaveBeenCalledTimes(1)
    expect(cache.peek('a')).toBeUndefined() // a was the oldest when b came back
  })

  it('never holds more than maxEntries, loaded or in flight', async () => {
    const { cache, fixed } = setup(5)
    const gates: Array<Deferred<Loaded<string>>> = []
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0) {
        await cache.get(`k${i}`, fixed(`v${i}`))
      } else {
        const gate = deferred<Loaded<string>>()
        gates.push(gate)
        void cache.get(`k${i}`, () => gate.promise)
      }
      expect(cache.size).toBeLessThanOrEqual(5)
    }
    for (const gate of gates) gate.resolve({ value: 'late', freshUntil: Number.MAX_SAFE_INTEGER })
    await settle()
    expect(cache.size).toBeLessThanOrEqual(5)
  })

  it('shares one load among concurrent callers', async () => {
    const { cache } = setup()
    const { load, gate } = controlledLoad()
    const waiting = Array.from({ length: 10 }, () => cache.get('k', load))
    expect(load).toHaveBeenCalledTimes(1)
    gate.resolve({ value: 'shared', freshUntil: Number.MAX_SAFE_INTEGER })
    expect(await Promise.all(waiting)).toEqual(Array(10).fill('shared'))
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('forgets a rejected load, so the next get loads again', async () => {
    const { cache, fixed } = setup()
    const boom = new Error('boom')
    const failing = vi.fn(async (): Promise<Loaded<string>> => Promise.reject(boom))
    const first = cache.get('k', failing)
    const second = cache.get('k', failing)
    await expect(first).rejects.toBe(boom)
    await expect(second).rejects.toBe(boom)
    expect(failing).toHaveBeenCalledTimes(1)
    expect(cache.size).toBe(0)
    const retry = fixed('ok')
    expect(await cache.get('k', retry)).toBe('ok')
    expect(retry).toHaveBeenCalledTimes(1)
  })

  it('does not turn a load that every caller gave up on into an unhandled rejection', async () => {
    const { cache } = setup()
    const { load, gate } = controlledLoad()
    const controller = new AbortController()
    const waiting = cache.get('k', load, controller.signal)
    controller.abort(new Error('gone'))
    await expect(waiting).rejects.toThrow('gone')
    gate.reject(new Error('late failure'))
    await settle()
    expect(cache.size).toBe(0)
  })

  it('rejects only the waiter whose own signal aborted; the others get the value', async () => {
    const { cache } = setup()
    const { load, gate, signals } = controlledLoad()
    const a = new AbortController()
    const b = new AbortController()
    const first = cache.get('k', load, a.signal)
    const second = cache.get('k', load, b.signal)
    const third = cache.get('k', load)
    const reason = new Error('a gave up')
    a.abort(reason)
    await expect(first).rejects.toBe(reason)
    expect(signals[0]?.aborted).toBe(false)
    gate.resolve({ value: 'v', freshUntil: Number.MAX_SAFE_INTEGER })
    expect(await second).toBe('v')
    expect(await third).toBe('v')
    expect(cache.peek('k')).toBe('v')
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('rejects at once a waiter whose signal is already aborted', async () => {
    const { cache } = setup()
    const { load, gate } = controlledLoad()
    const reason = new Error('already')
    await expect(cache.get('k', load, AbortSignal.abort(reason))).rejects.toBe(reason)
    gate.resolve({ value: 'v', freshUntil: Number.MAX_SAFE_INTEGER })
    await settle()
    expect(cache.peek('k')).toBe('v')
  })

  it('aborts the shared load only after every waiter aborted', async () => {
    const { cache } = setup()
    const { load, signals } = controlledLoad()
    const controllers = [new AbortController(), new AbortController(), new AbortController()]
    const waiting = controllers.map((c) => cache.get('k', load, c.signal))
    for (const p of waiting) p.catch(() => undefined)
    expect(load).toHaveBeenCalledTimes(1)
    const shared = signals[0] as AbortSignal
    controllers[0]?.abort(new Error('first'))
    controllers[1]?.abort(new Error('second'))
    expect(shared.aborted).toBe(false)
    const last = new Error('last')
    controllers[2]?.abort(last)
    expect(shared.aborted).toBe(true)
    expect(shared.reason).toBe(last)
    await expect(waiting[2]).rejects.toBe(last)
  })

  it('never aborts a shared load that a caller without a signal waits for', async () => {
    const { cache } = setup()
    const { load, gate, signals } = controlledLoad()
    const controller = new AbortController()
    const withSignal = cache.get('k', load, controller.signal)
    const without = cache.get('k', load)
    controller.abort(new Error('gone'))
    await expect(withSignal).rejects.toThrow('gone')
    expect(signals[0]?.aborted).toBe(false)
    gate.resolve({ value: 'v', freshUntil: Number.MAX_SAFE_INTEGER })
    expect(await without).toBe('v')
  })

  it('a caller arriving after the shared load was aborted gets a load of its own', async () => {
    const { cache } = setup()
    // A load that gives up as soon as its signal aborts, as an HTTP request does.
    const aborting = vi.fn(
      (signal: AbortSignal) =>
        new Promise<Loaded<string>>((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
    )
    const controller = new AbortController()
    const gaveUp = cache.get('k', aborting, controller.signal)
    gaveUp.catch(() => undefined)
    controller.abort(new Error('first caller timed out'))
    // Right after: this caller brought no signal and did not give up; it must not inherit the abort.
    const fresh = vi.fn(async (): Promise<Loaded<string>> => ({ value: 'fresh', freshUntil: Number.MAX_SAFE_INTEGER }))
    await expect(cache.get('k', fresh)).resolves.toBe('fresh')
    expect(fresh).toHaveBeenCalledTimes(1)
  })

  it('delete(key, only) keeps a newer value', async () => {
    const { cache, fixed, advance } = setup()
    await cache.get('k', fixed('v1', 1_000))
    advance(1_000)
    await cache.get('k', fixed('v2'))
    cache.delete('k', 'v1')
    expect(cache.peek('k')).toBe('v2')
    cache.delete('k', 'v2')
    expect(cache.peek('k')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('delete(key) drops whatever is there; a load finishing afterwards is not stored', async () => {
    const { cache, fixed } = setup()
    await cache.get('a', fixed('A'))
    cache.delete('a')
    expect(cache.size).toBe(0)
    const { load, gate } = controlledLoad()
    const waiting = cache.get('k', load)
    cache.delete('k', 'v') // no value yet: an in-flight load is kept
    expect(cache.size).toBe(1)
    cache.delete('k')
    gate.resolve({ value: 'v', freshUntil: Number.MAX_SAFE_INTEGER })
    expect(await waiting).toBe('v')
    expect(cache.peek('k')).toBeUndefined()
    const again = fixed('v2')
    expect(await cache.get('k', again)).toBe('v2')
    expect(again).toHaveBeenCalledTimes(1)
  })

  it('clear() empties the cache', async () => {
    const { cache, fixed } = setup()
    await cache.get('a', fixed('A'))
    await cache.get('b', fixed('B'))
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.peek('a')).toBeUndefined()
  })
})

describe('tokenCacheKey', () => {
  const subject = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkxMCJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'
  const other = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMDk4NzY1NDMyMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ'

  it('is stable for one subject and audience', () => {
    expect(tokenCacheKey(subject, 'dev-gcp:team:api')).toBe(tokenCacheKey(subject, 'dev-gcp:team:api'))
  })

  it('differs for a different subject or audience', () => {
    const keys = new Set([
      tokenCacheKey(subject, 'dev-gcp:team:api'),
      tokenCacheKey(other, 'dev-gcp:team:api'),
      tokenCacheKey(subject, 'dev-gcp:team:other'),
      tokenCacheKey('dev-gcp:team:api', subject),
      tokenCacheKey(`${subject}a`, 'dev-gcp:team:ap'),
    ])
    expect(keys.size).toBe(5)
  })

  it('is the audience and the SHA-256 of the token: no part of the token itself', () => {
    const key = tokenCacheKey(subject, 'dev-gcp:team:api')
    expect(key).toBe(`dev-gcp:team:api ${createHash('sha256').update(subject).digest('base64url')}`)
    expect(key).toBe(cacheKeyFor(subjectDigest(subject), 'dev-gcp:team:api'))
    for (const part of subject.split('.')) expect(key).not.toContain(part.slice(0, 12))
  })
})
