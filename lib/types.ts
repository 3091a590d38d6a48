/**
 * The Lambda context, as `@types/aws-lambda`'s `Context` declares it (its required members and
 * `tenantId`; the optional `identity` and `clientContext` are left out). Declared here so that the
 * published types need neither `@types/aws-lambda` nor `@middy/core`, while middy, whose context
 * types must extend that `Context`, still accepts the middleware. The kit reads
 * `getRemainingTimeInMillis` (deadlines) and the identifying fields (log context).
 */
export interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean
  functionName: string
  functionVersion: string
  invokedFunctionArn: string
  memoryLimitInMB: string
  awsRequestId: string
  logGroupName: string
  logStreamName: string
  tenantId?: string | undefined
  /** Milliseconds left before the Lambda times out. */
  getRemainingTimeInMillis(): number
  /** @deprecated Node.js 0.10 runtime API, kept so the type matches the runtime's. */
  done(error?: Error, result?: unknown): void
  /** @deprecated Node.js 0.10 runtime API. */
  fail(error: Error | string): void
  /** @deprecated Node.js 0.10 runtime API. */
  succeed(messageOrObject: unknown): void
  /** @deprecated Node.js 0.10 runtime API. */
  succeed(message: string, object: unknown): void
}

/** The part of the Lambda context the core reads (`createTokenXHandlerCore().authorize`). */
export type LambdaContextLike = Pick<LambdaContext, 'getRemainingTimeInMillis'>
