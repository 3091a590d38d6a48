/**
 * TypeScript in the docs is quoted from files under examples/, which `npm run typecheck` compiles
 * under the strict consumer flags: a snippet in README.md or docs/*.md cannot show code that no
 * longer compiles. Each ```ts (or ```typescript) block is preceded, on the line before its fence, by
 * `<!-- example: examples/x.ts -->` and must equal that file byte for byte.
 * Used by test/docs/examples.test.ts and the consumer fixture (test/consumer/readme.ts).
 */
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'

export interface CodeBlock {
  /** The info string's first word, lower-cased (`ts`, `sh`, `` for none). */
  readonly lang: string
  /** The block's text, each line ending in `\n` (what a file holding it would contain). */
  readonly text: string
  /** 1-based line of the opening fence. */
  readonly line: number
  /** The `examples/…` path named by the marker on the line before the fence, if any. */
  readonly example: string | undefined
}

const MARKER = /^<!-- example: (\S+) -->$/

/**
 * Fenced code blocks (CommonMark: ``` or ~~~, three or more, indented at most three spaces; a block
 * ends at a fence of the same character at least as long, or at the end of the document).
 */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i] ?? '')
    if (open === null) continue
    const fence = open[1] ?? '```'
    const start = i
    const body: string[] = []
    for (i++; i < lines.length; i++) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[i] ?? '')
      if (close?.[1] !== undefined && close[1][0] === fence[0] && close[1].length >= fence.length) break
      body.push(lines[i] ?? '')
    }
    const marker = MARKER.exec(lines[start - 1] ?? '')
    blocks.push({
      lang: (open[2] ?? '').toLowerCase(),
      text: body.map((l) => `${l}\n`).join(''),
      line: start + 1,
      example: marker?.[1],
    })
  }
  return blocks
}

const isTypeScript = (block: CodeBlock): boolean => block.lang === 'ts' || block.lang === 'typescript'

/**
 * What is wrong with one Markdown file's TypeScript blocks, one line per problem: no marker, a
 * marker outside examples/ or on a block that is not TypeScript, a missing file, a differing text.
 */
export async function exampleProblems(root: string, file: string, markdown: string): Promise<string[]> {
  const problems: string[] = []
  for (const block of codeBlocks(markdown)) {
    const where = `${file}:${block.line}`
    if (!isTypeScript(block)) {
      if (block.example !== undefined) problems.push(`${where}: an example marker on a \`\`\`${block.lang} block`)
      continue
    }
    if (block.example === undefined) {
      problems.push(`${where}: a TypeScript block without <!-- example: examples/….ts --> on the line before it`)
      continue
    }
    if (!/^examples\/[\w./-]+\.ts$/.test(block.example) || block.example.includes('..')) {
      problems.push(`${where}: ${block.example} is not a .ts file under examples/`)
      continue
    }
    const source = await readFile(join(root, block.example), 'utf8').catch(() => undefined)
    if (source === undefined) {
      problems.push(`${where}: ${block.example} does not exist`)
      continue
    }
    if (source !== block.text) problems.push(`${where}: differs from ${block.example} ${firstDifference(block.text, source)}`)
  }
  return problems
}

function firstDifference(quoted: string, file: string): string {
  const a = quoted.split('\n')
  const b = file.split('\n')
  const at = a.findIndex((text, i) => text !== b[i])
  const line = at < 0 ? a.length : at
  return `at line ${line + 1}: quoted ${JSON.stringify(a[line])}, file ${JSON.stringify(b[line])}`
}

/** README.md and docs/*.md, as [path relative to root, text]. */
export async function documentation(root: string): Promise<Array<[string, string]>> {
  const docs = (await readdir(join(root, 'docs')).catch(() => [] as string[])).filter((f) => f.endsWith('.md')).sort()
  const files = ['README.md', ...docs.map((f) => `docs/${f}`)]
  return Promise.all(files.map(async (f): Promise<[string, string]> => [f, await readFile(join(root, f), 'utf8')]))
}
