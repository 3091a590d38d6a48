/**
 * serverless.yml as the one source of deploy configuration: `sls package` (osls, offline) in a copy of
 * the service in a temp folder, then the packaged CloudFormation template and zips are read back.
 * Checks the environment, the IAM grant for the secret (a name and an ARN), runtime, handler paths
 * inside each zip, the function list against functions/, and that missing settings stop the package.
 */
import { spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { zipEntries } from '../helpers/zip.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)

interface DeployConfig {
  functionFiles(root?: string): string[]
  secretResource(secretId: string): unknown
  checkSettings(values: Record<string, string | undefined>, stage: string, region?: string): Record<string, string>
  functions(context: { resolveConfigurationProperty: (path: string[]) => Promise<unknown> }): Promise<Record<string, { handler: string }>>
  environment(context: OslsContext): Promise<Record<string, string>>
  secretStatement(context: OslsContext): Promise<{ Resource: unknown }>
  REQUIRED: Array<[string, string]>
}
interface OslsContext {
  options: { stage?: string; region?: string }
  resolveVariable(variable: string): Promise<unknown>
  resolveConfigurationProperty(path: string[]): Promise<unknown>
}
const config = require('../../deploy/config.cjs') as DeployConfig

let stages = 0
/** What osls hands a `${file(...)}` function: a fresh stage each time (deploy/config.cjs memoizes per stage). */
function oslsContext(params: Record<string, string> = {}, customEnvironment: Record<string, string> = {}): OslsContext {
  return {
    options: { stage: `unit${++stages}`, region: 'eu-north-1' },
    resolveVariable: async (variable) => params[variable.replace(/^param:/, '')] ?? null,
    resolveConfigurationProperty: async (path) => (path.join('.') === 'custom.environment' ? customEnvironment : undefined),
  }
}

const SETTINGS = {
  TOKEN_X_CLIENT_ID: 'prod-gcp:team:tokenx-kit-example',
  TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx.example.test/token',
  TOKEN_X_ISSUER: 'https://tokenx.example.test',
  DOWNSTREAM_URL: 'https://downstream.example.test/',
  DOWNSTREAM_AUDIENCE: 'prod-gcp:team:downstream-api',
}
const FULL_ARN = 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:team/tokenx-key-AbCdEf'
const PARTIAL_ARN = 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:team/tokenx-key'

let service: string

/** The parent's environment without anything that could feed a setting or reach AWS. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(AWS_|TOKEN_X_|DOWNSTREAM_|SLS_|SERVERLESS_)/.test(name)) continue
    env[name] = value
  }
  // No credentials anywhere: packaging must not need them.
  return { ...env, AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_CONFIG_FILE: '/dev/null', SLS_TELEMETRY_DISABLED: '1', ...extra }
}

function sls(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const bin = path.join(path.dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: service, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, output }))
  })
}

interface Packaged {
  resources: Record<string, { Type: string; Properties: Record<string, any> }>
  dir: string
}

async function packageWith(name: string, env: Record<string, string>, args: string[] = []): Promise<Packaged> {
  const dir = path.join(service, `.package-${name}`)
  const { code, output } = await sls(['package', '--package', dir, ...args], env)
  if (code !== 0) throw new Error(`sls package failed (${code}):\n${output}`)
  const template = JSON.parse(await readFile(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8'))
  return { resources: template.Resources, dir }
}

const lambdas = (packaged: Packaged) =>
  Object.values(packaged.resources).filter((resource) => resource.Type === 'AWS::Lambda::Function')

function secretGrants(packaged: Packaged): unknown[] {
  const role = Object.values(packaged.resources).find((resource) => resource.Type === 'AWS::IAM::Role')!
  const statements = role.Properties.Policies.flatMap((policy: any) => policy.PolicyDocument.Statement)
  return statements
    .filter((statement: any) => [statement.Action].flat().some((action: string) => action.startsWith('secretsmanager:')))
    .map((statement: any) => ({ Action: statement.Action, Resource: statement.Resource }))
}

beforeAll(async () => {
  // A copy of the service: what `sls package` reads, and dist/ built for it, never the repo's own
  // dist/ (other tests rebuild that concurrently).
  service = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-sls-'))
  for (const entry of ['serverless.yml', 'package.json', 'deploy', 'functions']) {
    await cp(path.join(root, entry), path.join(service, entry), { recursive: true })
  }
  await symlink(path.join(root, 'node_modules'), path.join(service, 'node_modules'), 'dir')
  await mkdir(path.join(service, 'dist'))
  for (const name of config.functionFiles(root)) await buildFunction(name, { into: path.join(service, 'dist') })
}, 240_000)

afterAll(async () => {
  if (service !== undefined) await rm(service, { recursive: true, force: true })
})

describe('sls package with a stage\'s settings', () => {
  let byName: Packaged
  let byArn: Packaged

  beforeAll(async () => {
    // Settings as environment variables (a name), and as --param values for stage prod (an ARN).
    byName = await packageWith('name', { ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/tokenx-key' }, ['--stage', 'dev'])
    const params = Object.entries({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: FULL_ARN }).flatMap(([k, v]) => ['--param', `${k}=${v}`])
    byArn = await packageWith('arn', {}, ['--stage', 'prod', '--region', 'eu-north-1', ...params])
  }, 240_000)

  it('has exactly one function per file in functions/ (shared modules aside)', () => {
    const files = config.functionFiles(root)
    expect(files).toContain('resource')
    expect(files.some((name) => name.includes('/'))).toBe(false)
    for (const packaged of [byName, byArn]) {
      const names = lambdas(packaged).map((fn) => fn.Properties.FunctionName as string)
      const stage = packaged === byName ? 'dev' : 'prod'
      expect(names.sort()).toEqual(files.map((name) => `tokenx-handler-kit-${stage}-${name}`).sort())
    }
  })

  it('gives every function the complete environment, with the secret the IAM grant names', () => {
    for (const [packaged, secretId] of [[byName, 'team/tokenx-key'], [byArn, FULL_ARN]] as const) {
      for (const fn of lambdas(packaged)) {
        // The API-side example (functions/api-resource.ts) has its own client id and allow-list
        // (API_TOKEN_X_CLIENT_ID, API_ALLOWED_CALLERS; unset here, so empty: it answers 500).
        const own = String(fn.Properties.FunctionName).endsWith('-api-resource') ? { TOKEN_X_CLIENT_ID: '', ALLOWED_CALLERS: '' } : {}
        expect(fn.Properties.Environment.Variables).toEqual({
          ...SETTINGS,
          TOKEN_X_PRIVATE_JWK_SECRET_ID: secretId,
          // The shared cache's table, or '' (off) unless TOKEN_X_SHARED_CACHE is 'true'.
          TOKEN_X_CACHE_TABLE: { 'Fn::If': ['TokenXSharedCache', { Ref: 'TokenXCacheTable' }, ''] },
          ...own,
        })
      }
    }
  })

  it('grants GetSecretValue on the named secret only (name + the six-character ARN suffix)', () => {
    expect(secretGrants(byName)).toEqual([{
      Action: ['secretsmanager:GetSecretValue'],
      Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/tokenx-key-??????' },
    }])
  })

  it('grants GetSecretValue on exactly the configured ARN', () => {
    expect(secretGrants(byArn)).toEqual([{ Action: ['secretsmanager:GetSecretValue'], Resource: FULL_ARN }])
  })

  it('runs on Node 22 or 24 and points each handler at a file inside its own zip', async () => {
    for (const packaged of [byName, byArn]) {
      for (const fn of lambdas(packaged)) {
        expect(fn.Properties.Runtime).toMatch(/^nodejs(22|24)\.x$/)
        const handler = fn.Properties.Handler as string
        const exported = handler.slice(handler.lastIndexOf('.') + 1)
        const modulePath = handler.slice(0, handler.lastIndexOf('.'))
        const zipName = path.basename(fn.Properties.Code.S3Key as string)
        const entries = await zipEntries(path.join(packaged.dir, zipName))
        // Lambda's Node runtime looks for <module>.mjs, .cjs or .js.
        expect(entries.filter((entry) => [`${modulePath}.mjs`, `${modulePath}.cjs`, `${modulePath}.js`].includes(entry))).toHaveLength(1)
        expect(exported).toBe('handler')
        // Only its own bundle: no source maps, no metafile, no other function.
        const name = modulePath.split('/')[1]
        expect(entries.every((entry) => entry.startsWith(`dist/${name}/`) && !entry.endsWith('.map') && !entry.endsWith('meta.json'))).toBe(true)
      }
    }
  })
})

describe('sls package without settings', () => {
  it('stops with a message naming every missing setting', async () => {
    const { code, output } = await sls(['package', '--package', path.join(service, '.package-none')], {})
    expect(code).not.toBe(0)
    expect(output).toContain('missing deploy settings TOKEN_X_CLIENT_ID, TOKEN_X_TOKEN_ENDPOINT, TOKEN_X_ISSUER, TOKEN_X_PRIVATE_JWK_SECRET_ID, DOWNSTREAM_URL, DOWNSTREAM_AUDIENCE for stage "dev"')
  }, 120_000)

  it('names the one missing setting of a stage that has the others', async () => {
    const { TOKEN_X_ISSUER: _, ...rest } = SETTINGS
    const { code, output } = await sls(
      ['package', '--stage', 'prod', '--package', path.join(service, '.package-one')],
      { ...rest, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/tokenx-key' },
    )
    expect(code).not.toBe(0)
    expect(output).toContain('missing deploy setting TOKEN_X_ISSUER for stage "prod"')
    expect(output).not.toContain(SETTINGS.TOKEN_X_CLIENT_ID)
  }, 120_000)
})

describe('deploy/config.cjs', () => {
  it('grants a complete ARN as it is, a partial ARN with the suffix wildcard, a name in this account and region', () => {
    expect(config.secretResource(FULL_ARN)).toBe(FULL_ARN)
    expect(config.secretResource(PARTIAL_ARN)).toBe(`${PARTIAL_ARN}-??????`)
    expect(config.secretResource('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:k-123456')).toBe(
      'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:k-123456')
    expect(config.secretResource('tokenx/key')).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:tokenx/key-??????',
    })
  })

  it.each([
    ['a client id that is not cluster:namespace:app', { TOKEN_X_CLIENT_ID: 'my-app' }, /TOKEN_X_CLIENT_ID must be "cluster:namespace:app"/],
    ['a token endpoint that is no URL', { TOKEN_X_TOKEN_ENDPOINT: 'tokenx' }, /TOKEN_X_TOKEN_ENDPOINT must be an http\(s\) URL/],
    ['a secret name with spaces', { TOKEN_X_PRIVATE_JWK_SECRET_ID: 'my key' }, /TOKEN_X_PRIVATE_JWK_SECRET_ID must be a Secrets Manager secret name/],
    ['a malformed ARN', { TOKEN_X_PRIVATE_JWK_SECRET_ID: 'arn:aws:secretsmanager:eu-north-1:12:secret:k' }, /TOKEN_X_PRIVATE_JWK_SECRET_ID must be/],
    ['a secret in another region', { TOKEN_X_PRIVATE_JWK_SECRET_ID: FULL_ARN.replace('eu-north-1', 'eu-west-1') }, /secret in eu-west-1, but the stage deploys to eu-north-1/],
    ['an unknown assertion audience', { TOKEN_X_ASSERTION_AUDIENCE: 'both' }, /TOKEN_X_ASSERTION_AUDIENCE must be "issuer" or "token_endpoint"/],
  ])('refuses %s, naming the setting and not its value', (_, override, message) => {
    const values = { ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/key', ...override }
    expect(() => config.checkSettings(values, 'dev', 'eu-north-1')).toThrow(message)
    try {
      config.checkSettings(values, 'dev', 'eu-north-1')
    } catch (error) {
      for (const value of Object.values(override)) expect((error as Error).message).not.toContain(value)
    }
  })

  it('treats blank values as missing, trims the others and passes optional settings only when set', () => {
    expect(() => config.checkSettings({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: '  ' }, 'prod')).toThrow(
      /missing deploy setting TOKEN_X_PRIVATE_JWK_SECRET_ID for stage "prod"/)
    const settings = config.checkSettings({ ...SETTINGS, TOKEN_X_CLIENT_ID: ` ${SETTINGS.TOKEN_X_CLIENT_ID}\n`, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'k' }, 'dev')
    expect(settings).toEqual({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'k' })
    expect(config.checkSettings({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'k', TOKEN_X_ASSERTION_AUDIENCE: 'token_endpoint' }, 'dev'))
      .toMatchObject({ TOKEN_X_ASSERTION_AUDIENCE: 'token_endpoint' })
  })

  it('stops when a function file has no entry in serverless.yml, or an entry has no file', async () => {
    await expect(config.functions({ resolveConfigurationProperty: async () => ({}) })).rejects.toThrow(
      'functions/resource.ts has no entry under custom.functions in serverless.yml')
    const every = Object.fromEntries(config.functionFiles(root).map((name: string) => [name, { events: [] }]))
    await expect(config.functions({ resolveConfigurationProperty: async () => ({ ...every, gone: {} }) })).rejects.toThrow(
      'custom.functions.gone in serverless.yml has no functions/gone.ts')
    const generated = await config.functions({ resolveConfigurationProperty: async () => every })
    expect(generated.resource).toMatchObject({ handler: 'dist/resource/index.handler', events: [] })
  })

  it('takes a stage\'s params before the environment, and merges custom.environment', async () => {
    for (const [name, value] of Object.entries({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'from/env' })) vi.stubEnv(name, value)
    const env = await config.environment(oslsContext({ TOKEN_X_CLIENT_ID: 'prod-gcp:team:from-params' }, { POWERTOOLS_SERVICE_NAME: 'svc' }))
    expect(env).toEqual({ ...SETTINGS, TOKEN_X_CLIENT_ID: 'prod-gcp:team:from-params', TOKEN_X_PRIVATE_JWK_SECRET_ID: 'from/env', POWERTOOLS_SERVICE_NAME: 'svc' })
    await expect(config.environment(oslsContext({}, { DOWNSTREAM_URL: 'https://elsewhere.test/' }))).rejects.toThrow(
      'custom.environment in serverless.yml sets the deploy setting DOWNSTREAM_URL')
  })

  it('reports missing settings once: the IAM statement only complains about the secret itself', async () => {
    for (const [name] of config.REQUIRED) vi.stubEnv(name, '')
    await expect(config.environment(oslsContext({ TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/key' }))).rejects.toThrow(/missing deploy settings/)
    expect((await config.secretStatement(oslsContext({ TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/key' }))).Resource).toEqual({
      'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:team/key-??????',
    })
    await expect(config.secretStatement(oslsContext())).rejects.toThrow('missing deploy setting TOKEN_X_PRIVATE_JWK_SECRET_ID for stage')
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

  it('lists every required setting in serverless.yml\'s ci stage', async () => {
    const yml = await readFile(path.join(root, 'serverless.yml'), 'utf8')
    const ci = yml.slice(yml.indexOf('\n  ci:'), yml.indexOf('\nprovider:'))
    for (const [name] of config.REQUIRED) expect(ci).toContain(`    ${name}: `)
  })
})

describe('the shared token cache (TOKEN_X_SHARED_CACHE)', () => {
  const conditionOf = async (packaged: Packaged) =>
    JSON.parse(await readFile(path.join(packaged.dir, 'cloudformation-template-update-stack.json'), 'utf8')).Conditions.TokenXSharedCache

  it('is off by default: the table and its policy exist only under a condition that is false', async () => {
    const off = await packageWith('cache-off', { ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/tokenx-key' }, ['--stage', 'dev'])
    expect(await conditionOf(off)).toEqual({ 'Fn::Equals': ['false', 'true'] })
    expect(off.resources['TokenXCacheTable']).toMatchObject({ Condition: 'TokenXSharedCache' })
    expect(off.resources['TokenXCacheTablePolicy']).toMatchObject({ Condition: 'TokenXSharedCache' })
  }, 120_000)

  it('on: an on-demand table keyed by pk with TTL on ttl, and GetItem/PutItem on that table only', async () => {
    const params = Object.entries({ ...SETTINGS, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'team/tokenx-key', TOKEN_X_SHARED_CACHE: 'true' }).flatMap(([k, v]) => ['--param', `${k}=${v}`])
    const on = await packageWith('cache-on', {}, ['--stage', 'prod', ...params])
    expect(await conditionOf(on)).toEqual({ 'Fn::Equals': ['true', 'true'] })
    expect(on.resources['TokenXCacheTable']?.Properties).toEqual({
      TableName: 'tokenx-handler-kit-prod-token-cache',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    })
    const policy = on.resources['TokenXCacheTablePolicy']?.Properties
    expect(policy?.['Roles']).toEqual([{ Ref: 'IamRoleLambdaExecution' }])
    expect(policy?.['PolicyDocument'].Statement).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': ['TokenXCacheTable', 'Arn'] } },
    ])
    // No other statement anywhere mentions DynamoDB.
    const role = Object.values(on.resources).find((resource) => resource.Type === 'AWS::IAM::Role')!
    expect(JSON.stringify(role)).not.toContain('dynamodb')
  }, 120_000)
})
