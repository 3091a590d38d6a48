/**
 * `npm start` as real processes: npm in a process group of its own (as a terminal would start it),
 * signalled the ways a developer or a tool stops it, then checked: npm has exited, nothing of the
 * group and no serverless-offline is left, every port of the stack is free, and the state file is
 * gone. Also: two stacks on different DEV_PORT_BASEs, a second start on the same ports, a stale state
 * file. Uses the functions built once here (`--no-build`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { portIsOpen } from '../e2e/helpers.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
let stateDir: string
const started: ChildProcess[] = []
const bases: number[] = []

interface Started {
  readonly npm: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

function npmStart(base: number): Started {
  bases.push(base)
  const npm = spawn('npm', ['start', '--', '--no-build'], {
    cwd: root,
    env: { ...process.env, DEV_STATE_DIR: stateDir, DEV_PORT_BASE: String(base), DEV_DYNAMODB_PORT: String(base + 6) },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  started.push(npm)
  let output = ''
  npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)))
  return { npm, output: () => output, exited }
}

async function until(condition: () => boolean, what: () => string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out: ${what()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function ready(stack: Started): Promise<void> {
  let gone = false
  void stack.exited.then(() => (gone = true))
  await until(
    () => stack.output().includes('Try it:') || gone,
    () => stack.output(),
  )
  if (!stack.output().includes('Try it:')) throw new Error(`npm start did not get ready:\n${stack.output()}`)
}

/** Processes of the group `pgid`, and any serverless-offline serving `base`. */
function leftOver(pgid: number, base: number): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' }).stdout
  return ps.split('\n').filter((line) => {
    const [, group] = line.trim().split(/\s+/)
    return Number(group) === pgid || line.includes(`--httpPort ${base}`)
  })
}

async function expectStopped(stack: Started, base: number): Promise<void> {
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 20_000))
  expect(await Promise.race([stack.exited, timeout]), stack.output()).not.toBe('timeout')
  // The stack's close is done once its process has gone; give the kernel a moment to drop the sockets.
  await until(
    () => leftOver(stack.npm.pid!, base).length === 0,
    () => leftOver(stack.npm.pid!, base).join('\n'),
    10_000,
  )
  for (let port = base; port <= base + 6; port++) expect(await portIsOpen(port), `port ${port}`).toBe(false)
  expect(existsSync(path.join(stateDir, `stack-${base}.json`))).toBe(false)
  expect(stack.output()).toMatch(/^stopped$/m)
}

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-npm-start-'))
  const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(build.stderr)
}, 120_000)

afterEach(() => {
  // After a failure: whatever this test started, serverless-offline (a group of its own) included.
  const pids = started.splice(0).map((npm) => -npm.pid!)
  for (const base of bases.splice(0)) for (const line of leftOver(-1, base)) pids.push(Number(line.trim().split(/\s+/)[0]))
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
})

afterAll(async () => {
  if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true })
})

describe('npm start stops cleanly', () => {
  it('on SIGINT to the npm process (and a stale state file from a stack that is gone does not stop it starting)', async () => {
    const base = 4710
    await writeFile(path.join(stateDir, `stack-${base}.json`), JSON.stringify({ pid: 2 ** 22 + 1, apiUrl: 'http://127.0.0.1:1' }))
    const stack = npmStart(base)
    await ready(stack)
    process.kill(stack.npm.pid!, 'SIGINT')
    await expectStopped(stack, base)
  }, 90_000)

  it('on SIGTERM to the npm process', async () => {
    const base = 4720
    const stack = npmStart(base)
    await ready(stack)
    process.kill(stack.npm.pid!, 'SIGTERM')
    await expectStopped(stack, base)
  }, 90_000)

  it('on SIGHUP to its process group (a closed terminal)', async () => {
    const base = 4730
    const stack = npmStart(base)
    await ready(stack)
    process.kill(-stack.npm.pid!, 'SIGHUP')
    await expectStopped(stack, base)
  }, 90_000)
})

describe('npm start with another stack running', () => {
  it('keeps separate state per DEV_PORT_BASE, and refuses a second start on the same ports, saying where the first is', async () => {
    const [a, b] = [npmStart(4740), npmStart(4750)]
    await Promise.all([ready(a), ready(b)])
    expect((await readdir(stateDir)).filter((file) => file.startsWith('stack-')).sort()).toEqual(['stack-4740.json', 'stack-4750.json'])

    const again = npmStart(4740)
    expect(await again.exited).not.toBe(0)
    expect(again.output()).toContain('a dev stack is already running on these ports: pid')
    expect(again.output()).toContain('http://127.0.0.1:4740')

    process.kill(b.npm.pid!, 'SIGINT')
    await expectStopped(b, 4750)
    // The other stack's state is still there, and it still serves.
    expect(existsSync(path.join(stateDir, 'stack-4740.json'))).toBe(true)
    expect(await portIsOpen(4740)).toBe(true)
    process.kill(a.npm.pid!, 'SIGINT')
    await expectStopped(a, 4740)
  }, 120_000)
})
