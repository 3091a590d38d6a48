/**
 * API Gateway REST (v1), HTTP API (v2) and ALB events and a Lambda context, shaped as AWS delivers
 * them (abridged from the AWS sample events), with a given Authorization header.
 */
import type { ALBEvent, APIGatewayProxyEvent, APIGatewayProxyEventV2, Context } from 'aws-lambda'

export function v1Event(authorization?: string, path = '/resource'): APIGatewayProxyEvent {
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Host: 'abc123.execute-api.eu-north-1.amazonaws.com',
    'User-Agent': 'curl/8.5.0',
  }
  if (authorization !== undefined) headers.Authorization = authorization
  return {
    resource: path,
    path,
    httpMethod: 'GET',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: 'GET',
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
        sourceIp: '203.0.113.10',
        user: null,
        userAgent: 'curl/8.5.0',
        userArn: null,
      },
      path: `/dev${path}`,
      stage: 'dev',
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      requestTimeEpoch: Date.now(),
      resourceId: 'qwerty',
      resourcePath: path,
    },
  }
}

export function v2Event(authorization?: string, path = '/resource'): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {
    accept: 'application/json',
    host: 'abc123.execute-api.eu-north-1.amazonaws.com',
    'user-agent': 'curl/8.5.0',
  }
  if (authorization !== undefined) headers.authorization = authorization
  return {
    version: '2.0',
    routeKey: `GET ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-north-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'GET', path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.10', userAgent: 'curl/8.5.0' },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: `GET ${path}`,
      stage: '$default',
      time: '25/Nov/2026:19:03:58 +0000',
      timeEpoch: Date.now(),
    },
  }
}

export function albEvent(authorization?: string, path = '/resource'): ALBEvent {
  const headers: Record<string, string> = { accept: 'application/json', host: 'lb-123.eu-north-1.elb.amazonaws.com' }
  if (authorization !== undefined) headers.authorization = authorization
  return {
    requestContext: { elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:eu-north-1:123456789012:targetgroup/tg/abc' } },
    httpMethod: 'GET',
    path,
    queryStringParameters: {},
    headers,
    body: '',
    isBase64Encoded: false,
  }
}

/**
 * A Lambda context with `remaining` milliseconds left. Typed as whatever context the handler under
 * test declares (middy handlers declare the context their middlewares add, e.g. `tokenX`).
 */
export function lambdaContext<T extends Context = Context>(remaining = 10_000): T {
  const deadline = Date.now() + remaining
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'tokenx-handler-kit-dev-resource',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-north-1:123456789012:function:tokenx-handler-kit-dev-resource',
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: '/aws/lambda/tokenx-handler-kit-dev-resource',
    logStreamName: '2026/11/25/[$LATEST]abc',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  } as Context as T
}
