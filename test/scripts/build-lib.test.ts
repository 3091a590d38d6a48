/**
 * scripts/build-lib.ts, the package's JavaScript as `npm run build:lib` writes it: one ES module per
 * export entry and shared chunks, each lib/ module in one file only, the AWS SDK clients behind their
 * `import()`s, few modules for a cold start to load, and source maps that lead to lib/. The built
 * files run in child processes (beside a link to the repository's node_modules, as a consumer's
 * node_modules sits beside the package). The installed tarball is checked by the consumer fixture.
 */
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Metafile } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildLib, CHUNK_DIR, libEntryPoints } from '../../scripts/build-lib.ts'
import { runScript } from '../helpers/run.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The kit's own modules a function loads when it imports the root entry: the entry and the chunks it
 * imports. Each is a resolve, a read and a link at every cold start of an unbundled function.
 */
const ROOT_ENTRY_MODULES_MAX = 10

let dir: string
let outdir: string
let metafile: Metafile
/** Output files relative to outdir. */
let files: string[]

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kit-build-lib-'))
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  outdir = path.join(dir, 'build')
  metafile = await buildLib(outdir)
  files = (await readdir(outdir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(outdir, path.join(entry.parentPath, entry.name)))
    .sort()
}, 60_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Runs `source` as an ES module in the build's folder; its stdout parsed as JSON. */
async function probe(name: string, source: string): Promise<unknown> {
  const file = path.join(dir, `${name}.mjs`)
  await writeFile(file, source)
  const ran = await runScript(file, [], { cwd: dir })
  expect(ran.stderr).toBe('')
  expect(ran.code).toBe(0)
  return JSON.parse(ran.stdout)
}

const url = (file: string): string => pathToFileURL(path.join(outdir, file)).href

describe('scripts/build-lib.ts', () => {
  it('writes one module per package.json export entry, named as its `import` condition, and the shared code in chunks, each with a linked source map', async () => {
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { import: string } | string>
    }
    const imports = Object.values(pkg.exports)
      .filter((target) => typeof target !== 'string')
      .map((target) => target.import.replace(/^\.\/build\//, ''))
    expect(Object.keys(await libEntryPoints()).map((name) => `${name}.js`)).toEqual(imports)

    const scripts = files.filter((file) => file.endsWith('.js'))
    const chunks = scripts.filter((file) => !imports.includes(file))
    expect(scripts.filter((file) => imports.includes(file)).sort()).toEqual([...imports].sort())
    expect(chunks.length).toBeGreaterThan(0)
    for (const chunk of chunks) expect(chunk).toMatch(new RegExp(`^${CHUNK_DIR}/chunk-\\w+\\.js$`))
    expect(files).toEqual(scripts.flatMap((file) => [file, `${file}.map`]).sort())
    for (const file of scripts) {
      const text = await readFile(path.join(outdir, file), 'utf8')
      expect(text.trimEnd().endsWith(`//# sourceMappingURL=${path.basename(file)}.map`), file).toBe(true)
    }
  })

  it('puts each lib/ module in exactly one file, so the entries share its classes and state', async () => {
    const homes = new Map<string, string[]>()
    for (const [output, { inputs }] of Object.entries(metafile.outputs))
      for (const input of Object.keys(inputs)) homes.set(input, [...(homes.get(input) ?? []), output])
    const twice = [...homes].filter(([, outputs]) => outputs.length > 1)
    expect(twice).toEqual([])
    expect(homes.has('lib/errors.ts')).toBe(true)

    // An error thrown by a subpath's function is an instance of the root entry's class.
    const identity = await probe(
      'identity',
      [
        `const root = await import(${JSON.stringify(url('index.js'))})`,
        `const config = await import(${JSON.stringify(url('config.js'))})`,
        `const entra = await import(${JSON.stringify(url('entra.js'))})`,
        `const maskinporten = await import(${JSON.stringify(url('maskinporten.js'))})`,
        'const thrown = (f) => { try { f() } catch (error) { return error } }',
        'console.log(JSON.stringify({',
        '  config: thrown(() => config.optionsFromEnv({})) instanceof root.ConfigError,',
        '  entra: thrown(() => entra.entraOptionsFromEnv({})) instanceof root.ConfigError,',
        '  maskinporten: thrown(() => maskinporten.maskinportenOptionsFromEnv({})) instanceof root.ConfigError,',
        '}))',
      ].join('\n'),
    )
    expect(identity).toEqual({ config: true, entra: true, maskinporten: true })
  })

  it('imports only node: modules, jose and @middy/core at the top of a file; the AWS SDK clients only through import()', async () => {
    const topLevel = new Set<string>()
    const dynamic = new Set<string>()
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const text = await readFile(path.join(outdir, file), 'utf8')
      for (const [, specifier] of text.matchAll(/^(?:import|export)\b[^;'"]*?(?:from\s*)?["']([^"']+)["']/gm)) topLevel.add(specifier!)
      for (const [, specifier] of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) dynamic.add(specifier!)
    }
    const packages = [...topLevel].filter((s) => !s.startsWith('./') && !s.startsWith('../') && !s.startsWith('node:'))
    expect(packages.filter((s) => s !== 'jose' && s !== '@middy/core')).toEqual([])
    expect([...dynamic].sort()).toEqual(['@aws-sdk/client-dynamodb', '@aws-sdk/client-secrets-manager'])
  })

  it(`loads at most ${ROOT_ENTRY_MODULES_MAX} of its own modules, and no AWS SDK, when a function imports the root entry`, async () => {
    const loaded = (await probe(
      'loaded',
      [
        "import { registerHooks } from 'node:module'",
        'const urls = []',
        'registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })',
        `await import(${JSON.stringify(url('index.js'))})`,
        'console.log(JSON.stringify(urls))',
      ].join('\n'),
    )) as string[]
    const own = loaded.filter((u) => u.startsWith(pathToFileURL(outdir).href))
    expect(own).toContain(url('index.js'))
    expect(own.length).toBeLessThanOrEqual(ROOT_ENTRY_MODULES_MAX)
    expect(loaded.filter((u) => u.includes('/@aws-sdk/') || u.includes('/@smithy/'))).toEqual([])
  })

  it('maps a stack trace to lib/ with source maps on', async () => {
    const stack = (await probe(
      'stack',
      [
        'process.setSourceMapsEnabled(true)',
        `const { tokenX } = await import(${JSON.stringify(url('index.js'))})`,
        'try { tokenX({ unknownOption: 1 }) } catch (error) { console.log(JSON.stringify(error.stack)) }',
      ].join('\n'),
    )) as string
    const frames = stack.split('\n').filter((line) => line.trim().startsWith('at '))
    expect(frames[0]).toContain(`${path.join(root, 'lib', 'util', 'option-checks.ts')}:`)
    expect(frames.some((frame) => frame.includes(`${path.join(root, 'lib', 'middy', 'tokenx.ts')}:`))).toBe(true)
    expect(frames.some((frame) => frame.includes(outdir))).toBe(false)
  })
})
