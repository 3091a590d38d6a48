import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { EXAMPLE_FILE, readmeExampleMismatch } from './readme.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe("README's consumer example", () => {
  it(`is ${EXAMPLE_FILE}, verbatim`, async () => {
    expect(await readmeExampleMismatch(root)).toBeUndefined()
  })

  it('reports a README that does not quote it, or quotes it changed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'consumer-readme-'))
    try {
      await mkdir(join(dir, 'examples'))
      await writeFile(join(dir, EXAMPLE_FILE), 'const a = 1\n')
      await writeFile(join(dir, 'README.md'), '# x\n\n```ts\nconst a = 1\n```\n')
      expect(await readmeExampleMismatch(dir)).toMatch(`README.md quotes no ${EXAMPLE_FILE}`)
      await writeFile(join(dir, 'README.md'), `# x\n\n<!-- example: ${EXAMPLE_FILE} -->\n\`\`\`ts\nconst a = 2\n\`\`\`\n`)
      expect(await readmeExampleMismatch(dir)).toMatch(`differs from ${EXAMPLE_FILE} at line 1`)
      await writeFile(join(dir, 'README.md'), `# x\n\n<!-- example: ${EXAMPLE_FILE} -->\n\`\`\`ts\nconst a = 1\n\`\`\`\n`)
      expect(await readmeExampleMismatch(dir)).toBeUndefined()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
