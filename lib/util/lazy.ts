/**
 * A load started on first use and shared: by concurrent callers while it runs, by every later caller
 * once it has succeeded. A failure is forgotten, so the next caller starts the load again (a
 * throttled or broken first attempt must not stick for the life of the environment).
 *
 * The AWS SDK clients (exchange/key.ts, cache/shared.ts) are created this way; each module keeps its own
 * literal `import()`, which is what lets esbuild put each SDK in a lazy chunk of its own.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined
  return () => {
    loaded ??= load().catch((err: unknown) => {
      loaded = undefined
      throw err
    })
    return loaded
  }
}
