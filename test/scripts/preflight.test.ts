/**
 * `npm run preflight` against the local stack: a copy of the service packaged (`sls package --stage
 * local`) with the stack's settings, then preflight run as a user runs it, reaching the stack's
 * Secrets Manager through AWS_ENDPOINT_URL_SECRETS_MANAGER. A ready package, a key that is not there,
 * and a template whose environment drifted (edited after packaging) are told apart; no token reaches
 * the local TokenX or the downstream.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startStack, type Stack } from '../../dev/stack.ts'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../../esbuild.config.mjs'
import { cleanEnv, runScript, sls } from '../helpers/run.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const script = path.join(root, 'scripts', 'preflight.ts')
let service: string
let stack: Stack
let packageDir: string

/** preflight as a user runs it, with the stack's Secrets Manager as the AWS endpoint. */
function preflight(dir: string) {
  const aws = Object.fromEntries(
    Object.entries(stack.functionEnv).filter(([name]) => name.startsWith('AWS_') && !name.includes('DYNAMODB')),
  )
  return runScript(script, ['--stage', 'local', '--package', dir], { cwd: root, env: cleanEnv(aws) })
}

async function packageFor(name: string, settings: Record<string, string>): Promise<string> {
  const dir = path.join(service, `.package-${name}`)
  const { code, output } = await sls(service, ['package', '--stage', 'local', '--package', dir], settings)
  if (code !== 0) throw new Error(`sls package failed:\n${output}`)
  return dir
}

beforeAll(async () => {
  stack = await startStack({ functions: false, sharedCache: false })
  service = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-preflight-'))
  for (const entry of ['serverless.yml', 'package.json', 'deploy', 'lib', 'functions']) {
    await cp(path.join(root, entry), path.join(service, entry), { recursive: true })
  }
  await symlink(path.join(root, 'node_modules'), path.join(service, 'node_modules'), 'dir')
  await mkdir(path.join(service, 'dist'))
  for (const name of ['resource', 'api-resource']) await buildFunction(name, { into: path.join(service, 'dist') })
  const settings = Object.fromEntries(
    Object.entries(stack.functionEnv).filter(
      ([name]) => !name.startsWith('AWS_') && !name.startsWith('POWERTOOLS_') && name !== 'TOKEN_X_CACHE_TABLE',
    ),
  )
  packageDir = await packageFor('ready', settings)
}, 240_000)

afterAll(async () => {
  await stack?.close()
  if (service !== undefined) await rm(service, { recursive: true, force: true })
})

describe('npm run preflight', () => {
  it('reports each function ready: valid configuration, it starts and answers 401 without a token, its key is readable', async () => {
    const { code, stdout } = await preflight(packageDir)
    expect(stdout).toContain(
      'ready  tokenx-handler-kit-local-resource\n  configuration: valid (exchange)\n  start: ok, answers 401 to a call without a token\n  key: readable and a usable RS256 private JWK',
    )
    expect(stdout).toContain(
      'ready  tokenx-handler-kit-local-api-resource\n  configuration: valid (api)\n  start: ok, answers 401 to a call without a token',
    )
    expect(code).toBe(0)
    // No token went anywhere.
    expect(stack.downstream.stats.requests).toBe(0)
    expect(stack.tokenx.stats.exchanges + stack.tokenx.stats.failures).toBe(0)
  }, 60_000)

  it('says when the key is not there', async () => {
    const settings = Object.fromEntries(
      Object.entries(stack.functionEnv).filter(
        ([name]) => !name.startsWith('AWS_') && !name.startsWith('POWERTOOLS_') && name !== 'TOKEN_X_CACHE_TABLE',
      ),
    )
    const dir = await packageFor('no-key', { ...settings, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'no/such/secret' })
    const { code, stdout } = await preflight(dir)
    expect(stdout).toContain('NOT READY  tokenx-handler-kit-local-resource')
    expect(stdout).toContain('key: NOT usable (ResourceNotFoundException)')
    expect(code).toBe(1)
  }, 120_000)

  it('catches a template whose environment was changed after packaging, at configuration and at start', async () => {
    const dir = path.join(service, '.package-drifted')
    await cp(packageDir, dir, { recursive: true })
    const file = path.join(dir, 'cloudformation-template-update-stack.json')
    const template = JSON.parse(await readFile(file, 'utf8'))
    const variables = template.Resources.ResourceLambdaFunction.Properties.Environment.Variables
    variables.TOKEN_X_TOKEN_ENDPOINT = 'http://tokenx.example.test/token'
    variables.DOWNSTREAM_URL = 'ftp://downstream.example.test/'
    await writeFile(file, JSON.stringify(template))
    const { code, stdout } = await preflight(dir)
    expect(stdout).toContain('NOT READY  tokenx-handler-kit-local-resource')
    expect(stdout).toContain('TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)')
    expect(stdout).toMatch(/start: ok, but answers 500 \S+ to a call without a token/)
    expect(stdout).not.toContain('tokenx.example.test')
    expect(code).toBe(1)
  }, 60_000)

  it('refuses a package of another stage, and needs --stage', async () => {
    const other = await runScript(script, ['--stage', 'prod', '--package', packageDir], { cwd: root, env: cleanEnv({}) })
    expect(other.code).toBe(1)
    expect(other.stderr).toContain('run npm run package -- --stage prod')
    const none = await runScript(script, [], { cwd: root, env: cleanEnv({}) })
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('--stage is required')
  })
})
