/**
 * `npm start`: the local dev stack (see dev/stack.ts) on 127.0.0.1, ports 4400–4405 by default
 * (DEV_PORT_BASE, or DEV_HTTP_PORT, DEV_LAMBDA_PORT, DEV_TOKENX_PORT, DEV_IDPORTEN_PORT,
 * DEV_DOWNSTREAM_PORT, DEV_SECRETS_MANAGER_PORT). Keys live in `.dev/` (gitignored; DEV_STATE_DIR
 * names another folder, e.g. for tests). The Entra ID and Maskinporten stand-ins and their downstream
 * take free ports (DEV_ENTRA_PORT, DEV_MASKINPORTEN_PORT, DEV_FLOWS_DOWNSTREAM_PORT to fix them).
 *
 *   npm start                 build the functions, start everything, serve until Ctrl-C
 *   npm start -- --no-build   serve the existing dist/ bundles
 *
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP (to this process, to npm, or to the whole group), or npm going
 * away, stops every server and serverless-offline's whole process group, and removes the stack's
 * state file. package.json runs this with `exec`, so npm's forwarded signals reach this process
 * rather than the shell between them. A second `npm start` on the same ports says where the running
 * one is; a state file whose process is gone is removed.
 */
import { readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join, relative } from 'node:path'
import { PortInUseError } from '../dev/ports.ts'
import {
  APP_KEY_SECRET_ID,
  DOWNSTREAM_AUDIENCE,
  entraTokenFileName,
  portsFromEnv,
  startStack,
  stateFileName,
  type Stack,
  type StackPorts,
  type StackState,
} from '../dev/stack.ts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = new Set(process.argv.slice(2))
if (args.has('--help') || args.has('-h')) {
  console.log('usage: npm start [-- --no-build]')
  process.exit(0)
}

// A closed terminal (SIGHUP) makes writes to it fail: stopping must not die of that.
process.stdout.on('error', () => {})
process.stderr.on('error', () => {})
const log = (line: string): void => console.log(line)
let ports: StackPorts
try {
  ports = portsFromEnv()
} catch (error) {
  console.error(`npm start: ${(error as Error).message}`)
  process.exit(2)
}
const stateDirectory = process.env.DEV_STATE_DIR || join(root, '.dev')
const stateFile = join(stateDirectory, stateFileName(ports.http))
const running = runningStack(stateFile)
if (running !== undefined) {
  console.error(
    `npm start: a dev stack is already running on these ports: pid ${running.pid}, ${running.apiUrl ?? running.idportenIssuer} ` +
      `(${stateFile}). Stop it (Ctrl-C in its terminal, or kill ${running.pid}), or start another with DEV_PORT_BASE.`,
  )
  process.exit(1)
}

/** The stack `file` describes if its process still runs; a file left by a process that is gone is removed. */
function runningStack(file: string): StackState | undefined {
  let state: StackState
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as StackState
  } catch {
    return undefined
  }
  try {
    process.kill(state.pid, 0)
    return state
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code === 'EPERM') return state
    rmSync(file, { force: true })
    return undefined
  }
}

const starting = startStack({
  root,
  ports,
  stateDir: stateDirectory,
  build: !args.has('--no-build'),
  log,
  sharedCache: { port: Number(process.env.DEV_DYNAMODB_PORT || 0) },
  flows: {
    entraPort: Number(process.env.DEV_ENTRA_PORT || 0),
    maskinportenPort: Number(process.env.DEV_MASKINPORTEN_PORT || 0),
    downstreamPort: Number(process.env.DEV_FLOWS_DOWNSTREAM_PORT || 0),
  },
})
let stopping = false
let stoppingSince = 0

async function stop(signal: string): Promise<void> {
  if (stopping) {
    // Ctrl-C in a terminal reaches this process twice (from the terminal, and forwarded by npm):
    // only a second signal a while later means "stop waiting".
    if (Date.now() - stoppingSince < 1000) return
    // The in-process servers end with this process; serverless-offline's group gets SIGKILL from
    // dev/offline.ts's exit hook; the state file goes now.
    rmSync(stateFile, { force: true })
    process.exit(130)
  }
  stopping = true
  stoppingSince = Date.now()
  log(`\n${signal}: stopping the dev stack`)
  // Also when the signal comes during startup: let it finish, then close what it started.
  const started = await starting.catch(() => undefined)
  await started?.close()
  log('stopped')
  process.exit(0)
}
process.on('SIGINT', () => void stop('SIGINT'))
process.on('SIGTERM', () => void stop('SIGTERM'))
process.on('SIGHUP', () => void stop('SIGHUP'))
// npm gone (killed, or it exited on a signal it did not forward): nobody is left to stop the stack.
const parent = process.ppid
const watchdog = setInterval(() => {
  if (process.ppid === parent) return
  clearInterval(watchdog)
  void stop('parent exited')
}, 250)
watchdog.unref()

let stack: Stack
try {
  stack = await starting
} catch (error) {
  // A taken port is one line naming the port and the variable that moves it; startStack has
  // already closed whatever it had started.
  if (error instanceof PortInUseError) console.error(`npm start: ${error.message}`)
  else console.error(`the dev stack did not start: ${(error as Error).message}`)
  process.exit(1)
}
if (stopping) await new Promise(() => {})

// serverless-offline ending on its own leaves the stack without its function: stop it all, loudly.
void stack.offline?.exited.then(async () => {
  if (stopping) return
  stopping = true
  console.error('npm start: serverless-offline exited unexpectedly; stopping the dev stack')
  await stack.close()
  process.exit(1)
})

const stateDir = process.env.DEV_STATE_DIR || '.dev/'
const rows: Array<[string, string]> = [
  ['example function', `GET ${stack.apiUrl}/resource  (serverless-offline, handler in-process)`],
  ['lambda invoke API', String(stack.offline?.lambdaUrl)],
  ['TokenX issuer', stack.tokenx.issuer],
  ['  metadata', stack.tokenx.metadataUrl],
  ['  token endpoint', stack.tokenx.tokenEndpoint],
  ['  jwks', stack.tokenx.jwksUri],
  ['ID-porten (local)', `${stack.idporten.issuer}  (${stack.idporten.discoveryUrl})`],
  [
    'downstream API',
    `${stack.downstream.url}/resource  (audience ${DOWNSTREAM_AUDIENCE}; forwards to GET ${stack.apiUrl}/api/resource, the kit's API side)`,
  ],
  ['Secrets Manager', `${stack.secretsManager.url}  (secret ${APP_KEY_SECRET_ID})`],
  ['DynamoDB (local)', `${stack.dynamodb?.url}  (shared token cache table ${stack.dynamodb?.table})`],
  ['app client', `${stack.clientId}  (keys in ${stateDir})`],
  ['employee function', `GET ${stack.apiUrl}/employee  (Entra ID on-behalf-of)`],
  ['scheduled', 'machine (Entra ID), maskinporten: invoke them with the curls below'],
  ['Entra ID (local)', `${stack.flows?.standIns.entra.issuer}`],
  ['Maskinporten', `${stack.flows?.standIns.maskinporten.issuer}`],
  ['flows downstream', `${stack.flows?.downstream.url}  (GET /employee, /machine, /external)`],
]
// Relative to where the developer typed `npm start` (npm's INIT_CWD), as the curl will run there.
const entraTokenPath = join(stateDirectory, entraTokenFileName(ports.http))
const entraTokenRelative = relative(process.env.INIT_CWD || process.cwd(), entraTokenPath)
const entraToken = entraTokenRelative.startsWith('..') ? entraTokenPath : entraTokenRelative
log(`
Local TokenX dev stack, 127.0.0.1 only. Ctrl-C stops everything.

${rows.map(([name, value]) => `  ${name.padEnd(20)}${value}`).join('\n')}

Try it:

  curl -s -H "Authorization: Bearer $(npm run -s token -- --pid 12345678910)" ${stack.apiUrl}/resource

  # an NAV employee (an Entra ID user token from the pre-authorized caller, valid 8 hours)
  curl -s -H "Authorization: Bearer $(cat ${entraToken})" ${stack.apiUrl}/employee

  # the scheduled functions, once each (AWS Lambda's Invoke API)
  curl -s -X POST -d '{}' ${stack.invokeUrl('machine')}
  curl -s -X POST -d '{}' ${stack.invokeUrl('maskinporten')}
`)
