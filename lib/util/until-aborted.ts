/**
 * Settles as `promise` does, or rejects at once with `reason()` when `signal` aborts first. The
 * listener goes as soon as either happens; `promise` itself runs on (others may share it).
 * `reason` may also do what giving up entails (the token cache counts its waiters there).
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reason: () => unknown): Promise<T> {
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
