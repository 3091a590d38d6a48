import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { AnswerTooLargeError, fetchPost, MAX_ANSWER_BYTES, type PostForm } from '../../../lib/util/http.ts'
import { http1Post } from '../../../lib/util/http1.ts'
import { deferred } from '../../helpers/deferred.ts'
import { startServer, type Answer, type Recorded, type TestServer } from '../../helpers/servers.ts'

const FORM = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: 'a.b+c/d=' }).toString()

let server: TestServer
const ok = (): Answer => ({ status: 200, body: { access_token: 'x' } })

beforeAll(async () => {
  server = await startServer(ok)
})
afterEach(() => {
  server.requests.length = 0
  server.respond = ok
})
afterAll(() => server.close())

/** A server that sends its head and part of the body, then holds the rest until released. */
async function startStallingServer() {
  const held: ServerResponse[] = []
  const headSent = deferred()
  const stalling = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
    response.write('{"access_token":')
    held.push(response)
    headSent.resolve()
  })
  await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve))
  const { port } = stalling.address() as AddressInfo
  return {
    url: new URL(`http://127.0.0.1:${port}/token`),
    headSent: headSent.promise,
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of held) response.destroy()
        stalling.closeAllConnections()
        stalling.close(() => resolve())
      }),
  }
}

describe.each<[string, PostForm]>([
  ['http1Post', http1Post],
  ['fetchPost with global fetch', fetchPost(globalThis.fetch)],
])('%s', (_name, post) => {
  const url = () => new URL(`${server.url}/token`)
  const signal = () => new AbortController().signal

  it('posts the form with its content type and returns status, content type and body', async () => {
    const answer = await post(url(), FORM, signal())
    expect(answer).toStrictEqual({ status: 200, contentType: 'application/json', body: '{"access_token":"x"}' })
    expect(server.requests).toHaveLength(1)
    const request = server.requests[0] as Recorded
    expect(request.method).toBe('POST')
    expect(request.url).toBe('/token')
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(request.headers.accept).toBe('application/json')
    expect(request.headers['content-length']).toBe(String(Buffer.byteLength(FORM)))
    expect(request.body).toBe(FORM)
  })

  it('returns an error status and a non-JSON body as they are', async () => {
    server.respond = () => ({ status: 503, body: 'Service Unavailable' })
    expect(await post(url(), FORM, signal())).toStrictEqual({ status: 503, contentType: 'text/plain', body: 'Service Unavailable' })
    server.respond = () => ({ status: 400, body: '', headers: { 'content-type': '' } })
    expect((await post(url(), FORM, signal())).body).toBe('')
  })

  it('sends nothing when the signal is already aborted', async () => {
    const reason = new Error('already aborted')
    await expect(post(url(), FORM, AbortSignal.abort(reason))).rejects.toBe(reason)
    expect(server.requests).toHaveLength(0)
  })

  it('stops when the signal aborts while waiting for the answer', async () => {
    const received = deferred()
    const release = deferred<Answer>()
    server.respond = () => {
      received.resolve()
      return release.promise
    }
    const controller = new AbortController()
    const pending = post(url(), FORM, controller.signal)
    await received.promise
    const reason = new Error('caller gave up')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)
    release.resolve(ok())
  })

  it('stops when the signal aborts while the body is arriving', async () => {
    const stalling = await startStallingServer()
    try {
      const controller = new AbortController()
      const pending = post(stalling.url, FORM, controller.signal)
      pending.catch(() => undefined)
      await stalling.headSent
      // Let the client see the head (and, for fetch, resolve the response) before aborting.
      await new Promise((resolve) => setImmediate(resolve))
      const reason = new Error('gave up mid-body')
      controller.abort(reason)
      await expect(pending).rejects.toBe(reason)
    } finally {
      await stalling.close()
    }
  })

  it('accepts an answer of exactly MAX_ANSWER_BYTES', async () => {
    server.respond = () => ({ status: 200, body: 'x'.repeat(MAX_ANSWER_BYTES) })
    expect((await post(url(), FORM, signal())).body).toHaveLength(MAX_ANSWER_BYTES)
  })

  it.each<[string, () => Answer]>([
    [
      'with a declared length',
      () => {
        const body = 'x'.repeat(MAX_ANSWER_BYTES + 1)
        return { status: 200, body, headers: { 'content-length': String(MAX_ANSWER_BYTES + 1) } }
      },
    ],
    ['chunked', () => ({ status: 200, body: 'x'.repeat(MAX_ANSWER_BYTES + 1), headers: { 'transfer-encoding': 'chunked' } })],
    [
      'in multi-byte characters',
      () => ({ status: 200, body: 'ø'.repeat(MAX_ANSWER_BYTES / 2 + 1), headers: { 'transfer-encoding': 'chunked' } }),
    ],
    ['much larger, on an error status', () => ({ status: 500, body: 'x'.repeat(4 * MAX_ANSWER_BYTES) })],
  ])('rejects an answer larger than MAX_ANSWER_BYTES, %s', async (_label, answer) => {
    server.respond = answer
    const err = await post(url(), FORM, signal()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AnswerTooLargeError)
    expect((err as Error).message).toBe(`answer larger than ${MAX_ANSWER_BYTES} bytes`)
    // The connection pool is still usable afterwards.
    server.respond = ok
    expect((await post(url(), FORM, signal())).status).toBe(200)
  })

  it('fails when nothing listens', async () => {
    const closed = await startServer(ok)
    await closed.close()
    const err = await post(new URL(`${closed.url}/token`), FORM, signal()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(AnswerTooLargeError)
  })
})

describe('fetchPost', () => {
  it('uses the injected fetch with method, headers, body and signal', async () => {
    const calls: Array<[string | URL, RequestInit | undefined]> = []
    const fake = async (input: string | URL, init?: RequestInit) => {
      calls.push([input, init])
      return new Response('{"ok":true}', { status: 201, headers: { 'content-type': 'application/json' } })
    }
    const controller = new AbortController()
    const target = new URL('http://127.0.0.1:1/token')
    expect(await fetchPost(fake)(target, FORM, controller.signal)).toStrictEqual({
      status: 201,
      contentType: 'application/json',
      body: '{"ok":true}',
    })
    expect(calls).toHaveLength(1)
    const [input, init] = calls[0]!
    expect(input).toBe(target)
    expect(init).toMatchObject({ method: 'POST', body: FORM, signal: controller.signal })
    expect(init?.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' })
  })

  it('does not read a body whose declared length is too large', async () => {
    let pulled = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1
        // Finite, so that reading it all would end (and show in `pulled`) rather than hang.
        if (pulled > 300) controller.close()
        else controller.enqueue(new Uint8Array(1024))
      },
    })
    const fake = async () => new Response(stream, { headers: { 'content-length': String(MAX_ANSWER_BYTES + 1) } })
    await expect(fetchPost(fake)(new URL('http://127.0.0.1:1/token'), FORM, new AbortController().signal)).rejects.toBeInstanceOf(
      AnswerTooLargeError,
    )
    expect(pulled).toBeLessThan(8)
  })

  // Issue #9 defect 6: a chunked answer (no content-length) used to be read whole before its size
  // was checked (2.4 GB RSS seen). The body is streamed with a byte limit and cancelled past it.
  it('stops reading a chunked body at the limit and cancels it', async () => {
    let pulled = 0
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1
        // Finite (64 MiB), so that reading it all would end (and show in `pulled`) rather than hang.
        if (pulled > 1024) controller.close()
        else controller.enqueue(new Uint8Array(64 * 1024))
      },
      cancel() {
        cancelled = true
      },
    })
    const fake = async () => new Response(stream, { headers: { 'content-type': 'application/json' } })
    await expect(fetchPost(fake)(new URL('http://127.0.0.1:1/token'), FORM, new AbortController().signal)).rejects.toBeInstanceOf(
      AnswerTooLargeError,
    )
    expect(pulled).toBeLessThanOrEqual(MAX_ANSWER_BYTES / (64 * 1024) + 2)
    expect(cancelled).toBe(true)
  })

  it('decodes a body split in the middle of a multi-byte character', async () => {
    const bytes = new TextEncoder().encode('{"error_description":"æøå"}')
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]))
        controller.close()
      },
    })
    const answer = await fetchPost(async () => new Response(stream, { status: 400 }))(
      new URL('http://127.0.0.1:1/token'),
      FORM,
      new AbortController().signal,
    )
    expect(answer.body).toBe('{"error_description":"æøå"}')
  })
})
