/**
 * The kit's own tests build their events and Lambda context with `tokenx-handler-kit/testing`, as a
 * consumer would; these helpers keep the short positional form the tests use (an Authorization value
 * and a path) and type the results as `@types/aws-lambda` declares them.
 */
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { albEvent as alb, apiGatewayV1Event, apiGatewayV2Event, lambdaContext as context } from '../../lib/testing.ts'

export function v1Event(authorization?: string, path = '/resource'): APIGatewayProxyEvent {
  return apiGatewayV1Event({ authorization, path })
}

export function v2Event(authorization?: string, path = '/resource'): APIGatewayProxyEventV2 {
  return apiGatewayV2Event({ authorization, path })
}

export function albEvent(authorization?: string, path = '/resource'): ALBEvent {
  return alb({ authorization, path })
}

/**
 * A Lambda context with `remaining` milliseconds left. Typed as whatever context the handler under
 * test declares (middy handlers declare the context their middlewares add, e.g. `tokenX`).
 */
export function lambdaContext<T extends Context = Context>(remaining = 10_000): T {
  return context({ remainingMs: remaining, functionName: 'tokenx-handler-kit-dev-resource' }) as Context as T
}
