/**
 * The kit's timer and abort primitives: every outbound call has a deadline and honours the caller's
 * signal, and no timer or listener outlives the call it was made for. `AbortSignal.timeout` and
 * `AbortSignal.any` are not used: their timers cannot be cleared, and fire long after the call, in a
 * later invocation.
 *
 * The two per-invocation guards of the warm path (core/deadline.ts `LazyDeadline`,
 * downstream/fetch.ts `RequestGuard`) are small classes of their own over the same rules, so that
 * a warm invocation allocates no closures for them; they take `timeoutError` from here.
 */

/** setTimeout and clearTimeout, as `within` and `sleep` use them. */
export interface Timers {
  setTimeout(run: () => void, ms: number): ReturnType<typeof setTimeout>
  clearTimeout(timer: ReturnType<typeof setTimeout> | undefined): void
}

/** The global timers as they are at each call (a test's fake timers included). */
export const globalTimers: Timers = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer),
}

const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis
/**
 * The timers as they were when the kit was loaded: budgets that must run on real time even while a
 * test fakes the global timers (which its retries' backoff does use).
 */
export const loadTimeTimers: Timers = {
  setTimeout: (run, ms) => realSetTimeout(run, ms),
  clearTimeout: (timer) => realClearTimeout(timer),
}

/** The reason a budget ran out: a `DOMException` named `TimeoutError`, as `AbortSignal.timeout` gives. */
export function timeoutError(message: string): DOMException {
  return new DOMException(message, 'TimeoutError')
}

/**
 * Settles as `promise` does, or rejects at once with `reason()` when `signal` aborts first (at once
 * when it already has). The listener goes as soon as either happens; `promise` itself runs on (others
 * may share it). `reason` may also do what giving up entails (the token cache counts its waiters there).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => unknown): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined)
    return Promise.reject(reason())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason())
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}

/** The limits of one call run by `within`. */
export interface Budget {
  /** Milliseconds until the call's signal aborts, with a `TimeoutError` saying `message`. */
  readonly abortAfter: number
  /**
   * Milliseconds until the caller stops waiting and rejects with that `TimeoutError`, whether or not
   * the call has noticed its signal (some clients ignore it, or notice late); an abort of `outer`
   * then stops the wait at once too. At most `abortAfter`. Without it, the caller waits for the call
   * to settle, which it does once its signal aborts.
   */
  readonly wait?: number | undefined
  /** The caller's signal: its abort aborts the call, with its reason. */
  readonly outer?: AbortSignal | undefined
  /** The `TimeoutError`'s message. */
  readonly message: string
  /** Default `globalTimers`. */
  readonly timers?: Timers | undefined
}

/**
 * Runs `run` with a signal that aborts after `budget.abortAfter` ms or when `budget.outer` aborts, and
 * settles as `run` does, or earlier as `budget.wait` says. Its timers and the listener on `outer` go
 * as soon as they have nothing left to do: the wait's when the caller stops waiting, the abort's when
 * `run` settles.
 */
export async function within<T>(budget: Budget, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { abortAfter, wait, outer, message, timers = globalTimers } = budget
  const controller = new AbortController()
  let stopWaiting: ((reason: unknown) => void) | undefined
  const waited =
    wait === undefined
      ? undefined
      : new Promise<never>((_, reject) => {
          stopWaiting = reject
        })
  const onAbort = () => {
    controller.abort(outer?.reason)
    stopWaiting?.(outer?.reason)
  }
  if (outer?.aborted === true) onAbort()
  else outer?.addEventListener('abort', onAbort, { once: true })
  const waitTimer =
    wait === undefined
      ? undefined
      : timers.setTimeout(() => {
          const reason = timeoutError(message)
          // Aborted before the caller goes on, so the call is cancelled by the time the answer leaves.
          if (abortAfter <= wait) controller.abort(reason)
          stopWaiting?.(reason)
        }, wait)
  waitTimer?.unref?.()
  const abortTimer =
    wait !== undefined && abortAfter <= wait ? undefined : timers.setTimeout(() => controller.abort(timeoutError(message)), abortAfter)
  abortTimer?.unref?.()
  let running: Promise<T>
  try {
    running = run(controller.signal)
  } catch (err) {
    running = Promise.reject(err)
  }
  const settled = () => timers.clearTimeout(abortTimer)
  running.then(settled, settled)
  try {
    return await (waited === undefined ? running : Promise.race([running, waited]))
  } finally {
    timers.clearTimeout(waitTimer)
    outer?.removeEventListener('abort', onAbort)
  }
}

/**
 * Resolves after `ms`, or rejects with `reason()` as soon as `signal` aborts (at once when it already
 * has); timer and listener go either way. Runs on the global timers as they are (fakeable).
 */
export function sleep(ms: number, signal?: AbortSignal, reason: () => unknown = () => signal?.reason): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) return reject(reason())
    const onAbort = () => {
      clearTimeout(timer)
      reject(reason())
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
