/**
 * Shared pieces of the fault tests: a token endpoint that reads the form the kit posts (and can check
 * the client assertion's signature like TokenX does), lambda-shaped middy handlers, and a watch for
 * unhandled rejections. Everything listens on 127.0.0.1 only.
 */
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { createHash } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify, type JWK } from 'jose'
import { tokenX, type Downstream, type KitLogger, type TokenXOptions } from '../../lib/index.ts'
import { tokenAnswer, type Answer, type Recorded } from '../helpers/servers.ts'

export const CLIENT_ID = 'dev-gcp:team:app'
export const AUDIENCE = 'dev-gcp:team:downstream'

/** The form the kit posted, as an object. */
export function formOf(request: Recorded): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(request.body))
}

/** The `jti` of each client assertion the token endpoint received, in order. */
export function jtis(requests: readonly Recorded[]): string[] {
  return requests.map((request) => String(decodeJwt(formOf(request).client_assertion ?? '').jti))
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url')
}

/**
 * An access token that names the subject token and audience it was issued for, so a test can tell
 * whether a caller got its own token: `at.<sha256(subject token)>.<base64url(audience)>.<serial>`.
 */
export function accessTokenFor(subjectToken: string, audience: string, serial: number): string {
  return `at.${sha256(subjectToken)}.${Buffer.from(audience).toString('base64url')}.${serial}`
}

export function describeAccessToken(accessToken: string): { subjectHash: string; audience: string } {
  const [, subjectHash = '', audience = ''] = accessToken.split('.')
  return { subjectHash, audience: Buffer.from(audience, 'base64url').toString() }
}

let serial = 0

/** Answers every exchange with a token for what it was asked (no assertion check). */
export function issue(request: Recorded): Answer {
  const form = formOf(request)
  return tokenAnswer(accessTokenFor(form.subject_token ?? '', form.audience ?? '', ++serial))
}

/**
 * Checks the client assertion as tokendings does: signature by one of the registered public keys
 * (picked by `kid`), `iss` = `sub` = our client id. Answers `invalid_client` (RFC 6749 §5.2) when no
 * registered key verifies it.
 */
export function verifyingEndpoint(registered: () => readonly JWK[]) {
  return async (request: Recorded): Promise<Answer> => {
    const assertion = formOf(request).client_assertion ?? ''
    const { kid } = decodeProtectedHeader(assertion)
    const jwk = registered().find((candidate) => candidate.kid === kid)
    if (jwk === undefined) return { status: 401, body: { error: 'invalid_client', error_description: 'invalid client authentication' } }
    try {
      await jwtVerify(assertion, await importJWK(jwk, 'RS256'), { issuer: CLIENT_ID, subject: CLIENT_ID, algorithms: ['RS256'] })
    } catch {
      return { status: 401, body: { error: 'invalid_client', error_description: 'invalid client authentication' } }
    }
    return issue(request)
  }
}

export type TokenXLambdaContext = Context & { tokenX: Downstream }

/**
 * A middy handler as a function would write it: the kit's middleware, then a handler that calls the
 * downstream API through `context.tokenX.fetch` (when `downstreamUrl` is given) and answers its
 * status.
 */
export function lambdaHandler(options: {
  client: TokenXOptions
  downstreamUrl?: string
  logger?: KitLogger | false
  deadlineMargin?: number
  /**
   * Binds the audience's token to these base URLs (`{ audience, url }`). Default: `downstreamUrl`
   * (a bare audience refuses the loopback servers of the tests), or a bare audience without one.
   */
  downstreamOrigins?: readonly string[]
}) {
  let calls = 0
  const origins = options.downstreamOrigins ?? (options.downstreamUrl === undefined ? undefined : [options.downstreamUrl])
  const handler = middy<unknown, APIGatewayProxyResult, Error, TokenXLambdaContext>()
    .use(
      tokenX({
        audience: origins === undefined ? AUDIENCE : { audience: AUDIENCE, url: origins },
        client: options.client,
        logger: options.logger ?? false,
        ...(options.deadlineMargin !== undefined ? { deadlineMargin: options.deadlineMargin } : {}),
      }),
    )
    .handler(async (_event, context) => {
      calls += 1
      if (options.downstreamUrl === undefined) return { statusCode: 200, body: context.tokenX.token.accessToken }
      const response = await context.tokenX.fetch(`${options.downstreamUrl}/resource`)
      return { statusCode: response.status, body: await response.text() }
    })
  return { handler, handlerCalls: () => calls }
}

/** Collects unhandled rejections while installed; a test asserts the list stays empty. */
export function watchUnhandledRejections(): { readonly seen: unknown[]; stop(): void } {
  const seen: unknown[] = []
  const listener = (reason: unknown) => void seen.push(reason)
  process.on('unhandledRejection', listener)
  return { seen, stop: () => void process.off('unhandledRejection', listener) }
}

/** Lets pending I/O callbacks and timers of 0 ms run (for "nothing else happened" checks). */
export function settle(ms = 50): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
