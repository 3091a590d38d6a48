import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { BearerTokenError } from '../../../lib/index.ts'
import { bearerToken } from '../../../lib/inbound/bearer.ts'
import { albEvent, apiGatewayV1Event, apiGatewayV2Event, lambdaContext } from '../../../lib/testing.ts'

describe('tokenx-handler-kit/testing events', () => {
  it.each([
    ['API Gateway v1', apiGatewayV1Event],
    ['API Gateway v2', apiGatewayV2Event],
    ['ALB', albEvent],
  ])('a %s event carries the token where the kit reads it, and no Authorization without one', (_name, build) => {
    expect(bearerToken(build({ token: 'a.b.c' }), 16_384)).toBe('a.b.c')
    expect(() => bearerToken(build(), 16_384)).toThrow(BearerTokenError)
    expect(() => bearerToken(build({ authorization: 'Basic dXNlcjpwYXNz' }), 16_384)).toThrow(BearerTokenError)
  })

  it('takes method, path, headers and body', () => {
    const v2 = apiGatewayV2Event({ method: 'POST', path: '/orders', headers: { 'X-Trace': '1' }, body: '{}' })
    expect(v2).toMatchObject({
      routeKey: 'POST /orders',
      rawPath: '/orders',
      body: '{}',
      headers: { 'x-trace': '1' },
      requestContext: { http: { method: 'POST', path: '/orders' } },
    })
    expect(apiGatewayV2Event()).not.toHaveProperty('body')
    const v1 = apiGatewayV1Event({ method: 'PUT', path: '/a', headers: { 'X-Trace': '1' }, token: 't' })
    expect(v1).toMatchObject({
      httpMethod: 'PUT',
      path: '/a',
      headers: { 'X-Trace': '1', Authorization: 'Bearer t' },
      multiValueHeaders: { Authorization: ['Bearer t'] },
    })
    expect(albEvent({ method: 'DELETE', path: '/b' })).toMatchObject({ httpMethod: 'DELETE', path: '/b' })
  })

  it('each is assignable to the @types/aws-lambda event type', () => {
    expectTypeOf(apiGatewayV1Event()).toExtend<APIGatewayProxyEvent>()
    expectTypeOf(apiGatewayV2Event()).toExtend<APIGatewayProxyEventV2>()
    expectTypeOf(albEvent()).toExtend<ALBEvent>()
    expectTypeOf(lambdaContext()).toExtend<Context>()
  })

  it('a Lambda context counts down from remainingMs', () => {
    const context = lambdaContext({ remainingMs: 2_000, functionName: 'orders' })
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(1_900)
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(2_000)
    expect(context.functionName).toBe('orders')
    expect(lambdaContext({ remainingMs: 0 }).getRemainingTimeInMillis()).toBe(0)
  })
})
