// Builds each function in functions/ to its own bundle: dist/<name>/index.mjs (+ lazily loaded
// chunks), ESM for the Node 22/24 Lambda runtimes, AWS SDK bundled (the runtime's copy is not
// pinned), external source maps, and a metafile per function checked against a size budget.
import { build } from 'esbuild'
import { readdir, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const functionsDir = path.join(root, 'functions')
const outRoot = path.join(root, 'dist')

/**
 * Bytes of minified JavaScript a function may ship in all (entry, static imports and lazy chunks: on
 * Lambda the Secrets Manager chunk is loaded by the first invocation, so it counts).
 */
export const budgets = { default: 400 * 1024 }

// ESM bundles have no `require`; some CommonJS dependencies inside the AWS SDK call it for node
// built-ins. This banner gives them one, bound to the bundle's own URL.
const banner = [
  "import { createRequire as __kitCreateRequire } from 'node:module';",
  'const require = __kitCreateRequire(import.meta.url);',
].join('\n')

export async function functionNames() {
  const entries = await readdir(functionsDir, { withFileTypes: true })
  return entries.filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => e.name.slice(0, -3)).sort()
}

/** Builds one function into `<into>/<name>/`; `into` defaults to dist/ (tests build elsewhere). */
export async function buildFunction(name, { minify = true, into = outRoot } = {}) {
  const outdir = path.join(into, name)
  await rm(outdir, { recursive: true, force: true })
  const result = await build({
    entryPoints: { index: path.join(functionsDir, `${name}.ts`) },
    outdir,
    absWorkingDir: root,
    bundle: true,
    // Splitting puts dynamic imports (the Secrets Manager client) in their own chunk, so a function
    // configured with an inline key never parses the SDK.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
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
    banner: { js: banner },
    logLevel: 'warning',
  })
  await writeFile(path.join(outdir, 'meta.json'), JSON.stringify(result.metafile))
  return { name, outdir, ...(await bundleSizes(result.metafile)) }
}

/**
 * Bytes of a function's bundle from its metafile: initial, the entry and what it imports statically;
 * lazy, the chunks behind dynamic imports. (bench/ reports the same figures from dist/<name>/meta.json.)
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
  for (const file of Object.keys(outputs)) {
    if (!file.endsWith('.mjs')) continue
    const { size } = await stat(path.resolve(root, file))
    if (initial.has(file)) initialBytes += size
    else lazyBytes += size
  }
  return { entry, initialBytes, lazyBytes }
}

async function main() {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : await functionNames()
  let failed = false
  for (const name of names) {
    const built = await buildFunction(name)
    const budget = budgets[name] ?? budgets.default
    const over = built.initialBytes + built.lazyBytes > budget
    failed ||= over
    console.log(
      `${built.entry}: ${((built.initialBytes + built.lazyBytes) / 1024).toFixed(1)} KiB (budget ${budget / 1024} KiB): ` +
        `${(built.initialBytes / 1024).toFixed(1)} KiB at init, ${(built.lazyBytes / 1024).toFixed(1)} KiB lazy${over ? '  OVER BUDGET' : ''}`,
    )
  }
  if (failed) process.exit(1)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main()
