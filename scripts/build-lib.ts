/**
 * The published package's JavaScript: lib/ bundled by esbuild into one ES module per export entry
 * (build/index.js, build/observe.js, …, the files package.json `exports` name) and the chunks they
 * share (build/chunks/). `npm run build:lib` runs it, then tsc for the declarations (tsconfig.build.json,
 * emitDeclarationOnly) and the `tokenx-local` command.
 *
 *   node scripts/build-lib.ts [--outdir <dir>]      (default build/)
 *
 * Why bundled: a function that deploys node_modules without a bundler of its own loads the package as
 * it is, and each file is a resolve, a read and a link at every cold start; lib/ is about 60 modules.
 * Why split: the entries share most of their code, and a module's state (the error classes that
 * `instanceof` checks, caches, the keep-alive agents) must be one instance whichever entries a
 * function imports. esbuild puts every module in exactly one output file, so shared modules live in
 * a chunk all the entries import.
 * Why every package external: jose, @middy/core and the AWS SDK clients resolve from the consumer's
 * node_modules (one copy, the consumer's version); the SDK clients stay behind the literal `import()`s
 * in lib/exchange/key.ts and lib/cache/shared.ts, so a function that needs neither never loads them.
 * Not minified: a library's stack traces and debugger views keep their names; linked source maps
 * point at the TypeScript sources the package ships (package.json `files` has lib/**\/*.ts).
 */
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build, type BuildOptions, type Metafile } from 'esbuild'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { nodeEsmBundle as sharedOptions } from '../esbuild.config.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
/** What the functions' bundles and this one share (bundled, split, ES modules for Node 22). */
const nodeEsmBundle: BuildOptions = sharedOptions

/** Where the shared chunks go, relative to the output folder. */
export const CHUNK_DIR = 'chunks'

interface ExportEntry {
  readonly 'tokenx-kit-source': string
  readonly import: string
}

/**
 * The export entries from package.json: output name (`build/<name>.js`, without the extension) →
 * the TypeScript source its `tokenx-kit-source` condition names. Read from `exports`, so a new
 * subpath is built without a second list to keep in step.
 */
export async function libEntryPoints(): Promise<Record<string, string>> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, ExportEntry | string> }
  const entries: Record<string, string> = {}
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue
    const output = /^\.\/build\/(.+)\.js$/.exec(target.import)?.[1]
    if (output === undefined) throw new Error(`package.json exports["${subpath}"].import is not ./build/<name>.js: ${target.import}`)
    entries[output] = path.join(root, target['tokenx-kit-source'])
  }
  return entries
}

/** Bundles lib/ into `outdir` (emptied first); returns esbuild's metafile (paths relative to the repository). */
export async function buildLib(outdir: string = path.join(root, 'build')): Promise<Metafile> {
  await rm(outdir, { recursive: true, force: true })
  const result = await build({
    entryPoints: await libEntryPoints(),
    outdir,
    absWorkingDir: root,
    ...nodeEsmBundle,
    packages: 'external',
    // The sources sit beside build/ in the package; the maps name them and need not carry them.
    sourcemap: 'linked',
    sourcesContent: false,
    chunkNames: `${CHUNK_DIR}/[name]-[hash]`,
    minify: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
  })
  return result.metafile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' } } })
  await buildLib(values.outdir === undefined ? undefined : path.resolve(values.outdir))
}
