/**
 * The token endpoint's form POST over HTTP/1.1 (RFC 9112), written by hand on `node:net` / `node:tls`
 * keep-alive sockets. Why not `node:http(s)` or `fetch`: a token request is one small POST whose answer
 * is a few KB of JSON, and those clients' general machinery (streams, header objects, agents' events)
 * is CPU a request this simple need not pay; bench/README.md keeps this module only where that shows.
 * So it does one thing: one request in one socket write, one answer read into a bounded buffer, no
 * pipelining, no redirects, no compression, no upgrades. It is strict where lenience could hide a
 * smuggled or split answer (RFC 9112 §6.3, §11): a framing it does not understand is an error, never a
 * guess, and its errors never quote the answer's bytes (they may hold tokens).
 * No timers: the caller's `signal` is the deadline.
 */
import net from 'node:net'
import tls from 'node:tls'
import { AnswerTooLargeError, formText, type HttpAnswer, MAX_ANSWER_BYTES, type PostForm } from './http.ts'

/** Sockets per origin, busy and idle together; a request past it waits for one to come free. */
export const MAX_SOCKETS_PER_ORIGIN = 64
/** Idle keep-alive sockets kept per origin; one more coming free is closed. */
export const MAX_IDLE_PER_ORIGIN = 16
/** Bytes of an answer's head (status line and header fields), its interim 1xx heads and its chunked trailer fields together. */
export const MAX_HEAD_BYTES = 16 * 1024
/** Bytes of one chunk-size line (RFC 9112 §7.1, extensions included) or trailer line. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024
/** Origins whose last TLS session is kept for resumption (as `https.Agent`'s `maxCachedSessions`). */
const MAX_TLS_SESSIONS = 100

/** An answer that is not well-formed HTTP/1.1. The message is a fixed text: it never holds the answer's bytes. */
export class MalformedAnswerError extends Error {
  override name = 'MalformedAnswerError'
}

export interface Http1PostOptions {
  /** Trusted certificates instead of Node's defaults (PEM); for tests against a local HTTPS server only. */
  readonly ca?: string | Buffer
}

/** A connection the pool owns; `answer` is the request it currently serves (none while idle). */
interface Connection {
  readonly socket: net.Socket
  readonly pool: Pool
  answer: Answering | undefined
}

/** What a connection tells the request it serves. */
interface Answering {
  data(chunk: Buffer): void
  /** The server ended the connection, or it closed (`err` if it failed). */
  ended(err?: Error): void
}

interface Pool {
  readonly key: string
  /** Every open connection's count, busy and idle. */
  open: number
  readonly idle: Connection[]
  /** Requests waiting for a connection to come free (at MAX_SOCKETS_PER_ORIGIN); each one retries its acquisition. */
  readonly waiting: Array<() => void>
}

/** Any byte the request line and `host` field must not hold: controls, space and DEL (RFC 9112 §3, §3.2). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what it refuses
const UNSAFE_REQUEST_BYTES = /[\x00-\x20\x7f]/

/** `PostForm` with its own connection pool; `http1Post` is the kit's instance. */
export function createHttp1Post(options: Http1PostOptions = {}): PostForm {
  const pools = new Map<string, Pool>()
  const sessions = new Map<string, Buffer>()

  function poolFor(key: string): Pool {
    let pool = pools.get(key)
    if (pool === undefined) {
      pool = { key, open: 0, idle: [], waiting: [] }
      pools.set(key, pool)
    }
    return pool
  }

  function rememberSession(key: string, session: Buffer): void {
    sessions.delete(key)
    sessions.set(key, session)
    if (sessions.size > MAX_TLS_SESSIONS) sessions.delete(sessions.keys().next().value as string)
  }

  function connect(url: URL, pool: Pool): Connection {
    // `[::1]` names an IPv6 address; the socket wants it bare.
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
    const secure = url.protocol === 'https:'
    const port = Number(url.port) || (secure ? 443 : 80)
    let socket: net.Socket
    if (secure) {
      const tlsSocket = tls.connect({
        host,
        port,
        // RFC 6066 §3: no server name for an IP address.
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        ALPNProtocols: ['http/1.1'],
        session: sessions.get(pool.key),
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      })
      tlsSocket.on('session', (session: Buffer) => rememberSession(pool.key, session))
      socket = tlsSocket
    } else {
      socket = net.connect({ host, port })
    }
    socket.setNoDelay(true)
    const connection: Connection = { socket, pool, answer: undefined }
    pool.open += 1
    socket.on('data', (chunk: Buffer) => {
      // Bytes while idle answer nothing we asked: the connection is out of step, and is closed.
      if (connection.answer === undefined) socket.destroy()
      else connection.answer.data(chunk)
    })
    socket.on('end', () => connection.answer?.ended())
    socket.on('error', (err) => {
      // As https.Agent does: a session that failed is not offered again.
      if (secure) sessions.delete(pool.key)
      connection.answer?.ended(err)
    })
    socket.on('close', () => {
      connection.answer?.ended()
      pool.open -= 1
      const at = pool.idle.indexOf(connection)
      if (at !== -1) pool.idle.splice(at, 1)
      pool.waiting.shift()?.()
      if (pool.open === 0 && pool.waiting.length === 0) pools.delete(pool.key)
    })
    return connection
  }

  /** An idle connection, else a new one, else `undefined` (the pool is full). */
  function acquire(url: URL, pool: Pool, fresh: boolean): { connection: Connection; reused: boolean } | undefined {
    while (!fresh && pool.idle.length > 0) {
      const connection = pool.idle.pop() as Connection
      if (connection.socket.destroyed || !connection.socket.writable) continue // its 'close' removes it from the count
      return { connection, reused: true }
    }
    if (pool.open >= MAX_SOCKETS_PER_ORIGIN) return undefined
    return { connection: connect(url, pool), reused: false }
  }

  function release(connection: Connection, reusable: boolean): void {
    connection.answer = undefined
    const { pool, socket } = connection
    if (!reusable || socket.destroyed || pool.idle.length >= MAX_IDLE_PER_ORIGIN) {
      socket.destroy()
      return
    }
    // An idle socket must not keep the process alive.
    socket.unref()
    pool.idle.push(connection)
    pool.waiting.shift()?.()
  }

  return (url, form, signal) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason)
      const target = url.pathname + url.search
      if (
        (url.protocol !== 'http:' && url.protocol !== 'https:') ||
        UNSAFE_REQUEST_BYTES.test(target) ||
        UNSAFE_REQUEST_BYTES.test(url.host)
      ) {
        return reject(new TypeError('the token endpoint URL cannot be sent as an HTTP/1.1 request'))
      }
      const head = `POST ${target} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/x-www-form-urlencoded\r\naccept: application/json\r\ncontent-length: `
      const pool = poolFor(`${url.protocol}//${url.host}`)
      let current: Connection | undefined
      let waiter: (() => void) | undefined
      let settled = false

      const settle = () => {
        settled = true
        signal.removeEventListener('abort', onAbort)
        if (waiter !== undefined) {
          const at = pool.waiting.indexOf(waiter)
          if (at !== -1) pool.waiting.splice(at, 1)
          if (pool.open === 0 && pool.waiting.length === 0) pools.delete(pool.key)
        }
      }
      const fail = (err: unknown) => {
        if (settled) return
        settle()
        if (current !== undefined) {
          current.answer = undefined
          current.socket.destroy()
        }
        reject(err)
      }
      function onAbort() {
        fail(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })

      const send = (fresh: boolean) => {
        waiter = undefined
        if (settled) return
        const got = acquire(url, pool, fresh)
        if (got === undefined) {
          waiter = () => send(fresh)
          pool.waiting.push(waiter)
          return
        }
        const { connection, reused } = got
        current = connection
        const reader = new AnswerReader()
        let answered = false
        connection.answer = {
          data(chunk) {
            answered = true
            let done: boolean
            try {
              done = reader.push(chunk)
            } catch (err) {
              return fail(err)
            }
            if (done) finish()
          },
          ended(err) {
            // A reset is no end of a body delimited by the close: that body may be cut short.
            if (err === undefined && reader.endOfInput()) return finish()
            // RFC 9112 §9.3.1: a server may close an idle connection just as a request goes out on it;
            // a request that got no byte back is sent again, once, on a new connection.
            if (reused && !answered) {
              connection.answer = undefined
              connection.socket.destroy()
              return send(true)
            }
            fail(err ?? connectionClosed())
          },
        }
        const finish = () => {
          if (settled) return
          settle()
          const answer = reader.answer()
          release(connection, reader.reusable())
          resolve(answer)
        }
        // Built now, for each send: a resent request carries a fresh assertion (`FormBody`).
        let body: string
        try {
          body = formText(form)
        } catch (err) {
          return fail(err)
        }
        connection.socket.ref()
        connection.socket.write(`${head}${Buffer.byteLength(body)}\r\n\r\n${body}`)
      }
      send(false)
    })
}

/** The kit's HTTP/1.1 form POST, with Node's default trusted certificates. */
export const http1Post: PostForm = createHttp1Post()

/** As Node's http client reports a connection that ended before its answer did. */
function connectionClosed(): Error {
  return Object.assign(new Error('the connection closed before the answer was complete'), { code: 'ECONNRESET' })
}

const CRLF = Buffer.from('\r\n')
const HEAD_END = Buffer.from('\r\n\r\n')
// biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9112 §4 reason-phrase excludes them
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\x00-\x08\x0a-\x1f\x7f]*)?$/
/** RFC 9110 §5.1 field-name (token), then `:` with no space before it (RFC 9112 §5.1), then the value. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: RFC 9110 §5.5 field values exclude them
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*$/
/** RFC 9112 §7.1: chunk-size, then optional extensions (ignored). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: no control bytes in extensions
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\x00-\x08\x0a-\x1f\x7f]*)?$/

type Framing = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'until-close' | 'done'

/** What `pending` holds when no bytes wait: one shared empty Buffer (never written to), not one per answer and chunk. */
const NO_BYTES = Buffer.alloc(0)

/**
 * One answer, fed the connection's bytes as they come: RFC 9112 §4 status line, §5 fields, §6.3 body
 * length. `push` says when the answer is complete and throws `MalformedAnswerError` or
 * `AnswerTooLargeError`; bytes after the answer make the connection unusable, not the answer.
 */
class AnswerReader {
  private framing: Framing = 'head'
  /** Bytes not yet parsed (a partial head or chunk line). */
  private pending: Buffer = NO_BYTES
  private headBytes = 0
  private status = 0
  private contentType = ''
  private keepAlive = false
  /** Body bytes still to come in this content-length body or chunk. */
  private remaining = 0
  private readonly body: Buffer[] = []
  private bodySize = 0
  private extra = false

  /** Whether the answer is complete. */
  push(chunk: Buffer): boolean {
    if (this.framing === 'done') {
      this.extra = true
      return true
    }
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    this.pending = NO_BYTES
    while (data.length > 0) {
      const used = this.step(data)
      if (used === 0) {
        this.pending = data
        this.checkPending()
        return false
      }
      data = data.subarray(used)
      if (this.complete()) {
        this.extra = data.length > 0
        return true
      }
    }
    return this.complete()
  }

  private complete(): boolean {
    return this.framing === 'done'
  }

  /** The server closed the connection: whether that ends the answer (a body delimited by the close, RFC 9112 §6.3 item 8). */
  endOfInput(): boolean {
    if (this.framing === 'until-close') {
      this.framing = 'done'
      this.keepAlive = false
    }
    return this.framing === 'done'
  }

  /** Whether the connection may carry another request: a complete answer, framed, with no `close` and nothing after it. */
  reusable(): boolean {
    return this.framing === 'done' && this.keepAlive && !this.extra
  }

  answer(): HttpAnswer {
    // Decoded once, whole: a character split between two reads decodes as one.
    return { status: this.status, contentType: this.contentType, body: Buffer.concat(this.body, this.bodySize).toString('utf8') }
  }

  /** Consumes what it can of `data`; 0 when it needs more bytes. */
  private step(data: Buffer): number {
    switch (this.framing) {
      case 'head': {
        const end = data.indexOf(HEAD_END)
        if (end === -1) return 0
        this.headBytes += end + HEAD_END.length
        if (this.headBytes > MAX_HEAD_BYTES) throw headTooLarge()
        this.readHead(data.toString('latin1', 0, end))
        return end + HEAD_END.length
      }
      case 'length':
      case 'chunk-data': {
        const take = Math.min(this.remaining, data.length)
        this.keep(data.subarray(0, take))
        this.remaining -= take
        if (this.remaining === 0) this.framing = this.framing === 'length' ? 'done' : 'chunk-end'
        return take
      }
      case 'chunk-size': {
        const end = data.indexOf(CRLF)
        if (end === -1) return 0
        const match = CHUNK_SIZE_LINE.exec(data.toString('latin1', 0, end))
        if (match === null) throw new MalformedAnswerError('malformed chunk size line')
        const size = Number.parseInt(match[1] as string, 16)
        if (this.bodySize + size > MAX_ANSWER_BYTES) throw tooLarge()
        this.remaining = size
        this.framing = size === 0 ? 'trailers' : 'chunk-data'
        return end + CRLF.length
      }
      case 'chunk-end': {
        if (data.length < CRLF.length) return 0
        if (data[0] !== 0x0d || data[1] !== 0x0a) throw new MalformedAnswerError('chunk not followed by CRLF')
        this.framing = 'chunk-size'
        return CRLF.length
      }
      case 'trailers': {
        // RFC 9112 §7.1.2: trailer fields are read past and ignored, up to the empty line.
        const end = data.indexOf(CRLF)
        if (end === -1) return 0
        this.headBytes += end + CRLF.length
        if (this.headBytes > MAX_HEAD_BYTES) throw headTooLarge()
        if (end === 0) this.framing = 'done'
        else if (!FIELD_LINE.test(data.toString('latin1', 0, end))) throw new MalformedAnswerError('malformed trailer field')
        return end + CRLF.length
      }
      case 'until-close': {
        this.keep(data)
        return data.length
      }
      default:
        return data.length
    }
  }

  /** Unparsed bytes waiting for their line's end may not grow past what the line may hold. */
  private checkPending(): void {
    const size = this.pending.length
    if (this.framing === 'head' && this.headBytes + size > MAX_HEAD_BYTES) throw headTooLarge()
    if (this.framing === 'trailers' && this.headBytes + size > MAX_HEAD_BYTES) throw headTooLarge()
    if (this.framing === 'chunk-size' && size > MAX_CHUNK_LINE_BYTES) throw new MalformedAnswerError('chunk size line too long')
  }

  private keep(bytes: Buffer): void {
    this.bodySize += bytes.length
    if (this.bodySize > MAX_ANSWER_BYTES) throw tooLarge()
    this.body.push(bytes)
  }

  private readHead(head: string): void {
    const lines = head.split('\r\n')
    const status = STATUS_LINE.exec(lines[0] as string)
    if (status === null) throw new MalformedAnswerError('malformed status line')
    const minor = status[1] as string
    const code = Number(status[2])
    let contentType: string | undefined
    const lengths: string[] = []
    const codings: string[] = []
    const connection: string[] = []
    for (let i = 1; i < lines.length; i++) {
      // No obs-fold (RFC 9112 §5.2) and no bare CR or LF inside a line: FIELD_LINE refuses them.
      const field = FIELD_LINE.exec(lines[i] as string)
      if (field === null) throw new MalformedAnswerError('malformed header field')
      const name = (field[1] as string).toLowerCase()
      const value = field[2] as string
      if (name === 'content-length') lengths.push(...value.split(','))
      else if (name === 'transfer-encoding') codings.push(...value.split(','))
      else if (name === 'connection') connection.push(...value.split(','))
      else if (name === 'content-type') contentType ??= value
    }
    if (code < 200) {
      // RFC 9110 §15.2: an interim answer; the final one follows. 101 answers an upgrade never asked for.
      if (code === 101) throw new MalformedAnswerError('unexpected 101 answer')
      return
    }
    this.status = code
    this.contentType = contentType ?? ''
    const options = new Set(connection.map((token) => token.trim().toLowerCase()))
    // RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only with `keep-alive`.
    this.keepAlive = !options.has('close') && (minor === '1' || options.has('keep-alive'))
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
    if (minor === '0' && codings.length > 0) throw new MalformedAnswerError('transfer-encoding in an HTTP/1.0 answer')
    this.frame(code, lengths, codings)
  }

  /** RFC 9112 §6.3, strictly: a framing that could be read two ways is an error. */
  private frame(code: number, lengths: string[], codings: string[]): void {
    if (code === 204 || code === 304) {
      this.framing = 'done'
      return
    }
    if (codings.length > 0) {
      // We send no TE, so chunked is the one coding a server may use; with a content-length beside it
      // the answer could be read two ways (§6.3 item 3, §11.2).
      if (lengths.length > 0) throw new MalformedAnswerError('both transfer-encoding and content-length')
      if (codings.length !== 1 || (codings[0] as string).trim().toLowerCase() !== 'chunked') {
        throw new MalformedAnswerError('unsupported transfer-encoding')
      }
      this.framing = 'chunk-size'
      return
    }
    if (lengths.length > 0) {
      const values = new Set(lengths.map((value) => value.trim()))
      const [value] = values
      if (values.size !== 1 || !/^\d+$/.test(value as string)) throw new MalformedAnswerError('invalid content-length')
      const length = Number(value)
      if (length > MAX_ANSWER_BYTES) throw tooLarge()
      this.remaining = length
      this.framing = length === 0 ? 'done' : 'length'
      return
    }
    // §6.3 item 8: the body ends when the server closes the connection, which cannot be reused.
    this.keepAlive = false
    this.framing = 'until-close'
  }
}

function tooLarge(): AnswerTooLargeError {
  return new AnswerTooLargeError(`answer larger than ${MAX_ANSWER_BYTES} bytes`)
}

function headTooLarge(): MalformedAnswerError {
  return new MalformedAnswerError(`answer head larger than ${MAX_HEAD_BYTES} bytes`)
}
