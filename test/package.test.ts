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
    // X.Y.Z for a release, X.Y.Z-dev between releases (RELEASING.md; test/release.test.ts checks the CHANGELOG agrees).
    expect(pkg.version).toMatch(/^\d+\.\d+\.\d+(-dev)?$/)
    expect(pkg.files).toEqual(['build/', 'lib/**/*.ts', 'CHANGELOG.md'])
    expect(pkg.repository).toBeDefined()
    expect(pkg.engines).toEqual({ node: '>=22' })
  })

  it('builds on pack, and never makes installs run the dev toolchain', () => {
    expect(pkg.scripts.prepack).toBe('npm run build:lib')
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook]).toBeUndefined()
  })

  it('declares middy and the AWS SDK clients as optional peers and only what every function imports as dependencies', () => {
    // The SDK clients: the consumer's own copy (or the Lambda runtime's), never a second one; any
    // v3 from the range's floor on (the consumer fixture runs the floor as the runtime's SDK).
    expect(pkg.peerDependencies).toEqual({
      '@aws-sdk/client-dynamodb': '^3.600.0',
      '@aws-sdk/client-secrets-manager': '^3.600.0',
      '@middy/core': '>=4.0.0 <8',
    })
    for (const peer of Object.keys(pkg.peerDependencies)) expect(pkg.peerDependenciesMeta[peer]?.optional, peer).toBe(true)
    expect(Object.keys(pkg.dependencies).sort()).toEqual(['jose'])
    // The repo itself tests against one exact SDK version, inside the peer range.
    for (const client of ['@aws-sdk/client-dynamodb', '@aws-sdk/client-secrets-manager'])
      expect(pkg.devDependencies[client], client).toMatch(/^3\.\d+\.\d+$/)
    // The repo itself (functions/, tests) uses the version the consumer fixture tests as the upper end.
    expect(pkg.devDependencies['@middy/core']).toMatch(/^7\./)
  })
})
