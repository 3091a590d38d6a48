/**
 * Events and a Lambda context for a consumer's unit tests, shaped as AWS delivers them (abridged from
 * the AWS sample events). Declared here, not imported from `@types/aws-lambda`, so that the kit's
 * published types need no other package; each is assignable to that package's event type
 * (`APIGatewayProxyEvent`, `APIGatewayProxyEventV2`, `ALBEvent`, `Context`).
 */
import { randomUUID } from 'node:crypto'
import type { LambdaContext } from '../types.ts'

/** What every builder takes; all optional. */
export interface TestEventOptions {
  /** The citizen's token, sent as `Authorization: Bearer <token>`. Default: no Authorization header. */
  readonly token?: string | undefined
  /** The whole Authorization value (another scheme, a malformed one); wins over `token`. */
  readonly authorization?: string | undefined
  /** Default `GET`. */
  readonly method?: string | undefined
  /** Default `/`. */
  readonly path?: string | undefined
  /** More headers, as given (names as the client sent them). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The request body, as text. Default: none. */
  readonly body?: string | undefined
}

/** An API Gateway REST API (v1) proxy event; assignable to `APIGatewayProxyEvent`. */
export interface TestApiGatewayV1Event {
  body: string | null
  headers: Record<string, string>
  multiValueHeaders: Record<string, string[]>
  httpMethod: string
  isBase64Encoded: boolean
  path: string
  pathParameters: null
  queryStringParameters: null
  multiValueQueryStringParameters: null
  stageVariables: null
  resource: string
  requestContext: {
    accountId: string
    apiId: string
    authorizer: null
    protocol: string
    httpMethod: string
    identity: {
      accessKey: null
      accountId: null
      apiKey: null
      apiKeyId: null
      caller: null
      clientCert: null
      cognitoAuthenticationProvider: null
      cognitoAuthenticationType: null
      cognitoIdentityId: null
      cognitoIdentityPoolId: null
      principalOrgId: null
      sourceIp: string
      user: null
      userAgent: string
      userArn: null
    }
    path: string
    stage: string
    requestId: string
    requestTimeEpoch: number
    resourceId: string
    resourcePath: string
  }
}

/** An API Gateway HTTP API (v2) event; assignable to `APIGatewayProxyEventV2`. */
export interface TestApiGatewayV2Event {
  version: string
  routeKey: string
  rawPath: string
  rawQueryString: string
  headers: Record<string, string>
  body?: string
  isBase64Encoded: boolean
  requestContext: {
    accountId: string
    apiId: string
    domainName: string
    domainPrefix: string
    http: { method: string; path: string; protocol: string; sourceIp: string; userAgent: string }
    requestId: string
    routeKey: string
    stage: string
    time: string
    timeEpoch: number
  }
}

/** An Application Load Balancer event (multi-value headers off); assignable to `ALBEvent`. */
export interface TestAlbEvent {
  requestContext: { elb: { targetGroupArn: string } }
  httpMethod: string
  path: string
  queryStringParameters: Record<string, string>
  headers: Record<string, string>
  body: string | null
  isBase64Encoded: boolean
}

const SOURCE_IP = '203.0.113.10'
const USER_AGENT = 'tokenx-handler-kit-testing'

/**
 * `base` with the given headers and the Authorization header over it; `lowerCase`: every name in
 * lower case, as an HTTP API and an ALB pass them (a REST API passes them as sent).
 */
function headersOf(options: TestEventOptions, base: Record<string, string>, lowerCase: boolean): Record<string, string> {
  const given = options.headers ?? {}
  const headers: Record<string, string> = {
    ...base,
    ...(lowerCase ? Object.fromEntries(Object.entries(given).map(([name, value]) => [name.toLowerCase(), value])) : given),
  }
  const authorization = options.authorization ?? (options.token === undefined ? undefined : `Bearer ${options.token}`)
  if (authorization !== undefined) headers[lowerCase ? 'authorization' : 'Authorization'] = authorization
  return headers
}

/** An API Gateway REST API (v1) proxy event; header names as API Gateway passes them (as sent). */
export function apiGatewayV1Event(options: TestEventOptions = {}): TestApiGatewayV1Event {
  const method = options.method ?? 'GET'
  const path = options.path ?? '/'
  const headers = headersOf(
    options,
    { Accept: 'application/json', Host: 'abc123.execute-api.eu-north-1.amazonaws.com', 'User-Agent': USER_AGENT },
    false,
  )
  return {
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: SOURCE_IP,
        user: null,
        userAgent: USER_AGENT,
        userArn: null,
      },
      path: `/test${path}`,
      stage: 'test',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'abc123',
      resourcePath: path,
    },
  }
}

/** An API Gateway HTTP API (v2) event; header names lower-case, as API Gateway passes them. */
export function apiGatewayV2Event(options: TestEventOptions = {}): TestApiGatewayV2Event {
  const method = options.method ?? 'GET'
  const path = options.path ?? '/'
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: headersOf(
      options,
      { accept: 'application/json', host: 'abc123.execute-api.eu-north-1.amazonaws.com', 'user-agent': USER_AGENT },
      true,
    ),
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-north-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: SOURCE_IP, userAgent: USER_AGENT },
      requestId: randomUUID(),
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
  }
}

/** An Application Load Balancer event; header names lower-case, as the load balancer passes them. */
export function albEvent(options: TestEventOptions = {}): TestAlbEvent {
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-north-1:123456789012:targetgroup/test/abc123' } },
    httpMethod: options.method ?? 'GET',
    path: options.path ?? '/',
    queryStringParameters: {},
    headers: headersOf(options, { accept: 'application/json', host: 'test-123.eu-north-1.elb.amazonaws.com' }, true),
    body: options.body ?? '',
    isBase64Encoded: false,
  }
}

/** Options of `lambdaContext`. */
export interface TestContextOptions {
  /** Milliseconds left before the Lambda times out, from now: the kit's deadline is this less `deadlineMargin`. Default 10000. */
  readonly remainingMs?: number | undefined
  /** Default `test-function`. */
  readonly functionName?: string | undefined
}

/** A Lambda context whose `getRemainingTimeInMillis` counts down from `remainingMs`; assignable to `Context`. */
export function lambdaContext(options: TestContextOptions = {}): LambdaContext {
  const functionName = options.functionName ?? 'test-function'
  const deadline = Date.now() + (options.remainingMs ?? 10_000)
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-north-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]test',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }
}
