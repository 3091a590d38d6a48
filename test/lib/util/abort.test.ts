import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadTimeTimers, sleep, timeoutError, untilAborted, within } from '../../../lib/util/abort.ts'
import { deferred } from '../../helpers/deferred.ts'

afterEach(() => {
  vi.useRealTimers()
})

const listeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length

describe('timeoutError', () => {
  it('is a DOMException named TimeoutError, as AbortSignal.timeout gives', () => {
    const err = timeoutError('too slow')
    expect(err).toBeInstanceOf(DOMException)
    expect(err.name).toBe('TimeoutError')
    expect(err.message).toBe('too slow')
  })
})

describe('within, without a wait', () => {
  it("aborts the call's signal after abortAfter and settles as the call does; no timer or listener is left", async () => {
    vi.useFakeTimers()
    const outer = new AbortController()
    let seen: AbortSignal | undefined
    const result = within({ abortAfter: 100, outer: outer.signal, message: 'too slow' }, (signal) => {
      seen = signal
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    })
    const settled = expect(result).rejects.toMatchObject({ name: 'TimeoutError', message: 'too slow' })
    await vi.advanceTimersByTimeAsync(99)
    expect(seen?.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await settled
    expect(vi.getTimerCount()).toBe(0)
    expect(listeners(outer.signal)).toBe(0)
  })

  it('waits for a call that ignores its signal', async () => {
    vi.useFakeTimers()
    const call = deferred<string>()
    let done = false
    const result = within({ abortAfter: 100, message: 'too slow' }, () => call.promise).then((value) => {
      done = true
      return value
    })
    await vi.advanceTimersByTimeAsync(500)
    expect(done).toBe(false)
    call.resolve('late')
    await expect(result).resolves.toBe('late')
  })

  it("forwards the caller's abort with its reason, and clears its timer once the call settles", async () => {
    vi.useFakeTimers()
    const outer = new AbortController()
    const result = within(
      { abortAfter: 10_000, outer: outer.signal, message: 'too slow' },
      (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    )
    outer.abort(new Error('caller gave up'))
    await expect(result).rejects.toThrow('caller gave up')
    expect(vi.getTimerCount()).toBe(0)
  })

  it("hands an already aborted caller's signal on at once", async () => {
    const outer = new AbortController()
    outer.abort(new Error('before'))
    await expect(within({ abortAfter: 100, outer: outer.signal, message: 'x' }, (signal) => Promise.resolve(signal.aborted))).resolves.toBe(
      true,
    )
  })

  it('turns a call that throws at once into a rejection, leaving no timer', async () => {
    vi.useFakeTimers()
    await expect(
      within({ abortAfter: 100, message: 'x' }, () => {
        throw new Error('sync')
      }),
    ).rejects.toThrow('sync')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('runs on real time with loadTimeTimers, while the global timers are faked', async () => {
    vi.useFakeTimers()
    const result = within(
      { abortAfter: 20, message: 'real time', timers: loadTimeTimers },
      (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
    )
    expect(vi.getTimerCount()).toBe(0)
    await expect(result).rejects.toMatchObject({ name: 'TimeoutError', message: 'real time' })
  })
})

describe('within, with a wait', () => {
  it('stops waiting at `wait` for a call that ignores its signal, and has aborted it by then', async () => {
    vi.useFakeTimers()
    let seen: AbortSignal | undefined
    const result = within({ abortAfter: 50, wait: 50, message: 'budget' }, (signal) => {
      seen = signal
      return new Promise(() => undefined)
    })
    const settled = expect(result).rejects.toMatchObject({ name: 'TimeoutError', message: 'budget' })
    await vi.advanceTimersByTimeAsync(50)
    await settled
    expect(seen?.aborted).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('aborts the call later than it stops waiting when abortAfter is longer, unless the call settles first', async () => {
    vi.useFakeTimers()
    const slow = deferred<string>()
    let seen: AbortSignal | undefined
    const result = within({ abortAfter: 200, wait: 50, message: 'budget' }, (signal) => {
      seen = signal
      return slow.promise
    })
    const settled = expect(result).rejects.toMatchObject({ name: 'TimeoutError' })
    await vi.advanceTimersByTimeAsync(50)
    await settled
    expect(seen?.aborted).toBe(false)
    await vi.advanceTimersByTimeAsync(150)
    expect(seen?.aborted).toBe(true)

    const second = deferred<string>()
    const next = within({ abortAfter: 200, wait: 50, message: 'budget' }, () => second.promise)
    const nextSettled = expect(next).rejects.toMatchObject({ name: 'TimeoutError' })
    await vi.advanceTimersByTimeAsync(50)
    await nextSettled
    second.resolve('done after the wait')
    await vi.advanceTimersByTimeAsync(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("stops waiting at once when the caller aborts, with the caller's reason", async () => {
    vi.useFakeTimers()
    const outer = new AbortController()
    const result = within({ abortAfter: 1000, wait: 1000, outer: outer.signal, message: 'budget' }, () => new Promise(() => undefined))
    outer.abort(new Error('deadline'))
    await expect(result).rejects.toThrow('deadline')
    expect(vi.getTimerCount()).toBe(0)
    expect(listeners(outer.signal)).toBe(0)
  })

  it('settles with the call when it answers in time', async () => {
    vi.useFakeTimers()
    await expect(within({ abortAfter: 100, wait: 100, message: 'budget' }, () => Promise.resolve(42))).resolves.toBe(42)
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('untilAborted', () => {
  it('settles as the promise does, and removes its listener', async () => {
    const controller = new AbortController()
    await expect(untilAborted(Promise.resolve('value'), controller.signal, () => 'gave up')).resolves.toBe('value')
    await expect(untilAborted(Promise.reject(new Error('failed')), controller.signal, () => 'gave up')).rejects.toThrow('failed')
    expect(listeners(controller.signal)).toBe(0)
  })

  it('rejects with reason() as soon as the signal aborts; the promise runs on', async () => {
    const controller = new AbortController()
    const shared = deferred<string>()
    const result = untilAborted(shared.promise, controller.signal, () => new Error('gave up'))
    controller.abort()
    await expect(result).rejects.toThrow('gave up')
    shared.resolve('still useful to others')
    await expect(shared.promise).resolves.toBe('still useful to others')
  })

  it('rejects at once on a signal that has already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    const never = new Promise<string>(() => undefined)
    await expect(untilAborted(never, controller.signal, () => new Error('already aborted'))).rejects.toThrow('already aborted')
  })
})

describe('sleep', () => {
  it('resolves after ms on the global timers', async () => {
    vi.useFakeTimers()
    let done = false
    const slept = sleep(100).then(() => {
      done = true
    })
    await vi.advanceTimersByTimeAsync(99)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await slept
    expect(done).toBe(true)
  })

  it('rejects with reason() when the signal aborts, before or during; no timer or listener is left', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    const slept = sleep(1000, controller.signal, () => new Error('cut short'))
    controller.abort()
    await expect(slept).rejects.toThrow('cut short')
    expect(vi.getTimerCount()).toBe(0)
    await expect(sleep(1000, controller.signal, () => new Error('at once'))).rejects.toThrow('at once')
    await expect(sleep(1000, controller.signal)).rejects.toMatchObject({ name: 'AbortError' })
    expect(vi.getTimerCount()).toBe(0)
    expect(listeners(controller.signal)).toBe(0)
  })
})
