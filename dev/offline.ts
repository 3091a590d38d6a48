/**
 * Runs the example functions of serverless.yml under serverless-offline (through osls, the
 * Serverless Framework fork this repo uses), as a child process in its own process group so that
 * stopping the stack can end it and anything it started, and nothing is left behind.
 *
 * Options chosen (each checked against serverless-offline 14 with osls 4):
 * - `--useInProcess`: handlers run inside the serverless-offline process and Node's ESM loader
 *   caches the `.mjs` bundle, so module state (the kit's token cache, its key) survives between
 *   invocations like a warm Lambda, and a single instance serves every call (worker threads would
 *   start another instance, with an empty cache, for overlapping calls);
 * - `--host 127.0.0.1`, `--httpPort`, `--lambdaPort`: loopback only, ports from the stack;
 * - `--noPrependStageInUrl`: `http` (REST) events would otherwise be served below `/dev`; the
 *   example uses `httpApi` events, which have no stage in the path either way, so the function is
 *   at `${url}/resource`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { LOOPBACK } from './http.ts'

export interface OfflineOptions {
  /** The folder holding serverless.yml. */
  readonly cwd: string
  readonly httpPort: number
  readonly lambdaPort: number
  /** Environment of the serverless-offline process (and so of the in-process handlers). */
  readonly env: Readonly<Record<string, string>>
  /** Receives serverless-offline's output line by line. */
  readonly log?: (line: string) => void
  /** Milliseconds to wait for the HTTP port. Default 60000. */
  readonly startTimeout?: number
}

export interface Offline {
  /** Base URL of the HTTP API, e.g. `http://127.0.0.1:4400`. */
  readonly url: string
  readonly lambdaUrl: string
  readonly pid: number
  close(): Promise<void>
}

/** Path of the osls CLI, resolved from this repo's node_modules (no reliance on PATH). */
function oslsBin(cwd: string): string {
  const require = createRequire(join(cwd, 'package.json'))
  return join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js')
}

/** Children started here that are still running: ended if this process exits without closing them. */
const running = new Set<ChildProcess>()
let exitHookInstalled = false

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    // Negative pid: the whole process group (the child was spawned detached, as its leader).
    process.kill(-child.pid, signal)
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // Last resort (a crashed test run, an uncaught error): `exit` handlers must be synchronous.
  process.on('exit', () => {
    for (const child of running) killGroup(child, 'SIGKILL')
  })
}

export async function startOffline(options: OfflineOptions): Promise<Offline> {
  const log = options.log ?? (() => {})
  const args = [
    oslsBin(options.cwd),
    'offline',
    'start',
    '--host',
    LOOPBACK,
    '--httpPort',
    String(options.httpPort),
    '--lambdaPort',
    String(options.lambdaPort),
    '--noPrependStageInUrl',
    '--useInProcess',
  ]
  // process.execPath: the Node that runs the stack (24, from the `node` devDependency), never
  // whatever `node` comes first on PATH.
  const child = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  installExitHook()
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child)
      resolve()
    })
  })

  const recent: string[] = []
  const onOutput = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      recent.push(line)
      if (recent.length > 40) recent.shift()
      log(line)
    }
  }
  child.stdout?.on('data', onOutput)
  child.stderr?.on('data', onOutput)

  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return
    killGroup(child, 'SIGTERM')
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
    // The group may hold processes the handler started; make sure none outlive the leader.
    killGroup(child, 'SIGKILL')
  }

  try {
    await waitForPort(options.httpPort, options.startTimeout ?? 60_000, exited)
  } catch (error) {
    await close()
    throw new Error(`serverless-offline did not start: ${(error as Error).message}\n${recent.join('\n')}`)
  }

  return {
    url: `http://${LOOPBACK}:${options.httpPort}`,
    lambdaUrl: `http://${LOOPBACK}:${options.lambdaPort}`,
    pid: child.pid ?? -1,
    close,
  }
}

/** Resolves once something accepts TCP connections on the port; rejects if `exited` settles first. */
async function waitForPort(port: number, timeout: number, exited: Promise<void>): Promise<void> {
  let gone = false
  void exited.then(() => {
    gone = true
  })
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (gone) throw new Error('the process exited')
    if (await canConnect(port)) return
    await new Promise((resolve) => setTimeout(resolve, 150))
  }
  throw new Error(`port ${port} not open after ${timeout} ms`)
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: LOOPBACK })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
