/**
 * package.json as a library declares itself (issue #8). The tarball's actual content, the installed
 * package's types and its behaviour are checked by the consumer fixture (npm run consumer).
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
  exports: Record<string, Record<string, string> | string>
  scripts: Record<string, string>
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
}

describe('package.json', () => {
  it('exports the compiled build: the repo-only source condition, then types and import', () => {
    const root = pkg.exports['.'] as Record<string, string>
    // The source condition comes first: tsc always matches `types`, so with `types` first the repo's
    // own typecheck would read a stale build/ whenever one exists. Consumers never set it.
    expect(Object.keys(root)).toEqual(['tokenx-kit-source', 'types', 'import', 'default'])
    expect(root).toMatchObject({ types: './build/index.d.ts', 'tokenx-kit-source': './lib/index.ts', import: './build/index.js' })
    expect(pkg.type).toBe('module')
    expect(pkg.sideEffects).toBe(false)
  })

  it('is publishable: licence, semver version, whitelist, no private flag', () => {
    expect(pkg.private).toBeUndefined()
    expect(pkg.license).toBe('MIT')
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+$/)
    expect(pkg.files).toEqual(['build/', 'lib/**/*.ts', 'CHANGELOG.md'])
    expect(pkg.repository).toBeDefined()
    expect(pkg.engines).toEqual({ node: '>=22' })
  })

  it('builds on pack, and never makes installs run the dev toolchain', () => {
    expect(pkg.scripts.prepack).toBe('npm run build:lib')
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook]).toBeUndefined()
  })

  it('declares middy as an optional peer and only what the kit imports as dependencies', () => {
    expect(pkg.peerDependencies).toEqual({ '@middy/core': '>=4.0.0 <8' })
    expect(pkg.peerDependenciesMeta['@middy/core']?.optional).toBe(true)
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['@aws-sdk/client-dynamodb', '@aws-sdk/client-secrets-manager', 'jose'])
    // The repo itself (functions/, tests) uses the version the consumer fixture tests as the upper end.
    expect(pkg.devDependencies['@middy/core']).toMatch(/^7\./)
  })
})
