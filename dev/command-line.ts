/**
 * The command-line conventions of the repository's commands (`tokenx-local`, `npm run keygen`,
 * `npm run token`, `npm run preflight`): strict options, `-h`/`--help` prints the usage on stdout and
 * exits 0, a usage error prints `<command>: <reason>`, a blank line and the usage on stderr and exits 2.
 * Part of the `tokenx-local` build (dev/tsconfig.tokenx-local.json): node: modules only.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** What a command parses: its options (with `help`), its arguments (default the process's) and whether it takes positionals. */
type CommandLineConfig = Omit<ParseArgsConfig, 'strict' | 'tokens'> & {
  readonly options: { readonly help: { readonly type: 'boolean'; readonly short: 'h'; readonly default: false } }
}

/** Prints `<command>: <reason>` and the usage on stderr and exits 2. */
export function usageError(command: string, usage: string, reason: string): never {
  console.error(`${command}: ${reason}\n\n${usage}`)
  process.exit(2)
}

/**
 * The command line parsed strictly (an unknown option, a missing value or an unexpected positional
 * is a usage error); `--help` prints the usage and exits 0.
 */
export function parseCommandLine<const T extends CommandLineConfig>(
  command: string,
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>
  try {
    parsed = parseArgs<T>({ ...config, strict: true })
  } catch (error) {
    usageError(command, usage, (error as Error).message)
  }
  if ((parsed.values as { help?: boolean }).help === true) {
    console.log(usage)
    process.exit(0)
  }
  return parsed
}
