/**
 * The invocation's deadline: `deadlineMargin` ms before the Lambda would time out, the time by which
 * validation, exchanges and downstream calls give up, so that the kit still answers in time.
 */
import type { LambdaContextLike } from '../types.ts'
import { timeoutError } from '../util/abort.ts'

const NO_DEADLINE: { readonly signal: AbortSignal | undefined; readonly at: number | undefined } = Object.freeze({
  signal: undefined,
  at: undefined,
})

/**
 * Aborts `deadlineMargin` ms before the Lambda would time out, created on first use; none outside
 * Lambda. Whoever creates one releases it when the invocation ends (`releaseDeadline`).
 */
export function lazyDeadline(
  context: Partial<LambdaContextLike> | undefined,
  margin: number,
): { readonly signal: AbortSignal | undefined; readonly at: number | undefined } {
  const remaining = context?.getRemainingTimeInMillis?.()
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return NO_DEADLINE
  return new LazyDeadline(Date.now() + remaining - margin)
}

/** Clears the timer a deadline from `lazyDeadline` may have started; a no-op for none. */
export function releaseDeadline(deadline: { readonly signal: AbortSignal | undefined }): void {
  if (deadline instanceof LazyDeadline) deadline.release()
}

/**
 * The deadline's signal, created on first use: a warm invocation served from the cache whose handler
 * calls no downstream needs none. An AbortController and a timer that `release()` clears when the
 * invocation ends (an AbortSignal.timeout cannot be cleared, and would fire after its invocation
 * ended). A class, as an object literal with a getter is slow to build.
 */
class LazyDeadline {
  readonly #at: number
  #controller: AbortController | undefined
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(at: number) {
    this.#at = at
  }

  /** Milliseconds since the epoch: downstream requests cut their own timer to it (no signal needed). */
  get at(): number {
    return this.#at
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController()
      this.#controller = controller
      this.#timer = setTimeout(
        () => {
          this.#timer = undefined
          controller.abort(timeoutError('The Lambda deadline is near'))
        },
        Math.max(1, this.#at - Date.now()),
      )
      // Never what keeps a process alive (outside Lambda, a forgotten release()).
      this.#timer.unref?.()
    }
    return this.#controller.signal
  }

  release(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
