/** An API Gateway HTTP API (payload 2.0) event and a Lambda context, as the runtime hands them over. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'

export function httpApiEvent(bearer: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'GET /resource',
    rawPath: '/resource',
    rawQueryString: '',
    headers: {
      accept: 'application/json',
      'accept-encoding': 'gzip, deflate, br',
      authorization: `Bearer ${bearer}`,
      'content-length': '0',
      host: 'abcdef1234.execute-api.eu-north-1.amazonaws.com',
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      'x-amzn-trace-id': 'Root=1-67890abc-1234567890abcdef12345678',
      'x-forwarded-for': '192.0.2.10',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'abcdef1234',
      domainName: 'abcdef1234.execute-api.eu-north-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: { method: 'GET', path: '/resource', protocol: 'HTTP/1.1', sourceIp: '192.0.2.10', userAgent: 'Mozilla/5.0' },
      requestId: 'Jx1bcdEFgHIjklM=',
      routeKey: 'GET /resource',
      stage: '$default',
      time: '25/Nov/2025:19:40:00 +0000',
      timeEpoch: 1764099600000,
    },
    isBase64Encoded: false,
  }
}

/** A context whose deadline is `timeoutMs` after its creation, like the runtime's. */
export function lambdaContext(timeoutMs = 29_000): Context {
  const deadline = Date.now() + timeoutMs
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'bench-resource',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-north-1:000000000000:function:bench-resource',
    memoryLimitInMB: '1024',
    awsRequestId: '8f6b6c52-3c1e-4a47-9a8e-0d1c2b3a4f5e',
    logGroupName: '/aws/lambda/bench-resource',
    logStreamName: '2025/11/25/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  }
}
