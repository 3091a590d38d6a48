/**
 * The kit in other teams' middy stacks: every neighbour alone before and after tokenX(), every order
 * of tokenX() with the three middlewares that change error answers (@middy/http-error-handler,
 * http-cors, http-security-headers), the recommended stack, everything before and everything after
 * the kit, and random orders of the whole set. For each stack: a valid token (200), no token (401
 * Bearer), an expired and a forged token (401 invalid_token), TokenX down (503) and a misconfigured
 * function (500); the status, body, WWW-Authenticate, CORS and security headers of each answer, the
 * warnings the kit emits, and everything the stack logged scanned for tokens, assertions and keys.
 *
 * Runs against whatever `tokenx-handler-kit` resolves to: lib/ in this repo, the packed package in a
 * consumer fixture.
 */
import middy from '@middy/core'
import httpCors from '@middy/http-cors'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { APIGatewayProxyResult } from 'aws-lambda'
import { tokenX, type TokenXCoreOptions } from 'tokenx-handler-kit'
import {
  AUDIENCE,
  capture,
  citizenToken,
  CLIENT_ID,
  closedEndpoint,
  findLeaks,
  header,
  httpEvent,
  lambdaContext,
  NEIGHBOURS,
  newKey,
  ORIGIN,
  powertools,
  stack,
  stackSecrets,
  startTokenEndpoint,
  type KeyPair,
  type Neighbour,
  type Piece,
  type Powertools,
  type StackContext,
  type TokenEndpoint,
} from './support.ts'

const INVALID_TOKEN = { error: 'invalid_token', error_description: 'The bearer token is malformed, expired or not accepted' }
const INVALID_TOKEN_CHALLENGE = `Bearer error="invalid_token", error_description="${INVALID_TOKEN.error_description}"`

interface Scenario {
  readonly name: string
  /** Which handler of the stack: configured, TokenX down, or configured from an empty environment. */
  readonly handler: 'ok' | 'down' | 'misconfigured'
  readonly authorization: () => string | undefined
  readonly status: number
  readonly body?: object
  readonly challenge?: string
}

let clientKey: KeyPair
let issuer: KeyPair
let tokenEndpoint: TokenEndpoint
let downUrl: string
let tools: Powertools
const subjects = { valid: '', expired: '', forged: '' }

// Ordered: the successful invocation first, so the kit has seen what the stack adds to answers.
const SCENARIOS: readonly Scenario[] = [
  { name: 'a valid token', handler: 'ok', authorization: () => `Bearer ${subjects.valid}`, status: 200 },
  {
    name: 'no token',
    handler: 'ok',
    authorization: () => undefined,
    status: 401,
    body: { error_description: 'A bearer token is required' },
    challenge: 'Bearer',
  },
  {
    name: 'an expired token',
    handler: 'ok',
    authorization: () => `Bearer ${subjects.expired}`,
    status: 401,
    body: INVALID_TOKEN,
    challenge: INVALID_TOKEN_CHALLENGE,
  },
  {
    name: 'a forged token (TokenX rejects it)',
    handler: 'ok',
    authorization: () => `Bearer ${subjects.forged}`,
    status: 401,
    body: INVALID_TOKEN,
    challenge: INVALID_TOKEN_CHALLENGE,
  },
  {
    name: 'TokenX down',
    handler: 'down',
    authorization: () => `Bearer ${subjects.valid}`,
    status: 503,
    body: { error: 'temporarily_unavailable', error_description: 'An upstream service is unavailable' },
  },
  {
    name: 'a misconfigured function',
    handler: 'misconfigured',
    authorization: () => `Bearer ${subjects.valid}`,
    status: 500,
    body: { error: 'server_error', error_description: 'The server could not complete the request' },
  },
]

/**
 * Who renders a kit error: middy runs onError in reverse `.use()` order, so of tokenX() and the error
 * handler, the one used later renders it (the other finds the answer set and leaves it).
 */
function renderer(order: readonly Piece[]): Piece {
  return order.indexOf('httpErrorHandler') > order.indexOf('tokenX') ? 'httpErrorHandler' : 'tokenX'
}

/** Whether a middleware that adds headers only to an answer already set (CORS, security headers) reaches the kit's error answers. */
function reachesErrors(order: readonly Piece[], adder: Neighbour): boolean {
  const at = order.indexOf(adder)
  return at >= 0 && at < order.indexOf(renderer(order))
}

const pieces = (...names: Piece[]): Piece[] => names

/** The stack docs/middlewares.md recommends (examples/recommended-stack.ts). */
const RECOMMENDED = pieces(
  'captureLambdaHandler',
  'injectLambdaContext',
  'logMetrics',
  'httpSecurityHeaders',
  'httpCors',
  'httpHeaderNormalizer',
  'httpErrorHandler',
  'tokenX',
)

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]))
}

/** The whole set of neighbours (one header normalizer: two in one stack would be odd), in random orders. */
const FULL = NEIGHBOURS.filter((name) => name !== 'httpHeaderNormalizerCanonical')
const RANDOM = fc
  .sample(fc.tuple(fc.shuffledSubarray([...FULL, 'tokenX' as const], { minLength: FULL.length + 1 }), fc.boolean()), {
    numRuns: 16,
    seed: 13,
  })
  .map(([order, canonical]) =>
    order.map((piece): Piece => (canonical && piece === 'httpHeaderNormalizer' ? 'httpHeaderNormalizerCanonical' : piece)),
  )

const STACKS: Array<[string, Piece[]]> = [
  ...NEIGHBOURS.flatMap(
    (name): Array<[string, Piece[]]> => [
      [`${name} before tokenX`, pieces(name, 'tokenX')],
      [`${name} after tokenX`, pieces('tokenX', name)],
    ],
  ),
  ...permutations(pieces('tokenX', 'httpErrorHandler', 'httpCors', 'httpSecurityHeaders')).map((order): [string, Piece[]] => [
    order.join(' > '),
    order,
  ]),
  ['the recommended stack', RECOMMENDED],
  ['everything before tokenX', pieces(...FULL, 'tokenX')],
  ['everything after tokenX', pieces('tokenX', ...FULL)],
  ...RANDOM.map((order): [string, Piece[]] => [`random: ${order.join(' > ')}`, order]),
]

beforeAll(async () => {
  ;[clientKey, issuer] = await Promise.all([newKey('app-key'), newKey('idporten-key')])
  const forger = { ...(await newKey('idporten-key')) }
  tokenEndpoint = await startTokenEndpoint(issuer)
  downUrl = await closedEndpoint()
  tools = powertools()
  const now = Math.floor(Date.now() / 1000)
  subjects.valid = await citizenToken(issuer, '12345678910')
  subjects.expired = await citizenToken(issuer, '12345678911', { now: now - 7200, expiresIn: 600 })
  subjects.forged = await citizenToken(forger, '12345678912')
})
afterAll(async () => {
  await tokenEndpoint.close()
})

function secrets(): Map<string, string> {
  return stackSecrets(
    {
      'the valid subject token': subjects.valid,
      'the expired subject token': subjects.expired,
      'the forged subject token': subjects.forged,
    },
    tokenEndpoint,
    clientKey,
  )
}

describe('tokenX() among other middlewares', () => {
  it.each(STACKS)('%s', async (_label, order) => {
    const client = (tokenEndpointUrl: string) => ({
      clientId: CLIENT_ID,
      tokenEndpoint: tokenEndpointUrl,
      privateJwk: clientKey.privateJwk,
      retries: 0,
    })
    const options: Record<Scenario['handler'], TokenXCoreOptions<string>> = {
      ok: { audience: AUDIENCE, client: client(tokenEndpoint.url) },
      down: { audience: AUDIENCE, client: client(downUrl) },
      misconfigured: { audience: AUDIENCE, env: {} },
    }
    const handed = { accessTokens: [] as string[] }
    const handlers = {
      ok: stack(order, options.ok, tools, handed),
      down: stack(order, options.down, tools, handed),
      misconfigured: stack(order, options.misconfigured, tools, handed),
    }
    const logs = capture()
    const results: Array<[Scenario, APIGatewayProxyResult]> = []
    try {
      for (const [i, scenario] of SCENARIOS.entries()) {
        const event = httpEvent(i % 2 === 0 ? 'v1' : 'v2', scenario.authorization())
        results.push([scenario, await handlers[scenario.handler](event, lambdaContext<StackContext>())])
      }
      // process.emitWarning reports on the next tick.
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      logs.stop()
    }

    const corsOnErrors = reachesErrors(order, 'httpCors')
    const securityOnErrors = reachesErrors(order, 'httpSecurityHeaders')
    for (const [scenario, result] of results) {
      const where = scenario.name
      expect(result.statusCode, where).toBe(scenario.status)
      expect(header(result, 'Content-Type'), where).toBe('application/json')
      if (scenario.status === 200) {
        expect(JSON.parse(result.body), where).toMatchObject({ ok: true })
        expect(
          handed.accessTokens.every((token) => tokenEndpoint.accessTokens.includes(token)),
          where,
        ).toBe(true)
      } else {
        expect(JSON.parse(result.body), where).toStrictEqual(scenario.body)
        expect(header(result, 'Cache-Control'), where).toBe('no-store')
      }
      expect(header(result, 'WWW-Authenticate'), where).toBe(scenario.challenge)
      const cors = order.includes('httpCors') && (scenario.status === 200 || corsOnErrors)
      expect(header(result, 'Access-Control-Allow-Origin'), where).toBe(cors ? ORIGIN : undefined)
      expect(header(result, 'Access-Control-Expose-Headers'), where).toBe(cors ? 'WWW-Authenticate' : undefined)
      const security = order.includes('httpSecurityHeaders') && (scenario.status === 200 || securityOnErrors)
      expect(header(result, 'X-Content-Type-Options'), where).toBe(security ? 'nosniff' : undefined)
    }

    // The kit warns, once, exactly about the headers its error answers lack in this order.
    const warnings = logs.warnings.filter((warning) => warning.code === 'TOKENX_MIDDLEWARE_ORDER').map((warning) => warning.message)
    const expected = [
      ...(order.includes('httpCors') && !corsOnErrors ? ['CORS headers'] : []),
      ...(order.includes('httpSecurityHeaders') && !securityOnErrors ? ['security headers'] : []),
    ]
    expect(warnings).toHaveLength(expected.length)
    for (const what of expected)
      expect(
        warnings.some((warning) => warning.includes(what)),
        what,
      ).toBe(true)

    // Those who log errors whole did log them, and nothing anyone logged or answered holds a secret.
    if (renderer(order) === 'httpErrorHandler') expect(logs.texts.join('\n')).toMatch(/ERR_BEARER_TOKEN/)
    if (order.includes('errorLogger')) expect(logs.texts.join('\n')).toMatch(/request failed/)
    const everything = [...logs.texts, ...results.map(([, result]) => JSON.stringify(result))]
    expect(findLeaks(everything, secrets())).toStrictEqual([])
  })
})

describe('CORS preflights', () => {
  const preflight = (version: 'v1' | 'v2') => {
    const event = httpEvent(version)
    const headers = event['headers'] as Record<string, string>
    headers[version === 'v1' ? 'Access-Control-Request-Method' : 'access-control-request-method'] = 'GET'
    headers[version === 'v1' ? 'Access-Control-Request-Headers' : 'access-control-request-headers'] = 'authorization'
    if (version === 'v1') event['httpMethod'] = 'OPTIONS'
    else (event['requestContext'] as { http: { method: string } }).http.method = 'OPTIONS'
    return event
  }
  const cors = () => httpCors({ origins: [ORIGIN], disableBeforePreflightResponse: false, headers: 'Authorization', methods: 'GET' })
  const kit = () =>
    tokenX({
      audience: AUDIENCE,
      client: { clientId: CLIENT_ID, tokenEndpoint: tokenEndpoint.url, privateJwk: clientKey.privateJwk },
      logger: false,
    })

  it.each(['v1', 'v2'] as const)('are answered by http-cors used before tokenX(), without an exchange (%s)', async (version) => {
    const exchanges = tokenEndpoint.subjectTokens.length
    const logs = capture()
    const handler = middy<unknown, APIGatewayProxyResult>()
      .use(cors())
      .use(kit())
      .handler(async () => ({ statusCode: 200, body: '' }))
    try {
      const result = await handler(preflight(version), lambdaContext())
      await new Promise((resolve) => setImmediate(resolve))
      expect(result.statusCode).toBe(204)
      expect(header(result, 'Access-Control-Allow-Origin')).toBe(ORIGIN)
      expect(header(result, 'Access-Control-Allow-Headers')).toBe('Authorization')
    } finally {
      logs.stop()
    }
    expect(logs.warnings).toStrictEqual([])
    expect(tokenEndpoint.subjectTokens).toHaveLength(exchanges)
  })

  it('are refused by tokenX() used before http-cors, which warns once', async () => {
    const logs = capture()
    const handler = middy<unknown, APIGatewayProxyResult>()
      .use(kit())
      .use(cors())
      .handler(async () => ({ statusCode: 200, body: '' }))
    const results: APIGatewayProxyResult[] = []
    try {
      for (const version of ['v1', 'v2', 'v1'] as const) results.push(await handler(preflight(version), lambdaContext()))
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      logs.stop()
    }
    expect(results.map((result) => result.statusCode)).toStrictEqual([401, 401, 401])
    expect(logs.warnings.filter((warning) => warning.code === 'TOKENX_MIDDLEWARE_ORDER').map((warning) => warning.message)).toStrictEqual([
      expect.stringMatching(/a CORS preflight .* reached tokenX\(\)/),
    ])
  })
})

describe('the leak scan itself', () => {
  it('finds a fragment of a token, of an assertion and of a key', () => {
    const found = secrets()
    const fragment = (token: string) => token.split('.')[2]?.slice(5, 30)
    expect(findLeaks([`x ${fragment(subjects.valid)} y`], found)).toHaveLength(1)
    const assertion = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ iss: CLIENT_ID, jti: 'a-unique-jti-value' })).toString('base64url')}.c2lnbmF0dXJlLW9mLXRoZS1hc3NlcnRpb24`
    found.set(assertion, 'a client assertion')
    expect(findLeaks([`x ${fragment(assertion)} y`], found)).toHaveLength(1)
    expect(findLeaks([`${clientKey.privateJwk.d?.slice(40, 70)}`], found)).toHaveLength(1)
    expect(findLeaks(['nothing to see'], found)).toStrictEqual([])
  })
})
