// Builds each function in functions/ to its own bundle: dist/<name>/index.mjs (+ lazily loaded
// chunks), ESM for the Node 22/24 Lambda runtimes, AWS SDK bundled (the runtime's copy is not
// pinned), external source maps, and a metafile per function checked against a size budget.
import { build } from 'esbuild'
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const functionsDir = path.join(root, 'functions')
const outRoot = path.join(root, 'dist')

/**
 * Size budgets, in bytes of minified JavaScript. A function ships an initial bundle and optional
 * features behind dynamic imports — the Secrets Manager key loader, the DynamoDB shared cache — and
 * which of them load depends on its configuration (on Lambda a configured feature loads with the
 * first invocation, so it counts).
 * - `budgets`: per feature, the initial bundle plus everything that one feature can load (its chunks,
 *   those it shares with other features, and the AWS SDK's own lazy chunks): what a function with
 *   that feature on may parse. A function without lazy features is held to it as a whole.
 * - `totalBudgets`: every chunk of the function, all features on: what it ships. Both SDK clients
 *   share the SDK core chunks, so two features cost far less than twice one.
 */
export const budgets = {
  default: 416 * 1024,
  // The API-side example never loads a key or the shared cache, but its bundle still carries the kit's
  // lazy SDK chunks (never imported on its path), which the feature split does not see: judged by the total.
  'api-resource': 512 * 1024,
}
export const totalBudgets = { default: 512 * 1024 }

/**
 * The esbuild options every bundle of this repository shares, the functions here and the package's
 * lib/ (scripts/build-lib.ts): ES modules for Node, bundled and split. Splitting puts dynamic imports
 * (the Secrets Manager client) in their own chunk, so code that never takes that path never parses
 * it, and gives modules that several entries import one file, so one instance. Target node22: the
 * oldest Lambda runtime the kit runs on (package.json engines: node >= 22).
 */
export const nodeEsmBundle = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
}

// ESM bundles have no `require`; some CommonJS dependencies inside the AWS SDK call it for node
// built-ins. This banner gives them one, bound to the bundle's own URL. It goes on only the files
// that name `require` (esbuild's require shim, or a dependency's own use; a mention in a string
// costs a banner for nothing): every other chunk would pay its ~120 bytes to define a `require`
// that nothing reads.
const banner = [
  "import { createRequire as __kitCreateRequire } from 'node:module';",
  'const require = __kitCreateRequire(import.meta.url);',
].join('\n')
const bannerLines = banner.split('\n').length

/**
 * Writes esbuild's output files, with the banner on each .mjs that names `require` (a free
 * identifier survives minification under its own name, so a file without the word has no use for
 * it); the source map of such a file starts `bannerLines` lines later.
 */
async function writeOutputs(outputFiles) {
  const bannered = new Set()
  for (const file of outputFiles) if (file.path.endsWith('.mjs') && /\brequire\b/.test(file.text)) bannered.add(file.path)
  for (const file of outputFiles) {
    let contents = file.contents
    if (bannered.has(file.path)) contents = `${banner}\n${file.text}`
    else if (file.path.endsWith('.map') && bannered.has(file.path.slice(0, -'.map'.length))) {
      const map = JSON.parse(file.text)
      map.mappings = ';'.repeat(bannerLines) + map.mappings
      contents = JSON.stringify(map)
    }
    await mkdir(path.dirname(file.path), { recursive: true })
    await writeFile(file.path, contents)
  }
}

/**
 * Each AWS SDK client imports its whole package.json (2–4 KiB minified: its dependencies, scripts,
 * exports map) only to read `.version` for the user agent, and esbuild keeps all of a default-imported
 * JSON object. When the importing module reads nothing but `.version` of it, this plugin serves that
 * package.json as `{ "version": … }`. Any other use (or an unrecognised shape) keeps the whole file.
 */
const sdkPackageVersion = {
  name: 'sdk-package-version',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^\.\.?\/.*package\.json$/ }, async ({ path: imported, importer, resolveDir }) => {
      if (!/[/\\]node_modules[/\\]@aws-sdk[/\\]/.test(importer)) return undefined
      const source = await readFile(importer, 'utf8')
      const escaped = imported.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      const binding = new RegExp(`^import (\\w+) from "${escaped}";$`, 'm').exec(source)?.[1]
      if (binding === undefined) return undefined
      const uses = source.match(new RegExp(`(?<![\\w$.])${binding}(?![\\w$])(\\.\\w+)?`, 'g')) ?? []
      // One use is the import itself; every other one must read `.version`.
      if (uses.filter((use) => use !== `${binding}.version`).length !== 1) return undefined
      // Relative to the repository, as esbuild names its other inputs (metafile, source maps).
      return { path: path.relative(root, path.join(resolveDir, imported)), namespace: 'sdk-package-version' }
    })
    esbuild.onLoad({ filter: /.*/, namespace: 'sdk-package-version' }, async ({ path: file }) => {
      const { version } = JSON.parse(await readFile(path.resolve(root, file), 'utf8'))
      return { contents: JSON.stringify({ version }), loader: 'json' }
    })
  },
}

/**
 * The kit imports each AWS SDK client with a literal `import()` at its use site (so that no build
 * loads it before it is needed), and esbuild keeps every export of a dynamically imported package:
 * all of a client's commands, paginators and waiters. When the kit's module destructures what it
 * takes (`const { A, B } = await import('@aws-sdk/client-x')`), this plugin serves that import as a
 * module re-exporting only those names, which esbuild tree-shakes as it would a static import. A
 * module whose imports of the client are not all of that form keeps the whole package.
 */
const sdkNarrowImport = {
  name: 'sdk-narrow-import',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^@aws-sdk\/client-[a-z0-9-]+$/ }, async ({ path: imported, importer, kind }) => {
      if (kind !== 'dynamic-import' || !importer.startsWith(path.join(root, 'lib') + path.sep)) return undefined
      const source = await readFile(importer, 'utf8')
      const escaped = imported.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      // Every import of the client in that module (a type query, `typeof import(…)`, loads nothing).
      const all = source.match(new RegExp(`(?<!typeof )import\\(['"]${escaped}['"]\\)`, 'g')) ?? []
      const destructured = [...source.matchAll(new RegExp(`const \\{([\\w\\s,]+)\\} = await import\\(['"]${escaped}['"]\\)`, 'g'))]
      if (destructured.length === 0 || destructured.length !== all.length) return undefined
      const names = [
        ...new Set(
          destructured.flatMap(([, list]) =>
            list
              .split(',')
              .map((name) => name.trim())
              .filter(Boolean),
          ),
        ),
      ].sort()
      return { path: imported, namespace: 'sdk-narrow-import', pluginData: { names } }
    })
    esbuild.onLoad({ filter: /.*/, namespace: 'sdk-narrow-import' }, ({ path: imported, pluginData }) => ({
      contents: `export { ${pluginData.names.join(', ')} } from '${imported}'\n`,
      resolveDir: root,
      loader: 'js',
    }))
  },
}

export async function functionNames() {
  const entries = await readdir(functionsDir, { withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => e.name.slice(0, -3))
    .sort()
}

/** Builds one function into `<into>/<name>/`; `into` defaults to dist/ (tests build elsewhere). */
export async function buildFunction(name, { minify = true, into = outRoot } = {}) {
  const outdir = path.join(into, name)
  await rm(outdir, { recursive: true, force: true })
  const result = await build({
    entryPoints: { index: path.join(functionsDir, `${name}.ts`) },
    outdir,
    absWorkingDir: root,
    ...nodeEsmBundle,
    // ES module builds first: the AWS SDK's dist-es tree-shakes to about half of its dist-cjs.
    mainFields: ['module', 'main'],
    // functions/ import the kit by its package name; in this repo that resolves (package.json's
    // self-reference) to the TypeScript source through this export condition.
    conditions: ['tokenx-kit-source', 'module'],
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    minify,
    sourcemap: 'external',
    metafile: true,
    legalComments: 'none',
    write: false,
    plugins: [sdkNarrowImport, sdkPackageVersion],
    logLevel: 'warning',
  })
  await writeOutputs(result.outputFiles)
  await writeFile(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile))
  return { name, outdir, ...(await bundleSizes(result.metafile)) }
}

/**
 * Bytes of a function's bundle from its metafile: initial, the entry and what it imports statically;
 * lazy, the chunks behind dynamic imports; features, for each dynamic import made by the initial
 * bundle, the initial bytes plus every chunk reachable from it. (bench/ reports the same figures
 * from dist/<name>/meta.json.)
 */
export async function bundleSizes(metafile) {
  const outputs = metafile.outputs
  const entry = Object.keys(outputs).find((file) => file.endsWith('index.mjs'))
  const initial = new Set()
  const visit = (file) => {
    if (initial.has(file)) return
    initial.add(file)
    for (const imported of outputs[file].imports) if (imported.kind === 'import-statement' && outputs[imported.path]) visit(imported.path)
  }
  visit(entry)
  let initialBytes = 0
  let lazyBytes = 0
  const sizes = new Map()
  for (const file of Object.keys(outputs)) {
    if (!file.endsWith('.mjs')) continue
    const { size } = await stat(path.resolve(root, file))
    sizes.set(file, size)
    if (initial.has(file)) initialBytes += size
    else lazyBytes += size
  }
  const roots = new Set()
  for (const file of initial) {
    for (const imported of outputs[file].imports)
      if (imported.kind === 'dynamic-import' && outputs[imported.path] && !initial.has(imported.path)) roots.add(imported.path)
  }
  const features = [...roots].map((feature) => {
    const reached = new Set()
    const reach = (file) => {
      if (reached.has(file) || initial.has(file)) return
      reached.add(file)
      for (const imported of outputs[file].imports) if (outputs[imported.path]) reach(imported.path)
    }
    reach(feature)
    let bytes = initialBytes
    for (const file of reached) bytes += sizes.get(file) ?? 0
    return { name: featureName(outputs[feature].entryPoint ?? feature), bytes }
  })
  return { entry, initialBytes, lazyBytes, features }
}

/** `@aws-sdk/client-secrets-manager` for a package (narrowed or whole), `x` for a module of ours. */
function featureName(entryPoint) {
  const inPackage = /(?:node_modules\/|^sdk-narrow-import:)((?:@[^/]+\/)?[^/]+)/.exec(entryPoint)
  return inPackage ? inPackage[1] : path.basename(entryPoint).replace(/\.[^.]+$/, '')
}

async function main() {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : await functionNames()
  let failed = false
  for (const name of names) {
    const built = await buildFunction(name)
    const budget = budgets[name] ?? budgets.default
    const totalBudget = totalBudgets[name] ?? totalBudgets.default
    const total = built.initialBytes + built.lazyBytes
    const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`
    const overTotal = total > totalBudget || (built.features.length === 0 && total > budget)
    failed ||= overTotal
    console.log(
      `${built.entry}: ${kib(total)} (budget ${totalBudget / 1024} KiB): ` +
        `${kib(built.initialBytes)} at init, ${kib(built.lazyBytes)} lazy${overTotal ? '  OVER BUDGET' : ''}`,
    )
    for (const feature of built.features) {
      const over = feature.bytes > budget
      failed ||= over
      console.log(`  with ${feature.name}: ${kib(feature.bytes)} (budget ${budget / 1024} KiB)${over ? '  OVER BUDGET' : ''}`)
    }
  }
  if (failed) process.exit(1)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
