/**
 * The middleware matrix's fixtures: a token endpoint on 127.0.0.1 that verifies subject tokens as
 * TokenX does, citizens' tokens, API Gateway events, middy stacks built from the real neighbours
 * (@middy/http-* 7.9.2, Powertools 2.36.0) in any order, and a capture of everything they log.
 *
 * Self-contained on purpose: it imports the kit by its package name only (`tokenx-handler-kit`, the
 * source in this repo through vitest's alias), so the same files run in the consumer fixture against
 * the installed `npm pack` tarball (test/consumer/run.ts, step 4). Import nothing from outside
 * test/middy-stack/ and only packages the repo's package.json lists: the fixture checks both.
 */
// First: it must replace console.* before any middleware keeps a reference to a console method.
import { tap } from './console-tap.ts'
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware'
import { Logger } from '@aws-lambda-powertools/logger'
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware'
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics'
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware'
import { Tracer } from '@aws-lambda-powertools/tracer'
import middy, { type MiddlewareObj } from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpHeaderNormalizer from '@middy/http-header-normalizer'
import httpSecurityHeaders from '@middy/http-security-headers'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from 'jose'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import { tokenX, type Downstream, type TokenXCoreOptions } from 'tokenx-handler-kit'

export const CLIENT_ID = 'dev-gcp:team:app'
export const AUDIENCE = 'dev-gcp:team:downstream'
export const ORIGIN = 'https://app.example'
const CITIZEN_ISSUER = 'https://test.idporten.no'

// --- keys and tokens ---------------------------------------------------------------------------

export interface KeyPair {
  readonly privateJwk: JWK & { kid: string }
  readonly publicJwk: JWK & { kid: string }
}

export async function newKey(kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 })
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  }
}

/** A citizen's token as ID-porten issues it, signed with `key` (another key than the issuer's forges it). */
export async function citizenToken(key: KeyPair, pid: string, options: { expiresIn?: number; now?: number } = {}): Promise<string> {
  const now = options.now ?? Math.floor(Date.now() / 1000)
  return new SignJWT({ pid, acr: 'idporten-loa-high', client_id: 'test-frontend' })
    .setProtectedHeader({ alg: 'RS256', kid: key.privateJwk.kid, typ: 'JWT' })
    .setIssuer(CITIZEN_ISSUER)
    .setSubject(`sub-${pid}`)
    .setAudience('test-frontend')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .setJti(randomUUID())
    .sign(await importJWK(key.privateJwk, 'RS256'))
}

// --- a token endpoint --------------------------------------------------------------------------

export interface TokenEndpoint {
  readonly url: string
  /** Every client assertion and subject token received, every access token handed out. */
  readonly assertions: string[]
  readonly subjectTokens: string[]
  readonly accessTokens: string[]
  close(): Promise<void>
}

/**
 * RFC 8693 token exchange on 127.0.0.1: a subject token not signed by the citizens' issuer is
 * answered as tokendings does (400 invalid_request, "token verification failed"); otherwise a fresh
 * opaque access token. The client assertion is not verified here (the fault tests do that).
 */
export async function startTokenEndpoint(issuer: KeyPair): Promise<TokenEndpoint> {
  const issuerKey = await importJWK(issuer.publicJwk, 'RS256')
  const state = { url: '', assertions: [] as string[], subjectTokens: [] as string[], accessTokens: [] as string[] }
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      void (async () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString())
        state.assertions.push(form.get('client_assertion') ?? '')
        const subject = form.get('subject_token') ?? ''
        state.subjectTokens.push(subject)
        let answer: { status: number; body: object }
        try {
          await jwtVerify(subject, issuerKey, { issuer: CITIZEN_ISSUER })
          const accessToken = `at-${randomBytes(32).toString('base64url')}`
          state.accessTokens.push(accessToken)
          answer = {
            status: 200,
            body: {
              access_token: accessToken,
              issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
              token_type: 'Bearer',
              expires_in: 900,
            },
          }
        } catch {
          answer = { status: 400, body: { error: 'invalid_request', error_description: 'token verification failed: signature invalid' } }
        }
        response.writeHead(answer.status, { 'content-type': 'application/json' })
        response.end(JSON.stringify(answer.body))
      })()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`
  return Object.assign(state, {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}

/**
 * The URL of a port nobody listens on (a server started and closed): TokenX down. The same as
 * test/helpers/servers.ts's: test/middy-stack/ also runs on its own, copied out by the consumer
 * fixture's middleware matrix, so it imports nothing from the rest of test/.
 */
export async function closedEndpoint(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/token`
}

// --- events and context ------------------------------------------------------------------------

/** An API Gateway event from a browser at ORIGIN: REST (v1, canonical header names) or HTTP API (v2, lower case). */
export function httpEvent(version: 'v1' | 'v2', authorization?: string): Record<string, unknown> {
  if (version === 'v1') {
    const headers: Record<string, string> = {
      Accept: 'application/json',
      Origin: ORIGIN,
      Host: 'abc123.execute-api.eu-north-1.amazonaws.com',
    }
    if (authorization !== undefined) headers['Authorization'] = authorization
    return {
      resource: '/resource',
      path: '/resource',
      httpMethod: 'GET',
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
      stageVariables: null,
      body: null,
      isBase64Encoded: false,
      requestContext: { httpMethod: 'GET', path: '/dev/resource', stage: 'dev', requestId: randomUUID(), requestTimeEpoch: Date.now() },
    }
  }
  const headers: Record<string, string> = {
    accept: 'application/json',
    origin: ORIGIN,
    host: 'abc123.execute-api.eu-north-1.amazonaws.com',
  }
  if (authorization !== undefined) headers['authorization'] = authorization
  return {
    version: '2.0',
    routeKey: 'GET /resource',
    rawPath: '/resource',
    rawQueryString: '',
    headers,
    isBase64Encoded: false,
    requestContext: {
      http: { method: 'GET', path: '/resource', protocol: 'HTTP/1.1', sourceIp: '203.0.113.10', userAgent: 'test' },
      requestId: randomUUID(),
      stage: '$default',
      timeEpoch: Date.now(),
    },
  }
}

/** A Lambda context, typed as whatever context the handler declares (middlewares add to it). */
export function lambdaContext<T extends Context = Context>(remaining = 10_000): T {
  const deadline = Date.now() + remaining
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'matrix',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-north-1:123456789012:function:matrix',
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: '/aws/lambda/matrix',
    logStreamName: '2026/11/30/[$LATEST]abc',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  } as Context as T
}

// --- stacks --------------------------------------------------------------------------------------

/** The neighbours a stack is built from, by name; `tokenX` marks where the kit goes. */
export const NEIGHBOURS = [
  'httpErrorHandler',
  'httpHeaderNormalizer',
  'httpHeaderNormalizerCanonical',
  'httpCors',
  'httpSecurityHeaders',
  'injectLambdaContext',
  'logMetrics',
  'captureLambdaHandler',
  'errorLogger',
] as const
export type Neighbour = (typeof NEIGHBOURS)[number]
export type Piece = Neighbour | 'tokenX'

export interface Powertools {
  readonly logger: Logger
  readonly metrics: Metrics
  readonly tracer: Tracer
}

/**
 * Powertools as a function configures it. Tracing is disabled (POWERTOOLS_TRACE_ENABLED=false): there
 * is no X-Ray daemon or OpenTelemetry collector here, and with tracing on, captureLambdaHandler
 * needs a segment from the Lambda runtime. The middleware still runs its before/after/onError.
 */
export function powertools(): Powertools {
  process.env['POWERTOOLS_SERVICE_NAME'] = 'matrix'
  process.env['POWERTOOLS_METRICS_NAMESPACE'] = 'tokenx-matrix'
  process.env['POWERTOOLS_TRACE_ENABLED'] = 'false'
  process.env['POWERTOOLS_LOG_LEVEL'] = 'DEBUG'
  return { logger: new Logger(), metrics: new Metrics(), tracer: new Tracer() }
}

type AnyMiddleware = MiddlewareObj<any, any, any, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function neighbour(name: Neighbour, tools: Powertools): AnyMiddleware {
  switch (name) {
    case 'httpErrorHandler':
      return httpErrorHandler()
    case 'httpHeaderNormalizer':
      return httpHeaderNormalizer()
    case 'httpHeaderNormalizerCanonical':
      return httpHeaderNormalizer({ canonical: true })
    case 'httpCors':
      return httpCors({ origins: [ORIGIN], credentials: true, exposeHeaders: 'WWW-Authenticate', disableBeforePreflightResponse: false })
    case 'httpSecurityHeaders':
      return httpSecurityHeaders()
    case 'injectLambdaContext':
      return injectLambdaContext(tools.logger, { clearState: true }) as AnyMiddleware
    case 'logMetrics':
      return logMetrics(tools.metrics) as AnyMiddleware
    case 'captureLambdaHandler':
      return captureLambdaHandler(tools.tracer) as AnyMiddleware
    // What many functions add: log every error whole, with Powertools' logger.
    case 'errorLogger':
      return { onError: (request) => void tools.logger.error('request failed', request.error as Error) }
  }
}

export type StackContext = Context & { tokenX: Downstream }

/** A middy handler using `order` (`.use()` in that order); the handler answers 200 when it got a token. */
export function stack(order: readonly Piece[], options: TokenXCoreOptions<string>, tools: Powertools, seen: { accessTokens: string[] }) {
  let handler = middy<unknown, APIGatewayProxyResult, Error, StackContext>()
  for (const piece of order) handler = handler.use(piece === 'tokenX' ? (tokenX(options) as AnyMiddleware) : neighbour(piece, tools))
  return handler.handler(async (_event, context) => {
    tools.metrics.addMetric('served', MetricUnit.Count, 1)
    seen.accessTokens.push(context.tokenX.token.accessToken)
    // The token itself never goes into an answer; a hash shows the handler got the right one.
    return {
      statusCode: 200,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ ok: true, token: createHash('sha256').update(context.tokenX.token.accessToken).digest('hex').slice(0, 12) }),
    }
  })
}

// --- what the stack logged ---------------------------------------------------------------------

export interface Capture {
  readonly texts: string[]
  readonly warnings: Array<{ code: string | undefined; message: string }>
  stop(): void
}

/**
 * Everything written while installed: console.* (middy's error handler logs with console.error) and
 * the process's stdout/stderr streams (Powertools' Logger and Metrics write through their own
 * Console on them), swallowed; and the process warnings the kit emits.
 */
export function capture(): Capture {
  const texts: string[] = []
  const warnings: Capture['warnings'] = []
  const restore: Array<() => void> = []
  restore.push(tap((_method, args) => void texts.push(args.map(show).join(' '))))
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write
    stream.write = ((chunk: unknown) => {
      texts.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString())
      return true
    }) as typeof stream.write
    restore.push(() => void (stream.write = original))
  }
  const onWarning = (warning: Error & { code?: string }) => {
    warnings.push({ code: warning.code, message: warning.message })
    texts.push(show(warning))
  }
  process.on('warning', onWarning)
  restore.push(() => void process.off('warning', onWarning))
  return { texts, warnings, stop: () => restore.reverse().forEach((undo) => undo()) }
}

export function show(value: unknown): string {
  return typeof value === 'string' ? value : inspect(value, { depth: 30, breakLength: Infinity, showHidden: true })
}

/**
 * Any run of this many characters of a secret counts as a leak: a log line that cuts a token short
 * still gives away what it kept.
 */
const FRAGMENT = 20

/**
 * The secrets (with labels) among `texts`, by fragment. A JWT counts by its payload and signature
 * (its header is the same for many tokens and reveals nothing).
 */
export function findLeaks(texts: readonly string[], secrets: ReadonlyMap<string, string>): string[] {
  const fragments = new Map<string, string>()
  for (const [value, label] of secrets) {
    const parts = value.split('.')
    for (const part of parts.length === 3 ? parts.slice(1) : [value]) {
      if (part.length < FRAGMENT) continue
      for (let i = 0; i + FRAGMENT <= part.length; i++) fragments.set(part.slice(i, i + FRAGMENT), label)
    }
  }
  // One example per secret is enough to see what leaked where.
  const found = new Map<string, string>()
  for (const text of texts) {
    for (let i = 0; i + FRAGMENT <= text.length; i++) {
      const label = fragments.get(text.slice(i, i + FRAGMENT))
      if (label !== undefined && !found.has(label)) found.set(label, `${label}: …${text.slice(Math.max(0, i - 30), i + FRAGMENT + 10)}…`)
    }
  }
  return [...found.values()]
}

/**
 * What no log line or segment may hold, labelled: the subject tokens given (label: token), every
 * client assertion the token endpoint received and access token it issued, and the private members
 * of the app's key.
 */
export function stackSecrets(subjects: Readonly<Record<string, string>>, endpoint: TokenEndpoint, clientKey: KeyPair): Map<string, string> {
  const found = new Map<string, string>()
  for (const [label, token] of Object.entries(subjects)) found.set(token, label)
  for (const assertion of endpoint.assertions) found.set(assertion, 'a client assertion')
  for (const accessToken of endpoint.accessTokens) found.set(accessToken, 'an access token')
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
    const value = clientKey.privateJwk[member]
    if (typeof value === 'string') found.set(value, `the private key's ${member}`)
  }
  return found
}

/** A header of an answer, by name in any case; also checks the name is not there twice in two cases. */
export function header(result: APIGatewayProxyResult, name: string): string | undefined {
  const matches = Object.entries(result.headers ?? {}).filter(([key]) => key.toLowerCase() === name.toLowerCase())
  if (matches.length > 1) throw new Error(`header ${name} is there ${matches.length} times: ${matches.map(([key]) => key).join(', ')}`)
  return matches[0] === undefined ? undefined : String(matches[0][1])
}
