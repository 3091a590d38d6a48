import { spawn } from 'node:child_process'
import { getEventListeners } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import net, { type AddressInfo } from 'node:net'
import tls, { type TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AnswerTooLargeError, MAX_ANSWER_BYTES } from '../../../lib/util/http.ts'
import { createHttp1Post, http1Post, MalformedAnswerError, MAX_HEAD_BYTES, MAX_SOCKETS_PER_ORIGIN } from '../../../lib/util/http1.ts'
import { deferred } from '../../helpers/deferred.ts'

const FORM = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'a.b+c/d=' }).toString()
const CERT = readFileSync(new URL('../../fixtures/tls/cert.pem', import.meta.url))
const KEY = readFileSync(new URL('../../fixtures/tls/key.pem', import.meta.url))
const OTHER_CERT = readFileSync(new URL('../../fixtures/tls/other-cert.pem', import.meta.url))
const OTHER_KEY = readFileSync(new URL('../../fixtures/tls/other-key.pem', import.meta.url))

const never = () => new AbortController().signal
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

const tick = (ms = 1) => new Promise((resolve) => setTimeout(resolve, ms))

/** Once `ready` resolves, aborts `controller` with a reason, which `pending` must reject with (the very object). */
async function expectAbortRejects(pending: Promise<unknown>, controller: AbortController, ready: Promise<void>): Promise<void> {
  await ready
  const reason = new Error('aborted')
  controller.abort(reason)
  await expect(pending).rejects.toBe(reason)
}

/**
 * Listens on 127.0.0.1 (a free port) and, after the test, drops the server's connections with
 * `dropConnections` and closes it; resolves to the port.
 */
async function listen(server: net.Server, dropConnections: () => void): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        dropConnections()
        server.close(() => resolve())
      }),
  )
  return (server.address() as AddressInfo).port
}

interface RawRequest {
  /** Which connection (0, 1, …) carried it. */
  readonly connection: number
  readonly head: string
  readonly body: string
  /** The bytes of the connection's first read that holds this request's start. */
  readonly firstRead: Buffer
}

interface RawServer {
  readonly url: string
  readonly port: number
  readonly sockets: net.Socket[]
  readonly requests: RawRequest[]
  readonly closed: Promise<void>[]
}

/**
 * A TCP server on 127.0.0.1 that reads whole requests (head + content-length body) and lets the test
 * answer each with exact bytes through `answer(socket, request, index)`.
 */
async function startRaw(answer: (socket: net.Socket, request: RawRequest, index: number) => void): Promise<RawServer> {
  const sockets: net.Socket[] = []
  const requests: RawRequest[] = []
  const closed: Promise<void>[] = []
  const server = net.createServer((socket) => {
    const connection = sockets.length
    sockets.push(socket)
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())))
    socket.on('error', () => undefined)
    let buffer = Buffer.alloc(0)
    let firstRead: Buffer | undefined
    socket.on('data', (chunk: Buffer) => {
      if (buffer.length === 0) firstRead = chunk
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = buffer.toString('latin1', 0, end)
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0)
        if (buffer.length < end + 4 + length) return
        const request = { connection, head, body: buffer.toString('utf8', end + 4, end + 4 + length), firstRead: firstRead as Buffer }
        buffer = buffer.subarray(end + 4 + length)
        firstRead = buffer.length > 0 ? buffer : undefined
        requests.push(request)
        answer(socket, request, requests.length - 1)
      }
    })
  })
  const port = await listen(server, () => {
    for (const socket of sockets) socket.destroy()
  })
  return { url: `http://127.0.0.1:${port}/token`, port, sockets, requests, closed }
}

/** A node:http server counting its connections. */
async function startHttp(handle: (request: IncomingMessage, response: ServerResponse) => void) {
  const connections: net.Socket[] = []
  const server = createServer(handle)
  server.on('connection', (socket) => connections.push(socket))
  const port = await listen(server, () => server.closeAllConnections())
  return { url: `http://127.0.0.1:${port}/token`, connections }
}

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`
const json200 = (body: string, extra: string[] = []) =>
  head(['HTTP/1.1 200 OK', 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`, ...extra]) + body

describe('http1Post: the request', () => {
  it('sends one POST with host, content type, accept and length, head and body in one write', async () => {
    const raw = await startRaw((socket) => socket.write(json200('{"access_token":"x"}')))
    const write = vi.spyOn(net.Socket.prototype, 'write')
    const answer = await http1Post(new URL(`${raw.url}?a=1`), FORM, never())
    const ours = write.mock.calls.map(([data]) => String(data)).filter((data) => data.startsWith('POST') || data.includes(FORM))
    write.mockRestore()
    expect(answer).toStrictEqual({ status: 200, contentType: 'application/json', body: '{"access_token":"x"}' })
    const [request] = raw.requests as [RawRequest]
    const expected = head([
      'POST /token?a=1 HTTP/1.1',
      `host: 127.0.0.1:${raw.port}`,
      'content-type: application/x-www-form-urlencoded',
      'accept: application/json',
      `content-length: ${FORM.length}`,
    ])
    expect(`${request.head}\r\n\r\n${request.body}`).toBe(expected + FORM)
    // One write: one call, and the server's first read holds the whole request.
    expect(ours).toEqual([expected + FORM])
    expect(request.firstRead.toString()).toBe(expected + FORM)
  })

  it('counts the content length in bytes', async () => {
    const raw = await startRaw((socket) => socket.write(json200('{}')))
    await http1Post(new URL(raw.url), 'name=%C3%A6&raw=æ', never())
    expect(raw.requests[0]?.head).toContain(`content-length: ${Buffer.byteLength('name=%C3%A6&raw=æ')}`)
    expect(raw.requests[0]?.body).toBe('name=%C3%A6&raw=æ')
  })

  it('refuses a target or host holding control characters, and a scheme other than http(s), without connecting', async () => {
    const raw = await startRaw((socket) => socket.write(json200('{}')))
    const base = new URL(raw.url)
    // URL itself refuses these; a forged one checks the client's own defence.
    const forged = (part: Partial<Record<keyof ReturnType<typeof urlParts>, string>>) => ({ ...urlParts(base), ...part }) as unknown as URL
    for (const url of [
      forged({ pathname: '/token\r\nx-injected: 1' }),
      forged({ search: '?a=\n' }),
      forged({ pathname: '/a\0b' }),
      forged({ host: `127.0.0.1:${raw.port}\r\nx: y` }),
      forged({ protocol: 'ftp:' }),
    ]) {
      await expect(http1Post(url, FORM, never())).rejects.toBeInstanceOf(TypeError)
    }
    await tick(20)
    expect(raw.sockets).toHaveLength(0)
  })
})

function urlParts(url: URL) {
  return { protocol: url.protocol, host: url.host, hostname: url.hostname, port: url.port, pathname: url.pathname, search: url.search }
}

describe('http1Post: IPv6 literals', () => {
  // Tests use 127.0.0.1 only: the connection is made there, and what the client asked for is recorded.
  it('connects to the bare address and sends the bracketed host', async () => {
    const raw = await startRaw((socket) => socket.write(json200('{}')))
    const connect = net.connect
    const asked: unknown[] = []
    vi.spyOn(net, 'connect').mockImplementation(((options: net.NetConnectOpts) => {
      asked.push(options)
      return connect({ ...options, host: '127.0.0.1' } as net.NetConnectOpts)
    }) as typeof net.connect)
    await createHttp1Post()(new URL(`http://[::1]:${raw.port}/token`), FORM, never())
    expect(asked).toEqual([{ host: '::1', port: raw.port }])
    expect(raw.requests[0]?.head).toContain(`\r\nhost: [::1]:${raw.port}\r\n`)
  })
})

describe('http1Post: reading the answer', () => {
  it('reads a chunked body with extensions and trailers', async () => {
    const raw = await startRaw((socket) =>
      socket.write(
        head(['HTTP/1.1 200 OK', 'Content-Type: application/json', 'Transfer-Encoding: chunked']) +
          '5;name=value;other="quoted"\r\n{"a":\r\n' +
          'b \t; x\r\n"chunked!"}\r\n' +
          '0;last\r\nx-trailer: one\r\nx-other: two\r\n\r\n',
      ),
    )
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"a":"chunked!"}',
    })
  })

  const CHUNKED = Buffer.from(
    head(['HTTP/1.1 200 OK', 'content-type: application/json', 'transfer-encoding: chunked']) +
      '4;ext=1\r\n{"e"\r\n' +
      `${Buffer.byteLength(':"æø€😀"}').toString(16)}\r\n:"æø€😀"}\r\n` +
      '0\r\ntrailer: t\r\n\r\n',
  )

  it('reads a chunked answer split in two at every byte boundary, on one kept-alive connection', async () => {
    const raw = await startRaw((socket, _request, index) => {
      const at = index + 1
      socket.write(CHUNKED.subarray(0, at))
      setTimeout(() => socket.write(CHUNKED.subarray(at)), 2)
    })
    for (let at = 1; at < CHUNKED.length; at++) {
      const answer = await http1Post(new URL(raw.url), FORM, never())
      expect(answer.body, `split at ${at}`).toBe('{"e":"æø€😀"}')
    }
    expect(raw.sockets).toHaveLength(1)
  })

  it('decodes multi-byte characters that arrive one byte at a time', async () => {
    const body = Buffer.from('{"error_description":"æøå € 😀"}')
    const answer = Buffer.concat([Buffer.from(head(['HTTP/1.1 400 Bad Request', `content-length: ${body.length}`])), body])
    const raw = await startRaw(async (socket) => {
      for (const byte of answer) {
        socket.write(Buffer.from([byte]))
        await tick()
      }
    })
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({
      status: 400,
      contentType: '',
      body: '{"error_description":"æøå € 😀"}',
    })
  })

  it('reads a body delimited by the server closing, and does not reuse that connection', async () => {
    const raw = await startRaw((socket) => socket.end(`${head(['HTTP/1.1 200 OK', 'content-type: text/plain'])}until close`))
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({ status: 200, contentType: 'text/plain', body: 'until close' })
    expect((await http1Post(new URL(raw.url), FORM, never())).body).toBe('until close')
    expect(raw.sockets).toHaveLength(2)
  })

  it('fails a body delimited by the close when the connection is reset instead', async () => {
    const raw = await startRaw((socket) => {
      socket.write(`${head(['HTTP/1.1 200 OK', 'content-type: text/plain'])}cut sh`)
      setTimeout(() => socket.resetAndDestroy(), 5)
    })
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toMatchObject({ code: 'ECONNRESET' })
  })

  it('skips interim 1xx answers', async () => {
    const raw = await startRaw((socket) =>
      socket.write(
        head(['HTTP/1.1 103 Early Hints', 'link: </style.css>; rel=preload']) + head(['HTTP/1.1 100 Continue']) + json200('{"ok":1}'),
      ),
    )
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({
      status: 200,
      contentType: 'application/json',
      body: '{"ok":1}',
    })
  })

  it('returns a non-200 answer with its body as an answer', async () => {
    const raw = await startRaw((socket) =>
      socket.write(
        head(['HTTP/1.1 400 Bad Request', 'content-type: application/json;charset=UTF-8', 'content-length: 27']) +
          '{"error":"invalid_request"}',
      ),
    )
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({
      status: 400,
      contentType: 'application/json;charset=UTF-8',
      body: '{"error":"invalid_request"}',
    })
  })

  it.each([204, 304])('reads no body after %i, and keeps the connection', async (status) => {
    const raw = await startRaw((socket) => socket.write(head([`HTTP/1.1 ${status} X`, 'content-type: text/plain'])))
    expect(await http1Post(new URL(raw.url), FORM, never())).toStrictEqual({ status, contentType: 'text/plain', body: '' })
    expect((await http1Post(new URL(raw.url), FORM, never())).status).toBe(status)
    expect(raw.sockets).toHaveLength(1)
  })

  it('accepts a content-length repeated with one value, and an answer head up to MAX_HEAD_BYTES', async () => {
    const fixed = head(['HTTP/1.1 200 OK', 'content-length: 2', 'content-length: 2, 2', 'x-pad: ']).length + 2
    const pad = 'p'.repeat(MAX_HEAD_BYTES - fixed)
    const raw = await startRaw((socket) =>
      socket.write(`${head(['HTTP/1.1 200 OK', 'content-length: 2', 'content-length: 2, 2', `x-pad: ${pad}`])}{}`),
    )
    expect((await http1Post(new URL(raw.url), FORM, never())).body).toBe('{}')
  })
})

describe('http1Post: connections', () => {
  it('reuses a kept-alive connection for sequential requests', async () => {
    const server = await startHttp((_request, response) => {
      _request.resume()
      _request.on('end', () => response.end('{}'))
    })
    await http1Post(new URL(server.url), FORM, never())
    await http1Post(new URL(server.url), FORM, never())
    await http1Post(new URL(server.url), FORM, never())
    expect(server.connections).toHaveLength(1)
  })

  it.each<[string, string[]]>([
    ['connection: close', ['HTTP/1.1 200 OK', 'connection: close', 'content-length: 2']],
    ['an HTTP/1.0 answer without keep-alive', ['HTTP/1.0 200 OK', 'content-length: 2']],
    ['extra bytes after the answer', ['HTTP/1.1 200 OK', 'content-length: 1']],
  ])('does not reuse a connection after %s', async (_label, lines) => {
    const raw = await startRaw((socket) => socket.write(`${head(lines)}{}`))
    await http1Post(new URL(raw.url), FORM, never())
    await http1Post(new URL(raw.url), FORM, never())
    expect(raw.sockets).toHaveLength(2)
    // The client closed the first one itself.
    await raw.closed[0]
  })

  it('reuses an HTTP/1.0 connection that says keep-alive', async () => {
    const raw = await startRaw((socket) => socket.write(`${head(['HTTP/1.0 200 OK', 'Connection: Keep-Alive', 'content-length: 2'])}{}`))
    await http1Post(new URL(raw.url), FORM, never())
    await http1Post(new URL(raw.url), FORM, never())
    expect(raw.sockets).toHaveLength(1)
  })

  it('opens a connection per concurrent request', async () => {
    const both = deferred()
    let arrived = 0
    const server = await startHttp((request, response) => {
      request.resume()
      arrived += 1
      if (arrived === 2) both.resolve()
      void both.promise.then(() => response.end('{}'))
    })
    const answers = await Promise.all([1, 2].map(() => http1Post(new URL(server.url), FORM, never())))
    expect(answers.map((a) => a.body)).toEqual(['{}', '{}'])
    expect(server.connections).toHaveLength(2)
  })

  it(`opens at most ${MAX_SOCKETS_PER_ORIGIN} connections to an origin; more requests wait for one to come free`, async () => {
    const full = deferred()
    let arrived = 0
    const server = await startHttp((request, response) => {
      request.resume()
      arrived += 1
      if (arrived === MAX_SOCKETS_PER_ORIGIN) full.resolve()
      void full.promise.then(() => response.end(String(arrived)))
    })
    const post = createHttp1Post()
    const answers = await Promise.all(Array.from({ length: MAX_SOCKETS_PER_ORIGIN + 2 }, () => post(new URL(server.url), FORM, never())))
    expect(answers).toHaveLength(MAX_SOCKETS_PER_ORIGIN + 2)
    expect(server.connections).toHaveLength(MAX_SOCKETS_PER_ORIGIN)
  })

  it('closes an idle connection on which the server sends bytes nobody asked for', async () => {
    const raw = await startRaw((socket, _request, index) => {
      socket.write(json200('{}'))
      if (index === 0) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'), 5)
    })
    await http1Post(new URL(raw.url), FORM, never())
    await raw.closed[0]
    await http1Post(new URL(raw.url), FORM, never())
    expect(raw.requests.map((r) => r.connection)).toEqual([0, 1])
  })

  it('sends the next request on a new connection when the server closed the idle one', async () => {
    const raw = await startRaw((socket) => socket.end(json200('{}')))
    await http1Post(new URL(raw.url), FORM, never())
    await raw.closed[0]
    await tick(5)
    expect((await http1Post(new URL(raw.url), FORM, never())).body).toBe('{}')
    expect(raw.requests.map((r) => r.connection)).toEqual([0, 1])
  })

  it.each<[string, (socket: net.Socket) => void]>([
    ['closes it', (socket) => socket.end()],
    ['resets it', (socket) => socket.resetAndDestroy()],
  ])(
    'sends a request again on a new connection once when the server %s as the request arrives on a kept-alive one',
    async (_label, drop) => {
      const raw = await startRaw((socket, request, index) => {
        if (index === 1 && request.connection === 0) drop(socket)
        else socket.write(json200(`{"n":${index}}`))
      })
      await http1Post(new URL(raw.url), FORM, never())
      expect((await http1Post(new URL(raw.url), FORM, never())).body).toBe('{"n":2}')
      expect(raw.requests.map((r) => r.connection)).toEqual([0, 0, 1])
    },
  )

  it('builds the body again for the request it sends again (a fresh client assertion each time)', async () => {
    const raw = await startRaw((socket, request, index) => {
      if (index === 1 && request.connection === 0) socket.end()
      else socket.write(json200('{}'))
    })
    await http1Post(new URL(raw.url), FORM, never())
    let built = 0
    await http1Post(new URL(raw.url), () => `n=${++built}`, never())
    expect(built).toBe(2)
    expect(raw.requests.slice(1).map((r) => r.body)).toEqual(['n=1', 'n=2'])
  })

  it('does not send a request again once part of its answer arrived', async () => {
    const raw = await startRaw((socket, _request, index) => {
      if (index === 0) socket.write(json200('{}'))
      else socket.end('HTTP/1.1 200 OK\r\n')
    })
    await http1Post(new URL(raw.url), FORM, never())
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toMatchObject({ code: 'ECONNRESET' })
    await tick(20)
    expect(raw.requests).toHaveLength(2)
  })

  it('does not send a request again that failed on a new connection', async () => {
    const raw = await startRaw((socket) => socket.end())
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toMatchObject({ code: 'ECONNRESET' })
    await tick(20)
    expect(raw.requests).toHaveLength(1)
  })

  it('fails when the body is cut short', async () => {
    const raw = await startRaw((socket) => socket.end(`${head(['HTTP/1.1 200 OK', 'content-length: 10'])}{"a`))
    const err = await http1Post(new URL(raw.url), FORM, never()).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ECONNRESET' })
    expect((err as Error).message).not.toContain('{"a')
  })

  it('reports a refused connection with its code', async () => {
    const raw = await startRaw(() => undefined)
    const url = raw.url
    await closers.pop()?.()
    await expect(http1Post(new URL(url), FORM, never())).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('does not keep the process alive with an idle connection', async () => {
    const server = await startHttp((request, response) => {
      request.resume()
      request.on('end', () => response.end('{"kept":true}'))
    })
    const module = fileURLToPath(new URL('../../../lib/util/http1.ts', import.meta.url))
    const script = `const { http1Post } = await import(${JSON.stringify(module)}); const a = await http1Post(new URL(${JSON.stringify(server.url)}), 'a=b', new AbortController().signal); console.log(a.body)`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
      // A socket that kept the child alive would show as a kill, not as a hung test.
      signal: AbortSignal.timeout(5000),
    })
    child.on('error', () => undefined)
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(out.trim()).toBe('{"kept":true}')
    expect(code).toBe(0)
    // The child's connection was still open (kept alive) when it exited.
    expect(server.connections).toHaveLength(1)
  })
})

describe('http1Post: refused answers', () => {
  it('rejects a declared length over MAX_ANSWER_BYTES before any body arrives, and closes the connection', async () => {
    const raw = await startRaw((socket) => socket.write(head(['HTTP/1.1 200 OK', `content-length: ${MAX_ANSWER_BYTES + 1}`])))
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toBeInstanceOf(AnswerTooLargeError)
    await raw.closed[0]
  })

  it('rejects a declared chunk size past MAX_ANSWER_BYTES before its data arrives', async () => {
    const raw = await startRaw((socket) =>
      socket.write(
        `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked'])}10\r\n${'x'.repeat(16)}\r\n${(MAX_ANSWER_BYTES - 15).toString(16)}\r\n`,
      ),
    )
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toBeInstanceOf(AnswerTooLargeError)
    await raw.closed[0]
  })

  it.each<[string, string]>([
    ['chunked', head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked'])],
    ['delimited by the close', head(['HTTP/1.1 200 OK'])],
  ])('rejects a %s body growing past MAX_ANSWER_BYTES', async (label, start) => {
    const raw = await startRaw((socket) => {
      socket.write(start)
      const piece = label === 'chunked' ? `1000\r\n${'x'.repeat(0x1000)}\r\n` : 'x'.repeat(0x1000)
      for (let i = 0; i < MAX_ANSWER_BYTES / 0x1000 + 1; i++) socket.write(piece)
    })
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toBeInstanceOf(AnswerTooLargeError)
    await raw.closed[0]
  })

  it('rejects an answer head larger than MAX_HEAD_BYTES, in one piece or still arriving', async () => {
    const big = `${head(['HTTP/1.1 200 OK', `x-secret: ${'s'.repeat(MAX_HEAD_BYTES)}`, 'content-length: 2'])}{}`
    const raw = await startRaw((socket, _request, index) => {
      if (index === 0) socket.write(big)
      else socket.write(big.slice(0, MAX_HEAD_BYTES + 1))
    })
    for (let i = 0; i < 2; i++) {
      const err = await createHttp1Post()(new URL(raw.url), FORM, never()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(MalformedAnswerError)
      expect((err as Error).message).toBe(`answer head larger than ${MAX_HEAD_BYTES} bytes`)
    }
  })

  it('counts interim heads towards MAX_HEAD_BYTES', async () => {
    const interim = head(['HTTP/1.1 103 Early Hints', `link: ${'l'.repeat(1000)}`])
    const raw = await startRaw((socket) => socket.write(interim.repeat(Math.ceil(MAX_HEAD_BYTES / interim.length)) + json200('{}')))
    await expect(http1Post(new URL(raw.url), FORM, never())).rejects.toBeInstanceOf(MalformedAnswerError)
  })

  const SECRET = 'eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.sig'
  it.each<[string, string]>([
    ['an HTTP/2 status line', `HTTP/2 200 ${SECRET}\r\ncontent-length: 2\r\n\r\n{}`],
    ['a status line of another protocol', `ICY 200 ${SECRET}\r\ncontent-length: 2\r\n\r\n{}`],
    ['a two-digit status', `HTTP/1.1 20 ${SECRET}\r\ncontent-length: 2\r\n\r\n{}`],
    ['a status line without its space', `HTTP/1.1 200${SECRET}\r\ncontent-length: 2\r\n\r\n{}`],
    ['a 101 answer never asked for', head(['HTTP/1.1 101 Switching Protocols', `upgrade: ${SECRET}`])],
    ['conflicting content-lengths', `${head(['HTTP/1.1 200 OK', 'content-length: 2', 'content-length: 3', `x: ${SECRET}`])}{}`],
    ['a content-length list of two values', `${head(['HTTP/1.1 200 OK', 'content-length: 2, 3'])}{}`],
    ['a signed content-length', `${head(['HTTP/1.1 200 OK', 'content-length: +2'])}{}`],
    ['a content-length with a letter', `${head(['HTTP/1.1 200 OK', 'content-length: 2a'])}{}`],
    ['an empty content-length', `${head(['HTTP/1.1 200 OK', 'content-length:'])}{}`],
    [
      'both transfer-encoding and content-length',
      `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'content-length: 7'])}2\r\n{}\r\n0\r\n\r\n`,
    ],
    ['a transfer-encoding other than chunked', `${head(['HTTP/1.1 200 OK', 'transfer-encoding: gzip, chunked'])}2\r\n{}\r\n0\r\n\r\n`],
    ['transfer-encoding in an HTTP/1.0 answer', `${head(['HTTP/1.0 200 OK', 'transfer-encoding: chunked'])}2\r\n{}\r\n0\r\n\r\n`],
    ['chunked twice', `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'transfer-encoding: chunked'])}2\r\n{}\r\n0\r\n\r\n`],
    ['a chunk size that is not hexadecimal', `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked'])}${SECRET}\r\n{}\r\n0\r\n\r\n`],
    ['a chunk not followed by CRLF', `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked'])}2\r\n{}${SECRET}\r\n0\r\n\r\n`],
    ['a malformed trailer', `${head(['HTTP/1.1 200 OK', 'transfer-encoding: chunked'])}2\r\n{}\r\n0\r\n${SECRET}\r\n\r\n`],
    ['a folded header line', `${head(['HTTP/1.1 200 OK', 'content-length: 2', 'x-a: b', ` ${SECRET}`])}{}`],
    ['a space before the colon', `${head(['HTTP/1.1 200 OK', 'content-length : 2'])}{}`],
    ['a bare LF inside a field', `${head(['HTTP/1.1 200 OK', `x-a: ${SECRET}\nx-injected: 1`, 'content-length: 2'])}{}`],
    ['a NUL in a field', `${head(['HTTP/1.1 200 OK', 'x-a: a\0b', 'content-length: 2'])}{}`],
    ['a field name that is not a token', `${head(['HTTP/1.1 200 OK', 'x(a): b', 'content-length: 2'])}{}`],
  ])('rejects %s with a message that holds none of its bytes', async (_label, answer) => {
    const raw = await startRaw((socket) => socket.write(answer))
    const err = await http1Post(new URL(raw.url), FORM, never()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MalformedAnswerError)
    expect(err).toMatchObject({ name: 'MalformedAnswerError' })
    expect((err as Error).message).not.toContain(SECRET)
    expect((err as Error).message).not.toContain('s'.repeat(4))
    await raw.closed[0]
  })
})

describe('http1Post: abort', () => {
  it('does not connect when the signal is already aborted', async () => {
    const raw = await startRaw((socket) => socket.write(json200('{}')))
    const reason = new Error('already')
    await expect(http1Post(new URL(raw.url), FORM, AbortSignal.abort(reason))).rejects.toBe(reason)
    await tick(20)
    expect(raw.sockets).toHaveLength(0)
  })

  it('closes the connection and rejects with the reason when the signal aborts during the request', async () => {
    const arrived = deferred()
    const raw = await startRaw(() => arrived.resolve())
    const controller = new AbortController()
    await expectAbortRejects(http1Post(new URL(raw.url), FORM, controller.signal), controller, arrived.promise)
    await raw.closed[0]
  })

  it('stops waiting for a free connection when the signal aborts', async () => {
    const arrived = deferred()
    let count = 0
    const server = await startHttp((request) => {
      request.resume()
      count += 1
      if (count === MAX_SOCKETS_PER_ORIGIN) arrived.resolve()
    })
    const post = createHttp1Post()
    const controller = new AbortController()
    const busy = Array.from({ length: MAX_SOCKETS_PER_ORIGIN }, () =>
      post(new URL(server.url), FORM, controller.signal).catch((e: unknown) => e),
    )
    const waiting = new AbortController()
    await expectAbortRejects(post(new URL(server.url), FORM, waiting.signal), waiting, arrived.promise)
    controller.abort(new Error('end'))
    await Promise.all(busy)
    expect(server.connections).toHaveLength(MAX_SOCKETS_PER_ORIGIN)
  })

  it('removes its abort listener once settled', async () => {
    const raw = await startRaw((socket, _request, index) => (index === 0 ? socket.write(json200('{}')) : socket.end('HTTP/1.1 2')))
    const controller = new AbortController()
    const pending = http1Post(new URL(raw.url), FORM, controller.signal)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1)
    await pending
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    await expect(http1Post(new URL(raw.url), FORM, controller.signal)).rejects.toThrow()
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })
})

describe('http1Post over TLS', () => {
  async function startHttps(cert = CERT, key = KEY) {
    const sockets: TLSSocket[] = []
    const resumed: boolean[] = []
    const server = createHttpsServer({ cert, key, ALPNProtocols: ['http/1.1'] }, (request, response) => {
      request.resume()
      // `/close` answers with `connection: close`, so that the next request needs a new connection.
      if (request.url === '/close') response.setHeader('connection', 'close')
      request.on('end', () => response.end(JSON.stringify({ path: request.url })))
    })
    server.on('secureConnection', (socket: TLSSocket) => {
      sockets.push(socket)
      resumed.push(socket.isSessionReused())
    })
    const port = await listen(server, () => server.closeAllConnections())
    return { port, sockets, resumed, server }
  }

  it('posts over TLS to a trusted certificate, naming the server and offering http/1.1', async () => {
    const https = await startHttps()
    const post = createHttp1Post({ ca: CERT })
    const answer = await post(new URL(`https://localhost:${https.port}/token`), FORM, never())
    expect(answer).toStrictEqual({ status: 200, contentType: '', body: '{"path":"/token"}' })
    await post(new URL(`https://localhost:${https.port}/token`), FORM, never())
    expect(https.sockets).toHaveLength(1)
    expect(https.sockets[0]?.servername).toBe('localhost')
    expect(https.sockets[0]?.alpnProtocol).toBe('http/1.1')
  })

  it('sends no server name for an IP address', async () => {
    const https = await startHttps()
    await createHttp1Post({ ca: CERT })(new URL(`https://127.0.0.1:${https.port}/token`), FORM, never())
    expect(https.sockets[0]?.servername).toBe(false)
  })

  it('resumes the TLS session on a new connection', async () => {
    const https = await startHttps()
    const post = createHttp1Post({ ca: CERT })
    await post(new URL(`https://localhost:${https.port}/close`), FORM, never())
    await post(new URL(`https://localhost:${https.port}/token`), FORM, never())
    expect(https.sockets).toHaveLength(2)
    expect(https.resumed).toEqual([false, true])
  })

  it('refuses a certificate the default trust does not know', async () => {
    const https = await startHttps()
    let requests = 0
    https.server.on('request', () => {
      requests += 1
    })
    const err = await http1Post(new URL(`https://localhost:${https.port}/token`), FORM, never()).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    expect(requests).toBe(0)
  })

  it('refuses a trusted certificate that does not name the host', async () => {
    const https = await startHttps(OTHER_CERT, OTHER_KEY)
    const err = await createHttp1Post({ ca: OTHER_CERT })(new URL(`https://localhost:${https.port}/token`), FORM, never()).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })

  it('sends no server name for an IPv6 literal, and connects to the bare address', async () => {
    const https = await startHttps()
    const connect = tls.connect
    const asked: tls.ConnectionOptions[] = []
    vi.spyOn(tls, 'connect').mockImplementation(((options: tls.ConnectionOptions) => {
      asked.push(options)
      return connect({ ...options, host: '127.0.0.1' })
    }) as typeof tls.connect)
    const answer = await createHttp1Post({ ca: CERT })(new URL(`https://[::1]:${https.port}/token`), FORM, never())
    expect(answer.body).toBe('{"path":"/token"}')
    expect(asked).toHaveLength(1)
    expect(asked[0]).toMatchObject({ host: '::1', port: https.port, ALPNProtocols: ['http/1.1'] })
    expect(asked[0]).not.toHaveProperty('servername')
  })
})
