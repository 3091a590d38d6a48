import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { codeBlocks, documentation, exampleProblems } from './code-blocks.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('TypeScript in README.md and docs/*.md', () => {
  it('is quoted, byte for byte, from a file under examples/', async () => {
    const problems: string[] = []
    for (const [file, text] of await documentation(root)) problems.push(...(await exampleProblems(root, file, text)))
    expect(problems).toEqual([])
  })

  it('includes the README example the consumer fixture runs', async () => {
    const [[, readme] = ['', '']] = await documentation(root)
    expect(codeBlocks(readme).map((b) => b.example)).toContain('examples/middy.ts')
  })
})

describe('the check itself', () => {
  let dir = ''
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'docs-examples-'))
    await mkdir(join(dir, 'examples'))
    await writeFile(join(dir, 'examples/a.ts'), 'const a = 1\nexport { a }\n')
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  const check = (markdown: string) => exampleProblems(dir, 'x.md', markdown)

  it('accepts a marked block equal to its file, and leaves other languages alone', async () => {
    expect(await check('# x\n\n<!-- example: examples/a.ts -->\n```ts\nconst a = 1\nexport { a }\n```\n\n```sh\nnpm ci\n```\n')).toEqual([])
  })

  it('refuses a block without a marker, or with a blank line between marker and fence', async () => {
    expect(await check('```typescript\nconst a = 1\n```\n')).toEqual([expect.stringContaining('x.md:1: a TypeScript block without')])
    expect(await check('<!-- example: examples/a.ts -->\n\n```ts\nconst a = 1\nexport { a }\n```\n')).toHaveLength(1)
  })

  it('refuses a block that differs from its file, naming the line', async () => {
    expect(await check('<!-- example: examples/a.ts -->\n```ts\nconst a = 2\nexport { a }\n```\n')).toEqual([
      'x.md:2: differs from examples/a.ts at line 1: quoted "const a = 2", file "const a = 1"',
    ])
    // A fragment of the file is not the file.
    expect(await check('<!-- example: examples/a.ts -->\n```ts\nconst a = 1\n```\n')).toHaveLength(1)
  })

  it('refuses a missing file, a path outside examples/, and a marker on another language', async () => {
    expect(await check('<!-- example: examples/none.ts -->\n```ts\nx\n```\n')).toEqual([expect.stringContaining('does not exist')])
    expect(await check('<!-- example: lib/index.ts -->\n```ts\nx\n```\n')).toEqual([
      expect.stringContaining('not a .ts file under examples/'),
    ])
    expect(await check('<!-- example: examples/../lib/index.ts -->\n```ts\nx\n```\n')).toHaveLength(1)
    expect(await check('<!-- example: examples/a.ts -->\n```js\nconst a = 1\nexport { a }\n```\n')).toEqual([
      expect.stringContaining('marker on a ```js block'),
    ])
  })

  it('finds blocks by CommonMark fences: longer fences, tildes, code fences inside a block', () => {
    const blocks = codeBlocks('````md\n```ts\ninner\n```\n````\n~~~TypeScript\nt\n~~~\n')
    expect(blocks.map((b) => [b.lang, b.text])).toEqual([
      ['md', '```ts\ninner\n```\n'],
      ['typescript', 't\n'],
    ])
  })
})
