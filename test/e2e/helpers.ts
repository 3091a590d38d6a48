/**
 * Helpers of the end-to-end tests: HTTP calls to the example function, and checks that nothing
 * the stack started is still running afterwards.
 */
import { execFileSync } from 'node:child_process'
import { connect } from 'node:net'
import { decodeJwt, type JWTPayload } from 'jose'

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: Record<string, unknown>
}

/** `GET ${apiUrl}/resource`, with `Authorization: Bearer <token>` when a token is given. */
export async function callResource(apiUrl: string, token?: string): Promise<Answer> {
  const response = await fetch(`${apiUrl}/resource`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  })
  const text = await response.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    // Asserted on by the caller where JSON is expected.
  }
  return { status: response.status, headers: response.headers, text, json }
}

/** The claims of the bearer token in an `Authorization` header seen downstream. */
export function bearerClaims(authorization: string | undefined): JWTPayload {
  const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1]
  if (token === undefined) throw new Error('no bearer token')
  return decodeJwt(token)
}

/** A random, well-formed 11-digit pid, so each test has citizens of its own (and cache misses). */
export function newPid(): string {
  return String(10_000_000_000 + Math.floor(Math.random() * 89_999_999_999)).slice(0, 11)
}

/** Command lines of running processes that mention `needle` (e.g. `--httpPort 41234`). */
export function processesMentioning(needle: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
  return out
    .split('\n')
    .filter((line) => line.includes(needle) && !line.includes('ps -eo'))
    .map((line) => line.trim())
}

/** Pids of running processes in process group `pgid` (a detached child's pid is its group id). */
export function processGroupMembers(pgid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,pgid=,stat='], { encoding: 'utf8' })
  return (
    out
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      // Zombies (stat Z) have exited; they only wait for their parent to read their status.
      .filter(([pid, group, stat]) => pid !== undefined && Number(group) === pgid && !stat?.startsWith('Z'))
      .map(([pid]) => Number(pid))
  )
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

export function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export function portOf(url: string): number {
  return Number(new URL(url).port)
}
