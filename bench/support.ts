/**
 * Shared pieces of the benchmark: statistics, citizen tokens, keys, the child token endpoint and the
 * way a section runs in its own process and hands its figures back to bench/run.ts.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly q1: number
  readonly q3: number
  readonly runs: number
}

/** Median, quartiles (linear interpolation) and extremes of `samples`. */
export function spread(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new Error('no samples')
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number): number => {
    const index = (sorted.length - 1) * p
    const low = Math.floor(index)
    const high = Math.ceil(index)
    return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (index - low)
  }
  return {
    median: at(0.5),
    q1: at(0.25),
    q3: at(0.75),
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    runs: sorted.length,
  }
}

/**
 * Mean of `samples` without the highest and lowest `trim` share of them. A Float64Array, whose `sort()`
 * is numeric (an Array's would sort the numbers as strings).
 */
export function trimmedMean(samples: Float64Array, trim = 0.1): number {
  const sorted = samples.slice().sort()
  const drop = Math.floor(sorted.length * trim)
  let sum = 0
  for (let i = drop; i < sorted.length - drop; i++) sum += sorted[i] as number
  return sum / (sorted.length - 2 * drop)
}

export const AUDIENCE = 'dev-gcp:team:downstream'
export const CLIENT_ID = 'dev-gcp:team:app'

const b64u = (value: string | Buffer): string => Buffer.from(value).toString('base64url')
const CITIZEN_HEADER = b64u(JSON.stringify({ kid: 'idporten-bench', typ: 'at+jwt', alg: 'RS256' }))

/**
 * The signed part (`header.payload`) of a citizen token shaped like an ID-porten access token,
 * about 700 B; distinct on every call. `iss` and `aud` default to ID-porten's test issuer and a
 * frontend, as TokenX would see them.
 */
export function citizenTokenInput(
  index: number,
  {
    now = Math.floor(Date.now() / 1000),
    iss = 'https://test.idporten.no',
    aud = 'https://frontend.dev.nav.no',
  }: { now?: number; iss?: string; aud?: string } = {},
): string {
  const payload = {
    sub: b64u(randomBytes(32)),
    iss,
    client_amr: 'private_key_jwt',
    pid: String(10_000_000_000 + index),
    token_type: 'Bearer',
    client_id: 'b8a8c4e2-7d5c-4b7e-9d0a-2f6e1c3b5a77',
    aud,
    acr: 'idporten-loa-high',
    scope: 'openid profile nav:dine-pengesaker/les nav:dine-pengesaker/skriv',
    exp: now + 3600,
    iat: now,
    client_orgno: '889640782',
    jti: randomUUID(),
    consumer: { authority: 'iso6523-actorid-upis', ID: '0192:889640782' },
  }
  return `${CITIZEN_HEADER}.${b64u(JSON.stringify(payload))}`
}

/**
 * A citizen (subject) token shaped like an ID-porten access token, about 1 KB. Its signature is 256
 * random bytes: the kit never verifies it (TokenX does), and neither does the bench's endpoint.
 * Each call returns a distinct token.
 */
export function citizenToken(index: number, now = Math.floor(Date.now() / 1000)): string {
  return `${citizenTokenInput(index, { now })}.${b64u(randomBytes(256))}`
}

/** Our client's RSA-2048 key, as the kit takes it (a private JWK with a `kid`) and as a KeyObject. */
export function clientKey(): { jwk: JWK & { kid: string }; keyObject: KeyObject } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: 'bench-key-1', alg: 'RS256', use: 'sig' }
  return { jwk, keyObject: privateKey }
}

export interface Endpoint {
  /** Base URL, e.g. http://127.0.0.1:1234 — `/token` is the token endpoint, `/resource` the downstream API. */
  readonly url: string
  readonly child: ChildProcess
  /** Token requests answered since the last reset. */
  tokenRequests(): Promise<number>
  /** TCP connections accepted since the last reset (the admin calls' own included). */
  connections(): Promise<number>
  reset(): Promise<void>
  close(): Promise<void>
}

/** Starts bench/endpoint.ts in its own process, so its CPU is never counted as the client's. */
export async function startEndpoint(): Promise<Endpoint> {
  const child = fork(new URL('./endpoint.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [] })
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { url: string }).url))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`the endpoint exited with ${code}`)))
  })
  return endpointAt(url, child)
}

/** An endpoint another process started (sections get its URL in BENCH_ENDPOINT). */
export function endpointAt(url: string, child?: ChildProcess): Endpoint {
  // Admin calls go over their own short connections, not through the kit's keep-alive agent.
  const admin = async (path: string, method: string): Promise<string> => {
    const response = await fetch(`${url}${path}`, { method, headers: { connection: 'close' } })
    return response.text()
  }
  return {
    url,
    child: child as ChildProcess,
    tokenRequests: async () => (JSON.parse(await admin('/__stats', 'GET')) as { tokenRequests: number }).tokenRequests,
    connections: async () => (JSON.parse(await admin('/__stats', 'GET')) as { connections: number }).connections,
    reset: async () => void (await admin('/__reset', 'POST')),
    close: () =>
      new Promise<void>((resolve) => {
        if (child === undefined || child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill()
      }),
  }
}

export function sectionEndpoint(): Endpoint {
  const url = process.env.BENCH_ENDPOINT
  if (url === undefined) throw new Error('BENCH_ENDPOINT is not set: run this through bench/run.ts')
  return endpointAt(url)
}

/** Runs a section file in a fresh process and returns what it sends back. */
export function runSection<T>(file: string, options: { env?: Record<string, string>; execArgv?: string[] } = {}): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = fork(new URL(file, import.meta.url), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: options.execArgv ?? [],
      env: { ...process.env, ...options.env },
    })
    let result: T | undefined
    child.once('message', (message) => {
      result = message as T
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code === 0 && result !== undefined) resolve(result)
      else reject(new Error(`${file} exited with ${code}${result === undefined ? ' without a result' : ''}`))
    })
  })
}

/**
 * Hands a section's figures to bench/run.ts and exits once they are sent (keep-alive sockets would
 * otherwise keep the section alive for their idle timeout).
 */
export function report(result: object): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(result, null, 2))
    process.exit(0)
  }
  process.send(result, () => process.exit(0))
}

export function progress(message: string): void {
  process.stderr.write(`  … ${message}\n`)
}

/** Microseconds of process CPU (user + system) spent in `fn`. */
export async function cpuMicros(fn: () => Promise<void> | void): Promise<number> {
  const before = process.cpuUsage()
  await fn()
  const used = process.cpuUsage(before)
  return used.user + used.system
}

/** Per round: CPU and wall µs per token request, and CPU µs per raw RS256 signature. */
export interface AgainstSignatures {
  readonly requestCpu: number[]
  readonly requestWall: number[]
  readonly signatureCpu: number[]
}

/**
 * Token requests against the floor they all pay, one RS256 signature: a warm-up of `warmup` of
 * each (JIT, the first connection, lazily loaded code), then `rounds` rounds of `perRound` requests,
 * one after another, each on a new input from `mint` (made before the round is timed), followed by
 * `perRound` signatures with `key` over a JWS-sized input. A token shorter than 100 characters
 * stops the run: the requests must really be answered.
 */
export async function requestsAgainstSignatures(options: {
  readonly request: (input: string) => Promise<string>
  readonly mint: (count: number) => string[]
  readonly key: KeyObject
  readonly rounds: number
  readonly perRound: number
  readonly warmup: number
}): Promise<AgainstSignatures> {
  const { request, mint, key, rounds, perRound, warmup } = options
  const signingInput = Buffer.from(`${'h'.repeat(70)}.${'c'.repeat(250)}`)
  const requestAll = async (inputs: readonly string[]): Promise<void> => {
    for (const input of inputs) if ((await request(input)).length < 100) throw new Error('unexpected access token')
  }
  const signAll = (count: number): void => {
    for (let i = 0; i < count; i++) sign('sha256', signingInput, key)
  }
  await requestAll(mint(warmup))
  signAll(warmup)
  const result: AgainstSignatures = { requestCpu: [], requestWall: [], signatureCpu: [] }
  for (let round = 0; round < rounds; round++) {
    const inputs = mint(perRound)
    const start = process.hrtime.bigint()
    result.requestCpu.push((await cpuMicros(() => requestAll(inputs))) / perRound)
    result.requestWall.push(Number(process.hrtime.bigint() - start) / 1000 / perRound)
    result.signatureCpu.push((await cpuMicros(() => signAll(perRound))) / perRound)
  }
  return result
}

/**
 * The environment the built example function reads at import (as on Lambda), pointed at the bench's
 * token endpoint, which also answers as the downstream. Inbound validation is off: the floor it is
 * compared with verifies nothing either, so the comparison is of the exchange path (as bench/cold.ts).
 */
export function exampleFunctionEnv(endpointUrl: string, jwk: object): Record<string, string> {
  return {
    TOKEN_X_CLIENT_ID: CLIENT_ID,
    TOKEN_X_TOKEN_ENDPOINT: `${endpointUrl}/token`,
    TOKEN_X_PRIVATE_JWK: JSON.stringify(jwk),
    DOWNSTREAM_URL: endpointUrl,
    DOWNSTREAM_AUDIENCE: AUDIENCE,
    INBOUND_VALIDATION: 'off',
  }
}
