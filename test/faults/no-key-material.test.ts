/**
 * No private key material is reachable through what the kit hands out: every object the kit returns
 * (clients and their options, exchanged tokens, middlewares, cores, validators and their claims, the
 * request a core authorizes, errors and error answers) is walked through all its own properties,
 * enumerable or not, and each object met is put through `JSON.stringify` and `util.inspect` (with
 * hidden properties). None of it may contain any private member of the JWK (`d`, `p`, `q`, `dp`, `dq`,
 * `qi`), whether the key was given inline (object or JSON text), read from the environment, or loaded
 * from Secrets Manager.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
import {
  createInboundValidator,
  createTokenXApiCore,
  createTokenXClient,
  createTokenXHandlerCore,
  tokenX,
  tokenXApi,
  TokenXError,
  type TokenXOptions,
} from '../../lib/index.ts'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../helpers/issuer.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, issue } from './support.ts'

const SECRET = 'tokenx/private-jwk'
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const

let key: TestKey
let tokenx: TestServer
let refusing: TestServer
let sm: LocalSecretsManager
let idporten: TestIssuer
/** Objects the test itself passed in (an SDK client): reached, but not walked into. */
const given = new Set<object>()

beforeAll(async () => {
  key = await newTestKey('walk-key')
  tokenx = await startServer(issue)
  refusing = await startServer(() => ({
    status: 401,
    body: { error: 'invalid_client', error_description: 'invalid client authentication' },
  }))
  sm = await startSecretsManager()
  sm.putSecret(SECRET, JSON.stringify(key.privateJwk))
  idporten = await startIssuer()
})
afterAll(async () => {
  await Promise.all([tokenx.close(), refusing.close(), sm.close(), idporten.close()])
})

/** The first 24 characters of each private member: enough to recognise it anywhere. */
function secrets(): string[] {
  return PRIVATE_MEMBERS.map((member) => {
    const value = key.privateJwk[member]
    if (typeof value !== 'string' || value.length < 24) throw new Error(`the test key has no ${member}`)
    return value.slice(0, 24)
  })
}

/** Every value reachable from `root` through own properties (string and symbol keys, enumerable or not). */
function reachable(root: unknown): unknown[] {
  const seen = new Set<unknown>()
  const found: unknown[] = []
  const visit = (value: unknown): void => {
    if (seen.has(value)) return
    seen.add(value)
    found.push(value)
    // Functions hold nothing in properties (closures are out of reach); given objects are the test's own.
    if (value === null || typeof value !== 'object' || given.has(value)) return
    for (const property of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, property)
      if (descriptor !== undefined && 'value' in descriptor) visit(descriptor.value)
    }
  }
  visit(root)
  return found
}

function serialised(value: unknown): string[] {
  const texts = [inspect(value, { depth: 8, showHidden: true, getters: true })]
  try {
    texts.push(String(JSON.stringify(value)))
  } catch {
    // Circular (an SDK client among the options): JSON.stringify prints nothing then.
  }
  if (typeof value === 'string') texts.push(value)
  return texts
}

/** Fails naming the path-less value when any text reachable from `roots` contains key material. */
function expectNoKeyMaterial(roots: Record<string, unknown>): void {
  const needles = secrets()
  for (const [name, root] of Object.entries(roots)) {
    for (const value of reachable(root)) {
      for (const text of serialised(value)) {
        for (const needle of needles) {
          if (text.includes(needle)) expect.fail(`${name}: key material in ${inspect(value, { depth: 0 }).slice(0, 120)}`)
        }
      }
    }
  }
}

function inline(privateJwk: TokenXOptions['privateJwk'], tokenEndpoint = `${tokenx.url}/token`): TokenXOptions {
  return { clientId: CLIENT_ID, tokenEndpoint, privateJwk }
}

function fromSecret(): TokenXOptions {
  const secretsManager = new SecretsManagerClient({
    endpoint: sm.url,
    region: sm.region,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  })
  given.add(secretsManager)
  return { clientId: CLIENT_ID, tokenEndpoint: `${tokenx.url}/token`, privateJwkSecretId: SECRET, secretsManager }
}

function citizen(): string {
  return mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, 'test-frontend') })
}

async function caught(run: () => unknown): Promise<unknown> {
  try {
    await run()
  } catch (err) {
    return err
  }
  throw new Error('expected a failure')
}

describe('nothing the kit returns holds the private key', () => {
  it('the walk finds key material where there is some (the walk can fail)', () => {
    expect(() => expectNoKeyMaterial({ options: inline(key.privateJwk) })).toThrow(/key material/)
    expect(() => expectNoKeyMaterial({ hidden: Object.defineProperty({}, 'k', { value: JSON.stringify(key.privateJwk) }) })).toThrow(
      /key material/,
    )
  })

  it.each([
    ['an inline JWK object', () => inline(key.privateJwk)],
    ['inline JWK text', () => inline(JSON.stringify(key.privateJwk))],
    ['a Secrets Manager secret', fromSecret],
  ])('a client made with %s, its options and what it exchanges', async (_label, options) => {
    const client = createTokenXClient(options())
    const token = await client.exchange(citizen(), AUDIENCE)
    expectNoKeyMaterial({ client, options: client.options, token })
  })

  it('an inline key shows as "[redacted]" in client.options', () => {
    const client = createTokenXClient(inline(key.privateJwk))
    expect(client.options.privateJwk).toBe('[redacted]')
    expect(JSON.parse(JSON.stringify(client.options))).toMatchObject({ clientId: CLIENT_ID, privateJwk: '[redacted]' })
    expect(inspect(client)).toContain("privateJwk: '[redacted]'")
  })

  it('middlewares, cores, the authorized request and the validator', async () => {
    const inbound = { idporten: { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: 'test-frontend' } }
    const middleware = tokenX({ audience: AUDIENCE, client: inline(key.privateJwk), inbound, logger: false })
    const core = createTokenXHandlerCore({
      audience: { downstream: AUDIENCE },
      client: inline(JSON.stringify(key.privateJwk)),
      inbound,
      logger: false,
    })
    const authorized = await core.authorizeRequest(v2Event(`Bearer ${citizen()}`), lambdaContext(10_000))
    core.release(authorized.tokenX)
    const apiTokenX = { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: CLIENT_ID }
    const api = tokenXApi({ tokenX: apiTokenX, logger: false })
    const apiCore = createTokenXApiCore({ tokenX: apiTokenX, logger: false })
    const validator = createInboundValidator(inbound)
    const claims = await validator.validate(citizen())
    expectNoKeyMaterial({ middleware, core, authorized, api, apiCore, validator, claims })
  })

  it('errors and error answers, whatever the key problem', async () => {
    const core = createTokenXHandlerCore({ audience: AUDIENCE, client: inline(key.privateJwk, `${refusing.url}/token`), logger: false })
    const refused = await caught(() => core.authorize(v2Event(`Bearer ${citizen()}`), lambdaContext(10_000)))
    const errors: Record<string, unknown> = {
      refused,
      // A key that imports but fails its self-test, as JSON text that does not parse, and as an object.
      selfTest: await caught(() => createTokenXClient(inline({ ...key.privateJwk, e: 'AQAD' })).exchange(citizen(), AUDIENCE)),
      notJson: await caught(() => createTokenXClient(inline(JSON.stringify(key.privateJwk).slice(0, -10))).exchange(citizen(), AUDIENCE)),
      noKid: await caught(() => createTokenXClient(inline({ ...key.privateJwk, kid: undefined })).exchange(citizen(), AUDIENCE)),
      bothSources: await caught(() => createTokenXClient({ ...inline(key.privateJwk), privateJwkSecretId: SECRET })),
      unknownOption: await caught(() => createTokenXClient({ ...inline(key.privateJwk), retry: 1 } as TokenXOptions)),
      // A secret whose value is broken: the key.load path.
      brokenSecret: await (async () => {
        sm.putSecret('tokenx/broken', JSON.stringify({ ...key.privateJwk, kty: 'EC' }))
        return caught(() => createTokenXClient({ ...fromSecret(), privateJwkSecretId: 'tokenx/broken' }).exchange(citizen(), AUDIENCE))
      })(),
      // The environment: both key variables set.
      fromEnv: await caught(() =>
        createTokenXHandlerCore({
          audience: AUDIENCE,
          logger: false,
          env: {
            TOKEN_X_CLIENT_ID: CLIENT_ID,
            TOKEN_X_TOKEN_ENDPOINT: `${tokenx.url}/token`,
            TOKEN_X_PRIVATE_JWK: JSON.stringify(key.privateJwk),
            TOKEN_X_PRIVATE_JWK_SECRET_ID: SECRET,
          },
        }).authorize(v2Event(`Bearer ${citizen()}`), lambdaContext(10_000)),
      ),
    }
    for (const [name, err] of Object.entries(errors)) {
      expect(err, name).toBeInstanceOf(Error)
      if (err instanceof TokenXError) errors[`${name}Answer`] = core.respond(err)
    }
    expectNoKeyMaterial(errors)
  })
})
