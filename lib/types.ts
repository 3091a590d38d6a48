/**
 * The types more than one layer of the kit shares, in one module that imports nothing: the shapes of
 * what the kit is handed (the Lambda context, `fetch`, the AWS SDK clients) and of what it hands
 * around (an exchanged token, a cached value). Types only, so that any module may import it without
 * an import cycle.
 */

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

/** A token TokenX issued for one downstream app (RFC 8693 §2.2.1). */
export interface ExchangedToken {
  /** The token for the downstream app; send it as `Authorization: Bearer`. */
  readonly accessToken: string
  /** The downstream app it is meant for, `cluster:namespace:app`. */
  readonly audience: string
  /** Milliseconds since the epoch at which TokenX says it expires. */
  readonly expiresAt: number
  readonly tokenType: 'Bearer'
  readonly issuedTokenType: string
}

/** A value loaded for the cache, and until when it may be served. */
export interface Loaded<V> {
  readonly value: V
  /** Milliseconds since the epoch after which the value is not served again. */
  readonly freshUntil: number
}

/** The `fetch` the kit calls (token endpoint, JWKS, downstream): `globalThis.fetch` fits. */
export type FetchLike = (input: string | URL, init?: RequestInit) => Promise<Response>

/** The minimal Secrets Manager client the key loader needs: `@aws-sdk/client-secrets-manager`'s client fits. */
export interface SecretsManagerLike {
  send(command: object, options?: { abortSignal?: AbortSignal }): Promise<{ SecretString?: string | undefined }>
}

/** The minimal DynamoDB client the shared cache needs: `@aws-sdk/client-dynamodb`'s client fits. */
export interface DynamoDBLike {
  send(command: object, options?: { abortSignal?: AbortSignal }): Promise<unknown>
}

/** The private key client assertions are signed with (exchange/key.ts loads it). */
export interface SigningKey {
  /** The JWK's `kid`, sent in every assertion's header so TokenX can pick the public key. */
  readonly kid: string
  /** The imported key (node:crypto `KeyObject`); imported once and reused for every signature. */
  readonly key: import('node:crypto').KeyObject
}
