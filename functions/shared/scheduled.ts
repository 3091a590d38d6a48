/**
 * What the scheduled example functions (machine, maskinporten) share: a deadline for one run, kept
 * short of the Lambda's own, and the run's outcome as the function's result.
 */
import type { Context } from 'aws-lambda'
import type { KitLogger } from 'tokenx-handler-kit'

/** Milliseconds kept free before the Lambda's deadline, so that the run ends with an answer of its own. */
const DEADLINE_MARGIN = 500

/** What a scheduled run returns (and logs): the called API's status. */
export interface RunResult {
  readonly status: number
}

/** A scheduled function's downstream, as it was configured at load: the URL to call and the bound target calling it. */
export interface ScheduledCall {
  readonly url: string
  readonly target: { fetch(input: string, init: { signal: AbortSignal }): Promise<Response> }
}

/**
 * The handler of a scheduled function: with a configuration error (kept by `configuredAtLoad`),
 * every run logs it and throws it; otherwise each run calls `configured.url` through its target.
 */
export function scheduledHandler(configured: ScheduledCall | Error, logger: KitLogger) {
  return async (_event: unknown, context?: Context): Promise<RunResult> => {
    if (configured instanceof Error) {
      logger.error('misconfigured', { detail: detailOf(configured) })
      throw configured
    }
    return runScheduled(context, logger, (signal) => configured.target.fetch(configured.url, { signal }))
  }
}

/**
 * Runs `call` with a signal that aborts `DEADLINE_MARGIN` ms before the invocation's deadline; the
 * timer is cleared when the run ends, so none outlives the invocation. The API's answer body is not
 * read: only its status is reported.
 */
async function runScheduled(
  context: Pick<Context, 'getRemainingTimeInMillis'> | undefined,
  logger: KitLogger,
  call: (signal: AbortSignal) => Promise<Response>,
): Promise<RunResult> {
  const remaining = context?.getRemainingTimeInMillis?.() ?? 10_000
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error("the invocation's deadline is near")), Math.max(1, remaining - DEADLINE_MARGIN))
  try {
    const answer = await call(controller.signal)
    await answer.body?.cancel().catch(() => undefined)
    logger.info('scheduled call answered', { status: answer.status })
    return { status: answer.status }
  } catch (err) {
    // The kit's errors carry a typed code and a sanitised message (no token, no key).
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'ERR_UNEXPECTED'
    logger.error('scheduled call failed', { code })
    throw err
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `build()` once, at module load; a bad setting (ConfigError, or TypeError for an option) is kept
 * and thrown by every run instead of crashing the init phase, so each scheduled run fails visibly
 * with the setting's name.
 */
export function configuredAtLoad<T>(build: () => T): T | Error {
  try {
    return build()
  } catch (err) {
    if (err instanceof Error) return err
    throw err
  }
}

/** What a configuration error says: a kit error's detail (its message is the public answer), or a TypeError's message; both name the setting, never its value. */
function detailOf(err: Error): string {
  const detail = (err as { detail?: unknown }).detail
  return typeof detail === 'string' ? detail : err.message
}
