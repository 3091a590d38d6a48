/**
 * The README's "Using the middleware in your own Lambda" example is test/consumer/src/handler.ts,
 * quoted verbatim: the consumer fixture typechecks, bundles and runs that file, so the README
 * cannot show code that no longer works. Used by run.ts and readme-example.test.ts.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'

export const README_SECTION = '## Using the middleware in your own Lambda'
export const EXAMPLE_FILE = 'test/consumer/src/handler.ts'

/** The first ```ts block after the section heading, or undefined. */
export function readmeExample(readme: string): string | undefined {
  const start = readme.indexOf(`\n${README_SECTION}\n`)
  if (start < 0) return undefined
  const match = /\n```ts\n([\s\S]*?)\n```\n/.exec(readme.slice(start))
  return match?.[1] === undefined ? undefined : `${match[1]}\n`
}

/** Undefined when the README quotes the file exactly; otherwise what is wrong. */
export async function readmeExampleMismatch(root: string): Promise<string | undefined> {
  const [readme, file] = await Promise.all([readFile(join(root, 'README.md'), 'utf8'), readFile(join(root, EXAMPLE_FILE), 'utf8')])
  const quoted = readmeExample(readme)
  if (quoted === undefined) return `README.md has no \`\`\`ts block under "${README_SECTION}"`
  if (quoted === file) return undefined
  const a = quoted.split('\n')
  const b = file.split('\n')
  const line = a.findIndex((text, i) => text !== b[i])
  return `README.md's example differs from ${EXAMPLE_FILE} at line ${line + 1}: README ${JSON.stringify(a[line])}, file ${JSON.stringify(b[line])}`
}
