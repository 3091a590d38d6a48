/**
 * `npm run preflight -- --stage <stage>`: before a deploy, each packaged function as Lambda would
 * load it. For every function of the packaged template (`npm run package -- --stage <stage>` wrote it
 * to .serverless/): its zip is unpacked, its handler imported in a Node process of its own with the
 * template's environment, and called once with an API Gateway event that carries no token. Reports per
 * function whether it starts and answers (401 without a token is the right answer), whether the kit's
 * configuration checks pass (deploy/checks.ts), and, for a function that exchanges tokens, whether its
 * key can be read from Secrets Manager and used (only when AWS credentials are there). No token is
 * sent anywhere: the call has none, and the key check only reads the secret.
 *
 *   npm run preflight -- --stage dev [--package <dir>] [--region <region>]
 *
 * Exit code 0 when every function is ready, 1 otherwise, 2 for bad arguments.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inflateRawSync } from 'node:zlib'
import { configurationProblems, type KitUse } from '../deploy/checks.ts'
import { parseCommandLine, usageError } from '../dev/command-line.ts'

export const USAGE = `usage: npm run preflight -- --stage <stage> [--package <dir>] [--region <region>]

Loads each function packaged by \`npm run package -- --stage <stage>\` (from .serverless/, or
--package) with its template environment, as Lambda would, and reports whether it starts, answers,
passes the kit's configuration checks and (with AWS credentials) can read its key. Sends no token.`

export interface FunctionReport {
  readonly name: string
  readonly ok: boolean
  readonly lines: readonly string[]
}

type Env = Record<string, string>
interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, any> }>
}

/** The files of a zip archive (stored or deflated entries; APPNOTE.TXT §4.3). */
export function unzip(zip: Buffer): Map<string, Buffer> {
  let end = -1
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      end = i
      break
    }
  }
  if (end < 0) throw new Error('not a zip archive')
  const files = new Map<string, Buffer>()
  let offset = zip.readUInt32LE(end + 16)
  for (let n = zip.readUInt16LE(end + 10); n > 0; n--) {
    const method = zip.readUInt16LE(offset + 10)
    const size = zip.readUInt32LE(offset + 20)
    const nameLength = zip.readUInt16LE(offset + 28)
    const next = offset + 46 + nameLength + zip.readUInt16LE(offset + 30) + zip.readUInt16LE(offset + 32)
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength)
    const local = zip.readUInt32LE(offset + 42)
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28)
    const data = zip.subarray(start, start + size)
    if (!name.endsWith('/')) files.set(name, method === 0 ? Buffer.from(data) : inflateRawSync(data))
    offset = next
  }
  return files
}

/**
 * The function's environment from the template. CloudFormation fills some values at deploy time: a
 * Ref to a table is its TableName; anything else unresolved is reported and left out.
 */
function environmentOf(template: Template, variables: Record<string, unknown>): { env: Env; unresolved: string[] } {
  const env: Env = {}
  const unresolved: string[] = []
  for (const [name, value] of Object.entries(variables ?? {})) {
    if (typeof value === 'string') env[name] = value
    else if (value !== null && typeof value === 'object' && 'Ref' in value) {
      const table = template.Resources[String((value as { Ref: unknown }).Ref)]
      if (table?.Type === 'AWS::DynamoDB::Table' && typeof table.Properties['TableName'] === 'string')
        env[name] = table.Properties['TableName']
      else unresolved.push(name)
    } else unresolved.push(name)
  }
  return { env, unresolved }
}

/** What the function uses of the kit, from its environment: a key → it exchanges; a client id alone → the API side. */
function useOf(env: Env): KitUse {
  if (env['TOKEN_X_PRIVATE_JWK_SECRET_ID'] !== undefined || env['TOKEN_X_PRIVATE_JWK'] !== undefined) return 'exchange'
  if (env['TOKEN_X_CLIENT_ID'] !== undefined) return 'api'
  return 'none'
}

const RUNNER = `
const { pathToFileURL } = await import('node:url')
const [file, exported, name] = process.argv.slice(1)
const say = (result) => process.stdout.write('\\nPREFLIGHT_RESULT ' + JSON.stringify(result) + '\\n')
try {
  const module = await import(pathToFileURL(file).href)
  const handler = module[exported]
  if (typeof handler !== 'function') { say({ started: false, problem: 'the handler ' + exported + ' is not a function' }); process.exit(0) }
  const event = { version: '2.0', routeKey: 'GET /preflight', rawPath: '/preflight', rawQueryString: '', headers: { accept: 'application/json' },
    isBase64Encoded: false, requestContext: { accountId: '000000000000', apiId: 'preflight', domainName: 'preflight.invalid', domainPrefix: 'preflight',
      http: { method: 'GET', path: '/preflight', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'preflight' },
      requestId: 'preflight', routeKey: 'GET /preflight', stage: '$default', time: '', timeEpoch: Date.now() } }
  const deadline = Date.now() + 10000
  const context = { functionName: name, functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:eu-north-1:000000000000:function:' + name,
    memoryLimitInMB: '512', awsRequestId: 'preflight', logGroupName: '/aws/lambda/' + name, logStreamName: 'preflight',
    callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) }
  const answer = await handler(event, context)
  let code
  try { const body = JSON.parse(answer.body); code = body.code ?? body.error } catch {}
  say({ started: true, status: answer && answer.statusCode, code })
} catch (error) {
  say({ started: false, problem: (error && error.name) || 'Error' })
}
process.exit(0)
`

/** Imports the handler in a process of its own with `env` (and nothing of this shell's but PATH and AWS access). */
function runHandler(
  dir: string,
  handler: string,
  name: string,
  env: Env,
): Promise<{ started: boolean; status?: number; code?: string; problem?: string }> {
  const modulePath = handler.slice(0, handler.lastIndexOf('.'))
  const exported = handler.slice(handler.lastIndexOf('.') + 1)
  const inherited: Env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (key === 'PATH' || key === 'HOME' || key.startsWith('AWS_'))) inherited[key] = value
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUNNER, join(dir, `${modulePath}.mjs`), exported, name], {
      env: { ...inherited, ...env, AWS_LAMBDA_FUNCTION_NAME: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', () => {})
    child.once('error', reject)
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.once('exit', () => {
      clearTimeout(timer)
      const line = output.split('\n').find((one) => one.startsWith('PREFLIGHT_RESULT '))
      resolvePromise(
        line === undefined
          ? { started: false, problem: 'the process ended without an answer' }
          : JSON.parse(line.slice('PREFLIGHT_RESULT '.length)),
      )
    })
  })
}

/** Whether the key can be read and used: undefined when no AWS credentials are there to try. */
async function keyCheck(env: Env, region: string): Promise<string | undefined> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
  const { importPrivateJwk } = await import('../lib/exchange/key.ts')
  const client = new SecretsManagerClient({ region: env['AWS_REGION'] ?? region })
  try {
    const answer = await client.send(new GetSecretValueCommand({ SecretId: env['TOKEN_X_PRIVATE_JWK_SECRET_ID'] }), {
      abortSignal: AbortSignal.timeout(10_000),
    })
    if (answer.SecretString === undefined) return 'key: the secret has no SecretString'
    importPrivateJwk(answer.SecretString)
    return 'key: readable and a usable RS256 private JWK'
  } catch (error) {
    const name = (error as Error).name
    if (name === 'CredentialsProviderError') return undefined
    // The key's content never goes into a message: only the kind of failure.
    return `key: NOT usable (${name === 'KeyError' || name === 'TypeError' ? 'the secret is not a usable RS256 private JWK' : name})`
  } finally {
    client.destroy()
  }
}

/** Preflight of every function in `packageDir`. */
export async function preflight(packageDir: string, stage: string, region: string): Promise<FunctionReport[]> {
  const template = JSON.parse(await readFile(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template
  const reports: FunctionReport[] = []
  const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function')
  if (functions.length === 0) throw new Error(`no function in ${packageDir}`)
  const work = await mkdtemp(join(tmpdir(), 'tokenx-preflight-'))
  try {
    for (const fn of functions) {
      const name = String(fn.Properties['FunctionName'])
      if (!name.includes(`-${stage}-`))
        throw new Error(`${packageDir} holds stage ${name}, not ${stage}: run npm run package -- --stage ${stage}`)
      const lines: string[] = []
      let ok = true
      const { env, unresolved } = environmentOf(template, fn.Properties['Environment']?.Variables ?? {})
      if (unresolved.length > 0) lines.push(`environment: ${unresolved.join(', ')} set by CloudFormation at deploy time (not checked)`)
      const dir = join(work, name)
      for (const [file, data] of unzip(await readFile(join(packageDir, String(fn.Properties['Code'].S3Key).split('/').pop()!)))) {
        await mkdir(dirname(join(dir, file)), { recursive: true })
        await writeFile(join(dir, file), data)
      }
      const use = useOf(env)
      const problems = configurationProblems(use, env)
      if (problems.length > 0) ok = false
      lines.push(problems.length === 0 ? `configuration: valid (${use})` : `configuration: ${problems.join('; ')}`)
      const result = await runHandler(dir, String(fn.Properties['Handler']), name, env)
      if (!result.started) {
        ok = false
        lines.push(`start: FAILED (${result.problem})`)
      } else if (result.status === 401 || (result.status !== undefined && result.status < 500 && use === 'none')) {
        lines.push(`start: ok, answers ${result.status} to a call without a token`)
      } else {
        ok = false
        lines.push(`start: ok, but answers ${result.status}${result.code ? ` ${result.code}` : ''} to a call without a token`)
      }
      if (use === 'exchange' && env['TOKEN_X_PRIVATE_JWK_SECRET_ID'] !== undefined) {
        const key = await keyCheck(env, region)
        if (key === undefined) lines.push('key: not checked (no AWS credentials)')
        else {
          lines.push(key)
          if (key.includes('NOT') || key.includes('no SecretString')) ok = false
        }
      }
      reports.push({ name, ok, lines })
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
  return reports
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('preflight', USAGE, {
    args: argv,
    options: {
      stage: { type: 'string' },
      package: { type: 'string' },
      region: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  })
  if (values.stage === undefined) usageError('preflight', USAGE, '--stage is required')
  const packageDir = resolve(values.package ?? '.serverless')
  let reports: FunctionReport[]
  try {
    reports = await preflight(packageDir, values.stage, values.region ?? process.env['AWS_REGION'] ?? 'eu-north-1')
  } catch (error) {
    console.error(`preflight: ${(error as Error).message}`)
    process.exit(1)
  }
  for (const report of reports) {
    console.log(`${report.ok ? 'ready' : 'NOT READY'}  ${report.name}`)
    for (const line of report.lines) console.log(`  ${line}`)
  }
  process.exit(reports.every((report) => report.ok) ? 0 : 1)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2))
