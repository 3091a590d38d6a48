#!/usr/bin/env node
/**
 * `tokenx-local`: the package's command for running a consumer's own functions against a local
 * TokenX, ID-porten and downstream stand-ins (dev/local-stack.ts), configured by a JSON file.
 * Compiled to build/tokenx-local/ and installed as a `bin` of the package; it imports only node:
 * and jose, the package's one dependency.
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { decodeJwt, type JWK, type JWTPayload } from 'jose'
import { parseCommandLine, usageError } from './command-line.ts'
import { ACR_VALUES, mintCitizenToken } from './idporten.ts'
import { rsaJwkPairFrom } from './keys.ts'
import { issueTokenXToken } from './local-tokenx.ts'
import {
  currentState,
  DEFAULT_CONFIG_FILE,
  DEFAULT_STATE_DIR,
  envName,
  functionEnv,
  IDPORTEN_KEY_FILE,
  localKeys,
  readLocalConfig,
  startLocalStack,
  TOKENX_KEY_FILE,
  type LocalConfig,
  type RunningState,
} from './local-stack.ts'

const USAGE = `usage: tokenx-local <command> [options]

  start                 start local TokenX, ID-porten and the downstream stand-ins (Ctrl-C stops them)
  env --client <id>     print the environment that client's function needs (KEY='value' lines; --json)
  token --pid <11 digits> [--acr <level>] [--exp <seconds>] [--aud <audience>]
                        print a citizen token (aud: --aud, else the first client)
  token --pid <11 digits> --client <id> [--aud <audience>] [--acr <level>] [--exp <seconds>]
                        print a TokenX token issued to that client for --aud (default its first
                        audience), as if it had exchanged the citizen's token

options:
  --config <file>       the configuration (default ${DEFAULT_CONFIG_FILE})
  --state-dir <dir>     keys and the running stack's addresses (default ${DEFAULT_STATE_DIR})
  --acr <level>         ${ACR_VALUES.join(', ')} (default idporten-loa-high)
  --exp <seconds>       lifetime from now, a whole number; 0 or less gives an expired token
                        (use --exp=-60); default 3600 (citizen), 900 (TokenX)
  -h, --help            this text`

/** A usage error (exit 2, with the usage), or with `code` 1 a failure of the command itself. */
function fail(message: string, code = 2): never {
  if (code === 2) usageError('tokenx-local', USAGE, message)
  console.error(`tokenx-local: ${message}`)
  process.exit(code)
}

const { values, positionals } = parseCommandLine('tokenx-local', USAGE, {
  options: {
    config: { type: 'string', default: DEFAULT_CONFIG_FILE },
    'state-dir': { type: 'string', default: DEFAULT_STATE_DIR },
    client: { type: 'string' },
    json: { type: 'boolean', default: false },
    pid: { type: 'string' },
    acr: { type: 'string', default: 'idporten-loa-high' },
    exp: { type: 'string' },
    aud: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
})
const [command, ...extra] = positionals
if (command === undefined) fail('a command is required')
if (extra.length > 0) fail(`unexpected argument ${extra[0]}`)
if (!['start', 'env', 'token'].includes(command)) fail(`unknown command ${command}`)

const stateDir = resolve(values['state-dir'])
let config: LocalConfig
try {
  config = await readLocalConfig(resolve(values.config))
} catch (error) {
  fail((error as Error).message, 1)
}

async function running(): Promise<RunningState> {
  const state = await currentState(config, stateDir)
  if (state === undefined)
    fail(`no running stack in ${values['state-dir']}, and the configuration has free (0) ports: start it first (tokenx-local start)`, 1)
  return state
}

async function keyAt(file: string): Promise<JWK> {
  try {
    return JSON.parse(await readFile(join(stateDir, file), 'utf8')) as JWK
  } catch {
    fail(`no key in ${values['state-dir']}: start the stack first (tokenx-local start)`, 1)
  }
}

function quote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`
}

if (command === 'start') {
  let stack: Awaited<ReturnType<typeof startLocalStack>>
  try {
    stack = await startLocalStack(config, stateDir)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const port = (error as { port?: unknown }).port
    fail(
      code === 'EADDRINUSE'
        ? `port ${String(port)} on 127.0.0.1 is already in use: change it in ${values.config}`
        : `did not start: ${(error as Error).message}`,
      1,
    )
  }
  const stop = async (): Promise<void> => {
    await stack.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())
  process.on('SIGHUP', () => void stop())
  const rows: Array<[string, string]> = [
    ['TokenX issuer', stack.tokenx.issuer],
    ['  token endpoint', stack.tokenx.tokenEndpoint],
    ['  jwks', stack.tokenx.jwksUri],
    ['ID-porten (local)', `${stack.idporten.issuer}  (${stack.idporten.discoveryUrl})`],
    ...[...stack.downstreams].map(([audience, d]): [string, string] => [
      `downstream ${envName(audience, config)}`,
      `${d.url}  (audience ${audience}; any path)`,
    ]),
    ...Object.entries(config.clients).map(([id, client]): [string, string] => [
      `client`,
      `${id}  → ${client.audiences.join(', ') || 'nothing'}`,
    ]),
  ]
  console.log(`Local TokenX for your functions, 127.0.0.1 only. Ctrl-C stops it.

${rows.map(([name, value]) => `  ${name.padEnd(20)}${value}`).join('\n')}

Your function's environment:  tokenx-local env --client <client id>
A citizen token:               tokenx-local token --pid 12345678910
tokenx-local: ready`)
  await new Promise(() => {})
}

const clientId = values.client
if (command === 'env') {
  if (clientId === undefined) fail('env needs --client <id>')
  if (config.clients[clientId] === undefined)
    fail(`${clientId} is not a client in ${values.config} (clients: ${Object.keys(config.clients).join(', ')})`, 1)
  const state = await running()
  // The keys are made on first start; `env` before any start makes them, so the printout stays valid.
  const keys = await localKeys(stateDir, config)
  const env = functionEnv(config, state, clientId, keys.clients.get(clientId)!)
  console.log(
    values.json
      ? JSON.stringify(env, null, 2)
      : Object.entries(env)
          .map(([name, value]) => `${name}=${quote(value)}`)
          .join('\n'),
  )
  process.exit(0)
}

// token
if (values.pid === undefined) fail('--pid is required')
if (!/^\d{11}$/.test(values.pid)) fail('--pid must be 11 digits')
if (!(ACR_VALUES as readonly string[]).includes(values.acr)) fail(`--acr must be one of ${ACR_VALUES.join(', ')}`)
if (values.exp !== undefined && !/^-?\d+$/.test(values.exp)) fail('--exp must be a whole number of seconds')
const state = await running()
// The citizen logged in to the client the TokenX token is for; a citizen token alone is for --aud, else the first client.
const citizenAudience = clientId ?? values.aud ?? Object.keys(config.clients)[0]!
const citizen = await mintCitizenToken(
  { issuer: state.idportenIssuer, privateJwk: await keyAt(IDPORTEN_KEY_FILE) },
  {
    pid: values.pid,
    acr: values.acr,
    aud: citizenAudience,
    expiresIn: clientId === undefined && values.exp !== undefined ? Number(values.exp) : 3600,
  },
)
if (clientId === undefined) {
  process.stdout.write(`${citizen}\n`)
  process.exit(0)
}
const client = config.clients[clientId]
if (client === undefined) fail(`${clientId} is not a client in ${values.config} (clients: ${Object.keys(config.clients).join(', ')})`, 1)
const audience = values.aud ?? client.audiences[0]
if (audience === undefined) fail(`${clientId} may call nothing (its audiences are empty)`, 1)
// Only what TokenX would issue: the access policy of the configuration.
if (!client.audiences.includes(audience))
  fail(`${clientId} is not authorized to get a token with aud=${audience} (its audiences: ${client.audiences.join(', ') || 'none'})`, 1)
const signingKey = await rsaJwkPairFrom(await keyAt(TOKENX_KEY_FILE))
const subject: JWTPayload = decodeJwt(citizen)
process.stdout.write(
  `${await issueTokenXToken({ issuer: state.tokenxIssuer, key: signingKey }, subject, clientId, audience, values.exp === undefined ? 900 : Number(values.exp))}\n`,
)
