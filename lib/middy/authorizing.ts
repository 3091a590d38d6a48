/**
 * The middy middleware over a core that authorizes, answers kit errors and ends the invocation (the
 * API side, Entra ID on-behalf-of): what `authorize` resolves to goes on `context` under one name.
 */
import { TokenXError } from '../errors.ts'
import type { LambdaContext, LambdaContextLike } from '../types.ts'

/** What such a core offers a middleware. */
export interface AuthorizingCore<V> {
  authorize(event: unknown, context?: Partial<LambdaContextLike>): Promise<V>
  respond(err: unknown): unknown
  end(): void
}

/** middy's request as the middleware reads and sets it. */
export interface AuthorizingRequest<K extends string, V> {
  event: unknown
  context: LambdaContext & { [P in K]: V }
  response: unknown
  error: unknown
}

export interface AuthorizingMiddleware<N extends string, K extends string, V> {
  readonly name: N
  before: (request: AuthorizingRequest<K, V>) => Promise<void>
  after: (request: AuthorizingRequest<K, V>) => void
  onError: (request: AuthorizingRequest<K, V>) => void
}

/** A kit error is answered (unless a response is already set); any other error passes through. */
export function authorizingMiddleware<N extends string, K extends string, V>(
  name: N,
  key: K,
  core: AuthorizingCore<V>,
): AuthorizingMiddleware<N, K, V> {
  return {
    name,
    before: async (request) => {
      ;(request.context as Record<K, V>)[key] = await core.authorize(request.event, request.context)
    },
    after: () => {
      core.end()
    },
    onError: (request) => {
      try {
        if (!(request.error instanceof TokenXError)) return
        const response = core.respond(request.error)
        if (request.response === undefined) request.response = response
      } finally {
        core.end()
      }
    },
  }
}
