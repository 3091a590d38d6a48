/**
 * Import time of a plain `tokenX()` handler (examples/middy.ts: inline key, no table) under each
 * build docs/bundling.md shows, against a floor built the same way: a middy handler that imports
 * jose and the Node built-ins the kit imports at init, and uses them. What the function does not
 * use (the AWS SDK clients) must cost its cold start nothing, so the kit's import may exceed the
 * floor's only by the kit's own code.
 *
 * Each bundle is imported in fresh Node processes (`await import()` timed inside the process),
 * kit and floor interleaved, the order alternating per round. Budget per recipe: median kit ÷
 * median floor ≤ 1.25 (bench/run.ts). The SDK bundled without code splitting is measured too, without a
 * budget: the SDK is then in the entry file, and parsing it costs every cold start (the docs say to
 * split or keep the SDK external). So is the README's handler with the modules of the kit's optional
 * features (shared cache, inbound validation, discovery, metrics, tracing) stubbed out: how far
 * leaving each of them out of the bundle until a function imports it could bring the ratio.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build, transform, type BuildOptions, type Plugin } from 'esbuild'
import { buildLib } from '../scripts/build-lib.ts'
import { progress, report, spread, type Spread } from './support.ts'

export interface RecipeImport {
  readonly name: string
  /** Whether the ratio is budgeted (a recipe the docs recommend). */
  readonly budgeted: boolean
  /** Bytes of the file imported (the entry; chunks it does not import at load are not counted). */
  readonly kitEntryBytes: number
  readonly floorEntryBytes: number
  /** ms of `await import(entry)` in a fresh process. */
  readonly kitMs: Spread
  readonly floorMs: Spread
  /** median kit ÷ median floor. */
  readonly ratio: number
}

export interface RecipesResult {
  readonly runs: number
  readonly recipes: RecipeImport[]
}

const RUNS = Number(process.env['BENCH_RECIPES_RUNS'] ?? 31)
const root = fileURLToPath(new URL('..', import.meta.url))

/** The floor: middy, jose's functions the kit imports, the Node built-ins it imports at init. */
const FLOOR = [
  "import middy from '@middy/core'",
  "import { createRemoteJWKSet, customFetch, decodeJwt, errors, jwksCache } from 'jose'",
  "import crypto from 'node:crypto'",
  "import diagnostics from 'node:diagnostics_channel'",
  "import net from 'node:net'",
  "import tls from 'node:tls'",
  '',
  'const used = [createRemoteJWKSet, customFetch, decodeJwt, errors, jwksCache, crypto, diagnostics, net, tls]',
  'export const handler = middy().handler(async () => ({ statusCode: 200, body: used.map((m) => typeof m).join() }))',
  '',
].join('\n')

const COMMON: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  logLevel: 'warning',
  outExtension: { '.js': '.mjs' },
}

/**
 * The modules of the features a configuration turns on (the shared cache, inbound validation,
 * discovery, metrics, tracing), which the README's handler (inline key, no table) does not use.
 */
const OPTIONAL_FEATURES = [
  'cache/shared',
  'cache/seal',
  'inbound/validator',
  'inbound/jwks',
  'inbound/verify',
  'inbound/config',
  'exchange/discovery',
  'observe/metrics',
  'observe/tracing',
].map((name) => `${path.sep}lib${path.sep}${name.replaceAll('/', path.sep)}.ts`)

/**
 * Replaces each module of OPTIONAL_FEATURES with one that exports the same names, each bound to a
 * Proxy that can be called and constructed and has every property (itself again). The handler still
 * imports and builds its middleware, but no code of those features is in the bundle: what the kit's
 * import would cost if each feature were in the bundle only when a function imports it. A lower
 * bound, not a working function.
 */
const withoutOptionalFeatures: Plugin = {
  name: 'without-optional-features',
  setup(builder) {
    builder.onLoad({ filter: /[\\/]lib[\\/].*\.ts$/ }, async (args) => {
      if (!OPTIONAL_FEATURES.some((suffix) => args.path.endsWith(suffix))) return undefined
      const source = await readFile(args.path, 'utf8')
      const names = new Set([...source.matchAll(/^export (?:async )?(?:function\*?|const|let|class) (\w+)/gm)].map((match) => match[1]))
      const stub = [
        'const stub = new Proxy(function () {}, {',
        "  get: (_, key) => (key === 'then' || typeof key === 'symbol' ? undefined : stub),",
        '  apply: () => stub,',
        '  construct: () => stub,',
        '})',
        ...[...names].map((name) => `export const ${name} = stub`),
      ].join('\n')
      return { contents: stub, loader: 'js' }
    })
  },
}

interface Recipe {
  readonly name: string
  readonly budgeted: boolean
  /** esbuild options over COMMON; undefined: no bundler (the package's build/ with node_modules). */
  readonly options: BuildOptions | undefined
}

const RECIPES: readonly Recipe[] = [
  { name: 'esbuild, SDK external (--external:@aws-sdk/*), no splitting', budgeted: true, options: { external: ['@aws-sdk/*'] } },
  {
    name: 'esbuild, SDK bundled, --splitting, main fields module first',
    budgeted: true,
    options: { splitting: true, mainFields: ['module', 'main'] },
  },
  { name: 'no bundler (build/ and node_modules)', budgeted: true, options: undefined },
  {
    name: 'esbuild, SDK bundled, no splitting, main fields module first (no budget)',
    budgeted: false,
    options: { mainFields: ['module', 'main'] },
  },
  {
    name: "esbuild, SDK external, no splitting, the kit's optional features stubbed out (no budget: a lower bound)",
    budgeted: false,
    options: { external: ['@aws-sdk/*'], plugins: [withoutOptionalFeatures] },
  },
]

function importMs(file: string): Promise<number> {
  const probe =
    'const start = performance.now(); await import(process.env.BENCH_BUNDLE_URL); process.stdout.write(String(performance.now() - start))'
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', probe], {
      cwd: path.dirname(file),
      env: { PATH: process.env['PATH'], NODE_ENV: 'production', BENCH_BUNDLE_URL: pathToFileURL(file).href },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve(Number(stdout)) : reject(new Error(`importing ${file} exited with ${code}`))))
  })
}

// The temporary folder sees the repository's node_modules (the SDK for the external recipe, middy
// and jose for the unbundled ones), as a deployed function sees its own.
const temp = await mkdtemp(path.join(tmpdir(), 'tokenx-bench-recipes-'))
let result: RecipesResult
try {
  await symlink(path.join(root, 'node_modules'), path.join(temp, 'node_modules'), 'dir')
  const floorSource = path.join(temp, 'floor.ts')
  await writeFile(floorSource, FLOOR)

  // No bundler: the kit as the package ships it (lib/ bundled per export entry, as `npm run build:lib`
  // does), the example as JavaScript importing it, the floor as JavaScript.
  progress('recipes: building lib/ as the package ships it, for the unbundled recipe')
  await buildLib(path.join(temp, 'kit'))
  const example = await readFile(path.join(root, 'examples/middy.ts'), 'utf8')
  const unbundled = path.join(temp, 'unbundled')
  await build({
    entryPoints: [floorSource],
    outdir: unbundled,
    bundle: false,
    format: 'esm',
    platform: 'node',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  })
  const exampleJs = (await transform(example, { loader: 'ts', format: 'esm' })).code
    .replace("from 'tokenx-handler-kit'", "from '../kit/index.js'")
    .replace('from "tokenx-handler-kit"', 'from "../kit/index.js"')
  await writeFile(path.join(unbundled, 'middy.mjs'), exampleJs)

  const targets: Array<{ recipe: Recipe; kit: string; floor: string }> = []
  for (const [i, recipe] of RECIPES.entries()) {
    if (recipe.options === undefined) {
      targets.push({ recipe, kit: path.join(unbundled, 'middy.mjs'), floor: path.join(unbundled, 'floor.mjs') })
      continue
    }
    const outdir = path.join(temp, `recipe-${i}`)
    // The example imports the kit by its package name: in this repository that resolves to lib/
    // through the source condition (the same code as the package's build/).
    await build({
      ...COMMON,
      ...recipe.options,
      entryPoints: [path.join(root, 'examples/middy.ts')],
      outdir: path.join(outdir, 'kit'),
      absWorkingDir: root,
      conditions: ['tokenx-kit-source'],
    })
    await build({ ...COMMON, ...recipe.options, entryPoints: [floorSource], outdir: path.join(outdir, 'floor'), absWorkingDir: temp })
    targets.push({ recipe, kit: path.join(outdir, 'kit', 'middy.mjs'), floor: path.join(outdir, 'floor', 'floor.mjs') })
  }

  progress(`recipes: importing ${targets.length} kit bundles and their floors, ${RUNS} fresh processes each, interleaved`)
  const samples = targets.map(() => ({ kit: [] as number[], floor: [] as number[] }))
  for (let run = 0; run < RUNS; run++) {
    for (const [i, target] of targets.entries()) {
      const sample = samples[i] as { kit: number[]; floor: number[] }
      if (run % 2 === 0) {
        sample.kit.push(await importMs(target.kit))
        sample.floor.push(await importMs(target.floor))
      } else {
        sample.floor.push(await importMs(target.floor))
        sample.kit.push(await importMs(target.kit))
      }
    }
  }
  const recipes: RecipeImport[] = []
  for (const [i, target] of targets.entries()) {
    const sample = samples[i] as { kit: number[]; floor: number[] }
    const kitMs = spread(sample.kit)
    const floorMs = spread(sample.floor)
    recipes.push({
      name: target.recipe.name,
      budgeted: target.recipe.budgeted,
      kitEntryBytes: (await stat(target.kit)).size,
      floorEntryBytes: (await stat(target.floor)).size,
      kitMs,
      floorMs,
      ratio: kitMs.median / floorMs.median,
    })
  }
  result = { runs: RUNS, recipes }
} finally {
  // BENCH_RECIPES_KEEP=1 keeps the bundles, to look at what each recipe made.
  if (process.env['BENCH_RECIPES_KEEP'] === undefined) await rm(temp, { recursive: true, force: true })
  else progress(`kept ${temp}`)
}
report(result)
