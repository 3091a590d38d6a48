/**
 * Taps console.* for the whole test file. Imported before any middleware: @middy/http-error-handler
 * keeps a reference to `console.error` from when it is loaded (its default `logger`), so replacing
 * the method later would not see what it logs. `tap` redirects every console method until undone.
 */
const METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
type Sink = (method: (typeof METHODS)[number], args: unknown[]) => void

const originals = Object.fromEntries(METHODS.map((method) => [method, console[method].bind(console)])) as Record<
  (typeof METHODS)[number],
  (...args: unknown[]) => void
>
let sink: Sink | undefined

for (const method of METHODS) {
  console[method] = (...args: unknown[]) => (sink === undefined ? originals[method](...args) : sink(method, args))
}

/** Sends console output to `to` until the returned function is called. */
export function tap(to: Sink): () => void {
  sink = to
  return () => {
    sink = undefined
  }
}
