/**
 * The consumer fixture: proves the kit works as a package in someone else's Lambda project.
 *
 *   npm run consumer [-- --only=<text>] [--keep]      (--only: run only checks whose name has <text>)
 *                                                     (--only=matrix: only the middleware matrix's rows)
 *
 * 1. `npm pack` the kit (prepack builds build/), check the tarball's file list and size, the
 *    published declarations' imports, and that the README quotes examples/middy.ts verbatim.
 * 2. For each middy version: copy test/consumer/ to a temporary folder, with the README's example
 *    (examples/middy.ts) as src/handler.ts, install the tarball there
 *    (fresh `npm install`), typecheck (strict flags, NodeNext and Bundler resolution, skipLibCheck
 *    off), emit the unbundled JavaScript, bundle with esbuild as a consumer would.
 * 3. Against the local stack (dev/stack.ts: TokenX, ID-porten, downstream API, Secrets Manager on
 *    free 127.0.0.1 ports), run every handler × build × key source under plain `node` (invoke.mjs);
 *    then every handler × build once more with an inline key, no table and `@aws-sdk/*` made
 *    unreachable (no-aws-sdk.mjs): it must answer without ever asking for the AWS SDK.
 *    Then `tokenx-local` (the package's bin, dev/local-cli.ts) from the consumer's node_modules/.bin:
 *    started with a config of two clients and two downstream stand-ins, its `env` and `token`
 *    output drive src/two-downstreams.ts (one function, two downstream apps) and src/chained.ts (a
 *    TokenX token in, validated, exchanged onward).
 * 4. The middleware matrix (test/middy-stack/, issue #13) against the installed tarball, in the
 *    consumer of the middy version the repo develops with (7.9.2): add what the matrix files import
 *    (the middy middlewares, Powertools, vitest, fast-check, …) at the repo's own versions, copy
 *    test/middy-stack/ in, and run vitest with vitest.matrix.config.mjs (no alias: the kit comes
 *    from node_modules, i.e. the tarball's build/). One PASS/FAIL row per test file, with counts.
 *    (`npm test` in the repo runs the same files against lib/, through vitest's alias.)
 *
 * Prints PASS/FAIL per check, ends with `N passed, N failed`, exits 1 on any failure. The repository
 * stays clean: everything is built in the temporary folder (removed unless --keep).
 *
 * To extend: add a row to `middyVersions`, `handlers`, `builds` or `keySources` below (e.g. another
 * handler in src/ with a different middleware order); every combination is run.
 */
import { execFile, spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb'
import { startStack, type Stack } from '../../dev/stack.ts'
import { EXAMPLE_FILE, readmeExampleMismatch } from './readme.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const fixture = fileURLToPath(new URL('.', import.meta.url))
const bin = (name: string): string => join(root, 'node_modules', '.bin', name)
const repoPackage = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  peerDependencies: Record<string, string>
  exports: Record<string, { import: string } | string>
}

/**
 * The ends of the `@middy/core` peer range (package.json), whether its types infer `context.tokenX`,
 * and whether the middleware matrix runs there (only with the middy the repo's middlewares match).
 */
const middyVersions: ReadonlyArray<{ readonly version: string; readonly typecheck: boolean; readonly matrix: boolean }> = [
  { version: String(repoPackage.devDependencies['@middy/core']), typecheck: true, matrix: true },
  // middy 4's types declare the handler's third argument as a Lambda callback, not `{ signal }` (it
  // passes `{ signal }` at run time), so the README's example (which takes `{ signal }`) is run on it
  // but not typechecked; src/declared-context.ts, with no signal, is.
  { version: '4.0.0', typecheck: false, matrix: false },
]

/** The middleware matrix: the repo's test files, run in the consumer against the installed kit. */
const MATRIX_SOURCE = join(root, 'test/middy-stack')
const MATRIX_CONFIG = 'vitest.matrix.config.mjs'

/** Handler modules in src/ (each exports `handler`); all are run with every build and key source. */
const handlers: ReadonlyArray<{ readonly name: string; readonly entry: string }> = [{ name: 'README example', entry: 'handler' }]

/** A test of a handler with tokenx-handler-kit/testing and no test runner (docs/testing.md). */
const TESTING_EXAMPLE = 'examples/testing-node.ts'

const CREATE_REQUIRE_BANNER = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

interface Build {
  readonly name: string
  /** esbuild arguments after the entry point; undefined: the unbundled tsc output. */
  readonly esbuild: readonly string[] | undefined
  /**
   * What the Secrets Manager path does in this build: 'works', or 'names its cause' (the
   * documented failure: a 500 whose log line names the error's name and message).
   */
  readonly secretsManager: 'works' | 'names its cause'
}

const PLAIN = ['--bundle', '--format=esm', '--platform=node', '--target=node22']
const builds: readonly Build[] = [
  { name: 'unbundled (tsc output, plain node)', esbuild: undefined, secretsManager: 'works' },
  { name: 'esbuild ESM + createRequire banner', esbuild: [...PLAIN, `--banner:js=${CREATE_REQUIRE_BANNER}`], secretsManager: 'works' },
  { name: 'esbuild ESM --external:@aws-sdk/*', esbuild: [...PLAIN, '--external:@aws-sdk/*'], secretsManager: 'works' },
  { name: 'esbuild ESM, main fields module first', esbuild: [...PLAIN, '--main-fields=module,main'], secretsManager: 'works' },
  { name: 'esbuild ESM, plain', esbuild: PLAIN, secretsManager: 'names its cause' },
  // Code splitting (an output folder, not a file): the SDK bundled, in chunks loaded only when used.
  {
    name: 'esbuild ESM --splitting, main fields module first',
    esbuild: [...PLAIN, '--splitting', '--main-fields=module,main'],
    secretsManager: 'works',
  },
]

const keySources = ['inline key', 'Secrets Manager key'] as const
type KeySource = (typeof keySources)[number]

/**
 * The tarball holds only what a consumer needs: build/ (JavaScript, declarations, and their maps) and
 * the TypeScript sources under lib/ the maps point at, about half of it maps and sources. The
 * JavaScript is one module per export entry (build/<entry>.js) and the chunks they share
 * (build/chunks/), bundled by scripts/build-lib.ts; the declarations follow lib/'s layout.
 * 0.3.0-dev, with the testing, entra and maskinporten subpaths and the `tokenx-local` command
 * (build/tokenx-local/, no maps), packs to about 275 KiB (1110 KiB unpacked); the
 * budgets leave room for growth, not for a stray folder.
 */
const TARBALL_MAX_BYTES = 384 * 1024
const TARBALL_MAX_UNPACKED_BYTES = 1536 * 1024
const FORBIDDEN_PREFIXES = [
  'test/',
  'dev/',
  'bench/',
  '.ci/',
  'scripts/',
  'functions/',
  'deploy/',
  'node_modules/',
  'dist/',
  '.dev/',
  '.keys/',
  '.serverless/',
]
/** The export entries' modules (`./build/<entry>.js`), as package.json names them. */
const ENTRIES = Object.values(repoPackage.exports).flatMap((target) =>
  typeof target === 'string' ? [] : [target.import.replace(/^\.\/build\/(.+)\.js$/, '$1')],
)
const REQUIRED_FILES = [
  'package.json',
  'README.md',
  'LICENSE',
  'CHANGELOG.md',
  'build/tokenx-local/local-cli.js',
  ...ENTRIES.flatMap((entry) => [`build/${entry}.js`, `build/${entry}.js.map`, `build/${entry}.d.ts`, `build/${entry}.d.ts.map`]),
]
/** The shared chunks of the bundled JavaScript (scripts/build-lib.ts). */
const CHUNK = /^build\/chunks\/chunk-\w+\.js$/
/**
 * The kit's own modules an unbundled function loads (the root entry and its chunks), with an inline
 * key and no table, import and one invocation: each is a resolve, a read and a link at every cold
 * start. (Compiled file by file, it was 44.)
 */
const KIT_MODULES_MAX = 10

// ---------------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length)
const keep = args.includes('--keep')
let passed = 0
let failed = 0

/**
 * Runs one check: PASS with an optional detail, or FAIL with the error's message. `--only` skips
 * checks whose name lacks its text, except those that make what later checks need (`setup`).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a check resolves to a note, or to nothing
async function check(name: string, run: () => Promise<string | void>, setup = false): Promise<boolean> {
  if (only !== undefined && !setup && !name.includes(only)) return true
  const started = Date.now()
  try {
    const detail = await run()
    passed += 1
    console.log(`PASS  ${name}${detail ? `: ${detail}` : ''} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    return true
  } catch (error) {
    failed += 1
    console.log(`FAIL  ${name}: ${error instanceof Error ? error.message : String(error)}`)
    return false
  }
}

function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message)
}

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function run(file: string, argv: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      argv,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeout ?? 300_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

async function mustRun(file: string, argv: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Ran> {
  const ran = await run(file, argv, options)
  if (ran.code !== 0) throw new Error(`${[file, ...argv].join(' ')} exited ${ran.code}\n${tail(ran.stdout + ran.stderr)}`)
  return ran
}

function tail(text: string, lines = 30): string {
  return text
    .trim()
    .split('\n')
    .slice(-lines)
    .map((l) => `      ${l}`)
    .join('\n')
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`

// ---------------------------------------------------------------------------------------------

const work = await mkdtemp(join(tmpdir(), 'tokenx-kit-consumer-'))
let stack: Stack | undefined
let oldestSdkChecked = false
try {
  await main()
} catch (error) {
  // A setup step outside any check (the local stack not starting, say) is a failure too.
  failed += 1
  console.log(`FAIL  consumer fixture: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
} finally {
  await stack?.close()
  if (keep) console.log(`kept ${work}`)
  else await rm(work, { recursive: true, force: true })
}
console.log(`\n${passed} passed, ${failed} failed`)
process.exitCode = failed === 0 ? 0 : 1

async function main(): Promise<void> {
  await check(`README quotes ${EXAMPLE_FILE} verbatim (run here as src/handler.ts)`, async () => {
    const mismatch = await readmeExampleMismatch(root)
    assert(mismatch === undefined, String(mismatch))
  })

  let tarball = ''
  const packed = await check(
    'npm pack (prepack builds build/)',
    async () => {
      const ran = await mustRun('npm', ['pack', '--json', '--pack-destination', work], { cwd: root })
      const [info] = JSON.parse(ran.stdout.slice(ran.stdout.indexOf('['))) as Array<{
        filename: string
        size: number
        unpackedSize: number
        files: Array<{ path: string }>
      }>
      assert(info !== undefined, 'npm pack printed no result')
      tarball = join(work, info.filename)
      const files = info.files.map((f) => f.path)
      await check('tarball holds only what a consumer needs', async () => {
        const forbidden = files.filter((f) => FORBIDDEN_PREFIXES.some((p) => f.startsWith(p)))
        assert(forbidden.length === 0, `it ships ${forbidden.join(', ')}`)
        const missing = REQUIRED_FILES.filter((f) => !files.includes(f))
        assert(missing.length === 0, `it lacks ${missing.join(', ')}`)
        const sources = (await readdir(join(root, 'lib'), { recursive: true })).filter((f) => f.endsWith('.ts'))
        const undeclared = sources.filter((f) => !files.includes(`build/${f.replace(/\.ts$/, '.d.ts')}`))
        assert(undeclared.length === 0, `no declarations in build/ for ${undeclared.join(', ')}`)
        // The JavaScript: the entries and their chunks (the command's own folder aside), each with its map.
        const scripts = files.filter((f) => f.endsWith('.js') && !f.startsWith('build/tokenx-local/'))
        const stray = scripts.filter((f) => !ENTRIES.some((entry) => f === `build/${entry}.js`) && !CHUNK.test(f))
        assert(stray.length === 0, `build/ has JavaScript that is neither an entry nor a chunk: ${stray.join(', ')}`)
        assert(
          scripts.some((f) => CHUNK.test(f)),
          'build/ has no chunks/: are the entries bundled each on its own (a class or cache per entry)?',
        )
        const unmapped = scripts.filter((f) => !files.includes(`${f}.map`))
        assert(unmapped.length === 0, `no source map for ${unmapped.join(', ')}`)
        // Each map's sources are TypeScript files the tarball ships.
        const missingSources: string[] = []
        for (const script of scripts) {
          const map = JSON.parse(await readFile(join(root, `${script}.map`), 'utf8')) as { sources: string[] }
          for (const source of map.sources) {
            const shipped = join(dirname(script), source)
            if (!shipped.startsWith(`lib${sep}`) || !files.includes(shipped.split(sep).join('/')))
              missingSources.push(`${script} → ${source}`)
          }
        }
        assert(missingSources.length === 0, `source maps name files the tarball lacks: ${missingSources.join(', ')}`)
        return `${files.length} files, ${scripts.length} JavaScript modules (${scripts.filter((f) => CHUNK.test(f)).length} chunks)`
      })
      await check('tarball size', async () => {
        assert(info.size <= TARBALL_MAX_BYTES, `${kib(info.size)} packed, budget ${kib(TARBALL_MAX_BYTES)}`)
        assert(
          info.unpackedSize <= TARBALL_MAX_UNPACKED_BYTES,
          `${kib(info.unpackedSize)} unpacked, budget ${kib(TARBALL_MAX_UNPACKED_BYTES)}`,
        )
        return `${kib(info.size)} packed, ${kib(info.unpackedSize)} unpacked`
      })
      return info.filename
    },
    true,
  )
  if (!packed) return

  await check("published declarations import only node:, their own files and the kit's dependencies", async () => {
    const declarations = (await readdir(join(root, 'build'), { recursive: true })).filter((f) => f.endsWith('.d.ts'))
    // What npm installs with the kit anyway (jose, the lazily loaded AWS SDK clients): a consumer needs nothing more.
    const kitManifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    const installedWithKit = new Set(Object.keys(kitManifest.dependencies))
    const foreign: string[] = []
    for (const file of declarations) {
      const text = await readFile(join(root, 'build', file), 'utf8')
      for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const own = specifier !== undefined && /^\.\.?\//.test(specifier) && !join(dirname(file), specifier).startsWith('..')
        if (specifier === undefined || own || specifier.startsWith('node:') || installedWithKit.has(specifier)) continue
        foreign.push(`${file} → ${specifier}`)
      }
    }
    assert(foreign.length === 0, `a consumer would need more packages: ${foreign.join(', ')}`)
    return `${declarations.length} files`
  })

  for (const middy of middyVersions) {
    const dir = join(work, `middy-${middy.version}`)
    const label = `(middy ${middy.version})`
    const installed = await check(
      `install the tarball into a fresh consumer ${label}`,
      async () => {
        await mkdir(dir)
        for (const entry of ['src', 'invoke.mjs', 'tsconfig.json', 'tsconfig.bundler.json', 'tsconfig.declared.json'])
          await cp(join(fixture, entry), join(dir, entry), { recursive: true })
        // The README's example itself, not a copy kept beside it.
        await cp(join(root, EXAMPLE_FILE), join(dir, 'src/handler.ts'))
        // docs/testing.md's example without a test runner: tokenx-handler-kit/testing, run under plain node below.
        await cp(join(root, TESTING_EXAMPLE), join(dir, 'src/testing-check.ts'))
        const manifest = (await readFile(join(fixture, 'package.json'), 'utf8'))
          .replace('MIDDY_VERSION', middy.version)
          .replace('KIT_TARBALL', `file:${tarball}`)
          .replaceAll('AWS_SDK_VERSION', String(repoPackage.devDependencies['@aws-sdk/client-secrets-manager']))
        await writeFile(join(dir, 'package.json'), manifest)
        await mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir })
        const installedKit = JSON.parse(await readFile(join(dir, 'node_modules/tokenx-handler-kit/package.json'), 'utf8')) as {
          version: string
        }
        const hasDevToolchain = await stat(join(dir, 'node_modules/vitest')).then(
          () => true,
          () => false,
        )
        assert(!hasDevToolchain, "the kit's dev toolchain was installed")
        return `tokenx-handler-kit ${installedKit.version}`
      },
      true,
    )
    if (!installed) continue

    await check(`the subpath exports load under plain node ${label}`, async () => {
      const script = [
        "const root = await import('tokenx-handler-kit')",
        "const observe = await import('tokenx-handler-kit/observe')",
        "const config = await import('tokenx-handler-kit/config')",
        "const testing = await import('tokenx-handler-kit/testing')",
        'console.log(JSON.stringify([root, observe, config, testing].map((m) => Object.keys(m).length)))',
        "if (typeof observe.createLogger !== 'function' || typeof config.isClientId !== 'function' || 'createLogger' in root) process.exit(1)",
        "if (typeof testing.startTestTokenX !== 'function' || 'startTestTokenX' in root) process.exit(1)",
      ].join('\n')
      const ran = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir })
      assert(ran.code === 0, `node exited ${ran.code}\n${tail(`${ran.stdout}${ran.stderr}`)}`)
      return `exports per entry (root, observe, config, testing): ${ran.stdout.trim()}`
    })

    if (middy.typecheck) {
      await check(`typecheck: strict, NodeNext, skipLibCheck off, emit ${label}`, () => typecheck(dir, 'tsconfig.json'), true)
      await check(`typecheck: strict, Bundler resolution, skipLibCheck off ${label}`, () => typecheck(dir, 'tsconfig.bundler.json'))
    } else {
      await check(
        `emit the unbundled JavaScript (tsc --noCheck) ${label}`,
        async () => {
          await mustRun(bin('tsc'), ['-p', 'tsconfig.json', '--noCheck'], { cwd: dir })
        },
        true,
      )
    }
    await check(`typecheck: a declared context type, strict, skipLibCheck off ${label}`, () => typecheck(dir, 'tsconfig.declared.json'))
    await check(
      `tokenx-handler-kit/testing: ${TESTING_EXAMPLE}, a handler wrapped with inbound validation against the stand-ins, answers 200 under plain node ${label}`,
      async () => {
        const ran = await run(process.execPath, [join(dir, 'out/tsc/testing-check.js')], { cwd: dir, timeout: 60_000 })
        assert(ran.code === 0, `node exited ${ran.code}\n${tail(`${ran.stdout}${ran.stderr}`)}`)
        return ran.stdout.trim().split('\n').at(-1)
      },
    )

    const targets: Array<{ handler: (typeof handlers)[number]; build: Build; file: string }> = []
    for (const handler of handlers) {
      for (const build of builds) {
        if (build.esbuild === undefined) {
          targets.push({ handler, build, file: join(dir, 'out/tsc', `${handler.entry}.js`) })
          continue
        }
        const outfile = join(dir, 'out/esbuild', `${handler.entry}-${targets.length}.mjs`)
        // With --splitting esbuild writes a folder: the entry (named after the source) and its chunks.
        const splitting = build.esbuild.includes('--splitting')
        const output = splitting ? [`--outdir=${outfile.slice(0, -'.mjs'.length)}`, '--out-extension:.js=.mjs'] : [`--outfile=${outfile}`]
        const entryFile = splitting ? join(outfile.slice(0, -'.mjs'.length), `${handler.entry}.mjs`) : outfile
        const ok = await check(
          `bundle ${handler.name}: ${build.name} ${label}`,
          async () => {
            await mustRun(bin('esbuild'), [join('src', `${handler.entry}.ts`), ...build.esbuild!, ...output, '--log-level=error'], {
              cwd: dir,
            })
            return kib((await stat(entryFile)).size)
          },
          true,
        )
        if (ok) targets.push({ handler, build, file: entryFile })
      }
    }

    stack ??= await startStack({ root, functions: false, build: false })
    for (const target of targets) {
      for (const keySource of keySources) {
        await check(`run ${target.handler.name}: ${target.build.name}, ${keySource} ${label}`, () =>
          invoke(stack!, dir, target.file, keySource, target.build),
        )
      }
    }
    const external = targets.find((target) => target.build.esbuild?.includes('--external:@aws-sdk/*') === true)
    if (external !== undefined && !oldestSdkChecked) {
      oldestSdkChecked = true
      await check(
        `the oldest AWS SDK the peer range allows, as the Lambda runtime's: ${external.build.name}, Secrets Manager key and table ${label}`,
        () => oldestSdk(stack!, external.file, external.build),
      )
    }
    for (const target of targets) {
      const unbundled = target.build.esbuild === undefined
      await check(
        `AWS SDK not loaded${unbundled ? `, at most ${KIT_MODULES_MAX} kit modules` : ''}: ${target.handler.name}, ${target.build.name}, inline key, no table ${label}`,
        () => invokeWithoutSdk(stack!, dir, target.file, 'inline key', unbundled),
      )
    }
    for (const target of targets.filter((t) => t.build.secretsManager === 'works')) {
      await check(
        `AWS SDK: only the Secrets Manager client: ${target.handler.name}, ${target.build.name}, Secrets Manager key, no table ${label}`,
        () => invokeWithoutSdk(stack!, dir, target.file, 'Secrets Manager key'),
      )
    }

    await check(`tokenx-local, the installed command: a handler with two downstreams and a chained re-exchange ${label}`, () =>
      localStackRun(dir),
    )

    if (middy.matrix && (only === undefined || 'middleware matrix'.includes(only) || only.startsWith('middleware matrix')))
      await middlewareMatrix(dir, middy.version, label)
  }
}

/**
 * The packages the matrix files import, at the versions the repo's package.json names (so they
 * cannot drift from what `npm test` runs them with): every bare specifier but node: and the kit; a
 * type-only package (`aws-lambda`) as its `@types/` package. Throws on an import from outside
 * test/middy-stack/ (the files must be self-contained to run in a consumer) or of a package the
 * repo does not have.
 */
async function matrixDependencies(): Promise<{ files: string[]; packages: Map<string, string> }> {
  const files = (await readdir(MATRIX_SOURCE, { recursive: true })).filter((f) => /\.[cm]?[jt]s$/.test(f)).sort()
  const versions = { ...repoPackage.dependencies, ...repoPackage.devDependencies }
  const packages = new Map<string, string>()
  const problems: string[] = []
  for (const file of files) {
    const text = await readFile(join(MATRIX_SOURCE, file), 'utf8')
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (specifier.startsWith('node:') || specifier === 'tokenx-handler-kit') continue
      if (specifier.startsWith('.') || specifier.startsWith('/')) {
        const target = relative(MATRIX_SOURCE, join(MATRIX_SOURCE, file, '..', specifier))
        if (target.startsWith('..') || target.startsWith(sep)) problems.push(`${file} imports ${specifier}, outside test/middy-stack/`)
        continue
      }
      const parts = specifier.split('/')
      const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : String(parts[0])
      const typesName = `@types/${name.replace(/^@([^/]+)\//, '$1__')}`
      const installAs = versions[name] !== undefined ? name : versions[typesName] !== undefined ? typesName : undefined
      if (installAs === undefined) problems.push(`${file} imports ${specifier}, which the repo's package.json does not list`)
      else packages.set(installAs, String(versions[installAs]))
    }
  }
  assert(problems.length === 0, problems.join('; '))
  return { files, packages }
}

interface VitestReport {
  numTotalTests: number
  testResults: Array<{
    name: string
    status: string
    message?: string
    assertionResults: Array<{ fullName: string; status: string; failureMessages: string[] }>
  }>
}

/** Step 4: the middleware matrix in the consumer at `dir`, against the tarball installed there. */
async function middlewareMatrix(dir: string, middyVersion: string, label: string): Promise<void> {
  let testFiles: string[] = []
  const ready = await check(
    `middleware matrix: copy test/middy-stack/, install what it imports at the repo's versions ${label}`,
    async () => {
      const { files, packages } = await matrixDependencies()
      // The consumer's own @middy/core is the one the middlewares run with: it must be theirs.
      const core = packages.get('@middy/core')
      assert(core === undefined || core === middyVersion, `the matrix needs @middy/core ${core}, this consumer has ${middyVersion}`)
      packages.delete('@middy/core')
      testFiles = files.filter((f) => f.endsWith('.test.ts'))
      assert(testFiles.length > 0, 'no test files in test/middy-stack/')
      await cp(MATRIX_SOURCE, join(dir, 'test/middy-stack'), { recursive: true })
      await cp(join(fixture, MATRIX_CONFIG), join(dir, MATRIX_CONFIG))
      // Added to this consumer's manifest (it keeps its node_modules: no third install from scratch).
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
      for (const [name, version] of packages) manifest.devDependencies[name] = version
      await writeFile(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
      await mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir })
      return [...packages].map(([name, version]) => `${name}@${version}`).join(', ')
    },
    true,
  )
  if (!ready) return

  const reportFile = join(dir, 'matrix-report.json')
  const resolutionsFile = join(dir, 'kit-resolutions.txt')
  let report: VitestReport | undefined
  await check(
    `middleware matrix: vitest run (vitest.matrix.config.mjs, no alias) ${label}`,
    async () => {
      const vitest = join(dir, 'node_modules/vitest/vitest.mjs')
      const ran = await run(process.execPath, [vitest, 'run', '--config', MATRIX_CONFIG, '--reporter=json', `--outputFile=${reportFile}`], {
        cwd: dir,
        env: { ...process.env, KIT_RESOLUTIONS: resolutionsFile },
        timeout: 900_000,
      })
      report = await readFile(reportFile, 'utf8').then(
        (text) => JSON.parse(text) as VitestReport,
        () => undefined,
      )
      assert(report !== undefined, `vitest wrote no report (exit ${ran.code})\n${tail(ran.stdout + ran.stderr)}`)
      assert(report.numTotalTests > 0, `vitest ran no tests (exit ${ran.code})\n${tail(ran.stdout + ran.stderr)}`)
      // Failures are the rows below; a non-zero exit without any is vitest's own failure.
      const failedTests = report.testResults.some((r) => r.status !== 'passed')
      assert(ran.code === 0 || failedTests, `vitest exited ${ran.code}\n${tail(ran.stdout + ran.stderr)}`)
      return `${report.numTotalTests} tests in ${report.testResults.length} files`
    },
    true,
  )
  if (report === undefined) return

  await check(`middleware matrix: tokenx-handler-kit resolved to the installed tarball's build/ ${label}`, async () => {
    const resolved = [...new Set((await readFile(resolutionsFile, 'utf8').catch(() => '')).split('\n').filter(Boolean))]
    assert(resolved.length > 0, 'the matrix never imported tokenx-handler-kit')
    const expected = join(dir, 'node_modules/tokenx-handler-kit/build/index.js')
    const other = resolved.filter((id) => id !== expected)
    assert(other.length === 0, `it resolved to ${other.join(', ')}`)
    return relative(dir, expected)
  })

  for (const file of testFiles) {
    await check(`middleware matrix: test/middy-stack/${file} against the tarball ${label}`, async () => {
      const result = report!.testResults.find((r) => r.name === join(dir, 'test/middy-stack', file))
      assert(result !== undefined, 'vitest did not run it')
      const tests = result.assertionResults
      const passedTests = tests.filter((t) => t.status === 'passed').length
      const failedTests = tests.filter((t) => t.status === 'failed')
      const counts = `${passedTests} passed, ${failedTests.length} failed${tests.length > passedTests + failedTests.length ? `, ${tests.length - passedTests - failedTests.length} skipped` : ''}`
      const firstFailure = failedTests[0]?.failureMessages[0] ?? result.message ?? ''
      assert(
        failedTests.length === 0 && result.status === 'passed' && passedTests > 0,
        `${counts}: ${failedTests
          .slice(0, 5)
          .map((t) => t.fullName)
          .join('; ')}\n${tail(firstFailure, 15)}`,
      )
      return counts
    })
  }
}

/**
 * `tsc -p <project>` in the consumer: no error may be in the consumer's code or in the kit's
 * declarations. With skipLibCheck off, tsc also checks every other package's declarations, and
 * middy 7's have errors of their own under these flags (they import its optional peer
 * `@aws/durable-execution-sdk-js`, whose declarations fail `exactOptionalPropertyTypes`): those are
 * counted and named, not the kit's to fix.
 */
async function typecheck(dir: string, project: string): Promise<string> {
  const ran = await run(bin('tsc'), ['-p', project, '--pretty', 'false'], { cwd: dir })
  if (ran.code === 0) return 'no errors'
  const errors = [...ran.stdout.matchAll(/^(\S[^(\n]*)\(\d+,\d+\): error (TS\d+): .*$/gm)]
  assert(errors.length > 0, `tsc exited ${ran.code}\n${tail(ran.stdout + ran.stderr)}`)
  const ours = errors.filter(([, file]) => !file!.startsWith('node_modules/') || file!.startsWith('node_modules/tokenx-handler-kit/'))
  assert(ours.length === 0, `${ours.length} errors in the consumer or the kit:\n${tail(ours.map(([line]) => line).join('\n'))}`)
  const packages = new Set(errors.map(([, file]) => /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file!)?.[1]))
  return `none in the consumer or the kit (${errors.length} in third-party declarations: ${[...packages].join(', ')})`
}

/** A citizen's pid: eleven digits, a new one each call. */
function randomPid(): string {
  return String(10_000_000_000 + Math.floor(Math.random() * 89_999_999_999))
}

/** PATH alone, and a home in `dir`: never a developer's real AWS configuration, only a stack's dummy credentials. */
function isolatedEnv(dir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: dir,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  }
}

/**
 * One citizen call's set-up: a fresh pid, its ID-porten token, and the function's environment for the
 * stack's downstream, with the app's key inline or in Secrets Manager.
 */
async function citizenCall(
  stack: Stack,
  cwd: string,
  keySource: KeySource,
): Promise<{ pid: string; citizenToken: string; env: NodeJS.ProcessEnv }> {
  const pid = randomPid()
  const citizenToken = await stack.idporten.mint({ pid })
  const env: NodeJS.ProcessEnv = {
    ...isolatedEnv(cwd),
    ...stack.functionEnv,
    ORDERS_URL: `${stack.downstream.url}/resource`,
    ORDERS_AUDIENCE: stack.downstream.audience,
    CITIZEN_TOKEN: citizenToken,
  }
  if (keySource === 'inline key') {
    delete env['TOKEN_X_PRIVATE_JWK_SECRET_ID']
    env['TOKEN_X_PRIVATE_JWK'] = JSON.stringify(stack.appKey().privateJwk)
  }
  return { pid, citizenToken, env }
}

/** The handler's result: invoke.mjs prints it as the last line of stdout (log lines come before it). */
function handlerResult(stdout: string): { statusCode?: number; body?: string } | null {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as { statusCode?: number; body?: string } | null
}

/** One cold start of a handler module under plain `node`, one citizen call; asserts what happened. */
async function invoke(stack: Stack, cwd: string, file: string, keySource: KeySource, build: Build): Promise<string> {
  const { pid, citizenToken, env } = await citizenCall(stack, cwd, keySource)
  const secretReads = stack.secretsManager.stats.getSecretValue
  const exchanges = stack.tokenx.stats.exchanges
  const ran = await run(process.execPath, [join(fixture, 'invoke.mjs'), file], { cwd, env, timeout: 30_000 })
  const output = `${ran.stdout}${ran.stderr}`
  for (const secret of [citizenToken, String(stack.appKey().privateJwk.d)])
    assert(!output.includes(secret), 'a token or key appears in the output')
  assert(ran.code === 0, `node exited ${ran.code}\n${tail(output)}`)
  const result = handlerResult(ran.stdout)

  const readSecret = stack.secretsManager.stats.getSecretValue - secretReads
  if (keySource === 'Secrets Manager key' && build.secretsManager === 'names its cause' && result?.statusCode === 500) {
    // The documented failure of a plain ESM bundle: the log line must say why, not only that.
    // (The kit logs JSON lines on stdout, as Powertools does; the result is the last stdout line.)
    assert(/could not be created \(\w*Error: .+\)/.test(output), `answered 500 without naming the cause:\n${tail(output)}`)
    return `fails as documented, log: ${/could not be created \([^)]*\)/.exec(output)?.[0]}`
  }
  assert(result?.statusCode === 200, `answered ${JSON.stringify(result)}\n${tail(output)}`)
  const body = JSON.parse(String(result.body)) as { pid?: unknown; aud?: unknown }
  assert(body.pid === pid, "the downstream did not see the citizen's identity")
  assert(body.aud === stack.downstream.audience, `the downstream saw aud ${String(body.aud)}`)
  assert(stack.tokenx.stats.exchanges - exchanges === 1, `${stack.tokenx.stats.exchanges - exchanges} exchanges at TokenX, expected 1`)
  assert(readSecret === (keySource === 'Secrets Manager key' ? 1 : 0), `${readSecret} Secrets Manager reads`)
  return '200 from the downstream'
}

/**
 * A function that needs no AWS SDK client (inline key, no shared cache table) under every build:
 * with `@aws-sdk/*` made unreachable (no-aws-sdk.mjs, an import and require hook), it loads,
 * exchanges and answers, and never asks for the SDK. Unbundled (`countKitModules`), the kit's own
 * modules it loaded (the hook counts them) stay within KIT_MODULES_MAX. With the SDK external, an import of it hoisted
 * to the bundle's top would fail the load here (and cost every cold start the SDK's import on Lambda).
 * With the key in Secrets Manager and no table, it asks for the Secrets Manager client only (where
 * the SDK is resolved at run time: unbundled, or external; a bundle carries its own).
 */
async function invokeWithoutSdk(stack: Stack, cwd: string, file: string, keySource: KeySource, countKitModules = false): Promise<string> {
  const { pid, citizenToken, env } = await citizenCall(stack, cwd, keySource)
  for (const name of ['TOKEN_X_CACHE_TABLE', 'AWS_ENDPOINT_URL_DYNAMODB']) delete env[name]
  const allowed = keySource === 'Secrets Manager key' ? ['@aws-sdk/client-secrets-manager'] : []
  env['NO_AWS_SDK_ALLOW'] = allowed.join(',')
  const exchanges = stack.tokenx.stats.exchanges
  const secretReads = stack.secretsManager.stats.getSecretValue
  const ran = await run(
    process.execPath,
    ['--import', pathToFileURL(join(fixture, 'no-aws-sdk.mjs')).href, join(fixture, 'invoke.mjs'), file],
    { cwd, env, timeout: 30_000 },
  )
  const output = `${ran.stdout}${ran.stderr}`
  for (const secret of [citizenToken, String(stack.appKey().privateJwk.d)])
    assert(!output.includes(secret), 'a token or key appears in the output')
  const requested = [...new Set([...ran.stderr.matchAll(/^AWS SDK requested: (\S+)$/gm)].map(([, specifier]) => specifier!))]
  const unexpected = requested.filter((specifier) => !allowed.includes(specifier))
  assert(
    unexpected.length === 0,
    `it asked for ${unexpected.join(', ')}${ran.code === 0 ? '' : ` and failed (exit ${ran.code})`}\n${tail(output)}`,
  )
  assert(ran.code === 0, `node exited ${ran.code}\n${tail(output)}`)
  const result = handlerResult(ran.stdout)
  assert(result?.statusCode === 200, `answered ${JSON.stringify(result)}\n${tail(output)}`)
  assert((JSON.parse(String(result.body)) as { pid?: unknown }).pid === pid, "the downstream did not see the citizen's identity")
  assert(stack.tokenx.stats.exchanges - exchanges === 1, `${stack.tokenx.stats.exchanges - exchanges} exchanges at TokenX, expected 1`)
  const readSecret = stack.secretsManager.stats.getSecretValue - secretReads
  assert(readSecret === (keySource === 'Secrets Manager key' ? 1 : 0), `${readSecret} Secrets Manager reads`)
  const sdk = requested.length === 0 ? 'no @aws-sdk/* import' : `imported ${requested.join(', ')}`
  if (!countKitModules) return `200 from the downstream, ${sdk}`
  const kitModules = Number(/^kit modules loaded: (\d+)$/m.exec(ran.stderr)?.[1])
  assert(kitModules > 0, `no count of the kit's modules from no-aws-sdk.mjs\n${tail(output)}`)
  assert(kitModules <= KIT_MODULES_MAX, `it loaded ${kitModules} of the kit's own modules, at most ${KIT_MODULES_MAX} expected`)
  return `200 from the downstream, ${sdk}, ${kitModules} kit modules loaded`
}

/**
 * The kit's AWS SDK peer range, at its floor: installed on its own, as the Lambda runtime provides
 * the SDK to a bundle built with `--external:@aws-sdk/*` (the bundle beside that node_modules, the
 * consumer's own SDK out of reach). The key from Secrets Manager and the shared cache's table must
 * both work: one secret read, one item written.
 */
async function oldestSdk(stack: Stack, bundle: string, build: Build): Promise<string> {
  const peers = repoPackage.peerDependencies
  const floors = ['@aws-sdk/client-secrets-manager', '@aws-sdk/client-dynamodb'].map(
    (name) => /^\^(3\.\d+\.\d+)$/.exec(String(peers[name]))?.[1],
  )
  assert(floors[0] !== undefined && floors[0] === floors[1], `the SDK peer ranges are not one ^3.x.y: ${JSON.stringify(peers)}`)
  const floor = floors[0]
  const runtime = join(work, 'runtime-sdk')
  await mkdir(runtime)
  await writeFile(
    join(runtime, 'package.json'),
    JSON.stringify({
      private: true,
      type: 'module',
      dependencies: { '@aws-sdk/client-secrets-manager': floor, '@aws-sdk/client-dynamodb': floor },
    }),
  )
  await mustRun('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: runtime })
  for (const name of ['client-secrets-manager', 'client-dynamodb']) {
    const { version } = JSON.parse(await readFile(join(runtime, 'node_modules/@aws-sdk', name, 'package.json'), 'utf8')) as {
      version: string
    }
    assert(version === floor, `@aws-sdk/${name} ${version} installed, expected ${floor}`)
  }
  const file = join(runtime, 'handler.mjs')
  await cp(bundle, file)
  const table = stack.functionEnv['TOKEN_X_CACHE_TABLE']
  assert(table !== undefined && table !== '' && stack.dynamodb !== undefined, 'the local stack has no shared cache table')
  const dynamodb = new DynamoDBClient({
    endpoint: stack.dynamodb.url,
    region: stack.functionEnv['AWS_REGION'],
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  })
  const items = async () => (await dynamodb.send(new ScanCommand({ TableName: table, Select: 'COUNT' }))).Count ?? 0
  try {
    const before = await items()
    const answered = await invoke(stack, runtime, file, 'Secrets Manager key', build)
    const written = (await items()) - before
    assert(written === 1, `${written} items written to the table, expected 1`)
    return `${answered}, @aws-sdk ${floor}, 1 item written`
  } finally {
    dynamodb.destroy()
  }
}

/**
 * `tokenx-local` as a consumer runs it: the bin npm linked into node_modules/.bin, a config file in
 * the project, `env --json` for each function's environment and `token` for the tokens. The
 * two-downstream handler (as the frontend) and the chained handler (as orders, called with the
 * TokenX token the frontend would send it) run under plain `node` (invoke.mjs).
 */
async function localStackRun(dir: string): Promise<string> {
  const [frontend, orders, profile, ledger] = ['local:team:frontend', 'local:team:orders', 'local:team:profile', 'local:team:ledger']
  await writeFile(
    join(dir, 'tokenx-local.json'),
    JSON.stringify({
      tokenx: { port: 0 },
      idporten: { port: 0 },
      clients: { [frontend!]: { audiences: [profile, ledger, orders] }, [orders!]: { audiences: [ledger] } },
      downstreams: { [profile!]: { port: 0 }, [ledger!]: { port: 0 } },
    }),
  )
  const command = join(dir, 'node_modules/.bin/tokenx-local')
  const baseEnv = isolatedEnv(dir)
  const started = spawn(command, ['start'], { cwd: dir, env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let printed = ''
  // A command that cannot be run (no bin linked) is an 'error' event, never an 'exit'.
  const exited = new Promise<number | null>((resolve) => {
    started.once('exit', (code) => resolve(code))
    started.once('error', (error) => {
      printed += `${error.message}\n`
      resolve(null)
    })
  })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tokenx-local start did not get ready in 30 s:\n${tail(printed)}`)), 30_000)
      const seen = (chunk: Buffer): void => {
        printed += chunk.toString('utf8')
        if (printed.includes('tokenx-local: ready')) {
          clearTimeout(timer)
          resolve()
        }
      }
      started.stdout.on('data', seen)
      started.stderr.on('data', seen)
      void exited.then((code) => reject(new Error(`tokenx-local start exited ${code}:\n${tail(printed)}`)))
    })
    const cli = async (args: readonly string[]): Promise<string> => (await mustRun(command, args, { cwd: dir, env: baseEnv })).stdout.trim()
    const envOf = async (client: string) => JSON.parse(await cli(['env', '--client', client, '--json'])) as Record<string, string>
    const pid = randomPid()
    const secrets: string[] = []
    const invokeAs = async (env: Record<string, string>, file: string, token: string) => {
      secrets.push(token, String((JSON.parse(String(env['TOKEN_X_PRIVATE_JWK'])) as { d?: string }).d))
      const ran = await run(process.execPath, [join(fixture, 'invoke.mjs'), join(dir, 'out/tsc', file)], {
        cwd: dir,
        env: { ...baseEnv, ...env, CITIZEN_TOKEN: token },
        timeout: 30_000,
      })
      const output = `${ran.stdout}${ran.stderr}`
      assert(!secrets.some((secret) => output.includes(secret)), 'a token or key appears in the output')
      assert(ran.code === 0, `node exited ${ran.code}\n${tail(output)}`)
      const result = handlerResult(ran.stdout)
      assert(result?.statusCode === 200, `${file} answered ${JSON.stringify(result)}\n${tail(output)}`)
      return JSON.parse(String(result.body)) as Record<string, unknown>
    }

    const two = await invokeAs(await envOf(frontend!), 'two-downstreams.js', await cli(['token', '--pid', pid]))
    const seenBy = (body: unknown) => body as { pid?: unknown; client_id?: unknown; aud?: unknown; path?: unknown; idp?: unknown }
    assert(
      seenBy(two['profile']).aud === profile && seenBy(two['profile']).client_id === frontend && seenBy(two['profile']).pid === pid,
      `profile saw ${JSON.stringify(two['profile'])}`,
    )
    assert(
      seenBy(two['ledger']).aud === ledger && seenBy(two['ledger']).client_id === frontend && seenBy(two['ledger']).pid === pid,
      `ledger saw ${JSON.stringify(two['ledger'])}`,
    )

    const forOrders = await cli(['token', '--pid', pid, '--client', frontend!, '--aud', orders!])
    const chained = seenBy(await invokeAs(await envOf(orders!), 'chained.js', forOrders))
    assert(
      chained.aud === ledger && chained.client_id === orders && chained.pid === pid && chained.path === '/entries',
      `the ledger saw ${JSON.stringify(chained)}`,
    )
    return `profile and ledger each got their own token; orders re-exchanged the frontend's token for the ledger (idp ${String(chained.idp)})`
  } finally {
    started.kill('SIGTERM')
    await exited
    assert(
      !(await stat(join(dir, '.tokenx-local/running.json')).then(
        () => true,
        () => false,
      )),
      'tokenx-local left its running.json behind',
    )
  }
}
