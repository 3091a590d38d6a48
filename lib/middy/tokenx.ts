/**
 * The middy middleware: a thin wrapper over the core (lib/core/handler.ts), which can be used
 * without middy (`createTokenXHandlerCore`). It puts one `Downstream` per audience on
 * `context.tokenX`, and the verified claims on `context.citizen` when inbound validation is on.
 */
import { TokenXError } from '../errors.ts'
import type { LambdaContext } from '../types.ts'
import type { AudienceOption } from '../core/audience.ts'
import type { InboundOption, TokenXFields } from '../core/context.ts'
import { buildCore, type AuthorizedRequest } from '../core/handler.ts'
import type { TokenXCoreOptions } from '../core/options.ts'
import { isPreflight, OrderCheck } from './order-check.ts'

/**
 * What the middleware reads and sets on middy's `request`. Structural, so that middy's `Request` of
 * every supported major (4 to 7) fits without the kit's types importing `@middy/core`.
 */
export interface TokenXMiddlewareRequest<A extends AudienceOption, I extends InboundOption = InboundOption> {
  event: unknown
  /**
   * `tokenX`, and `citizen`: the verified claims, typed `VerifiedClaims`, when inbound validation is
   * on (`inbound`); no `citizen` when it is off.
   */
  context: LambdaContext & TokenXFields<A, I>
  response: unknown
  error: unknown
}

/**
 * The middleware object `tokenX()` returns, for `middy().use()`. middy 7 infers `context.tokenX`
 * from it; older majors take the context type you declare (`middy<Event, Result, Error, Ctx>()`).
 */
export interface TokenXMiddleware<A extends AudienceOption, I extends InboundOption = InboundOption> {
  readonly name: 'tokenX'
  /** Returns a promise only when it has to wait (validation or an exchange); a warm invocation returns nothing. */
  before: (request: TokenXMiddlewareRequest<A, I>) => Promise<void> | void
  after: (request: TokenXMiddlewareRequest<A, I>) => void
  onError: (request: TokenXMiddlewareRequest<A, I>) => void
}

/**
 * The middy middleware. Usage: `middy(handler).use(tokenX({ audience: 'cluster:namespace:app' }))`,
 * then `context.tokenX.fetch(url)` in the handler.
 *
 * Kit errors carry their answer (`statusCode`, `message`, `headers`), so the answer is the same
 * whether this `onError` renders it or an @middy/http-error-handler that runs before it does; a
 * response someone else already set is left alone. What cannot work is in docs/middlewares.md: when successful answers carry CORS or security headers that middlewares used after
 * `tokenX()` added, their `onError` has already run when this one renders a kit error, so the answer
 * lacks them; this middleware then warns once (`process.emitWarning`, code `TOKENX_MIDDLEWARE_ORDER`).
 */
export function tokenX<A extends AudienceOption, I extends InboundOption = undefined>(
  options: TokenXCoreOptions<A, I>,
): TokenXMiddleware<A, I> {
  const core = buildCore(options)
  const order = new OrderCheck()
  const admit = (request: TokenXMiddlewareRequest<A, I>, { tokenX: downstream, citizen }: AuthorizedRequest<A, I>): void => {
    const context = request.context as LambdaContext & { tokenX: unknown; citizen?: unknown }
    context.tokenX = downstream
    context.citizen = citizen
  }
  return {
    name: 'tokenX',
    // No promise on a warm invocation: middy awaits only what a middleware returns.
    before: (request) => {
      const authorized = core.authorizeNow(request.event, request.context)
      if (!(authorized instanceof Promise)) return admit(request, authorized)
      return authorized.then((later) => admit(request, later))
    },
    after: (request) => {
      core.release(request.context.tokenX)
      order.sawAnswer(request.response)
      core.end()
    },
    onError: (request) => {
      // (`tokenX` is unset when `before` itself failed; `authorize` released its deadline then.)
      if (request.context.tokenX !== undefined) core.release(request.context.tokenX)
      try {
        if (!(request.error instanceof TokenXError)) return
        if (request.response === undefined) {
          request.response = core.respond(request.error)
        } else {
          // An error handler used after tokenX() rendered the kit's error already (middy runs onError
          // in reverse order), from the error's own statusCode, message and headers. Log and publish
          // it all the same; keep what it and the middlewares between built.
          core.respond(request.error)
          order.sawRendered(request.response, request.error)
        }
        order.sawErrorAnswer(request.response)
        if (request.error.code === 'ERR_BEARER_TOKEN' && isPreflight(request.event)) order.sawPreflight()
      } finally {
        // The invocation's metrics record, whatever the error.
        core.end()
      }
    },
  }
}
