/**
 * The README's middy example is examples/middy.ts, quoted verbatim (test/docs/examples.test.ts checks
 * every quoted example). The consumer fixture runs that very file as its src/handler.ts: it
 * typechecks, bundles and runs it against the packed package, so the README cannot show code that
 * no longer works for a consumer. Used by run.ts and readme-example.test.ts.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { codeBlocks, exampleProblems } from '../docs/code-blocks.ts'

export const EXAMPLE_FILE = 'examples/middy.ts'

/** Undefined when README.md quotes EXAMPLE_FILE exactly; otherwise what is wrong. */
export function readmeExampleMismatch(root: string): Promise<string | undefined> {
  return readFile(join(root, 'README.md'), 'utf8').then(async (readme) => {
    if (!codeBlocks(readme).some((block) => block.example === EXAMPLE_FILE))
      return `README.md quotes no ${EXAMPLE_FILE} (<!-- example: ${EXAMPLE_FILE} --> before a \`\`\`ts block)`
    const problems = await exampleProblems(root, 'README.md', readme)
    const ours = problems.filter((problem) => problem.includes(EXAMPLE_FILE))
    return ours.length === 0 ? undefined : ours.join('; ')
  })
}
