/**
 * The form POST to the token endpoint's shape (`PostForm`, `HttpAnswer`) and its `fetch` flavour, and
 * bounded reads of a `fetch` answer. The kit's own HTTP/1.1 client is http1.ts. Either way the request
 * honours an `AbortSignal` and the answer's size is capped.
 */
import type { FetchLike } from '../types.ts'

export interface HttpAnswer {
  readonly status: number
  readonly contentType: string
  readonly body: string
}

/**
 * The form body, or what builds it. A builder is called for each time the body goes on the wire, so
 * a request the client sends again (a kept-alive connection the server had closed) carries a fresh
 * client assertion: each assertion is used once (RFC 7523 §3 item 7).
 */
export type FormBody = string | (() => string)

export type PostForm = (url: URL, form: FormBody, signal: AbortSignal) => Promise<HttpAnswer>

/** The body to send now. */
export function formText(form: FormBody): string {
  return typeof form === 'string' ? form : form()
}

/** A token response is a few KB; anything much larger is not one, and is not read into memory. */
export const MAX_ANSWER_BYTES = 256 * 1024

export class AnswerTooLargeError extends Error {
  override name = 'AnswerTooLargeError'
}

const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }

/** The form POST over an injected `fetch` (the kit's own client is `http1Post`, http1.ts). */
export function fetchPost(fetchImpl: FetchLike): PostForm {
  return async (url, form, signal) => {
    const response = await fetchImpl(url, { method: 'POST', headers: FORM_HEADERS, body: formText(form), signal })
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      body: await readLimited(response, MAX_ANSWER_BYTES),
    }
  }
}

/**
 * A fetch `Response`'s body as text, at most `limit` bytes: refused at once when it declares more,
 * otherwise read chunk by chunk and cancelled past the limit. A chunked answer declares no length,
 * and `response.text()` would hold all of it first, however large.
 */
export async function readLimited(response: Response, limit: number): Promise<string> {
  const tooLarge = () => new AnswerTooLargeError(`answer larger than ${limit} bytes`)
  if (Number(response.headers.get('content-length') ?? 0) > limit) {
    await response.body?.cancel().catch(() => undefined)
    throw tooLarge()
  }
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let size = 0
  let text = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      throw tooLarge()
    }
    text += decoder.decode(value, { stream: true })
  }
  return text + decoder.decode()
}

/** Why `getJsonObject` got no document; the caller turns it into its own error, whose `detail` continues this message. */
export class DocumentError extends Error {
  override name = 'DocumentError'
  readonly problem: 'status' | 'too-large' | 'not-json' | 'not-object'
  /** The answer's status (200 unless `problem` is `status`). */
  readonly status: number
  constructor(problem: DocumentError['problem'], status: number, detail: string) {
    super(detail)
    this.problem = problem
    this.status = status
  }
}

/**
 * A JSON object by GET (a discovery document): no redirect followed, at most `limit` bytes read
 * (`readLimited`), ended when `signal` aborts. A status other than 200, an answer too large, not
 * JSON or not an object is a `DocumentError`; the fetch's own failures pass as they are.
 */
export async function getJsonObject(
  fetchImpl: FetchLike,
  url: string,
  signal: AbortSignal,
  limit: number,
): Promise<Record<string, unknown>> {
  const response = await fetchImpl(url, { method: 'GET', redirect: 'manual', headers: { accept: 'application/json' }, signal })
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined)
    throw new DocumentError('status', response.status, `endpoint answered ${response.status}`)
  }
  let text: string
  try {
    text = await readLimited(response, limit)
  } catch (err) {
    if (err instanceof AnswerTooLargeError) throw new DocumentError('too-large', 200, 'document is too large')
    throw err
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch {
    throw new DocumentError('not-json', 200, 'document is not JSON')
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document))
    throw new DocumentError('not-object', 200, 'document is not a JSON object')
  return document as Record<string, unknown>
}
