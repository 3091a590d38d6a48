/**
 * Ports of the dev stack: a clear error for a port that is taken, a check before a child process is
 * told to use one, and (on Linux) proof that the process that says it listens on a port really does.
 */
import { readdir, readFile, readlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import { LOOPBACK } from './http.ts'

/** A port the stack needs is taken by another process. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError'
  readonly code = 'EADDRINUSE'
  readonly port: number
  constructor(port: number, message = `port ${port} on ${LOOPBACK} is already in use`, options?: ErrorOptions) {
    super(message, options)
    this.port = port
  }
}

export function isAddressInUse(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'EADDRINUSE'
}

/** Resolves if `port` can be bound on 127.0.0.1 right now (and releases it); else PortInUseError. */
export function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (error) => reject(isAddressInUse(error) ? new PortInUseError(port, undefined, { cause: error }) : error))
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => server.close(() => resolve()))
  })
}

/**
 * Whether the socket listening on 127.0.0.1:`port` (or on every address) belongs to process `pid`:
 * true or false on Linux (from /proc), undefined where /proc cannot tell.
 */
export async function listenerOwnedBy(pid: number, port: number): Promise<boolean | undefined> {
  let inodes: Set<string>
  try {
    inodes = await listeningInodes(port)
  } catch {
    return undefined
  }
  if (inodes.size === 0) return false
  let fds: string[]
  try {
    fds = await readdir(`/proc/${pid}/fd`)
  } catch {
    return undefined
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match?.[1] !== undefined && inodes.has(match[1])) return true
  }
  return false
}

/** Inodes of TCP sockets in LISTEN state on 127.0.0.1:port or 0.0.0.0:port (/proc/net/tcp, tcp6). */
async function listeningInodes(port: number): Promise<Set<string>> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const local = new Set([
    `0100007F:${hexPort}`,
    `00000000:${hexPort}`,
    `00000000000000000000000000000000:${hexPort}`,
    `0000000000000000FFFF00000100007F:${hexPort}`,
  ])
  const inodes = new Set<string>()
  const tables = await Promise.allSettled([readFile('/proc/net/tcp', 'utf8'), readFile('/proc/net/tcp6', 'utf8')])
  if (tables.every((table) => table.status === 'rejected')) throw new Error('no /proc/net/tcp')
  for (const table of tables) {
    if (table.status !== 'fulfilled') continue
    for (const line of table.value.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      if (fields.length > 9 && local.has(fields[1]!) && fields[3] === '0A') inodes.add(fields[9]!)
    }
  }
  return inodes
}
