/**
 * serverless.yml as the one source of deploy configuration: `sls package` (osls, offline) of a COPY of
 * the service in a temp folder, whose params and custom.functions are this test's fixtures (so the
 * params and functions a user sets in serverless.yml never change what runs here), then the packaged
 * CloudFormation template and zips are read back. Checks that the package refuses what the functions
 * would refuse at run time (the kit's own checks), each function's environment and role, and what is
 * in each zip.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { sls } from '../helpers/run.ts'
import { zipEntries } from '../helpers/zip.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
const yaml = require('js-yaml') as { load(text: string): any; dump(value: unknown, options?: object): string }

interface Planned {
  functions: Record<
    string,
    { use: string; environment: Record<string, string>; check: Record<string, string>; own: Record<string, string> }
  >
  skipped: string[]
  sharedCache: string
  table: string | undefined
  secretId: string | undefined
}
interface DeployConfig {
  functionFiles(root?: string): string[]
  secretResource(secretId: string): unknown
  plan(input: {
    declared: Record<string, unknown>
    files: string[]
    read: (name: string) => string | undefined
    stage: string
    region?: string
    service: string
    custom?: Record<string, unknown>
  }): Planned
  checkPlan(planned: Planned): Promise<void>
  rolesFor(planned: Planned, service: string, stage: string): unknown
}
const config = require('../../deploy/config.cjs') as DeployConfig

/** The fixture's functions: the two examples, as this test needs them whatever serverless.yml says. */
const FUNCTIONS = {
  resource: {
    tokenX: 'exchange',
    settings: ['DOWNSTREAM_URL', 'DOWNSTREAM_AUDIENCE'],
    events: [{ httpApi: { method: 'GET', path: '/resource' } }],
  },
  'api-resource': {
    tokenX: 'api',
    optional: true,
    settings: { TOKEN_X_CLIENT_ID: 'API_TOKEN_X_CLIENT_ID', ALLOWED_CALLERS: 'API_ALLOWED_CALLERS' },
    events: [{ httpApi: { method: 'GET', path: '/api/resource' } }],
  },
  employee: {
    kit: 'entra-obo',
    optional: true,
    settings: { DOWNSTREAM_URL: 'EMPLOYEE_DOWNSTREAM_URL', DOWNSTREAM_SCOPE: 'EMPLOYEE_DOWNSTREAM_SCOPE' },
    events: [{ httpApi: { method: 'GET', path: '/employee' } }],
  },
  machine: {
    kit: 'entra-machine',
    optional: true,
    settings: { DOWNSTREAM_URL: 'MACHINE_DOWNSTREAM_URL', DOWNSTREAM_SCOPE: 'MACHINE_DOWNSTREAM_SCOPE' },
    events: [{ schedule: 'rate(5 minutes)' }],
  },
  maskinporten: {
    kit: 'maskinporten',
    optional: true,
    settings: ['MASKINPORTEN_SCOPES', 'MASKINPORTEN_RESOURCE', 'EXTERNAL_API_URL'],
    events: [{ schedule: 'rate(5 minutes)' }],
  },
}

const SETTINGS = {
  TOKEN_X_CLIENT_ID: 'prod-gcp:team:tokenx-kit-example',
  TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx.example.test/token',
  TOKEN_X_ISSUER: 'https://tokenx.example.test',
  TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/tokenx-key',
  IDPORTEN_ISSUER: 'https://idporten.example.test',
  IDPORTEN_JWKS_URI: 'https://idporten.example.test/jwks.json',
  IDPORTEN_AUDIENCE: 'prod-gcp:team:tokenx-kit-example',
  DOWNSTREAM_URL: 'https://downstream.example.test/',
  DOWNSTREAM_AUDIENCE: 'prod-gcp:team:downstream-api',
}
const API_SETTINGS = {
  TOKEN_X_JWKS_URI: 'https://tokenx.example.test/jwks',
  API_TOKEN_X_CLIENT_ID: 'prod-gcp:team:downstream-api',
  API_ALLOWED_CALLERS: 'prod-gcp:team:tokenx-kit-example',
}
/** The Entra ID functions' settings: NAIS's AZURE_* (the key as a secret) and each function's own. */
const ENTRA_SETTINGS = {
  AZURE_APP_CLIENT_ID: '11111111-2222-4333-8444-555555555555',
  AZURE_APP_JWK_SECRET_ID: 'team/entra-key',
  AZURE_OPENID_CONFIG_ISSUER: 'https://login.example.test/tenant/v2.0',
  AZURE_OPENID_CONFIG_JWKS_URI: 'https://login.example.test/tenant/discovery/v2.0/keys',
  AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: 'https://login.example.test/tenant/oauth2/v2.0/token',
  AZURE_APP_PRE_AUTHORIZED_APPS: JSON.stringify([{ name: 'prod-gcp:team:frontend', clientId: '88888888-2222-4333-8444-555555555555' }]),
  EMPLOYEE_DOWNSTREAM_URL: 'https://employees.example.test/',
  EMPLOYEE_DOWNSTREAM_SCOPE: 'api://prod-gcp.team.employee-api/.default',
  MACHINE_DOWNSTREAM_URL: 'https://jobs.example.test/run',
  MACHINE_DOWNSTREAM_SCOPE: 'prod-gcp:team:jobs',
}
const MASKINPORTEN_SETTINGS = {
  MASKINPORTEN_CLIENT_ID: 'maskinporten-client-id',
  MASKINPORTEN_CLIENT_JWK_SECRET_ID: 'team/maskinporten-key',
  MASKINPORTEN_ISSUER: 'https://maskinporten.example.test/',
  MASKINPORTEN_TOKEN_ENDPOINT: 'https://maskinporten.example.test/token',
  MASKINPORTEN_SCOPES: 'nav:example/api nav:example/read',
  MASKINPORTEN_RESOURCE: 'https://external.example.test/',
  EXTERNAL_API_URL: 'https://external.example.test/status',
}
const secretGrant = (name: string) => ({
  Effect: 'Allow',
  Action: ['secretsmanager:GetSecretValue'],
  Resource: { 'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}-??????` },
})
const secretStatements = (statements: any[]) =>
  statements.filter((statement) => actionsOf([statement]).some((action) => action.startsWith('secretsmanager:')))
const FULL_ARN = 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:team/tokenx-key-AbCdEf'
const PARTIAL_ARN = 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:team/tokenx-key'

let service: string

interface Packaged {
  resources: Record<string, { Type: string; Properties: Record<string, any>; Condition?: string }>
  conditions: Record<string, unknown>
  dir: string
  output: string
}

const params = (values: Record<string, string>) => Object.entries(values).flatMap(([k, v]) => ['--param', `${k}=${v}`])

async function packageWith(name: string, env: Record<string, string>, args: string[] = []): Promise<Packaged> {
  const dir = path.join(service, `.package-${name}`)
  const { code, output } = await sls(service, ['package', '--package', dir, ...args], env)
  if (code !== 0) throw new Error(`sls package failed (${code}):\n${output}`)
  const template = JSON.parse(await readFile(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8'))
  return { resources: template.Resources, conditions: template.Conditions ?? {}, dir, output }
}

const lambdas = (packaged: Packaged) => Object.values(packaged.resources).filter((resource) => resource.Type === 'AWS::Lambda::Function')
const lambda = (packaged: Packaged, name: string) =>
  lambdas(packaged).find((fn) => fn.Properties.FunctionName === `tokenx-handler-kit-fixture-${name}`)

/** Every IAM statement that applies to the role a function runs with (the role's own, and policies attached to it). */
function statementsOf(packaged: Packaged, fn: { Properties: Record<string, any> }): any[] {
  const roleName = fn.Properties.Role['Fn::GetAtt'][0] as string
  const role = packaged.resources[roleName]!
  const attached = Object.values(packaged.resources)
    .filter(
      (resource) =>
        resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties.Roles) === JSON.stringify([{ Ref: roleName }]),
    )
    .map((resource) => resource.Properties.PolicyDocument)
  return [...(role.Properties.Policies ?? []).map((policy: any) => policy.PolicyDocument), ...attached].flatMap(
    (document: any) => document.Statement,
  )
}
const actionsOf = (statements: any[]) => statements.flatMap((statement) => [statement.Action].flat() as string[])

beforeAll(async () => {
  // A copy of the service: the template with this test's params and functions, and dist/ built for
  // it, never the repo's own dist/ (other tests rebuild that concurrently).
  service = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-sls-'))
  for (const entry of ['package.json', 'deploy', 'lib', 'functions/shared']) {
    await cp(path.join(root, entry), path.join(service, entry), { recursive: true })
  }
  for (const name of Object.keys(FUNCTIONS))
    await cp(path.join(root, 'functions', `${name}.ts`), path.join(service, 'functions', `${name}.ts`))
  const template = yaml.load(await readFile(path.join(root, 'serverless.yml'), 'utf8'))
  template.params = { fixture: SETTINGS }
  template.custom = { ...template.custom, functions: FUNCTIONS }
  await writeFile(path.join(service, 'serverless.yml'), yaml.dump(template, { lineWidth: -1 }))
  await symlink(path.join(root, 'node_modules'), path.join(service, 'node_modules'), 'dir')
  await mkdir(path.join(service, 'dist'))
  for (const name of Object.keys(FUNCTIONS)) await buildFunction(name, { into: path.join(service, 'dist') })
}, 240_000)

afterAll(async () => {
  if (service !== undefined) await rm(service, { recursive: true, force: true })
})

describe("sls package with a stage's settings", () => {
  let example: Packaged
  let both: Packaged

  beforeAll(async () => {
    // The stage's params only (no API side: api-resource is left out), and with the API side's settings.
    // One at a time: osls stages zips in the service's .serverless/.
    example = await packageWith('example', {}, ['--stage', 'fixture'])
    both = await packageWith('both', {}, ['--stage', 'fixture', ...params(API_SETTINGS)])
  }, 240_000)

  it('leaves an optional function nobody configured out, saying so', () => {
    expect(lambdas(example).map((fn) => fn.Properties.FunctionName)).toEqual(['tokenx-handler-kit-fixture-resource'])
    expect(example.output).toContain('not packaged: api-resource (none of API_TOKEN_X_CLIENT_ID, API_ALLOWED_CALLERS is set)')
    expect(
      lambdas(both)
        .map((fn) => fn.Properties.FunctionName)
        .sort(),
    ).toEqual(['tokenx-handler-kit-fixture-api-resource', 'tokenx-handler-kit-fixture-resource'])
  })

  it('gives each function the settings it uses, its service name, the metrics namespace and source maps', () => {
    const common = { POWERTOOLS_METRICS_NAMESPACE: 'tokenx-handler-kit', NODE_OPTIONS: '--enable-source-maps' }
    expect(lambda(both, 'resource')!.Properties.Environment.Variables).toEqual({
      ...common,
      ...SETTINGS,
      TOKEN_X_JWKS_URI: API_SETTINGS.TOKEN_X_JWKS_URI,
      POWERTOOLS_SERVICE_NAME: 'tokenx-handler-kit-resource',
    })
    expect(lambda(both, 'api-resource')!.Properties.Environment.Variables).toEqual({
      ...common,
      TOKEN_X_ISSUER: SETTINGS.TOKEN_X_ISSUER,
      TOKEN_X_JWKS_URI: API_SETTINGS.TOKEN_X_JWKS_URI,
      TOKEN_X_CLIENT_ID: API_SETTINGS.API_TOKEN_X_CLIENT_ID,
      ALLOWED_CALLERS: API_SETTINGS.API_ALLOWED_CALLERS,
      POWERTOOLS_SERVICE_NAME: 'tokenx-handler-kit-api-resource',
    })
  })

  it("lets only the exchanging function read the key's secret; the API side may only write logs", () => {
    const exchange = statementsOf(both, lambda(both, 'resource')!)
    expect(exchange.filter((statement) => actionsOf([statement]).some((action) => action.startsWith('secretsmanager:')))).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/tokenx-key-??????' },
      },
    ])
    const api = statementsOf(both, lambda(both, 'api-resource')!)
    expect(actionsOf(api).every((action) => action.startsWith('logs:'))).toBe(true)
    expect(lambda(both, 'api-resource')!.Properties.Role).not.toEqual(lambda(both, 'resource')!.Properties.Role)
  })

  it('runs on Node 22 or 24 and ships each handler with its source maps, in its own zip', async () => {
    for (const fn of lambdas(both)) {
      expect(fn.Properties.Runtime).toMatch(/^nodejs(22|24)\.x$/)
      const handler = fn.Properties.Handler as string
      const modulePath = handler.slice(0, handler.lastIndexOf('.'))
      expect(handler.slice(handler.lastIndexOf('.') + 1)).toBe('handler')
      const entries = await zipEntries(path.join(both.dir, path.basename(fn.Properties.Code.S3Key as string)))
      expect(entries).toContain(`${modulePath}.mjs`)
      expect(entries).toContain(`${modulePath}.mjs.map`)
      const name = modulePath.split('/')[1]
      // Every .mjs with its map; no metafile, no other function.
      for (const entry of entries.filter((e) => e.endsWith('.mjs'))) expect(entries).toContain(`${entry}.map`)
      expect(entries.every((entry) => entry.startsWith(`dist/${name}/`) && !entry.endsWith('meta.json'))).toBe(true)
    }
  })

  it('grants exactly a configured complete ARN', async () => {
    const byArn = await packageWith('arn', {}, [
      '--stage',
      'fixture',
      '--region',
      'eu-north-1',
      ...params({ TOKEN_X_PRIVATE_JWK_SECRET_ID: FULL_ARN }),
    ])
    const statements = statementsOf(byArn, lambda(byArn, 'resource')!)
    expect(statements.filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue')).map((s) => s.Resource)).toEqual([FULL_ARN])
  }, 120_000)
})

describe('sls package refuses what the functions would refuse at run time', () => {
  it('names each function and setting, never a value', async () => {
    const bad = {
      TOKEN_X_TOKEN_ENDPOINT: 'http://tokenx.example.test/token',
      DOWNSTREAM_URL: 'http://downstream.example.test/',
      API_ALLOWED_CALLERS: 'foo;bar',
      API_TOKEN_X_CLIENT_ID: 'downstream-api',
    }
    const { code, output } = await sls(
      service,
      [
        'package',
        '--stage',
        'fixture',
        '--package',
        path.join(service, '.package-bad'),
        ...params({ ...bad, TOKEN_X_JWKS_URI: API_SETTINGS.TOKEN_X_JWKS_URI }),
      ],
      {},
    )
    expect(code).not.toBe(0)
    expect(output).toContain('function resource: TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)')
    expect(output).toContain(
      'function resource: DOWNSTREAM_URL / DOWNSTREAM_AUDIENCE: audience.url must be https: URLs (http: only on a loopback host)',
    )
    expect(output).toContain(
      'function api-resource: ALLOWED_CALLERS (deploy setting API_ALLOWED_CALLERS): allowedClients must be a non-empty array of client ids',
    )
    for (const value of Object.values(bad)) expect(output).not.toContain(value)
  }, 120_000)

  it('a stage without settings: every function that would answer 500, and why', async () => {
    const { code, output } = await sls(service, ['package', '--stage', 'empty', '--package', path.join(service, '.package-none')], {})
    expect(code).not.toBe(0)
    expect(output).toContain('function resource: TOKEN_X_CLIENT_ID is not set')
    expect(output).toContain('function resource: inbound validation is on but no issuer is configured')
    expect(output).toContain('function resource: DOWNSTREAM_URL is not set')
  }, 120_000)

  it('sls deploy refuses the same, before it needs AWS credentials', async () => {
    const { code, output } = await sls(
      service,
      ['deploy', '--stage', 'fixture', ...params({ TOKEN_X_TOKEN_ENDPOINT: 'http://tokenx.example.test/token' })],
      {},
    )
    expect(code).not.toBe(0)
    expect(output).toContain('function resource: TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)')
  }, 120_000)

  it('takes nothing from the shell but deploy settings: a TOKEN_X_CACHE_TABLE there never reaches a function', async () => {
    const packaged = await packageWith('shell', { TOKEN_X_CACHE_TABLE: 'x', TOKEN_X_CACHE_READ_TIMEOUT: '5', MY_VARIABLE: 'y' }, [
      '--stage',
      'fixture',
    ])
    const variables = lambda(packaged, 'resource')!.Properties.Environment.Variables
    expect(variables).not.toHaveProperty('TOKEN_X_CACHE_TABLE')
    expect(variables).not.toHaveProperty('TOKEN_X_CACHE_READ_TIMEOUT')
    expect(packaged.conditions['TokenXSharedCache']).toEqual({ 'Fn::Equals': ['false', 'true'] })
  }, 120_000)

  it('refuses a TOKEN_X_SHARED_CACHE that is neither true nor false', async () => {
    const { code, output } = await sls(service, ['package', '--stage', 'fixture', '--package', path.join(service, '.package-yes')], {
      TOKEN_X_SHARED_CACHE: 'yes',
    })
    expect(code).not.toBe(0)
    expect(output).toContain('TOKEN_X_SHARED_CACHE must be "true" or "false"')
  }, 120_000)
})

/**
 * Every configuration of the kit's own option validation that makes the function refuse at run time:
 * the deploy check refuses it too, naming the function and the setting (deploy/checks.ts runs those
 * same checks, so a row here is a run-time refusal the package must not let through).
 */
describe('deploy/config.cjs plan and check', () => {
  const files = Object.keys(FUNCTIONS).sort()
  const planOf = (values: Record<string, string | undefined>) =>
    config.plan({ declared: FUNCTIONS, files, read: (name) => values[name], stage: 'dev', region: 'eu-north-1', service: 'svc' })
  const full = { ...SETTINGS, ...API_SETTINGS }

  it('passes a complete configuration', async () => {
    await expect(config.checkPlan(planOf(full))).resolves.toBeUndefined()
  })

  it.each([
    ['no client id', { TOKEN_X_CLIENT_ID: undefined }, 'function resource: TOKEN_X_CLIENT_ID is not set'],
    [
      'a client id that is not cluster:namespace:app',
      { TOKEN_X_CLIENT_ID: 'my-app' },
      'function resource: TOKEN_X_CLIENT_ID must be "cluster:namespace:app"',
    ],
    [
      'an http: token endpoint off loopback',
      { TOKEN_X_TOKEN_ENDPOINT: 'http://tokenx.example.test/token' },
      'function resource: TOKEN_X_TOKEN_ENDPOINT must be an https: URL',
    ],
    [
      'a token endpoint that is no URL',
      { TOKEN_X_TOKEN_ENDPOINT: 'tokenx' },
      'function resource: TOKEN_X_TOKEN_ENDPOINT must be an https: URL',
    ],
    [
      'an http: issuer off loopback',
      { TOKEN_X_ISSUER: 'http://tokenx.example.test' },
      'function resource: TOKEN_X_ISSUER must be an https: URL',
    ],
    [
      'an unknown assertion audience',
      { TOKEN_X_ASSERTION_AUDIENCE: 'both' },
      'function resource: TOKEN_X_ASSERTION_AUDIENCE must be "token_endpoint" or "issuer"',
    ],
    [
      'no inbound issuer',
      {
        IDPORTEN_ISSUER: undefined,
        IDPORTEN_JWKS_URI: undefined,
        IDPORTEN_AUDIENCE: undefined,
        TOKEN_X_JWKS_URI: undefined,
        API_TOKEN_X_CLIENT_ID: undefined,
        API_ALLOWED_CALLERS: undefined,
      },
      'function resource: inbound validation is on but no issuer is configured',
    ],
    ['an ID-porten issuer without audience', { IDPORTEN_AUDIENCE: undefined }, 'function resource: IDPORTEN_AUDIENCE must be set'],
    [
      'an http: JWKS off loopback',
      { IDPORTEN_JWKS_URI: 'http://idporten.example.test/jwks' },
      'function resource: IDPORTEN_JWKS_URI must be an https: URL',
    ],
    ['an unknown login level', { REQUIRED_ACR: 'loa9' }, 'function resource: REQUIRED_ACR must be'],
    ['an unknown INBOUND_VALIDATION', { INBOUND_VALIDATION: 'yes' }, 'function resource: INBOUND_VALIDATION must be "on" or "off"'],
    [
      'an http: downstream off loopback',
      { DOWNSTREAM_URL: 'http://downstream.example.test/' },
      'function resource: DOWNSTREAM_URL / DOWNSTREAM_AUDIENCE: audience.url must be https: URLs',
    ],
    [
      'a downstream URL with credentials',
      { DOWNSTREAM_URL: 'https://u:p@downstream.example.test/' },
      'function resource: DOWNSTREAM_URL / DOWNSTREAM_AUDIENCE: audience.url must not carry credentials',
    ],
    [
      'a downstream audience that is no client id',
      { DOWNSTREAM_AUDIENCE: 'downstream' },
      'function resource: DOWNSTREAM_URL / DOWNSTREAM_AUDIENCE: audience.audience must be "cluster:namespace:app"',
    ],
    ['no downstream URL', { DOWNSTREAM_URL: undefined }, 'function resource: DOWNSTREAM_URL is not set'],
    [
      'an API client id that is no client id',
      { API_TOKEN_X_CLIENT_ID: 'downstream-api' },
      'function api-resource: TOKEN_X_CLIENT_ID (deploy setting API_TOKEN_X_CLIENT_ID) must be "cluster:namespace:app"',
    ],
    [
      'an allow-list with semicolons',
      { API_ALLOWED_CALLERS: 'foo;bar' },
      'function api-resource: ALLOWED_CALLERS (deploy setting API_ALLOWED_CALLERS): allowedClients must be a non-empty array of client ids',
    ],
    [
      'an API side without TokenX keys',
      { TOKEN_X_JWKS_URI: undefined },
      'function api-resource: inbound validation is on but no issuer is configured: set TOKEN_X_JWKS_URI or TOKEN_X_WELL_KNOWN_URL',
    ],
  ])('refuses %s', async (_, override, message) => {
    const values = { ...full, ...override }
    const error = await config.checkPlan(planOf(values)).then(
      () => undefined,
      (err: Error) => err,
    )
    expect(error?.message).toContain(message)
    for (const value of Object.values(override)) if (value !== undefined) expect(error?.message).not.toContain(value)
  })

  it('lets inbound validation be switched off, and then needs no issuer', async () => {
    const values = {
      ...full,
      INBOUND_VALIDATION: 'off',
      IDPORTEN_ISSUER: undefined,
      IDPORTEN_JWKS_URI: undefined,
      IDPORTEN_AUDIENCE: undefined,
    }
    await expect(config.checkPlan(planOf(values))).resolves.toBeUndefined()
  })

  it('asks a function of your own only for the settings it uses', async () => {
    const declared = { mine: { tokenX: 'exchange' }, plain: {} }
    const planned = config.plan({
      declared,
      files: ['mine', 'plain'],
      read: (name) => (SETTINGS as Record<string, string>)[name],
      stage: 'dev',
      region: 'eu-north-1',
      service: 'svc',
    })
    await expect(config.checkPlan(planned)).resolves.toBeUndefined()
    expect(planned.functions['mine']!.environment).not.toHaveProperty('DOWNSTREAM_URL')
    expect(planned.functions['plain']!.environment).toEqual({})
  })

  it('refuses a function environment in serverless.yml that sets a deploy setting', () => {
    const declared = {
      ...FUNCTIONS,
      resource: { ...FUNCTIONS.resource, environment: { TOKEN_X_ISSUER: 'https://elsewhere.test', MY_FLAG: 'on' } },
    }
    expect(() =>
      config.plan({ declared, files, read: (name) => (full as Record<string, string>)[name], stage: 'dev', service: 'svc' }),
    ).toThrow('function resource: its environment in serverless.yml sets TOKEN_X_ISSUER, which are deploy settings')
  })

  it('stops when a function file has no entry in serverless.yml, or an entry has no file', () => {
    const read = (name: string) => (full as Record<string, string>)[name]
    expect(() => config.plan({ declared: {}, files, read, stage: 'dev', service: 'svc' })).toThrow(
      'functions/resource.ts has no entry under custom.functions in serverless.yml',
    )
    expect(() => config.plan({ declared: { ...FUNCTIONS, gone: {} }, files, read, stage: 'dev', service: 'svc' })).toThrow(
      'custom.functions.gone in serverless.yml has no functions/gone.ts',
    )
  })

  it.each([
    ['a secret name with spaces', 'my key', /TOKEN_X_PRIVATE_JWK_SECRET_ID must be a Secrets Manager secret name/],
    ['a malformed ARN', 'arn:aws:secretsmanager:eu-north-1:12:secret:k', /TOKEN_X_PRIVATE_JWK_SECRET_ID must be/],
    ['a secret in another region', FULL_ARN.replace('eu-north-1', 'eu-west-1'), /secret in eu-west-1, but the stage deploys to eu-north-1/],
  ])('refuses %s for the IAM grant', (_, secretId, message) => {
    expect(() => planOf({ ...full, TOKEN_X_PRIVATE_JWK_SECRET_ID: secretId })).toThrow(message)
  })

  it('grants a complete ARN as it is, a partial ARN with the suffix wildcard, a name in this account and region', () => {
    expect(config.secretResource(FULL_ARN)).toBe(FULL_ARN)
    expect(config.secretResource(PARTIAL_ARN)).toBe(`${PARTIAL_ARN}-??????`)
    expect(config.secretResource('tokenx/key')).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:tokenx/key-??????',
    })
  })

  it('counts files in functions/ as functions, and nothing in functions/shared/', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-fns-'))
    try {
      await mkdir(path.join(dir, 'functions', 'shared'), { recursive: true })
      for (const file of ['functions/a.ts', 'functions/b-c.ts', 'functions/types.d.ts', 'functions/README.md', 'functions/shared/x.ts']) {
        await writeFile(path.join(dir, file), '')
      }
      expect(config.functionFiles(dir)).toEqual(['a', 'b-c'])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('the shared token cache (TOKEN_X_SHARED_CACHE)', () => {
  it('on: an on-demand table keyed by pk with TTL on ttl, and GetItem/PutItem on it for the exchanging function only', async () => {
    const on = await packageWith('cache-on', {}, ['--stage', 'fixture', ...params({ ...API_SETTINGS, TOKEN_X_SHARED_CACHE: 'true' })])
    expect(on.conditions['TokenXSharedCache']).toEqual({ 'Fn::Equals': ['true', 'true'] })
    expect(on.resources['TokenXCacheTable']?.Properties).toEqual({
      TableName: 'tokenx-handler-kit-fixture-token-cache',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    })
    expect(lambda(on, 'resource')!.Properties.Environment.Variables.TOKEN_X_CACHE_TABLE).toEqual({ Ref: 'TokenXCacheTable' })
    expect(statementsOf(on, lambda(on, 'resource')!).filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')))).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': ['TokenXCacheTable', 'Arn'] } },
    ])
    expect(lambda(on, 'api-resource')!.Properties.Environment.Variables).not.toHaveProperty('TOKEN_X_CACHE_TABLE')
    expect(JSON.stringify(statementsOf(on, lambda(on, 'api-resource')!))).not.toContain('dynamodb')
  }, 120_000)
})

describe('the Entra ID and Maskinporten functions (kit: entra-obo, entra-machine, maskinporten)', () => {
  let flows: Packaged

  beforeAll(async () => {
    // Their settings from the shell (the fourth source); the pre-authorized apps' JSON as it is.
    flows = await packageWith('flows', { ...ENTRA_SETTINGS, ...MASKINPORTEN_SETTINGS }, ['--stage', 'fixture', ...params(API_SETTINGS)])
  }, 240_000)

  it('are left out while none of their own settings is set, saying which', async () => {
    const plain = await packageWith('no-flows', { AZURE_APP_CLIENT_ID: ENTRA_SETTINGS.AZURE_APP_CLIENT_ID }, ['--stage', 'fixture'])
    expect(lambdas(plain).map((fn) => fn.Properties.FunctionName)).toEqual(['tokenx-handler-kit-fixture-resource'])
    expect(plain.output).toContain('not packaged: employee (none of EMPLOYEE_DOWNSTREAM_URL, EMPLOYEE_DOWNSTREAM_SCOPE is set)')
    expect(plain.output).toContain('not packaged: machine (none of MACHINE_DOWNSTREAM_URL, MACHINE_DOWNSTREAM_SCOPE is set)')
    expect(plain.output).toContain(
      'not packaged: maskinporten (none of MASKINPORTEN_SCOPES, MASKINPORTEN_RESOURCE, EXTERNAL_API_URL is set)',
    )
    expect(Object.keys(plain.resources).filter((name) => name.endsWith('KeyRole'))).toEqual([])
  }, 120_000)

  it("are packaged with their settings only: NAIS's names, the key as a secret, their own", () => {
    expect(
      lambdas(flows)
        .map((fn) => fn.Properties.FunctionName)
        .sort(),
    ).toEqual(['api-resource', 'employee', 'machine', 'maskinporten', 'resource'].map((name) => `tokenx-handler-kit-fixture-${name}`))
    const common = { POWERTOOLS_METRICS_NAMESPACE: 'tokenx-handler-kit', NODE_OPTIONS: '--enable-source-maps' }
    const { EMPLOYEE_DOWNSTREAM_URL, EMPLOYEE_DOWNSTREAM_SCOPE, MACHINE_DOWNSTREAM_URL, MACHINE_DOWNSTREAM_SCOPE, ...azure } =
      ENTRA_SETTINGS
    const { AZURE_OPENID_CONFIG_JWKS_URI, AZURE_APP_PRE_AUTHORIZED_APPS, ...azureClient } = azure
    expect(lambda(flows, 'employee')!.Properties.Environment.Variables).toEqual({
      ...common,
      ...azure,
      DOWNSTREAM_URL: EMPLOYEE_DOWNSTREAM_URL,
      DOWNSTREAM_SCOPE: EMPLOYEE_DOWNSTREAM_SCOPE,
      POWERTOOLS_SERVICE_NAME: 'tokenx-handler-kit-employee',
    })
    expect(lambda(flows, 'machine')!.Properties.Environment.Variables).toEqual({
      ...common,
      ...azureClient,
      DOWNSTREAM_URL: MACHINE_DOWNSTREAM_URL,
      DOWNSTREAM_SCOPE: MACHINE_DOWNSTREAM_SCOPE,
      POWERTOOLS_SERVICE_NAME: 'tokenx-handler-kit-machine',
    })
    expect(lambda(flows, 'maskinporten')!.Properties.Environment.Variables).toEqual({
      ...common,
      ...MASKINPORTEN_SETTINGS,
      POWERTOOLS_SERVICE_NAME: 'tokenx-handler-kit-maskinporten',
    })
    // The TokenX functions are unchanged: none of these reaches them.
    expect(JSON.stringify(lambda(flows, 'resource')!.Properties.Environment.Variables)).not.toMatch(/AZURE_|MASKINPORTEN_|EXTERNAL_/)
    expect(JSON.stringify(lambda(flows, 'api-resource')!.Properties.Environment.Variables)).not.toMatch(/AZURE_|MASKINPORTEN_|EXTERNAL_/)
  })

  it("gives each a role that may read its own key's secret and nothing of the others'", () => {
    const grants = (name: string) => secretStatements(statementsOf(flows, lambda(flows, name)!))
    expect(grants('employee')).toEqual([secretGrant('team/entra-key')])
    expect(grants('machine')).toEqual([secretGrant('team/entra-key')])
    expect(grants('maskinporten')).toEqual([secretGrant('team/maskinporten-key')])
    expect(grants('resource')).toEqual([secretGrant('team/tokenx-key')])
    expect(actionsOf(statementsOf(flows, lambda(flows, 'api-resource')!)).every((action) => action.startsWith('logs:'))).toBe(true)
    for (const name of ['employee', 'machine', 'maskinporten']) {
      const actions = actionsOf(statementsOf(flows, lambda(flows, name)!))
      expect(actions.filter((action) => !action.startsWith('logs:'))).toEqual(['secretsmanager:GetSecretValue'])
    }
    expect(lambda(flows, 'maskinporten')!.Properties.Role).not.toEqual(lambda(flows, 'employee')!.Properties.Role)
  })

  it('runs machine and maskinporten every 5 minutes', () => {
    const rules = Object.values(flows.resources).filter((resource) => resource.Type === 'AWS::Events::Rule')
    expect(rules.map((rule) => rule.Properties.ScheduleExpression)).toEqual(['rate(5 minutes)', 'rate(5 minutes)'])
    const targets = JSON.stringify(rules.map((rule) => rule.Properties.Targets))
    expect(targets).toContain('MachineLambdaFunction')
    expect(targets).toContain('MaskinportenLambdaFunction')
  })

  it('refuses their bad settings at sls package, naming the function and the setting', async () => {
    const bad = { AZURE_APP_CLIENT_ID: 'my-app', EXTERNAL_API_URL: 'http://external.example.test/status' }
    const { code, output } = await sls(service, ['package', '--stage', 'fixture', '--package', path.join(service, '.package-bad-flows')], {
      ...ENTRA_SETTINGS,
      ...MASKINPORTEN_SETTINGS,
      ...bad,
    })
    expect(code).not.toBe(0)
    expect(output).toContain('function employee: AZURE_APP_CLIENT_ID must be the application (client) id, a UUID')
    expect(output).toContain('function machine: AZURE_APP_CLIENT_ID must be the application (client) id, a UUID')
    expect(output).toContain('function maskinporten: MASKINPORTEN_SCOPES / EXTERNAL_API_URL: target.url must be https: URLs')
    for (const value of Object.values(bad)) expect(output).not.toContain(value)
  }, 120_000)
})

describe('deploy/config.cjs plan and check: Entra ID and Maskinporten', () => {
  const files = Object.keys(FUNCTIONS).sort()
  const full = { ...SETTINGS, ...API_SETTINGS, ...ENTRA_SETTINGS, ...MASKINPORTEN_SETTINGS }
  const planOf = (values: Record<string, string | undefined>, declared: Record<string, unknown> = FUNCTIONS) =>
    config.plan({
      declared,
      files: Object.keys(declared).sort(),
      read: (name) => values[name],
      stage: 'dev',
      region: 'eu-north-1',
      service: 'svc',
    })
  const failureOf = (values: Record<string, string | undefined>) =>
    config.checkPlan(planOf(values)).then(
      () => 'passed',
      (err: Error) => err.message,
    )

  it('passes a complete configuration, and one without the optional resource', async () => {
    expect(files).toContain('maskinporten')
    await expect(config.checkPlan(planOf(full))).resolves.toBeUndefined()
    await expect(
      config.checkPlan(planOf({ ...full, MASKINPORTEN_RESOURCE: undefined, AZURE_APP_PRE_AUTHORIZED_APPS: undefined })),
    ).resolves.toBeUndefined()
  })

  it("passes NAIS's well-known URLs in place of the issuers, token endpoints and JWKS URI, and hands them on", async () => {
    const discovered = {
      ...full,
      AZURE_OPENID_CONFIG_ISSUER: undefined,
      AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: undefined,
      AZURE_OPENID_CONFIG_JWKS_URI: undefined,
      AZURE_APP_WELL_KNOWN_URL: 'https://login.example.test/tenant/v2.0/.well-known/openid-configuration',
      MASKINPORTEN_ISSUER: undefined,
      MASKINPORTEN_TOKEN_ENDPOINT: undefined,
      MASKINPORTEN_WELL_KNOWN_URL: 'https://maskinporten.example.test/.well-known/oauth-authorization-server',
    }
    await expect(config.checkPlan(planOf(discovered))).resolves.toBeUndefined()
    const text = JSON.stringify(planOf(discovered))
    expect(text).toContain(discovered.AZURE_APP_WELL_KNOWN_URL)
    expect(text).toContain(discovered.MASKINPORTEN_WELL_KNOWN_URL)
  })

  it.each([
    [
      'an Entra client id that is no UUID',
      { AZURE_APP_CLIENT_ID: 'my-app' },
      'function employee: AZURE_APP_CLIENT_ID must be the application (client) id, a UUID',
    ],
    [
      'no Entra key secret (the inline key is no deploy setting)',
      { AZURE_APP_JWK_SECRET_ID: undefined },
      'function machine: AZURE_APP_JWK_SECRET_ID is not set',
    ],
    [
      'an http: Entra token endpoint off loopback',
      { AZURE_OPENID_CONFIG_TOKEN_ENDPOINT: 'http://login.example.test/token' },
      'function machine: AZURE_OPENID_CONFIG_TOKEN_ENDPOINT must be an https: URL',
    ],
    [
      'no Entra issuer',
      { AZURE_OPENID_CONFIG_ISSUER: undefined },
      'function employee: AZURE_OPENID_CONFIG_ISSUER or AZURE_APP_WELL_KNOWN_URL must be set',
    ],
    [
      'an Entra well-known URL of no well-known form',
      { AZURE_OPENID_CONFIG_ISSUER: undefined, AZURE_APP_WELL_KNOWN_URL: 'https://login.example.test/tenant/v2.0/metadata' },
      'function employee: AZURE_APP_WELL_KNOWN_URL must end in /.well-known/',
    ],
    [
      'no Entra JWKS (on-behalf-of checks the caller)',
      { AZURE_OPENID_CONFIG_JWKS_URI: undefined },
      'function employee: AZURE_OPENID_CONFIG_JWKS_URI or AZURE_APP_WELL_KNOWN_URL must be set',
    ],
    [
      'pre-authorized apps that are no JSON list',
      { AZURE_APP_PRE_AUTHORIZED_APPS: 'frontend' },
      'function employee: AZURE_APP_PRE_AUTHORIZED_APPS must be a JSON array',
    ],
    [
      'an http: employee downstream off loopback',
      { EMPLOYEE_DOWNSTREAM_URL: 'http://employees.example.test/' },
      'function employee: DOWNSTREAM_SCOPE (deploy setting EMPLOYEE_DOWNSTREAM_SCOPE) / DOWNSTREAM_URL (deploy setting EMPLOYEE_DOWNSTREAM_URL): target.url must be https: URLs',
    ],
    [
      'a machine URL but no scope',
      { MACHINE_DOWNSTREAM_SCOPE: undefined },
      'function machine: DOWNSTREAM_SCOPE (deploy setting MACHINE_DOWNSTREAM_SCOPE) is not set',
    ],
    [
      'no Maskinporten issuer',
      { MASKINPORTEN_ISSUER: undefined },
      'function maskinporten: MASKINPORTEN_ISSUER or MASKINPORTEN_WELL_KNOWN_URL must be set',
    ],
    [
      'no Maskinporten key secret',
      { MASKINPORTEN_CLIENT_JWK_SECRET_ID: undefined },
      'function maskinporten: MASKINPORTEN_CLIENT_JWK_SECRET_ID is not set',
    ],
    [
      'a resource that is no URI',
      { MASKINPORTEN_RESOURCE: 'external' },
      'function maskinporten: MASKINPORTEN_RESOURCE must be an absolute URI',
    ],
    [
      'an external API URL with credentials',
      { EXTERNAL_API_URL: 'https://u:p@external.example.test/' },
      'function maskinporten: MASKINPORTEN_SCOPES / EXTERNAL_API_URL: target.url must not carry credentials',
    ],
  ])('refuses %s', async (_, override, message) => {
    const failure = await failureOf({ ...full, ...override })
    expect(failure).toContain(message)
    for (const value of Object.values(override)) if (value !== undefined) expect(failure).not.toContain(value)
  })

  it.each([
    ['AZURE_APP_JWK_SECRET_ID', 'my key', /AZURE_APP_JWK_SECRET_ID must be a Secrets Manager secret name/],
    [
      'MASKINPORTEN_CLIENT_JWK_SECRET_ID',
      FULL_ARN.replace('eu-north-1', 'eu-west-1'),
      /MASKINPORTEN_CLIENT_JWK_SECRET_ID is a secret in eu-west-1, but the stage deploys to eu-north-1/,
    ],
  ])('refuses a %s the IAM grant cannot name', (setting, secretId, message) => {
    expect(() => planOf({ ...full, [setting]: secretId })).toThrow(message)
  })

  it("grants each key's secret only to the role of the functions of that key", () => {
    const planned = planOf(full)
    const { Resources } = config.rolesFor(planned, 'svc', 'dev') as { Resources: Record<string, any> }
    expect(Object.keys(Resources).sort()).toEqual(['EntraKeyRole', 'MaskinportenKeyRole', 'TokenXCacheTablePolicy', 'TokenXExchangeRole'])
    const grant = (role: string) =>
      Resources[role].Properties.Policies[0].PolicyDocument.Statement.filter((s: any) => s.Action.includes('secretsmanager:GetSecretValue'))
    expect(grant('EntraKeyRole')).toEqual([secretGrant('team/entra-key')])
    expect(grant('MaskinportenKeyRole')).toEqual([secretGrant('team/maskinporten-key')])
    expect(grant('TokenXExchangeRole')).toEqual([secretGrant('team/tokenx-key')])
    // Without TokenX functions, no TokenX role and no cache policy.
    const only = planOf(full, { maskinporten: FUNCTIONS.maskinporten })
    expect(Object.keys((config.rolesFor(only, 'svc', 'dev') as { Resources: object }).Resources)).toEqual(['MaskinportenKeyRole'])
    expect(only.secretId).toBeUndefined()
  })

  it('takes tokenX: as the older name of kit:, and refuses both, or an unknown kind, naming the key', () => {
    const read = (name: string) => (full as Record<string, string>)[name]
    const older = config.plan({
      declared: { machine: { ...FUNCTIONS.machine, kit: undefined, tokenX: 'entra-machine' } },
      files: ['machine'],
      read,
      stage: 'dev',
      service: 'svc',
    })
    expect(older.functions['machine']!.use).toBe('entra-machine')
    expect(() =>
      config.plan({
        declared: { machine: { ...FUNCTIONS.machine, tokenX: 'exchange' } },
        files: ['machine'],
        read,
        stage: 'dev',
        service: 'svc',
      }),
    ).toThrow('custom.functions.machine in serverless.yml sets both kit and tokenX')
    expect(() =>
      config.plan({
        declared: { machine: { ...FUNCTIONS.machine, kit: 'azure' } },
        files: ['machine'],
        read,
        stage: 'dev',
        service: 'svc',
      }),
    ).toThrow('custom.functions.machine.kit in serverless.yml must be one of exchange, api, none, entra-obo, entra-machine, maskinporten')
  })

  it("refuses an Entra ID setting in a function's own environment in serverless.yml", () => {
    const declared = { ...FUNCTIONS, machine: { ...FUNCTIONS.machine, environment: { AZURE_APP_CLIENT_ID: 'x' } } }
    expect(() => planOf(full, declared)).toThrow(
      'function machine: its environment in serverless.yml sets AZURE_APP_CLIENT_ID, which are deploy settings',
    )
  })
})
