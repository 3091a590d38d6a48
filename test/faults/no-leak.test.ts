/**
 * Proof that nothing leaks.
 *
 * 1. Across many fault scenarios — TokenX echoing tokens back in every field it has, malformed
 *    answers, timeouts, resets, unusable keys, SDK errors quoting the secret, hostile callers — every
 *    log entry (the middleware's `logger` and anything on `console.*`), every answer and every error
 *    (message, stack, own properties, down the whole `cause` chain) is collected, and none may contain
 *    a subject token, an access token, a client assertion (or the payload or signature part of one),
 *    or private key material (the JWK's `d`, `p`, `q`, `dp`, `dq`, `qi`).
 * 2. Across thousands of interleaved requests for many citizens and audiences — concurrent, with
 *    waiters giving up, TokenX failing now and then, tokens expiring and a cache so small it evicts
 *    constantly — no request ever receives a token issued for another citizen or audience.
 */
import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import { PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyResult } from 'aws-lambda'
import fc from 'fast-check'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { inspect } from 'node:util'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createTokenXClient,
  createTokenXHandlerCore,
  tokenX,
  TokenXError,
  type DynamoDBLike,
  type SecretsManagerLike,
  type TokenXOptions,
} from '../../lib/index.ts'
import { channelName, type KitEventName, type LogAttributes, type MetricUnit } from '../../lib/observe.ts'
import { startDynamoDB } from '../../dev/dynamodb.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { citizenClaims, mint, startIssuer } from '../helpers/issuer.ts'
import { createTokenXApiCore } from '../../lib/index.ts'
import { albEvent, lambdaContext, v1Event, v2Event } from '../helpers/events.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, tokenAnswer, type Answer, type Recorded, type TestServer } from '../helpers/servers.ts'
import {
  accessTokenFor,
  AUDIENCE,
  CLIENT_ID,
  describeAccessToken,
  formOf,
  sha256,
  watchUnhandledRejections,
  type TokenXLambdaContext,
} from './support.ts'

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

/** What must never be seen, with a label for the failure message. */
const secrets = new Map<string, string>()
/** Everything the kit said or answered, with where it was seen. */
const seen: Array<{ where: string; text: string }> = []

/**
 * Registers a token by its payload and signature parts: a payload alone carries the citizen's
 * identity, and either part, even cut short, is a fragment of the token (the header is the same for
 * every token and reveals nothing).
 */
function secretToken(label: string, token: string): void {
  const [, payload, signature] = token.split('.')
  if (payload !== undefined && payload.length >= FRAGMENT) secrets.set(payload, `${label} (payload)`)
  if (signature !== undefined && signature.length >= FRAGMENT) secrets.set(signature, `${label} (signature)`)
  if (payload === undefined) secrets.set(token, label)
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : inspect(value, { depth: 30, breakLength: Infinity, showHidden: false })
}

/** An error and everything hanging off it: message, stack, own properties, the whole cause chain. */
function collectError(where: string, err: unknown): void {
  seen.push({ where, text: show(err) })
  for (let current: unknown = err, depth = 0; current !== undefined && current !== null && depth < 20; depth++) {
    if (!(current instanceof Error)) {
      seen.push({ where: `${where} cause`, text: show(current) })
      break
    }
    seen.push({
      where,
      text: [String(current), current.stack ?? '', JSON.stringify({ ...current }), show(Object.entries(current))].join('\n'),
    })
    current = current.cause
  }
}

function collectResponse(where: string, response: unknown): void {
  seen.push({ where, text: JSON.stringify(response) ?? 'undefined' })
}

const logged: unknown[] = []
const logAt = (level: string) => (message: string, attributes: LogAttributes) => {
  logged.push({ level, message, ...attributes })
  seen.push({ where: 'logger', text: JSON.stringify({ level, message, ...attributes }) })
}
const logger = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') }

/** Metrics as a Powertools `Metrics` instance would receive them, and the spans the kit made. */
const metricsSeen: unknown[] = []
const metrics = {
  addMetric: (name: string, unit: MetricUnit, value: number) => {
    metricsSeen.push({ name, unit, value })
    seen.push({ where: 'metrics instance', text: `${name} ${unit} ${value}` })
  },
  publishStoredMetrics: () => undefined,
}
const spans = new InMemorySpanExporter()
const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('no-leak')

/** Every event the kit publishes, as any subscriber would see it. */
const EVENT_NAMES: KitEventName[] = [
  'cache',
  'exchange',
  'exchange.retry',
  'key.load',
  'validation.refused',
  'jwks.fetch',
  'shared-cache',
  'downstream',
  'downstream.failed',
  'downstream.refused',
  'error',
]
let events = 0
for (const name of EVENT_NAMES) {
  subscribe(channelName(name), (event) => {
    events += 1
    seen.push({ where: `event ${name}`, text: show(event) })
  })
}

/**
 * Any run of this many characters of a secret counts as a leak: a log line that cuts a token short
 * (a 300-character limit, a stripped signature) still gives away what it kept.
 */
const FRAGMENT = 20

/** The places where a secret, or a fragment of one, showed up; empty when nothing leaked. */
function findLeaks(where: ReadonlyArray<{ where: string; text: string }>, what: ReadonlyMap<string, string>): string[] {
  const fragments = new Map<string, string>()
  for (const [value, label] of what) {
    if (value.length < FRAGMENT) fragments.set(value, label)
    for (let i = 0; i + FRAGMENT <= value.length; i++) fragments.set(value.slice(i, i + FRAGMENT), label)
  }
  // One example per secret and place is enough to see what leaked where.
  const found = new Map<string, string>()
  for (const { where: place, text } of where) {
    for (let i = 0; i + FRAGMENT <= text.length; i++) {
      const label = fragments.get(text.slice(i, i + FRAGMENT))
      if (label !== undefined && !found.has(`${label} in ${place}`)) {
        found.set(`${label} in ${place}`, `${label} in ${place}: …${text.slice(Math.max(0, i - 20), i + FRAGMENT + 20)}…`)
      }
    }
  }
  return [...found.values()]
}

let key: TestKey
let tokenx: TestServer
let downstream: TestServer
let citizens: string[]
let respond: (request: Recorded, index: number) => Answer | Promise<Answer>

/** Every access token TokenX handed out, whatever the rest of its answer looked like. */
function handOut(accessToken: string, body: Record<string, unknown> = {}): Answer {
  secrets.set(accessToken, 'an access token')
  return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: 900, ...body } }
}

const echoForm = (request: Recorded) => {
  const form = formOf(request)
  return `subject_token=${form.subject_token} client_assertion=${form.client_assertion}`
}

/** TokenX misbehaving in every way that could carry a token back to us. */
const TOKENX_FAULTS: Array<[string, (request: Recorded) => Answer]> = [
  [
    '500 echoing both tokens in error_description',
    (r) => ({ status: 500, body: { error: 'server_error', error_description: echoForm(r) } }),
  ],
  ['500 echoing the subject token as the error code', (r) => ({ status: 500, body: { error: formOf(r).subject_token ?? '' } })],
  ['502 with the form echoed as plain text', (r) => ({ status: 502, body: r.body })],
  [
    '400 invalid_request quoting the subject token',
    (r) => ({
      status: 400,
      body: { error: 'invalid_request', error_description: `invalid subject_token: ${formOf(r).subject_token} has expired` },
    }),
  ],
  [
    '400 quoting the subject token without its signature',
    (r) => {
      const [header, payload] = (formOf(r).subject_token ?? '').split('.')
      return { status: 400, body: { error: 'invalid_request', error_description: `invalid subject_token: ${header}.${payload}` } }
    },
  ],
  [
    '401 invalid_client quoting the assertion',
    (r) => ({
      status: 401,
      body: { error: 'invalid_client', error_description: `client_assertion ${formOf(r).client_assertion} rejected` },
    }),
  ],
  [
    '403 quoting the assertion without its signature',
    (r) => {
      const [header, payload] = (formOf(r).client_assertion ?? '').split('.')
      return { status: 403, body: { error: 'access_denied', error_description: `${header}.${payload}` } }
    },
  ],
  [
    '400 with a huge description full of tokens',
    (r) => ({ status: 400, body: { error: 'invalid_request', error_description: echoForm(r).repeat(50) } }),
  ],
  ['200 with expires_in 0', () => handOut(`at-${crypto.randomUUID()}`, { expires_in: 0 })],
  ['200 without token_type', () => handOut(`at-${crypto.randomUUID()}`, { token_type: undefined })],
  ['200 with an access token containing a space', () => handOut(`at ${crypto.randomUUID()}`)],
  [
    '200 that is not JSON',
    () => {
      const accessToken = `at-${crypto.randomUUID()}`
      secrets.set(accessToken, 'an access token')
      return { status: 200, body: `access_token=${accessToken}&expires_in=900` }
    },
  ],
  [
    '200 too large',
    () => {
      const accessToken = `at-${crypto.randomUUID()}`
      secrets.set(accessToken, 'an access token')
      return { status: 200, body: { access_token: accessToken, padding: accessToken.repeat(10_000) } }
    },
  ],
  ['a reset connection', () => ({ status: 0, body: '', reset: true })],
  ['an answer too slow', (r) => ({ ...tokenAnswer('late'), delay: 300, body: { error_description: echoForm(r) } })],
]

beforeAll(async () => {
  key = await newTestKey('app-key')
  for (const member of PRIVATE_MEMBERS) {
    const value = key.privateJwk[member]
    if (typeof value === 'string') secrets.set(value, `the private key's ${member}`)
  }
  tokenx = await startServer((request, index) => respond(request, index))
  // A hostile downstream: its challenge echoes the token it refuses.
  downstream = await startServer((request) => {
    const token = String(request.headers.authorization).replace(/^Bearer /, '')
    return {
      status: 401,
      body: { error: 'invalid_token', token },
      headers: { 'www-authenticate': `Bearer error="${token}", error_description="${token}"` },
    }
  })
  citizens = await Promise.all(['11111111111', '22222222222', '33333333333'].map((pid) => citizenToken(pid)))
  citizens.forEach((citizen, i) => secretToken(`citizen ${i}'s subject token`, citizen))
})
afterAll(async () => {
  await tokenx.close()
  await downstream.close()
})

describe('nothing the kit logs, answers or throws contains a token or key material', () => {
  // Every test of this block watches console.* (restoreMocks undoes the spies after each test).
  beforeEach(() => {
    // The kit's own logger and its EMF records write to stdout directly.
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      seen.push({ where: 'stdout', text: String(chunk) })
      return true
    })
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        seen.push({ where: `console.${method}`, text: args.map(show).join(' ') })
      })
    }
  })

  /** A Secrets Manager stub that hands out `value` (counting loads), so the reload path runs too. */
  const secretsManager = (value: () => string): SecretsManagerLike => ({ send: async () => ({ SecretString: value() }) })

  const baseOptions = (overrides: Partial<TokenXOptions> = {}): TokenXOptions => ({
    clientId: CLIENT_ID,
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwkSecretId: 'tokenx/private-jwk',
    secretsManager: secretsManager(() => JSON.stringify(key.privateJwk)),
    retries: 1,
    retryBackoff: 1,
    timeout: 50,
    ...overrides,
  })

  /**
   * One invocation through middy: either with the kit's own JSON logger at debug level and EMF
   * records on stdout, or with a collecting logger, a Powertools-style metrics instance and a real
   * OpenTelemetry tracer. With the collecting logger, the stack is one that logs errors whole, as
   * others' stacks do: @middy/http-error-handler after tokenX() (renders the kit's error and
   * console.errors it; its default logger is console.error as it was when loaded, so it is given one
   * that reads the spied console), and an onError that collects request.error with its whole cause chain.
   */
  async function invoke(
    options: TokenXOptions,
    event: unknown,
    useConsole: boolean,
    fetch?: typeof globalThis.fetch,
  ): Promise<APIGatewayProxyResult> {
    let stack = middy<unknown, APIGatewayProxyResult, Error, TokenXLambdaContext>().use(
      tokenX({
        audience: { audience: AUDIENCE, url: downstream.url },
        client: options,
        ...(fetch === undefined ? {} : { fetch }),
        ...(useConsole
          ? { env: { POWERTOOLS_LOG_LEVEL: 'DEBUG', POWERTOOLS_METRICS_NAMESPACE: 'NoLeak', POWERTOOLS_SERVICE_NAME: 'no-leak' } }
          : { logger, metrics, tracer }),
      }),
    )
    if (!useConsole) {
      stack = stack
        .use(httpErrorHandler({ logger: (error: unknown) => console.error(error) }))
        .use({ onError: (request) => collectError('request.error in a middy stack', request.error) })
    }
    const handler = stack.handler(async (_event, context) => {
      const response = await context.tokenX.fetch(`${downstream.url}/resource`)
      return { statusCode: response.status, body: 'downstream answered' }
    })
    const result = await handler(event, lambdaContext(10_000))
    collectResponse('middleware answer', result)
    return result
  }

  /** The same through the core and the client, keeping the thrown errors. */
  async function throwing(options: TokenXOptions, subject: string): Promise<void> {
    const core = createTokenXHandlerCore({ audience: AUDIENCE, client: options, logger, metrics, tracer })
    try {
      await core.authorize(v2Event(`Bearer ${subject}`), lambdaContext(10_000))
    } catch (err) {
      collectError('core.authorize error', err)
      collectResponse('core.respond', core.respond(err))
    } finally {
      core.end()
    }
    try {
      await createTokenXClient(options).exchange(subject, AUDIENCE)
    } catch (err) {
      collectError('client.exchange error', err)
    }
  }

  it.each(TOKENX_FAULTS)('TokenX answering %s', async (name, fault) => {
    respond = fault
    // Timeouts cost real time: one citizen, no retry, is enough to see what a timeout logs.
    const slow = name === 'an answer too slow'
    for (const [i, citizen] of (slow ? citizens.slice(0, 1) : citizens).entries()) {
      const options = baseOptions(slow ? { retries: 0 } : {})
      const result = await invoke(options, v2Event(`Bearer ${citizen}`), i === 0)
      expect(result.statusCode).toBeGreaterThanOrEqual(400)
      await throwing(options, citizen)
    }
  })

  it('TokenX down (connection refused)', async () => {
    const down = await startServer(() => tokenAnswer('x'))
    await down.close()
    for (const useConsole of [true, false]) {
      await invoke(baseOptions({ tokenEndpoint: `${down.url}/token` }), v2Event(`Bearer ${citizens[0]}`), useConsole)
    }
    await throwing(baseOptions({ tokenEndpoint: `${down.url}/token` }), citizens[1]!)
  })

  it('the downstream API refusing the token, and TokenX failing the new exchange while echoing', async () => {
    let calls = 0
    respond = (request) =>
      ++calls === 1 ? handOut(accessTokenFor(formOf(request).subject_token ?? '', AUDIENCE, calls)) : TOKENX_FAULTS[0]![1](request)
    const result = await invoke(baseOptions({ timeout: 5_000 }), v2Event(`Bearer ${citizens[2]}`), false)
    expect(result.statusCode).toBe(502)
  })

  describe('an unusable key', () => {
    const jwk = () => key.privateJwk
    const SECRET_VALUES: Array<[string, () => string]> = [
      ['a PEM-looking text holding the key', () => `-----BEGIN PRIVATE KEY-----\n${jwk().d}\n${jwk().p}\n-----END PRIVATE KEY-----`],
      ['a JWK without kid', () => JSON.stringify({ ...jwk(), kid: undefined })],
      ['a JWK whose modulus is not a modulus', () => JSON.stringify({ ...jwk(), n: 'AQAB' })],
      ['a JWK with a wrong alg', () => JSON.stringify({ ...jwk(), alg: 'HS256' })],
      ['a JWK missing q', () => JSON.stringify({ ...jwk(), q: undefined })],
      ['a JWK as a JSON string inside a string', () => JSON.stringify(JSON.stringify(jwk()))],
      ['a JWK with trailing garbage', () => `${JSON.stringify(jwk())}}`],
    ]

    it.each(SECRET_VALUES)('from Secrets Manager: %s', async (_name, value) => {
      respond = (request) => handOut(accessTokenFor(formOf(request).subject_token ?? '', AUDIENCE, 0))
      secrets.set(value(), 'the secret string')
      const options = baseOptions({ secretsManager: secretsManager(value) })
      const result = await invoke(options, v2Event(`Bearer ${citizens[0]}`), true)
      expect(result.statusCode).toBe(500)
      await invoke(options, v2Event(`Bearer ${citizens[1]}`), false)
      await throwing(options, citizens[2]!)
    })

    it.each(SECRET_VALUES)('given inline (privateJwk): %s', async (_name, value) => {
      const options: TokenXOptions = { ...baseOptions(), privateJwkSecretId: undefined, secretsManager: undefined, privateJwk: value() }
      await invoke(options, v2Event(`Bearer ${citizens[0]}`), true)
      await throwing(options, citizens[1]!)
    })

    it('from the environment (TOKEN_X_PRIVATE_JWK), including a bad client id next to it', async () => {
      for (const [, value] of SECRET_VALUES) {
        for (const clientId of [CLIENT_ID, 'not a client id']) {
          const env = { TOKEN_X_CLIENT_ID: clientId, TOKEN_X_TOKEN_ENDPOINT: `${tokenx.url}/token`, TOKEN_X_PRIVATE_JWK: value() }
          const handler = middy<unknown, APIGatewayProxyResult>()
            .use(tokenX({ audience: AUDIENCE, env, logger }))
            .handler(async () => ({ statusCode: 200, body: '' }))
          collectResponse('env-configured answer', await handler(v2Event(`Bearer ${citizens[0]}`), lambdaContext(10_000)))
        }
      }
    })

    it('an SDK error that quotes the secret in its message', async () => {
      const leaky: SecretsManagerLike = {
        send: async () => {
          throw Object.assign(new Error(`AccessDenied reading ${JSON.stringify(jwk())}`), {
            name: 'AccessDeniedException',
            $metadata: { httpStatusCode: 400 },
            SecretString: JSON.stringify(jwk()),
          })
        },
      }
      const options = baseOptions({ secretsManager: leaky })
      await invoke(options, v2Event(`Bearer ${citizens[0]}`), true)
      await throwing(options, citizens[1]!)
    })
  })

  /**
   * Issue 18 (items 7 and 8): not only token-shaped text. TokenX may quote the subject token's claims
   * in its `error_description` decoded, in standard base64, or as base64url that does not start with
   * `eyJ` (a leading space); a fetch may throw with the token in its message, name, code or cause.
   * None of the citizen's claim values (the identity number above all), decoded or in any of those
   * encodings, may reach an error (message, detail, cause chain, JSON, util.inspect), a log line or an
   * event.
   */
  describe("the citizen's claims, in any encoding, in what TokenX or a fetch says", () => {
    const PID = '27118912345'
    const b64 = (text: string) => Buffer.from(text).toString('base64')
    const b64url = (text: string) => Buffer.from(text).toString('base64url')
    let subject: string
    let json: string
    let claimValues: string[]
    const encodings = new Map<string, string>()

    beforeAll(async () => {
      subject = await citizenToken(PID)
      secretToken("the claims tests' subject token", subject)
      json = Buffer.from(subject.split('.')[1] ?? '', 'base64url').toString()
      const claims = JSON.parse(json) as Record<string, unknown>
      // The pid, the pairwise `sub` and the token's own id are what identifies the citizen or the token.
      claimValues = [PID, String(claims['sub']), String(claims['jti'])]
      encodings.set(b64(json), 'the claims in standard base64')
      encodings.set(b64(` ${json}`), 'the claims in standard base64, after a space')
      encodings.set(b64url(` ${json}`), 'the claims in base64url, after a space')
      encodings.set(b64(`subject_token claims: ${json}`), 'the claims inside a text, in standard base64')
    })

    /** Where, among what was seen since `from`, a claim value or a fragment of an encoding of the claims or the token showed up. */
    function claimLeaks(from: number): string[] {
      const recent = seen.slice(from)
      const decoded = recent.flatMap(({ where, text }) =>
        claimValues.filter((value) => text.includes(value)).map((value) => `${value} in ${where}`),
      )
      return [...new Set(decoded), ...findLeaks(recent, encodings), ...findLeaks(recent, secrets)]
    }

    const DESCRIPTIONS: Array<[string, (claims: string) => Record<string, string>]> = [
      [
        'the claims decoded',
        (claims) => ({ error: 'invalid_request', error_description: `invalid subject_token: token verification failed: ${claims}` }),
      ],
      [
        '"sub" and the pid decoded, in Nimbus\' wording',
        () => ({
          error: 'invalid_request',
          error_description: `invalid subject_token: token verification failed: JWT+sub+claim+has+value+sub-${PID}%2C+must+be+${PID}`,
        }),
      ],
      [
        'the claims in standard base64',
        (claims) => ({ error: 'invalid_request', error_description: `invalid subject_token: ${b64(claims)}` }),
      ],
      [
        'the claims inside a text, in standard base64',
        (claims) => ({ error: 'invalid_request', error_description: b64(`subject_token claims: ${claims}`) }),
      ],
      [
        'the claims as base64url after a space',
        (claims) => ({ error: 'invalid_request', error_description: `invalid subject_token: ${b64url(` ${claims}`)}` }),
      ],
      [
        'the claims URL-encoded',
        (claims) => ({ error: 'invalid_request', error_description: `token verification failed: ${encodeURIComponent(claims)}` }),
      ],
      ['the pid as the error code', () => ({ error: PID, error_description: 'invalid subject_token' })],
    ]

    it.each(DESCRIPTIONS)('TokenX (a server on 127.0.0.1) quoting %s', async (_name, body) => {
      respond = () => ({ status: 400, body: body(json) })
      const from = seen.length
      for (const useConsole of [true, false]) {
        const result = await invoke(baseOptions(), v2Event(`Bearer ${subject}`), useConsole)
        expect(result.statusCode).toBeGreaterThanOrEqual(400)
      }
      await throwing(baseOptions(), subject)
      // What could leak was produced: log lines, errors, events.
      expect(seen.slice(from).filter(({ where }) => where.endsWith('error')).length).toBeGreaterThanOrEqual(3)
      expect(seen.slice(from).some(({ where, text }) => where === 'stdout' && text.includes('"level":"WARN"'))).toBe(true)
      expect(claimLeaks(from)).toEqual([])
    })

    /** Errors a broken or hostile `fetch` might throw, built from the token it was given. */
    const HOSTILE_ERRORS: Array<[string, (token: string) => unknown]> = [
      ['the token in its message', (token) => Object.assign(new TypeError(`fetch failed for ${token}`), { code: 'ECONNRESET' })],
      ['the token as its code', (token) => Object.assign(new Error('failed'), { code: token })],
      [
        'a fragment of the token as its name',
        (token) => Object.assign(new Error('failed'), { name: `P${(token.split('.')[1] ?? '').slice(3, 60)}` }),
      ],
      ['the pid in its name', () => Object.assign(new Error('failed'), { name: `Citizen${PID}Error` })],
      ['the pid in its code', () => Object.assign(new Error('failed'), { code: `ERR_PID_${PID}` })],
      [
        "the token in its cause's code and message",
        (token) => new TypeError('fetch failed', { cause: Object.assign(new Error(token), { code: token.slice(0, 60) }) }),
      ],
      ['a non-error carrying the token and the pid', (token) => ({ name: `Pid${PID}`, message: token, code: PID })],
    ]

    it.each(HOSTILE_ERRORS)('an injected fetch to TokenX throwing with %s', async (_name, hostile) => {
      const options = baseOptions({ fetch: async () => Promise.reject(hostile(subject)) })
      const from = seen.length
      for (const useConsole of [true, false]) {
        const result = await invoke(options, v2Event(`Bearer ${subject}`), useConsole)
        expect(result.statusCode).toBe(503)
      }
      await throwing(options, subject)
      expect(seen.slice(from).filter(({ where }) => where.endsWith('error')).length).toBeGreaterThanOrEqual(3)
      expect(claimLeaks(from)).toEqual([])
    })

    it.each(HOSTILE_ERRORS)('an injected downstream fetch throwing with %s (and the access token it was given)', async (_name, hostile) => {
      respond = (request) => handOut(accessTokenFor(formOf(request).subject_token ?? '', AUDIENCE, tokenx.requests.length))
      const downstreamFetch = async (_url: string | URL | Request, init?: RequestInit) => {
        const authorization = new Headers(init?.headers).get('authorization') ?? ''
        return Promise.reject(hostile(`${authorization.slice('Bearer '.length)}.${subject}`))
      }
      const from = seen.length
      for (const useConsole of [true, false]) {
        const result = await invoke(baseOptions(), v2Event(`Bearer ${subject}`), useConsole, downstreamFetch)
        expect(result.statusCode).toBe(502)
      }
      expect(seen.slice(from).filter(({ where }) => where.endsWith('error')).length).toBeGreaterThanOrEqual(1)
      expect(claimLeaks(from)).toEqual([])
    })
  })

  describe('hostile callers', () => {
    it('tokens sent every wrong way are not repeated back', async () => {
      const subject = citizens[0]!
      const expired = await citizenToken('44444444444', { now: Math.floor(Date.now() / 1000) - 7200, expiresIn: 60 })
      secretToken('an expired subject token', expired)
      const events = [
        v2Event(`Bearer ${subject}\r\nX-Admin: true`),
        v2Event(`Bearer ${subject},Bearer ${subject}`),
        v2Event(`Basic ${subject}`),
        v2Event(`DPoP ${subject}`),
        v2Event(`Bearer "${subject}"`),
        v2Event(`Bearer ${subject} ${subject}`),
        v2Event(`Bearer ${subject}${'A'.repeat(20_000)}`),
        v1Event(`Bearer ${expired}`),
        { multiValueHeaders: { authorization: [`Bearer ${subject}`, `Bearer ${expired}`] } },
        albEvent(`Bearer ${subject.split('.').slice(0, 2).join('.')}.`),
      ]
      for (const [i, event] of events.entries()) {
        const result = await invoke(baseOptions(), event, i % 2 === 0)
        expect([400, 401]).toContain(result.statusCode)
      }
    })
  })

  describe('the shared cache (DynamoDB, dynalite)', () => {
    const onEvent = (message: unknown) => seen.push({ where: 'shared-cache event', text: JSON.stringify(message) })
    beforeAll(() => subscribe('tokenx-handler-kit:shared-cache', onEvent))
    afterAll(() => unsubscribe('tokenx-handler-kit:shared-cache', onEvent))

    it('puts nothing token-like in the table items or the events: hits, tampering, SDK errors quoting tokens', async () => {
      const db = await startDynamoDB()
      const dynamodb = () => ({
        endpoint: db.url,
        region: 'eu-north-1',
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        maxAttempts: 1,
      })
      const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb')
      const clients = [new DynamoDBClient(dynamodb()), new DynamoDBClient(dynamodb())]
      try {
        const subjects = await Promise.all(['41111111111', '42222222222', '43333333333', '44444444444'].map((pid) => citizenToken(pid)))
        subjects.forEach((subject, i) => secretToken(`shared-cache citizen ${i}'s subject token`, subject))
        respond = (request) => handOut(accessTokenFor(formOf(request).subject_token ?? '', AUDIENCE, tokenx.requests.length))
        const sharedCache = (client: DynamoDBLike) => ({ table: db.table, client, readTimeout: 2000, writeTimeout: 2000 })
        // Two environments: one exchanges and writes, the other reads.
        const writer = baseOptions({ sharedCache: sharedCache(clients[0]!) })
        const reader = baseOptions({ sharedCache: sharedCache(clients[1]!) })
        for (const subject of subjects) await invoke(writer, v2Event(`Bearer ${subject}`), false)
        for (const subject of subjects) await invoke(reader, v2Event(`Bearer ${subject}`), true)
        // A tampered item: refused, exchanged anew, written again.
        const items = (await db.client.send(new ScanCommand({ TableName: db.table }))).Items ?? []
        const first = items[0]!
        const data = Buffer.from(first['data']?.B ?? new Uint8Array())
        data[data.length - 1] = (data[data.length - 1] as number) ^ 0xff
        await db.client.send(new PutItemCommand({ TableName: db.table, Item: { ...first, data: { B: data } } }))
        for (const subject of subjects) await throwing(baseOptions({ sharedCache: sharedCache(new DynamoDBClient(dynamodb())) }), subject)
        // SDK errors that quote the subject token in their message, and in their name.
        const quoting = (subject: string) => ({
          send: () =>
            Promise.reject(
              Object.assign(new Error(`not authorized for key derived from ${subject}`), {
                name: 'AccessDeniedException',
                $metadata: { httpStatusCode: 400 },
              }),
            ),
        })
        const named = (subject: string) => ({
          send: () => Promise.reject(Object.assign(new Error('odd'), { name: subject.split('.')[1] })),
        })
        for (const subject of subjects) {
          await invoke(baseOptions({ sharedCache: sharedCache(quoting(subject)) }), v2Event(`Bearer ${subject}`), true)
          await throwing(baseOptions({ sharedCache: sharedCache(named(subject)) }), subject)
        }
        // Everything in the table, bytes as text in two spellings.
        for (const item of (await db.client.send(new ScanCommand({ TableName: db.table }))).Items ?? []) {
          for (const encoding of ['latin1', 'base64url', 'utf8'] as const) {
            seen.push({
              where: `table item (${encoding})`,
              text: JSON.stringify(item, (_, value: unknown) =>
                value instanceof Uint8Array ? Buffer.from(value).toString(encoding) : value,
              ),
            })
          }
        }
        const events = seen
          .filter(({ where }) => where === 'shared-cache event')
          .map(({ text }) => JSON.parse(text) as { outcome: string; errorName?: string })
        expect(events.filter((event) => event.outcome === 'hit').length).toBeGreaterThanOrEqual(subjects.length)
        expect(events.some((event) => event.outcome === 'rejected')).toBe(true)
        expect(events.some((event) => event.errorName === 'AccessDeniedException')).toBe(true)
        expect(events.some((event) => event.errorName === 'UnknownError')).toBe(true)
        expect(seen.filter(({ where }) => where.startsWith('table item')).length).toBeGreaterThanOrEqual(3 * subjects.length)
      } finally {
        for (const client of clients) client.destroy()
        await db.close()
      }
    })
  })

  describe('inbound validation (exchange side and API side)', () => {
    it('hostile and refused tokens, a JWKS that is down, answers and events: no token and no pid', async () => {
      const issuer = await startIssuer()
      const events: string[] = []
      const listener = (message: unknown) => events.push(JSON.stringify(message))
      for (const name of ['validation.refused', 'jwks.fetch'] as const) subscribe(channelName(name), listener)
      const PID = '31129912345'
      try {
        // The calling app: a TokenX client id, as the API side's allow-list requires.
        const CALLER = 'dev-gcp:team:frontend'
        const claims = (extra: Record<string, unknown> = {}) =>
          citizenClaims(issuer.issuer, CLIENT_ID, { pid: PID, client_id: CALLER, ...extra })
        const hostile = [
          mint({ sign: 'none', header: { alg: 'none' }, claims: claims() }),
          mint({ sign: 'HS256', header: { alg: 'HS256' }, secret: JSON.stringify(issuer.key.publicJwk), claims: claims() }),
          mint({ key: key.privateJwk, claims: claims() }),
          mint({ key: key.privateJwk, header: { jku: 'http://127.0.0.1:1/jwks', jwk: key.publicJwk }, claims: claims() }),
          mint({ key: issuer.key.privateJwk, claims: claims({ exp: 1 }) }),
          mint({ key: issuer.key.privateJwk, claims: claims({ aud: 'someone' }) }),
          mint({ key: issuer.key.privateJwk, claims: claims({ acr: 'Level3' }) }),
          mint({ key: issuer.key.privateJwk, claims: claims({ client_id: 'dev-gcp:team:intruder' }) }),
        ]
        hostile.forEach((token, i) => secretToken(`inbound hostile token ${i}`, token))
        const inbound = {
          idporten: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: CLIENT_ID },
          minimumAcr: 'idporten-loa-high' as const,
          allowedClients: [CALLER],
        }
        const down = { ...inbound, idporten: { ...inbound.idporten, jwksUri: 'http://127.0.0.1:1/jwks' } }
        const api = createTokenXApiCore({
          tokenX: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: CLIENT_ID },
          minimumAcr: 'idporten-loa-high',
          allowedClients: [CALLER],
          logger,
        })
        for (const [i, token] of hostile.entries()) {
          for (const options of [inbound, down]) {
            const core = createTokenXHandlerCore({ audience: AUDIENCE, client: baseOptions(), inbound: options, logger })
            try {
              await core.authorizeRequest(v2Event(`Bearer ${token}`), lambdaContext(10_000))
            } catch (err) {
              collectError('inbound core error', err)
              collectResponse('inbound core answer', core.respond(err))
            }
          }
          try {
            await api.authorize(v1Event(`Bearer ${token}`), lambdaContext(10_000))
          } catch (err) {
            collectError('api core error', err)
            collectResponse('api core answer', api.respond(err))
          }
          const handler = middy<unknown, APIGatewayProxyResult>()
            .use(tokenX({ audience: AUDIENCE, client: baseOptions(), inbound, ...(i % 2 === 0 ? {} : { logger }) }))
            .handler(async () => ({ statusCode: 200, body: 'ok' }))
          const result = await handler(v2Event(`Bearer ${token}`), lambdaContext(10_000))
          collectResponse('inbound middleware answer', result)
          expect([401, 403, 503]).toContain(result.statusCode)
        }
      } finally {
        for (const name of ['validation.refused', 'jwks.fetch'] as const) unsubscribe(channelName(name), listener)
        await issuer.close()
      }
      for (const text of events) seen.push({ where: 'inbound event', text })
      expect(events.length).toBeGreaterThan(10)
      // The citizen's identity number is shorter than a leak fragment: look for it on its own.
      const withPid = seen.filter(({ text }) => text.includes(PID)).map(({ where }) => where)
      expect(withPid).toEqual([])
    })
  })

  it('finally: nothing leaked anywhere', () => {
    // Every client assertion TokenX ever received is a secret too.
    for (const request of tokenx.requests) {
      const assertion = formOf(request).client_assertion
      if (assertion !== undefined) secretToken('a client assertion', assertion)
    }
    // The scenarios did run and did produce the things that could leak.
    expect(tokenx.requests.length).toBeGreaterThan(50)
    expect(logged.length).toBeGreaterThan(50)
    // The kit's own JSON lines and EMF records, with debug lines (cache hits and misses) among them.
    const stdout = seen.filter(({ where }) => where === 'stdout').map(({ text }) => text)
    expect(stdout.filter((text) => text.includes('"_aws"')).length).toBeGreaterThan(20)
    expect(stdout.filter((text) => text.includes('"level":"DEBUG"')).length).toBeGreaterThan(20)
    expect(stdout.filter((text) => text.includes('"level":"WARN"') || text.includes('"level":"ERROR"')).length).toBeGreaterThan(20)
    // Every event, metric and span attribute is in `seen` too.
    expect(events).toBeGreaterThan(200)
    expect(metricsSeen.length).toBeGreaterThan(50)
    const finished = spans.getFinishedSpans()
    expect(finished.length).toBeGreaterThan(20)
    for (const span of finished) {
      seen.push({
        where: `span ${span.name}`,
        text: show({ name: span.name, attributes: span.attributes, status: span.status, events: span.events }),
      })
    }
    expect(seen.filter(({ where }) => where.endsWith('error')).length).toBeGreaterThan(40)
    expect([...secrets.values()].filter((label) => label.startsWith('a client assertion')).length).toBeGreaterThan(50)
    for (const name of ['cache', 'exchange', 'exchange.retry', 'key.load', 'downstream']) {
      expect(
        seen.some(({ where }) => where === `event ${name}`),
        name,
      ).toBe(true)
    }
    expect(findLeaks(seen, secrets)).toEqual([])
  })
})

describe('the leak finder itself', () => {
  const D = 'QmFzZTY0dXJsLWVuY29kZWQtcHJpdmF0ZS1leHBvbmVudC1kLXZhbHVl'
  it('finds a secret whole, cut short, or inside other text', () => {
    const what = new Map([[D, 'd']])
    expect(findLeaks([{ where: 'whole', text: `x ${D} y` }], what)).toHaveLength(1)
    expect(findLeaks([{ where: 'cut', text: `…${D.slice(7, 7 + FRAGMENT)}…` }], what)).toHaveLength(1)
    expect(
      findLeaks(
        [
          { where: 'short', text: D.slice(0, FRAGMENT - 1) },
          { where: 'none', text: 'nothing here' },
        ],
        what,
      ),
    ).toEqual([])
  })

  it('sees a cause chain and own properties', () => {
    const before = seen.length
    // (A plain Error: a kit error would not keep the foreign cause at all.)
    collectError('test', new Error('outer', { cause: Object.assign(new Error('inner'), { extra: `hidden ${D}` }) }))
    const collected = seen.splice(before)
    expect(findLeaks(collected, new Map([[D, 'd']]))).not.toEqual([])
  })
})

describe("no request ever receives another citizen's token (fast-check)", () => {
  const AUDIENCES = ['dev-gcp:team:one', 'dev-gcp:team:two', 'prod-gcp:other:three', 'dev-gcp:team:one-x']
  let subjects: string[]
  let total = 0
  let exchanges = 0
  /** Deterministic per run: which requests TokenX fails or delays. */
  let chaos: () => number

  /**
   * TokenX in memory (through the kit's `fetch` option: thousands of exchanges over sockets would
   * take the suite's time for nothing this test is about). Its token names the subject token and
   * audience it was asked for; now and then it fails (503) or answers a little later, and it honours
   * the request's signal as a real server connection would.
   */
  const memoryTokenX = async (_url: string | URL, init?: RequestInit): Promise<Response> => {
    const form = new URLSearchParams(String(init?.body))
    const roll = chaos()
    const signal = init?.signal ?? undefined
    if (roll < 0.3) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, Math.floor(roll * 10))
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer)
            reject(signal.reason)
          },
          { once: true },
        )
      })
    }
    signal?.throwIfAborted()
    if (roll < 0.05) return new Response('busy', { status: 503 })
    exchanges += 1
    const body = {
      access_token: accessTokenFor(form.get('subject_token') ?? '', form.get('audience') ?? '', exchanges),
      token_type: 'Bearer',
      expires_in: 900,
    }
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } })
  }

  beforeAll(async () => {
    // Ten citizens, two of whom sent two different tokens (same person, new login): the token, not
    // the person, is what a cached exchange belongs to.
    const pids = ['01', '02', '03', '04', '05', '06', '07', '08', '08', '09', '10', '10'].map((n) => `123456789${n}`)
    subjects = await Promise.all(pids.map((pid) => citizenToken(pid, { expiresIn: 10 * 365 * 86_400 })))
  })

  it('across thousands of interleaved, concurrent requests with evictions, expiry, failures and aborts', async () => {
    const unhandled = watchUnhandledRejections()
    const operation = fc.record({
      citizen: fc.nat({ max: 11 }),
      audience: fc.nat({ max: AUDIENCES.length - 1 }),
      /** Milliseconds after which this caller gives up, or never. */
      abortAfter: fc.option(fc.nat({ max: 4 }), { freq: 4 }),
      /** Evict the token afterwards, as the downstream's 401 does. */
      evict: fc.boolean(),
    })
    const run = fc.record({
      seed: fc.integer(),
      cacheMaxEntries: fc.integer({ min: 1, max: 6 }),
      batches: fc.array(
        fc.record({ advance: fc.nat({ max: 900_000 }), operations: fc.array(operation, { minLength: 14, maxLength: 24 }) }),
        { minLength: 10, maxLength: 14 },
      ),
    })
    try {
      await fc.assert(
        fc.asyncProperty(run, async ({ seed, cacheMaxEntries, batches }) => {
          chaos = mulberry32(seed)
          let now = Date.now()
          const kit = createTokenXClient({
            clientId: CLIENT_ID,
            tokenEndpoint: 'http://127.0.0.1:9/token',
            fetch: memoryTokenX,
            privateJwk: key.privateJwk,
            cacheMaxEntries,
            retries: 1,
            retryBackoff: 0,
            clock: () => now,
          })
          for (const batch of batches) {
            now += batch.advance
            await Promise.all(
              batch.operations.map(async (op) => {
                total += 1
                const subject = subjects[op.citizen]!
                const audience = AUDIENCES[op.audience]!
                const signal = op.abortAfter === null ? undefined : AbortSignal.timeout(op.abortAfter)
                let token
                try {
                  token = await kit.exchange(subject, audience, { signal })
                } catch (err) {
                  expect(err).toBeInstanceOf(TokenXError)
                  return
                }
                expect(token.audience).toBe(audience)
                expect(describeAccessToken(token.accessToken)).toEqual({ subjectHash: sha256(subject), audience })
                if (op.evict) kit.evict(subject, audience, token)
              }),
            )
          }
        }),
        { numRuns: 12 },
      )
      // 12 runs × at least 10 batches × at least 14 requests, most of them cache misses.
      expect(total).toBeGreaterThanOrEqual(1_680)
      expect(exchanges).toBeGreaterThan(1_000)
      await new Promise((resolve) => setTimeout(resolve, 30))
      expect(unhandled.seen).toEqual([])
    } finally {
      unhandled.stop()
    }
  })
})

/** A small seeded PRNG, so a failing run's TokenX behaviour follows from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

describe('deploy tooling: npm run keygen shows no private key material unless asked', () => {
  it('prints the public JWKS and commands, and no fragment of d, p, q, dp, dq or qi', async () => {
    const { mkdtemp, readFile, rm } = await import('node:fs/promises')
    const { tmpdir } = await import('node:os')
    const path = await import('node:path')
    const { execFile } = await import('node:child_process')
    const dir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-leak-'))
    try {
      const script = new URL('../../scripts/keygen.ts', import.meta.url).pathname
      const output = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [script, '--out', path.join(dir, 'k.json')], (error, stdout, stderr) =>
          error ? reject(error) : resolve(stdout + stderr),
        ),
      )
      const jwk = JSON.parse(await readFile(path.join(dir, 'k.json'), 'utf8')) as Record<string, string>
      const what = new Map(PRIVATE_MEMBERS.map((member) => [jwk[member]!, `the generated key's ${member}`] as const))
      expect(findLeaks([{ where: 'keygen output', text: output }], what)).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
