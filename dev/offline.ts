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
 *   at `${url}/resource`;
 * - `--stage local`: no deploy settings in serverless.yml's params apply (see deploy/config.cjs),
 *   only the stack's environment.
 *
 * Ports: both are checked free before the start, readiness is serverless-offline's own "listening"
 * lines (it prints them only after a successful listen), and on Linux the listening sockets must
 * belong to the serverless-offline process: a port that merely accepts connections proves nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { LOOPBACK } from './http.ts'
import { assertPortFree, listenerOwnedBy, PortInUseError } from './ports.ts'
import { describeRecord } from './observe.ts'

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
  /** Settles when serverless-offline has exited (after close(), or on its own). */
  readonly exited: Promise<void>
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
  // A taken port fails here, named, before serverless-offline is started at all.
  await assertPortFree(options.httpPort)
  await assertPortFree(options.lambdaPort)
  const args = [
    oslsBin(options.cwd),
    'offline',
    'start',
    // Stage `local`: serverless.yml's deploy settings come from params.<stage> before the
    // environment, so a stage with params (dev, prod) would hand the local function real TokenX
    // settings; `local` has none, and the stack's own environment applies.
    '--stage',
    'local',
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
  const ready = { http: false, lambda: false, changed: () => {} }
  const httpReady = `Server ready: http://${LOOPBACK}:${options.httpPort}`
  const lambdaReady = `listening on http://${LOOPBACK}:${options.lambdaPort}`
  const onOutput = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      recent.push(line)
      if (recent.length > 40) recent.shift()
      // serverless-offline prints these only once its own listen() succeeded.
      const plain = stripAnsi(line)
      if (plain.includes(httpReady)) ready.http = true
      if (plain.includes(lambdaReady)) ready.lambda = true
      ready.changed()
      log(line)
      // After the function's EMF record, one readable line: cache hit/miss, exchange time, downstream status.
      const summary = describeRecord(line)
      if (summary !== undefined) log(summary)
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
    await waitForReady(options, ready, exited, options.startTimeout ?? 60_000)
    // Something else may have taken a port between the check and serverless-offline's listen; and
    // a port that merely accepts connections proves nothing. Where /proc can tell, the listening
    // sockets must be serverless-offline's own.
    for (const port of [options.httpPort, options.lambdaPort]) {
      if ((await listenerOwnedBy(child.pid ?? -1, port)) === false) {
        throw new PortInUseError(port, `serverless-offline announced port ${port}, but another process owns it`)
      }
    }
  } catch (error) {
    await close()
    const inUse = error instanceof PortInUseError ? error : portInUseFrom(recent)
    if (inUse !== undefined) throw inUse
    throw new Error(`serverless-offline did not start: ${(error as Error).message}\n${recent.join('\n')}`)
  }

  return {
    url: `http://${LOOPBACK}:${options.httpPort}`,
    lambdaUrl: `http://${LOOPBACK}:${options.lambdaPort}`,
    pid: child.pid ?? -1,
    exited,
    close,
  }
}

/**
 * Resolves once serverless-offline has said that both its servers listen on the ports it was given
 * (it prints that only after a successful listen); rejects if it exits first or takes too long.
 */
function waitForReady(
  options: OfflineOptions,
  ready: { http: boolean; lambda: boolean; changed: () => void },
  exited: Promise<void>,
  timeout: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready on port ${options.httpPort} after ${timeout} ms`)), timeout)
    const check = (): void => {
      if (ready.http && ready.lambda) {
        clearTimeout(timer)
        resolve()
      }
    }
    ready.changed = check
    check()
    void exited.then(() => {
      clearTimeout(timer)
      reject(new Error('the process exited'))
    })
  })
}

/** serverless-offline's own report of a taken port ("listen EADDRINUSE: ... 127.0.0.1:4400"). */
function portInUseFrom(lines: readonly string[]): PortInUseError | undefined {
  for (const line of lines) {
    const match = /EADDRINUSE[^\n]*?:(\d+)\s*$/.exec(stripAnsi(line).trim())
    if (match?.[1] !== undefined) return new PortInUseError(Number(match[1]))
  }
  return undefined
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour sequences stripped here
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '')
}
