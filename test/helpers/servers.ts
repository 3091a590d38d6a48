/**
 * Small real HTTP servers on 127.0.0.1 that record what they receive: a token endpoint whose answers
 * a test scripts, and a downstream API. For the kit's unit and function tests; the full local TokenX
 * (oidc-provider) lives in dev/ and is used by the end-to-end tests.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface Answer {
  readonly status: number
  readonly body: string | object
  readonly headers?: Record<string, string>
  /** Milliseconds to wait before answering. */
  readonly delay?: number
  /** Destroy the socket instead of answering. */
  readonly reset?: boolean
}

export type Responder = (request: Recorded, index: number) => Answer | Promise<Answer>

export interface TestServer {
  readonly url: string
  readonly requests: Recorded[]
  respond: Responder
  /**
   * Closes the kept-alive connections no request is using, and gives the client a moment to see it:
   * the next request then opens a new connection (a request on a connection the server then resets
   * would otherwise be sent again by the kit's client, as one the server closed while idle).
   */
  closeIdle(): Promise<void>
  close(): Promise<void>
}

export async function startServer(respond: Responder): Promise<TestServer> {
  const requests: Recorded[] = []
  const state: TestServer = {
    url: '',
    requests,
    respond,
    closeIdle: async () => {
      server.closeIdleConnections()
      await new Promise((resolve) => setTimeout(resolve, 10))
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  const server = createServer((request, response) => {
    void handle(request, response)
  })
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const recorded = {
      method: request.method ?? '',
      url: request.url ?? '',
      headers: request.headers,
      body: Buffer.concat(chunks).toString(),
    }
    requests.push(recorded)
    const answer = await state.respond(recorded, requests.length - 1)
    if (answer.delay) await new Promise((resolve) => setTimeout(resolve, answer.delay))
    if (answer.reset) {
      response.socket?.destroy()
      return
    }
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body)
    const type = typeof answer.body === 'string' ? 'text/plain' : 'application/json'
    response.writeHead(answer.status, { 'content-type': type, ...answer.headers })
    response.end(text)
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(state, { url: `http://127.0.0.1:${port}` })
}

/** A successful RFC 8693 answer whose access token names what it was issued for. */
export function tokenAnswer(accessToken: string, expiresIn = 900): Answer {
  return {
    status: 200,
    body: {
      access_token: accessToken,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: expiresIn,
    },
  }
}

/** The URL of a port nobody listens on (a server started and closed): a token endpoint that is down. */
export async function closedEndpoint(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}/token`
}
