/**
 * Small node:http helpers shared by the local servers. Every server of the dev stack binds to
 * 127.0.0.1 only: nothing here is meant to be reachable from another machine.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export const LOOPBACK = '127.0.0.1'

/** Starts listening and resolves with the bound port (useful with port 0 = ephemeral). */
export function listen(server: Server, port: number, host: string = LOOPBACK): Promise<number> {
  if (host !== LOOPBACK && host !== 'localhost' && host !== '::1') {
    throw new Error(`refusing to bind to ${host}: the dev stack listens on loopback only`)
  }
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** Closes the server and drops keep-alive sockets, so `close()` does not wait for idle clients. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve()
      return
    }
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/** Reads a request body up to `limit` bytes; larger bodies are rejected rather than buffered. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    const buffer = chunk as Buffer
    size += buffer.length
    if (size > limit) throw new Error('request body too large')
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** The path part of a request URL (no query). */
export function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://localhost').pathname
}
