/**
 * Taken ports in the dev stack: one clear line naming the port and the variable that moves it, a
 * non-zero exit, nothing left listening or running; and the check that serverless-offline really
 * owns the port it announces. Everything on 127.0.0.1, free ports only.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOffline } from '../../dev/offline.ts'
import { assertPortFree, listenerOwnedBy, PortInUseError } from '../../dev/ports.ts'
import { freePort, portsFromEnv, PORT_VARIABLES, startStack, StackPortError, type StackPorts } from '../../dev/stack.ts'
import { portIsOpen, processesMentioning } from '../e2e/helpers.ts'
import { runScript, type Finished } from '../helpers/run.ts'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
let blocker: Server
let busy: number
let stateDir: string

beforeAll(async () => {
  blocker = createServer()
  busy = await new Promise<number>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve((blocker.address() as { port: number }).port)))
  stateDir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-ports-'))
})

afterAll(async () => {
  await new Promise((resolve) => blocker.close(resolve))
  await rm(stateDir, { recursive: true, force: true })
})

async function freePorts(): Promise<StackPorts> {
  return {
    http: await freePort(),
    lambda: await freePort(),
    tokenx: await freePort(),
    idporten: await freePort(),
    downstream: await freePort(),
    secretsManager: await freePort(),
  }
}

/** `npm start` as the developer runs it (scripts/dev-stack.ts on this Node), with its ports. */
function npmStart(ports: StackPorts): Promise<Finished> {
  const env: Record<string, string | undefined> = { ...process.env, DEV_STATE_DIR: stateDir, DEV_PORT_BASE: undefined }
  for (const [piece, variable] of Object.entries(PORT_VARIABLES)) env[variable] = String(ports[piece as keyof StackPorts])
  return runScript(path.join(root, 'scripts', 'dev-stack.ts'), ['--no-build'], { cwd: root, env })
}

describe('npm start with a taken port', () => {
  it.each([
    ['secretsManager', 'local Secrets Manager'],
    ['tokenx', 'local TokenX'],
    ['downstream', 'downstream API'],
    ['http', 'the example function, serverless-offline'],
    ['lambda', "serverless-offline's Lambda invoke API"],
  ] as const)(
    'names the port and the variable for %s, exits non-zero and leaves nothing running',
    async (piece, label) => {
      const ports = { ...(await freePorts()), [piece]: busy }
      const { code, stdout, stderr } = await npmStart(ports)
      expect(code).toBe(1)
      expect(stderr).toBe(
        `npm start: port ${busy} on 127.0.0.1 (${label}) is already in use: ` +
          `set ${PORT_VARIABLES[piece]} (or DEV_PORT_BASE for all six) to a free port, or stop what listens there\n`,
      )
      expect(stdout).not.toContain('Try it:')
      for (const [name, port] of Object.entries(ports)) if (name !== piece) expect(await portIsOpen(port)).toBe(false)
      expect(processesMentioning(`--httpPort ${ports.http}`)).toEqual([])
    },
    60_000,
  )

  it('refuses a malformed port variable with one line naming it', async () => {
    const env = { ...process.env, DEV_STATE_DIR: stateDir, DEV_TOKENX_PORT: '44o2' }
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [path.join(root, 'scripts', 'dev-stack.ts')], {
        cwd: root,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
      child.once('exit', (code) => resolve({ code, stderr }))
    })
    expect(result).toEqual({ code: 2, stderr: 'npm start: DEV_TOKENX_PORT must be a port number from 0 to 65535, not "44o2"\n' })
  })
})

describe('startStack and startOffline', () => {
  it('reject a taken port with a StackPortError and close what had started', async () => {
    const ports = { ...(await freePorts()), downstream: busy }
    const error = await startStack({ ports, functions: false }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StackPortError)
    expect(error).toMatchObject({ port: busy, variable: 'DEV_DOWNSTREAM_PORT', code: 'EADDRINUSE' })
    for (const piece of ['secretsManager', 'idporten', 'tokenx'] as const) expect(await portIsOpen(ports[piece])).toBe(false)
  })

  it('startOffline refuses a taken port before starting serverless-offline', async () => {
    const lambdaPort = await freePort()
    const error = await startOffline({ cwd: root, httpPort: busy, lambdaPort, env: {} }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PortInUseError)
    expect(error).toMatchObject({ port: busy })
    expect(processesMentioning(`--lambdaPort ${lambdaPort}`)).toEqual([])
  })

  it('portsFromEnv names the variable of a bad port', () => {
    expect(() => portsFromEnv({ DEV_HTTP_PORT: '70000' })).toThrow('DEV_HTTP_PORT must be a port number from 0 to 65535, not "70000"')
    expect(() => portsFromEnv({ DEV_PORT_BASE: '65531' })).toThrow(/DEV_PORT_BASE must leave room for six ports/)
    expect(portsFromEnv({ DEV_PORT_BASE: '5000', DEV_TOKENX_PORT: '6000' })).toEqual({
      http: 5000,
      lambda: 5001,
      tokenx: 6000,
      idporten: 5003,
      downstream: 5004,
      secretsManager: 5005,
    })
  })
})

describe('port checks', () => {
  it('assertPortFree passes a free port and refuses a taken one', async () => {
    await expect(assertPortFree(await freePort())).resolves.toBeUndefined()
    await expect(assertPortFree(busy)).rejects.toBeInstanceOf(PortInUseError)
  })

  it.runIf(process.platform === 'linux')('listenerOwnedBy tells whose socket listens on a port', async () => {
    expect(await listenerOwnedBy(process.pid, busy)).toBe(true)
    // Another process listening: not ours.
    const child = spawn(
      process.execPath,
      ['-e', 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => console.log(s.address().port))'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    )
    try {
      const port = await new Promise<number>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString()))))
      expect(await listenerOwnedBy(process.pid, port)).toBe(false)
      expect(await listenerOwnedBy(child.pid!, port)).toBe(true)
      expect(await listenerOwnedBy(process.pid, await freePort())).toBe(false)
    } finally {
      child.kill()
    }
  })
})
