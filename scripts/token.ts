/**
 * `npm run -s token -- --pid 12345678910 [--acr idporten-loa-high] [--expires-in 3600] [--aud <client id>]` (`--help` for usage)
 *
 * Prints a citizen token signed with the running dev stack's ID-porten key (`.dev/`), for the
 * stack's issuer, and nothing else on stdout (use `npm run -s` so npm adds no banner).
 */
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { JWK } from 'jose'
import { parseCommandLine, usageError } from '../dev/command-line.ts'
import { ACR_VALUES, DEFAULT_ACR, DEFAULT_IDPORTEN_AUDIENCE, mintCitizenToken } from '../dev/idporten.ts'
import { IDPORTEN_KEY_FILE, portsFromEnv, stateFileName, type StackState } from '../dev/stack.ts'

// The same folder `npm start` uses (DEV_STATE_DIR overrides it there too).
const stateDir = process.env.DEV_STATE_DIR || join(dirname(fileURLToPath(import.meta.url)), '..', '.dev')

const USAGE = `usage: npm run -s token -- --pid <11 digits> [--acr <level>] [--expires-in <seconds>] [--aud <client id>]

Prints a citizen token signed with the running dev stack's ID-porten key (start it with npm start),
and nothing else on stdout.

options:
  --pid <11 digits>       the citizen's personal identity number (required)
  --acr <level>           ${ACR_VALUES.join(', ')} (default ${DEFAULT_ACR})
  --expires-in <seconds>  lifetime, a whole number of seconds from 1 (default 3600)
  --aud <client id>       the app the citizen logged in to (default ${DEFAULT_IDPORTEN_AUDIENCE})
  -h, --help              this text`

function fail(message: string): never {
  usageError('token', USAGE, message)
}

const { values } = parseCommandLine('token', USAGE, {
  options: {
    pid: { type: 'string' },
    acr: { type: 'string', default: DEFAULT_ACR },
    'expires-in': { type: 'string', default: '3600' },
    aud: { type: 'string', default: DEFAULT_IDPORTEN_AUDIENCE },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: false,
})

if (values.pid === undefined) fail('--pid is required')
if (!/^\d{11}$/.test(values.pid)) fail('--pid must be 11 digits')
if (!(ACR_VALUES as readonly string[]).includes(values.acr)) fail(`--acr must be one of ${ACR_VALUES.join(', ')}`)
if (values.aud === '') fail('--aud must not be empty')
if (!/^\d+$/.test(values['expires-in']) || Number(values['expires-in']) < 1) fail('--expires-in must be a whole number of seconds from 1')
const expiresIn = Number(values['expires-in'])

let privateJwk: JWK
try {
  privateJwk = JSON.parse(await readFile(join(stateDir, IDPORTEN_KEY_FILE), 'utf8')) as JWK
} catch {
  fail('no ID-porten key in .dev/: start the dev stack first (npm start)')
}

// The issuer of the running stack: the one on this environment's ports, else the only one running
// (a stack started with other DEV_*_PORT variables than this shell has); without one, the issuer
// `npm start` would use with this environment.
const ports = portsFromEnv()
let issuer = `http://127.0.0.1:${ports.idporten}`
const running = await runningStacks()
const chosen = running.find((state) => state.file === stateFileName(ports.http)) ?? (running.length === 1 ? running[0] : undefined)
if (chosen !== undefined) issuer = chosen.idportenIssuer
else if (running.length > 1)
  console.error(`note: ${running.length} stacks run and none on this environment's ports; using issuer ${issuer} (set DEV_PORT_BASE)`)
else console.error(`note: no running stack found in .dev/; using issuer ${issuer}`)

/** The state files in the state folder whose stack process still runs. */
async function runningStacks(): Promise<Array<StackState & { file: string }>> {
  const files = await readdir(stateDir).catch(() => [] as string[])
  const states: Array<StackState & { file: string }> = []
  for (const file of files.filter((name) => /^stack-\d+\.json$/.test(name))) {
    try {
      const state = JSON.parse(await readFile(join(stateDir, file), 'utf8')) as StackState
      process.kill(state.pid, 0)
      states.push({ ...state, file })
    } catch {
      // Unreadable, or its process is gone: not a running stack.
    }
  }
  return states
}

process.stdout.write(
  `${await mintCitizenToken({ issuer, privateJwk }, { pid: values.pid, acr: values.acr, aud: values.aud, expiresIn })}\n`,
)
