/**
 * `npm run -s token -- --pid 12345678910 [--acr idporten-loa-high] [--expires-in 3600]`
 *
 * Prints a citizen token signed with the running dev stack's ID-porten key (`.dev/`), for the
 * stack's issuer, and nothing else on stdout (use `npm run -s` so npm adds no banner).
 */
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { JWK } from 'jose'
import { DEFAULT_ACR, mintCitizenToken } from '../dev/idporten.ts'
import { IDPORTEN_KEY_FILE, portsFromEnv, STATE_FILE, type StackState } from '../dev/stack.ts'

// The same folder `npm start` uses (DEV_STATE_DIR overrides it there too).
const stateDir = process.env.DEV_STATE_DIR || join(dirname(fileURLToPath(import.meta.url)), '..', '.dev')

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

const { values } = parseArgs({
  options: {
    pid: { type: 'string' },
    acr: { type: 'string', default: DEFAULT_ACR },
    'expires-in': { type: 'string', default: '3600' },
  },
  strict: true,
})

if (values.pid === undefined || !/^\d{11}$/.test(values.pid)) fail('usage: npm run -s token -- --pid <11 digits> [--acr idporten-loa-high] [--expires-in 3600]')
const expiresIn = Number(values['expires-in'])
if (!Number.isInteger(expiresIn)) fail('--expires-in must be a whole number of seconds')

let privateJwk: JWK
try {
  privateJwk = JSON.parse(await readFile(join(stateDir, IDPORTEN_KEY_FILE), 'utf8')) as JWK
} catch {
  fail('no ID-porten key in .dev/: start the dev stack first (npm start)')
}

// The issuer of the running stack; without one, the issuer `npm start` would use with this environment.
let issuer = `http://127.0.0.1:${portsFromEnv().idporten}`
try {
  issuer = (JSON.parse(await readFile(join(stateDir, STATE_FILE), 'utf8')) as StackState).idportenIssuer
} catch {
  console.error(`note: no running stack found in .dev/; using issuer ${issuer}`)
}

process.stdout.write(`${await mintCitizenToken({ issuer, privateJwk }, { pid: values.pid, acr: values.acr, expiresIn })}\n`)
