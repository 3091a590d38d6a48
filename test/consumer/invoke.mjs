// Invokes a Lambda handler module the way the Lambda runtime does (one event, one context) and
// prints the result as one JSON line on stdout. Usage: node invoke.mjs <module> ; the citizen's
// token comes in CITIZEN_TOKEN. Plain JavaScript: runs on plain `node`, no loader, no TypeScript.
import { pathToFileURL } from 'node:url'

const [modulePath] = process.argv.slice(2)
const { handler } = await import(pathToFileURL(modulePath).href)
const event = {
  version: '2.0',
  routeKey: 'GET /orders',
  rawPath: '/orders',
  rawQueryString: '',
  headers: { authorization: `Bearer ${process.env.CITIZEN_TOKEN}` },
  requestContext: { http: { method: 'GET', path: '/orders' }, requestId: 'consumer-fixture' },
  isBase64Encoded: false,
}
const deadline = Date.now() + 10_000
const context = {
  functionName: 'consumer-fixture',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-north-1:000000000000:function:consumer-fixture',
  memoryLimitInMB: '256',
  awsRequestId: 'consumer-fixture-request',
  logGroupName: '/aws/lambda/consumer-fixture',
  logStreamName: 'local',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => deadline - Date.now(),
  done() {},
  fail() {},
  succeed() {},
}
const result = await handler(event, context)
// The Lambda runtime freezes the instance when the handler's promise settles; it does not wait for
// timers (middy 4 leaves its timeout-early timer running), so neither does this.
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0))
