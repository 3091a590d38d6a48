/**
 * One process of the black box (bench/blackbox.ts): the method named by BENCH_BLACKBOX_METHOD beside
 * the floor, both middy handlers invoked as the Lambda runtime would (a fresh context per invocation).
 * - `function`: the BUILT example function (dist/resource, as Lambda runs it), on a miss (a citizen it
 *   has not seen: an exchange, then the downstream call) and on a warm hit (the same citizen again);
 * - `jose`: a handler that signs the client assertion with jose (RS256, RFC 7523), posts the RFC 8693
 *   exchange with `fetch`, then calls the downstream; no cache — what a team would hand-roll;
 * - `openid-client`: the same with openid-client 6's `genericGrantRequest` and `PrivateKeyJwt`.
 * The floor is a middy handler making the same downstream call with plain `fetch` and a token it
 * already has (bench/floor.ts). Each method has a process of its own, so no method's code, garbage or
 * connections touch another's figures; the parent runs the processes' rounds in turn.
 *
 * The parent sends `{ kind: 'miss' | 'hit', batch }`; this process answers with the CPU µs per
 * invocation of each side (this process only), a 10%-trimmed mean over the batch.
 */
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import middy from '@middy/core'
import type { Context } from 'aws-lambda'
import { importJWK } from 'jose'
import * as oidc from 'openid-client'
import { answer, floorHandler, issuedToken, type Invoke } from './floor.ts'
import { httpApiEvent, lambdaContext } from './lambda.ts'
import { joseAssertion, openidClientConfig } from './libraries.ts'
import { AUDIENCE, CLIENT_ID, citizenToken, clientKey, exampleFunctionEnv, sectionEndpoint, trimmedMean } from './support.ts'

export type BlackboxMethod = 'function' | 'jose' | 'openid-client'

export interface BlackboxRound {
  readonly kind: 'miss' | 'hit'
  readonly batch: number
}

/** CPU µs per invocation, trimmed mean: the floor's, and the method's (miss or hit). */
export interface BlackboxRoundResult {
  readonly floor: number
  readonly method: number
}

const METHOD = (process.env['BENCH_BLACKBOX_METHOD'] ?? 'function') as BlackboxMethod

const endpoint = sectionEndpoint()
const tokenEndpoint = `${endpoint.url}/token`
const resourceUrl = `${endpoint.url}/resource`
const { jwk } = clientKey()
const floor = floorHandler(resourceUrl, await issuedToken(endpoint.url))

const bearer = (event: unknown): string =>
  String((event as { headers: { authorization: string } }).headers.authorization).slice('Bearer '.length)
const EXCHANGE = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  audience: AUDIENCE,
}

async function builtFunction(): Promise<Invoke> {
  Object.assign(process.env, exampleFunctionEnv(endpoint.url, jwk))
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
  return ((await import(pathToFileURL(path.join(root, 'dist', 'resource', 'index.mjs')).href)) as { handler: Invoke }).handler
}

// jose + fetch, as a team would hand-roll it: one key import, a fresh assertion per exchange.
async function joseHandler(): Promise<Invoke> {
  const joseKey = await importJWK(jwk, 'RS256')
  const assertionOptions = { kid: jwk.kid, clientId: CLIENT_ID, audience: tokenEndpoint }
  return middy(async (event: unknown, _context: Context, { signal }: { signal: AbortSignal }) => {
    const assertion = await joseAssertion(joseKey, assertionOptions)
    const exchanged = await fetch(tokenEndpoint, {
      method: 'POST',
      signal,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        ...EXCHANGE,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
        subject_token: bearer(event),
      }),
    })
    if (!exchanged.ok) throw new Error(`token endpoint answered ${exchanged.status}`)
    const { access_token: token } = (await exchanged.json()) as { access_token: string }
    return answer(await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${token}` } }))
  }) as unknown as Invoke
}

// openid-client 6, global fetch and WebCrypto, as bench/miss.ts uses it.
async function openidClientHandler(): Promise<Invoke> {
  const config = await openidClientConfig(jwk, endpoint.url)
  return middy(async (event: unknown, _context: Context, { signal }: { signal: AbortSignal }) => {
    const { audience, subject_token_type } = EXCHANGE
    const response = await oidc.genericGrantRequest(config, EXCHANGE.grant_type, {
      subject_token: bearer(event),
      subject_token_type,
      audience,
    })
    return answer(
      await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${response.access_token}` } }),
    )
  }) as unknown as Invoke
}

const method = METHOD === 'function' ? await builtFunction() : METHOD === 'jose' ? await joseHandler() : await openidClientHandler()

let minted = 0
// Hits: the same event every time, as the shape has it; the first invocation exchanged it.
const hitEvent = httpApiEvent(citizenToken(++minted))

/** `batch` invocations of the floor and the method, interleaved one by one (the order alternates). */
async function round({ kind, batch }: BlackboxRound): Promise<BlackboxRoundResult> {
  const sides = [floor, method] as const
  const cpu = [new Float64Array(batch), new Float64Array(batch)] as const
  for (let i = 0; i < batch; i++) {
    for (let k = 0; k < 2; k++) {
      const side = (i + k) % 2
      const event = kind === 'hit' ? hitEvent : httpApiEvent(citizenToken(++minted))
      const context = lambdaContext()
      const before = process.cpuUsage()
      const result = await (sides[side] as Invoke)(event, context)
      const used = process.cpuUsage(before)
      if (result.statusCode !== 200)
        throw new Error(`${side === 0 ? 'floor' : METHOD} answered ${result.statusCode}: ${String(result.body)}`)
      ;(cpu[side] as Float64Array)[i] = used.user + used.system
    }
  }
  return { floor: trimmedMean(cpu[0]), method: trimmedMean(cpu[1]) }
}

process.on('message', (message: BlackboxRound) => {
  round(message).then(
    (result) => process.send?.(result),
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    },
  )
})
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: true })
