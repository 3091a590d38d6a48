/**
 * What the Entra ID and Maskinporten stand-ins (dev/entra.ts, dev/maskinporten.ts) share: the
 * failures and delay a test asks for, and a server for a token endpoint with its JSON documents
 * (metadata, JWKS), on 127.0.0.1 only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { closeServer, listen, LOOPBACK, pathOf, sendJson } from './http.ts'

export interface Faults {
  /** The next `times` token requests are answered `status` with `body` (or a bare `status`). */
  failNext(times: number, status: number, body?: unknown): void
  /** Delays every token answer by `ms`. */
  delay(ms: number): void
  /** Waits the delay, then answers `res` with a planned failure if one is due: true when it did. */
  answered(res: ServerResponse): Promise<boolean>
}

export function faults(): Faults {
  let failures: { times: number; status: number; body: unknown } | undefined
  let delayMs = 0
  return {
    failNext(times, status, body) {
      failures = { times, status, body }
    },
    delay(ms) {
      delayMs = ms
    },
    async answered(res) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (failures === undefined || failures.times <= 0) return false
      failures.times -= 1
      if (failures.body === undefined) res.writeHead(failures.status).end()
      else sendJson(res, failures.status, failures.body)
      return true
    },
  }
}

export interface StandInRoutes {
  /** The token endpoint's path; POST only. */
  readonly tokenPath: string
  readonly token: (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** JSON documents by path, any method (metadata, JWKS), built on each request. */
  readonly documents: Readonly<Record<string, () => unknown>>
}

/**
 * Serves `routes` on 127.0.0.1 (`port` 0: a free one); any other path is a 404, and a failure
 * before an answer has begun a 500 `server_error`.
 */
export async function serveStandIn(port: number, routes: StandInRoutes): Promise<{ readonly url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = pathOf(req)
    const run = async () => {
      if (req.method === 'POST' && path === routes.tokenPath) return routes.token(req, res)
      const document = Object.hasOwn(routes.documents, path) ? routes.documents[path] : undefined
      if (document !== undefined) return sendJson(res, 200, document())
      sendJson(res, 404, { error: 'not_found' })
    }
    run().catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' })
    })
  })
  const bound = await listen(server, port)
  return { url: `http://${LOOPBACK}:${bound}`, close: () => closeServer(server) }
}
