/**
 * Answering a kit error: the answer (response.ts), and the `error` event that logs and counts it
 * once (lib/observe/observer.ts). Shared by the handler core and the API-side core.
 */
import { TokenExchangeError, TokenXError } from '../errors.ts'
import { publish, type KitEvents } from '../events.ts'
import type { Observer } from '../observe/observer.ts'
import { errorResponse, type ErrorResponse } from './response.ts'

/**
 * The HTTP answer for a kit error, published as an 'error' event (so it is logged and counted once);
 * `undefined` for any other error. An error answered outside an invocation (no `authorize` before)
 * is still logged and counted. Shared by `tokenX` and `tokenXApi`.
 */
export function respondTo(err: unknown, observer: Observer): ErrorResponse | undefined {
  if (!(err instanceof TokenXError)) return undefined
  const outside = !observer.isOpen
  if (outside) observer.begin(undefined)
  publish('error', () => errorEvent(err))
  if (outside) observer.end()
  return errorResponse(err)
}

export function errorEvent(err: TokenXError): KitEvents['error'] {
  // `detail` is the internal, token-free explanation; `message` is the public answer (errors.ts).
  return {
    code: err.code,
    statusCode: err.statusCode,
    detail: err.detail,
    ...(err instanceof TokenExchangeError
      ? {
          tokenEndpointStatus: err.tokenEndpointStatus,
          upstreamError: err.upstream.error,
          upstreamErrorDescription: err.upstream.error_description,
        }
      : {}),
  }
}
