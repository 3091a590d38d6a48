import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { readmeExample, readmeExampleMismatch } from './readme.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe("README's consumer example", () => {
  it('is test/consumer/src/handler.ts, verbatim', async () => {
    expect(await readmeExampleMismatch(root)).toBeUndefined()
  })

  it('finds the block under its heading and reports a drift', () => {
    const readme = '# x\n\n## Using the middleware in your own Lambda\n\n```ts\nconst a = 1\n```\n\n```ts\nother\n```\n'
    expect(readmeExample(readme)).toBe('const a = 1\n')
    expect(readmeExample('# x\n```ts\nconst a = 1\n```\n')).toBeUndefined()
  })
})
