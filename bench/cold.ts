/**
 * Cold start, in fresh Node processes:
 * - each function bundle's size (dist/<fn>/index.mjs plus chunks, as `npm run build` made them),
 *   split into what loads at init and what loads lazily, against the build's budget;
 * - the time to import each bundle, against importing an empty handler bundled the same way;
 * - the first invocation's extra cost, split into its parts: the lazy AWS SDK chunk, the secret
 *   fetch through the real SDK client from a local Secrets Manager (dev/secrets-manager.ts), the JWK
 *   import, and the first exchange including its TCP connect.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, type BuildOptions } from 'esbuild'
import { startSecretsManager } from '../dev/secrets-manager.ts'
import { issuedToken } from './floor.ts'
import { AUDIENCE, CLIENT_ID, clientKey, progress, report, sectionEndpoint, spread, type Spread } from './support.ts'

export interface BundleSize {
  readonly name: string
  readonly totalBytes: number
  readonly initialBytes: number
  readonly lazyBytes: number
  /** Budget of the initial bundle plus one lazy feature (esbuild.config.mjs `budgets`). */
  readonly budgetBytes: number
  /** Budget of every chunk (esbuild.config.mjs `totalBudgets`). */
  readonly totalBudgetBytes: number
  /** Per lazily imported feature: the initial bundle plus everything that feature can load. */
  readonly features: ReadonlyArray<{ readonly name: string; readonly bytes: number }>
}

export interface ImportTime {
  readonly name: string
  /** ms spent in `await import(bundle)`, measured inside the fresh process. */
  readonly importMs: Spread
  /** ms from spawn to exit of `node -e "await import(bundle)"`. */
  readonly processMs: Spread
}

export interface FirstInvocation {
  readonly runs: number
  readonly importMs: Spread
  /** CPU of the import. */
  readonly importCpuMs: Spread
  /** The whole first invocation, wall: key, exchange, and the handler's downstream call. */
  readonly coldMs: Spread
  /** The same, CPU of the function's process (the waits for Secrets Manager, TokenX and the downstream cost none). */
  readonly coldCpuMs: Spread
  /** The same citizen again: a cache hit, plus the downstream call. */
  readonly warmHitMs: Spread
  /** Another citizen: an exchange with the key and connection in place, plus the downstream call. */
  readonly warmMissMs: Spread
  /** The first invocation cut at the kit's `key.load` and `exchange` events and the SDK's request (ms, wall). */
  readonly phases: Record<string, Spread>
}

/** The first invocation of the function with an inline key, with its key in Secrets Manager, and of the floor. */
export interface FirstInvocations {
  readonly inline: FirstInvocation
  readonly secretsManager: FirstInvocation
  readonly floor: FirstInvocation
  /**
   * The kit's own part of a cold start, CPU ms: the inline-key function's import and first
   * invocation minus the floor's (per run, same moment). Import and first invocation together, as
   * the floor loads on its first `fetch` what the function's import loads (undici). What is left
   * when the SDK (not used with an inline key) and the network waits (no CPU) are out: the kit's
   * code, the JWK import, the assertion, the token request's client side, the answer's checks.
   */
  readonly kitOwnCpuMs: Spread
  /** The Secrets Manager key's extra CPU (import and first invocation) over the inline key's, per run: the SDK's part, mostly. */
  readonly secretsManagerExtraCpuMs: Spread
}

export interface FirstInvocationParts {
  readonly runs: number
  readonly sdkImportMs: Spread
  readonly secretFetchMs: Spread
  readonly jwkImportMs: Spread
  readonly firstExchangeMs: Spread
  readonly secondExchangeMs: Spread
}

export interface ColdResult {
  readonly sizes: BundleSize[]
  readonly imports: ImportTime[]
  readonly firstInvocation: FirstInvocations
  readonly parts: FirstInvocationParts
}

const IMPORT_RUNS = Number(process.env.BENCH_COLD_IMPORT_RUNS ?? 20)
const INVOCATION_RUNS = Number(process.env.BENCH_COLD_INVOCATION_RUNS ?? 7)
const root = fileURLToPath(new URL('..', import.meta.url))
const dist = path.join(root, 'dist')
const SECRET_NAME = 'bench/tokenx-private-jwk'

/** What `npm run build` reported for the bundle, from its metafile (esbuild.config.mjs's own count). */
async function bundleSize(name: string, budgets: Record<string, number>, totalBudgets: Record<string, number>): Promise<BundleSize> {
  const metafile: unknown = JSON.parse(await readFile(path.join(dist, name, 'meta.json'), 'utf8'))
  const { initialBytes, lazyBytes, features } = await bundleSizes(metafile)
  return {
    name,
    totalBytes: initialBytes + lazyBytes,
    initialBytes,
    lazyBytes,
    budgetBytes: budgets[name] ?? budgets.default ?? 0,
    totalBudgetBytes: totalBudgets[name] ?? totalBudgets.default ?? 0,
    features,
  }
}

/** The bundle's chunk for `@aws-sdk/client-secrets-manager`, the one the key loader imports lazily. */
async function sdkChunk(name: string): Promise<string> {
  const meta = JSON.parse(await readFile(path.join(dist, name, 'meta.json'), 'utf8')) as {
    outputs: Record<string, { entryPoint?: string }>
  }
  const chunk = Object.entries(meta.outputs).find(([, output]) => /@aws-sdk\/client-secrets-manager(\/|$)/.test(output.entryPoint ?? ''))
  if (chunk === undefined) throw new Error(`dist/${name} has no Secrets Manager chunk`)
  return path.join(root, chunk[0])
}

/**
 * Reference handlers, bundled as esbuild.config.mjs bundles the functions (same format and target;
 * no `createRequire` banner, as they name no `require` and the build gives it only to files that do): an empty one, and one that only imports the Node built-ins the kit imports at init.
 */
const REFERENCES = {
  'empty handler': 'export const handler = async () => ({ statusCode: 200, body: "" })\n',
  'empty handler + node:net, node:tls, node:crypto': [
    "import net from 'node:net'",
    "import tls from 'node:tls'",
    "import crypto from 'node:crypto'",
    'export const handler = async () => ({ statusCode: 200, body: [net, tls, crypto].map((m) => typeof m).join() })',
    '',
  ].join('\n'),
}

/**
 * The first invocation's floor: a middy handler making the function's downstream call with plain
 * `fetch` and a token at hand (the token the bench endpoint issues), answering as the function does.
 */
const FIRST_INVOCATION_FLOOR = [
  "import middy from '@middy/core'",
  "const url = new URL('resource', process.env.DOWNSTREAM_URL + '/')",
  'const authorization = `Bearer ${process.env.BENCH_FLOOR_TOKEN}`',
  'export const handler = middy().handler(async (_event, _context, { signal }) => {',
  "  const response = await fetch(url, { signal, headers: { accept: 'application/json', authorization } })",
  "  return { statusCode: response.status, headers: { 'content-type': response.headers.get('content-type') ?? '', 'cache-control': 'no-store' }, body: await response.text() }",
  '})',
  '',
].join('\n')

async function referenceBundle(dir: string, name: string, code: string): Promise<string> {
  const slug = name.replace(/[^a-z]+/g, '-')
  const source = path.join(dir, `${slug}.ts`)
  await writeFile(source, code)
  await build({
    entryPoints: { index: source },
    outdir: path.join(dir, slug),
    ...nodeEsmBundle,
    outExtension: { '.js': '.mjs' },
    // The source is in a temporary folder: packages (middy) resolve from the project's node_modules.
    nodePaths: [path.join(root, 'node_modules')],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  return path.join(dir, slug, 'index.mjs')
}

/** Runs `node args` to its end; returns its stdout and the wall time from spawn to exit. */
function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint()
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (code === 0) resolve({ stdout, ms })
      else reject(new Error(`node ${args.join(' ')} exited with ${code}`))
    })
  })
}

/**
 * A probe's result, from its stdout. The function logs there too (the kit's JSON log
 * lines, as on Lambda: "signing key loaded" on a cold start), and that cost belongs in the figures.
 */
function resultLine(stdout: string): unknown {
  for (const line of stdout.trim().split('\n').reverse()) {
    const value: unknown = JSON.parse(line)
    // A log line has a `level`, an EMF record `_aws`; the probe's result has neither.
    if (value !== null && typeof value === 'object' && !('level' in value) && !('_aws' in value)) return value
  }
  throw new Error(`no result in the probe's output: ${stdout.slice(0, 200)}`)
}

const IMPORT_PROBE = [
  'const start = performance.now();',
  'await import(process.env.BENCH_BUNDLE_URL);',
  'process.stdout.write(JSON.stringify({ importMs: performance.now() - start }));',
].join(' ')

const endpoint = sectionEndpoint()
const { budgets, totalBudgets, bundleSizes, nodeEsmBundle } = (await import(pathToFileURL(path.join(root, 'esbuild.config.mjs')).href)) as {
  nodeEsmBundle: BuildOptions
  budgets: Record<string, number>
  totalBudgets: Record<string, number>
  bundleSizes: (metafile: unknown) => Promise<{ initialBytes: number; lazyBytes: number; features: Array<{ name: string; bytes: number }> }>
}
const names = (await readdir(dist, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort()
if (names.length === 0) throw new Error('dist/ is empty: run `npm run build` first')
const sizes = await Promise.all(names.map((name) => bundleSize(name, budgets, totalBudgets)))

const temp = await mkdtemp(path.join(tmpdir(), 'tokenx-bench-'))
const { jwk } = clientKey()
const secrets = await startSecretsManager({ secrets: { [SECRET_NAME]: JSON.stringify(jwk) } })
try {
  const references = await Promise.all(
    Object.entries(REFERENCES).map(async ([name, code]) => ({ name, file: await referenceBundle(temp, name, code) })),
  )
  // What a function sees on Lambda, pointed at 127.0.0.1: the SDK finds its region and credentials in
  // the environment (never in ~/.aws, never at the instance metadata endpoint) and Secrets Manager at
  // AWS_ENDPOINT_URL_SECRETS_MANAGER.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    AWS_REGION: secrets.region,
    AWS_ACCESS_KEY_ID: 'AKIABENCHBENCHBENCH0',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-access-key-not-a-real-one',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(temp, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(temp, 'no-aws-credentials'),
    TOKEN_X_CLIENT_ID: CLIENT_ID,
    TOKEN_X_TOKEN_ENDPOINT: `${endpoint.url}/token`,
    TOKEN_X_PRIVATE_JWK_SECRET_ID: SECRET_NAME,
    DOWNSTREAM_URL: endpoint.url,
    DOWNSTREAM_AUDIENCE: AUDIENCE,
    // The bench's citizen tokens carry random signatures (TokenX is not asked to verify them); the
    // exchange path is measured without the example's inbound validation (section `validation`).
    INBOUND_VALIDATION: 'off',
  }

  progress(`cold start: importing ${names.join(', ')} and ${references.length} reference handlers, ${IMPORT_RUNS} fresh processes each`)
  const targets = [...names.map((name) => ({ name, file: path.join(dist, name, 'index.mjs') })), ...references]
  const importSamples = new Map(targets.map((target) => [target.name, { importMs: [] as number[], processMs: [] as number[] }]))
  for (let i = 0; i < IMPORT_RUNS; i++) {
    // Interleaved, so that a busy moment on the machine touches every bundle alike.
    for (const target of i % 2 === 0 ? targets : [...targets].reverse()) {
      const { stdout, ms } = await run(['--input-type=module', '-e', IMPORT_PROBE], {
        ...env,
        BENCH_BUNDLE_URL: pathToFileURL(target.file).href,
      })
      const samples = importSamples.get(target.name)
      samples?.importMs.push((resultLine(stdout) as { importMs: number }).importMs)
      samples?.processMs.push(ms)
    }
  }
  const imports: ImportTime[] = targets.map(({ name }) => {
    const samples = importSamples.get(name) as { importMs: number[]; processMs: number[] }
    return { name, importMs: spread(samples.importMs), processMs: spread(samples.processMs) }
  })

  const fn = names.includes('resource') ? 'resource' : (names[0] as string)
  const floorBundle = await referenceBundle(temp, 'first invocation floor', FIRST_INVOCATION_FLOOR)
  const floorToken = await issuedToken(endpoint.url)
  progress(
    `cold start: first invocations of dist/${fn} (inline key, key in Secrets Manager) and of the floor, ${INVOCATION_RUNS} fresh processes each, whole and in parts`,
  )
  type Invocation = {
    importMs: number
    importCpuMs: number
    coldMs: number
    coldCpuMs: number
    warmHitMs: number
    warmMissMs: number
    phases: Record<string, number>
  }
  const kinds = ['inline', 'secrets-manager', 'floor'] as const
  const invocations: Record<(typeof kinds)[number], Invocation[]> = { inline: [], 'secrets-manager': [], floor: [] }
  const parts: Array<Record<string, number>> = []
  const chunk = await sdkChunk(fn)
  const probe = fileURLToPath(new URL('./probes/first-invocation.ts', import.meta.url))
  const { TOKEN_X_PRIVATE_JWK_SECRET_ID: _secretId, ...withoutSecretId } = env
  for (let i = 0; i < INVOCATION_RUNS; i++) {
    // Interleaved, the order rotating, so a busy moment touches each kind alike.
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(i + k) % kinds.length] as (typeof kinds)[number]
      const kindEnv: NodeJS.ProcessEnv =
        kind === 'floor'
          ? { ...env, BENCH_BUNDLE: floorBundle, BENCH_FLOOR_TOKEN: floorToken }
          : kind === 'inline'
            ? { ...withoutSecretId, BENCH_BUNDLE: path.join(dist, fn, 'index.mjs'), TOKEN_X_PRIVATE_JWK: JSON.stringify(jwk) }
            : { ...env, BENCH_BUNDLE: path.join(dist, fn, 'index.mjs') }
      const whole = await run([probe], { ...kindEnv, BENCH_PROBE_KIND: kind })
      invocations[kind].push(resultLine(whole.stdout) as Invocation)
    }
    const split = await run([fileURLToPath(new URL('./probes/parts.ts', import.meta.url))], { ...env, BENCH_SDK_CHUNK: chunk })
    parts.push(resultLine(split.stdout) as Record<string, number>)
  }
  const pick = <T extends object>(rows: T[], key: keyof T): Spread => spread(rows.map((row) => row[key] as number))
  const summary = (rows: Invocation[]): FirstInvocation => {
    const phaseNames = Object.keys(rows[0]?.phases ?? {})
    return {
      runs: rows.length,
      importMs: pick(rows, 'importMs'),
      importCpuMs: pick(rows, 'importCpuMs'),
      coldMs: pick(rows, 'coldMs'),
      coldCpuMs: pick(rows, 'coldCpuMs'),
      warmHitMs: pick(rows, 'warmHitMs'),
      warmMissMs: pick(rows, 'warmMissMs'),
      phases: Object.fromEntries(phaseNames.map((phase) => [phase, spread(rows.map((row) => row.phases[phase] as number))])),
    }
  }
  const cpuOf = (row: Invocation): number => row.importCpuMs + row.coldCpuMs
  const perRun = (a: Invocation[], b: Invocation[]): Spread => spread(a.map((row, i) => cpuOf(row) - cpuOf(b[i] as Invocation)))
  const firstInvocation: FirstInvocations = {
    inline: summary(invocations.inline),
    secretsManager: summary(invocations['secrets-manager']),
    floor: summary(invocations.floor),
    kitOwnCpuMs: perRun(invocations.inline, invocations.floor),
    secretsManagerExtraCpuMs: perRun(invocations['secrets-manager'], invocations.inline),
  }
  const result: ColdResult = {
    sizes,
    imports,
    firstInvocation,
    parts: {
      runs: parts.length,
      sdkImportMs: pick(parts, 'sdkImportMs'),
      secretFetchMs: pick(parts, 'secretFetchMs'),
      jwkImportMs: pick(parts, 'jwkImportMs'),
      firstExchangeMs: pick(parts, 'firstExchangeMs'),
      secondExchangeMs: pick(parts, 'secondExchangeMs'),
    },
  }
  report(result)
} finally {
  await secrets.close()
  await rm(temp, { recursive: true, force: true })
}
