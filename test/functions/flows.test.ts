/**
 * The built Entra ID and Maskinporten example functions (dist bundles, as Lambda runs them):
 * functions/employee.ts (on-behalf-of, GET /employee), functions/machine.ts (client credentials, on a
 * schedule) and functions/maskinporten.ts (on a schedule), against the local stand-ins (dev/entra.ts,
 * dev/maskinporten.ts), a Secrets Manager endpoint holding their key, and APIs on 127.0.0.1. The
 * bundles use their own copies of the kit and the AWS SDK; nothing here is injected. Every log line
 * they write is scanned for tokens and the key.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { decodeJwt } from 'jose'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  FLOW_APP,
  FLOW_CALLER,
  FLOW_DOWNSTREAM,
  MASKINPORTEN_SCOPE,
  startFlowStandIns,
  type FlowStandIns,
} from '../../dev/flows-stand-ins.ts'
import { startSecretsManager, type LocalSecretsManager } from '../../dev/secrets-manager.ts'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { startServer, type TestServer } from '../helpers/servers.ts'

type HttpHandler = (event: unknown, context: Context) => Promise<APIGatewayProxyResult>
type ScheduledHandler = (event: unknown, context: Context) => Promise<{ status: number }>

const STRANGER = '77777777-2222-4333-8444-555555555555'
const RESOURCE = 'https://external.example.test/'
let out: string
let stands: FlowStandIns
let secrets: LocalSecretsManager
let api: TestServer
/** What the API answers next, by path; 200 otherwise. */
const statusOf = new Map<string, number>()
const built: Record<string, string> = {}
const saved = { ...process.env }
let lines: string[] = []
let loads = 0

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-flows-'))
  for (const name of ['employee', 'machine', 'maskinporten']) built[name] = (await buildFunction(name, { into: out })).outdir
  stands = await startFlowStandIns()
  secrets = await startSecretsManager({
    secrets: { 'team/entra-key': stands.env['AZURE_APP_JWK']!, 'team/maskinporten-key': stands.env['MASKINPORTEN_CLIENT_JWK']! },
  })
  api = await startServer((request) => {
    const token = (request.headers.authorization ?? '').replace(/^Bearer /, '')
    const claims = token === '' ? {} : decodeJwt(token)
    return {
      status: statusOf.get(new URL(request.url, 'http://x').pathname) ?? 200,
      body: { path: request.url, aud: claims.aud, scope: claims['scope'] },
    }
  })
}, 60_000)

afterAll(async () => {
  process.env = saved
  await Promise.all([stands?.close(), secrets?.close(), api?.close()])
  await rm(out, { recursive: true, force: true })
})

beforeEach(() => {
  lines = []
  statusOf.clear()
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk))
    return true
  })
})

afterEach(() => {
  vi.restoreAllMocks()
  // No token, assertion or key in any log line.
  for (const line of lines) {
    expect(line).not.toMatch(/eyJ[\w-]+\.eyJ/)
    expect(line).not.toContain('"d":')
  }
})

/** The environment a deployed function of this kind gets (deploy/config.cjs): NAIS's names, the key as a secret. */
function deployedEnv(extra: Record<string, string | undefined>): Record<string, string | undefined> {
  const { AZURE_APP_JWK, MASKINPORTEN_CLIENT_JWK, DOWNSTREAM_SCOPE, MASKINPORTEN_SCOPES, ...rest } = stands.env
  return {
    ...rest,
    AZURE_APP_JWK_SECRET_ID: secrets.arnOf('team/entra-key'),
    MASKINPORTEN_CLIENT_JWK_SECRET_ID: secrets.arnOf('team/maskinporten-key'),
    POWERTOOLS_SERVICE_NAME: 'flows-test',
    ...extra,
  }
}

/** The AWS SDK reads its endpoint and credentials when the key is first loaded, not at module load. */
function awsEnv(): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_REGION: secrets.region,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  }
}

/** Imports a fresh copy of a bundle under `env` (its module load is the Lambda init phase). */
async function load<T>(name: string, env: Record<string, string | undefined>): Promise<T> {
  process.env = { ...saved, ...awsEnv() }
  for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value
  try {
    return (await import(`${pathToFileURL(path.join(built[name]!, 'index.mjs')).href}?load=${++loads}`)).handler as T
  } finally {
    // Each function keeps the environment it loaded with (functions/shared/acr-env.ts): none of it stays.
    process.env = { ...saved, ...awsEnv() }
  }
}

const obo = () => stands.entra.requests.filter((request) => request.form.get('requested_token_use') === 'on_behalf_of')

describe('functions/employee (GET /employee, Entra ID on-behalf-of)', () => {
  let handler: HttpHandler
  beforeAll(async () => {
    const before = secrets.stats.getSecretValue
    handler = await load<HttpHandler>('employee', deployedEnv({ DOWNSTREAM_URL: `${api.url}/v1`, DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name }))
    // The init phase loads no key and calls nothing.
    expect(secrets.stats.getSecretValue).toBe(before)
  })

  it("answers the downstream's answer to a pre-authorized caller, exchanged on its behalf once for warm calls", async () => {
    const user = await stands.entra.mintUserToken({ aud: FLOW_APP.clientId, azp: FLOW_CALLER.clientId, sub: 'employee-1' })
    const exchanges = obo().length
    const first = await handler(v2Event(`Bearer ${user}`, '/employee'), lambdaContext())
    const second = await handler(v2Event(`Bearer ${user}`, '/employee'), lambdaContext())
    for (const answer of [first, second]) {
      expect(answer.statusCode).toBe(200)
      expect(answer.headers).toMatchObject({ 'Cache-Control': 'no-store' })
      expect(JSON.parse(answer.body)).toEqual({ path: '/v1/employee', aud: FLOW_DOWNSTREAM.clientId })
    }
    expect(obo().length - exchanges).toBe(1)
    expect(obo().at(-1)!.form.get('scope')).toBe('api://local.team.downstream-api/.default')
    expect(api.requests.at(-1)!.headers.authorization).not.toContain(user)
  })

  it('passes on a 404 with the fixed body, and answers 502 for a downstream 500', async () => {
    const user = await stands.entra.mintUserToken({ aud: FLOW_APP.clientId, azp: FLOW_CALLER.clientId, sub: 'employee-2' })
    statusOf.set('/v1/employee', 404)
    const missing = await handler(v2Event(`Bearer ${user}`, '/employee'), lambdaContext())
    expect(missing.statusCode).toBe(404)
    expect(missing.body).not.toContain('/v1/employee')
    statusOf.set('/v1/employee', 500)
    expect((await handler(v2Event(`Bearer ${user}`, '/employee'), lambdaContext())).statusCode).toBe(502)
  })

  it('refuses a caller without a token (401) and an app that is not pre-authorized (403), exchanging nothing', async () => {
    const exchanges = obo().length
    const none = await handler(v2Event(undefined, '/employee'), lambdaContext())
    expect(none.statusCode).toBe(401)
    const stranger = await stands.entra.mintUserToken({ aud: FLOW_APP.clientId, azp: STRANGER, sub: 'employee-3' })
    expect((await handler(v2Event(`Bearer ${stranger}`, '/employee'), lambdaContext())).statusCode).toBe(403)
    const elsewhere = await stands.entra.mintUserToken({ aud: STRANGER, azp: FLOW_CALLER.clientId, sub: 'employee-4' })
    expect((await handler(v2Event(`Bearer ${elsewhere}`, '/employee'), lambdaContext())).statusCode).toBe(401)
    expect(obo().length).toBe(exchanges)
  })

  it('answers 500 naming the setting when DOWNSTREAM_SCOPE is missing', async () => {
    const broken = await load<HttpHandler>('employee', deployedEnv({ DOWNSTREAM_URL: api.url, DOWNSTREAM_SCOPE: undefined }))
    const user = await stands.entra.mintUserToken({ aud: FLOW_APP.clientId, azp: FLOW_CALLER.clientId })
    const answer = await broken(v2Event(`Bearer ${user}`, '/employee'), lambdaContext())
    expect(answer.statusCode).toBe(500)
    expect(lines.join('')).toContain('DOWNSTREAM_SCOPE is not set')
  })
})

describe('functions/machine (scheduled, Entra ID client credentials)', () => {
  it('calls DOWNSTREAM_URL with its own token for DOWNSTREAM_SCOPE and returns the status; one token for warm runs', async () => {
    const handler = await load<ScheduledHandler>(
      'machine',
      deployedEnv({ DOWNSTREAM_URL: `${api.url}/jobs/run`, DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name }),
    )
    const tokens = stands.entra.requests.length
    expect(await handler({ source: 'aws.events' }, lambdaContext())).toEqual({ status: 200 })
    statusOf.set('/jobs/run', 503)
    expect(await handler({ source: 'aws.events' }, lambdaContext())).toEqual({ status: 503 })
    expect(stands.entra.requests.length - tokens).toBe(1)
    const request = stands.entra.requests.at(-1)!
    expect(request.form.get('grant_type')).toBe('client_credentials')
    expect(request.form.get('scope')).toBe('api://local.team.downstream-api/.default')
    expect(api.requests.at(-1)!.url).toBe('/jobs/run')
    expect(decodeJwt(api.requests.at(-1)!.headers.authorization!.replace('Bearer ', '')).aud).toBe(FLOW_DOWNSTREAM.clientId)
    expect(lines.join('')).toContain('"status":503')
  })

  it("fails the run with the kit's error when Entra ID refuses it, logging its code only", async () => {
    const handler = await load<ScheduledHandler>('machine', deployedEnv({ DOWNSTREAM_URL: api.url, DOWNSTREAM_SCOPE: 'local:team:nobody' }))
    await expect(handler({}, lambdaContext())).rejects.toMatchObject({ code: 'ERR_CLIENT_REJECTED' })
    expect(lines.join('')).toContain('"code":"ERR_CLIENT_REJECTED"')
  })

  it('fails every run naming the setting when one is missing', async () => {
    const handler = await load<ScheduledHandler>(
      'machine',
      // Neither the token endpoint nor the discovery document it could be read from.
      deployedEnv({
        DOWNSTREAM_URL: api.url,
        AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: undefined,
        AZURE_APP_WELL_KNOWN_URL: undefined,
        DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name,
      }),
    )
    const requests = stands.entra.requests.length
    await expect(handler({}, lambdaContext())).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      detail: 'AZURE_OPENID_CONFIG_TOKEN_ENDPOINT or AZURE_APP_WELL_KNOWN_URL must be set',
    })
    expect(lines.join('')).toContain('AZURE_OPENID_CONFIG_TOKEN_ENDPOINT or AZURE_APP_WELL_KNOWN_URL must be set')
    expect(stands.entra.requests.length).toBe(requests)
  })

  it("ends a run that would outlast the invocation before the invocation's deadline", async () => {
    const handler = await load<ScheduledHandler>(
      'machine',
      deployedEnv({ DOWNSTREAM_URL: api.url, DOWNSTREAM_SCOPE: FLOW_DOWNSTREAM.name }),
    )
    stands.entra.delay(2000)
    try {
      const started = Date.now()
      await expect(handler({}, lambdaContext(700))).rejects.toBeInstanceOf(Error)
      expect(Date.now() - started).toBeLessThan(1500)
    } finally {
      stands.entra.delay(0)
    }
  })
})

describe('functions/maskinporten (scheduled, Maskinporten)', () => {
  it('calls EXTERNAL_API_URL with a token for MASKINPORTEN_SCOPES and MASKINPORTEN_RESOURCE, and returns the status', async () => {
    const handler = await load<ScheduledHandler>(
      'maskinporten',
      deployedEnv({
        MASKINPORTEN_SCOPES: ` ${MASKINPORTEN_SCOPE} `,
        MASKINPORTEN_RESOURCE: RESOURCE,
        EXTERNAL_API_URL: `${api.url}/api/v1/status`,
      }),
    )
    const grants = stands.maskinporten.requests.length
    expect(await handler({}, lambdaContext())).toEqual({ status: 200 })
    expect(await handler({}, lambdaContext())).toEqual({ status: 200 })
    expect(stands.maskinporten.requests.length - grants).toBe(1)
    expect(stands.maskinporten.requests.at(-1)).toMatchObject({ iss: FLOW_APP.clientId, scope: MASKINPORTEN_SCOPE, resource: RESOURCE })
    expect(api.requests.at(-1)!.url).toBe('/api/v1/status')
    expect(JSON.parse(JSON.stringify(decodeJwt(api.requests.at(-1)!.headers.authorization!.replace('Bearer ', ''))))).toMatchObject({
      scope: MASKINPORTEN_SCOPE,
    })
  })

  it('works without a resource, and fails naming a missing EXTERNAL_API_URL', async () => {
    const handler = await load<ScheduledHandler>(
      'maskinporten',
      deployedEnv({ MASKINPORTEN_SCOPES: MASKINPORTEN_SCOPE, EXTERNAL_API_URL: api.url }),
    )
    statusOf.set('/', 204)
    expect(await handler({}, lambdaContext())).toEqual({ status: 204 })
    const broken = await load<ScheduledHandler>('maskinporten', deployedEnv({ MASKINPORTEN_SCOPES: MASKINPORTEN_SCOPE }))
    await expect(broken({}, lambdaContext())).rejects.toThrow('target.url')
  })
})
