/**
 * Probe, run in a fresh process by bench/cold.ts: the first invocation's extra work, one part at a
 * time, each timed on its own — import of the bundle's lazy AWS SDK chunk, the first GetSecretValue
 * through the real SDK client (to the local Secrets Manager at AWS_ENDPOINT_URL_SECRETS_MANAGER),
 * the JWK import, and the first token exchange including its TCP connect (the kit's own assertion,
 * request and parsing code) — then a second exchange over the open connection for comparison.
 * Prints one JSON line.
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { signAssertion } from '../../lib/exchange/assertion.ts'
import { errorFromAnswer, exchangeForm, requestToken } from '../../lib/exchange/token-request.ts'
import { http1Post } from '../../lib/util/http1.ts'
import { importPrivateJwk } from '../../lib/exchange/key.ts'
import { AUDIENCE, CLIENT_ID, citizenToken } from '../support.ts'

const { BENCH_SDK_CHUNK: sdkChunk, TOKEN_X_PRIVATE_JWK_SECRET_ID: secretId, TOKEN_X_TOKEN_ENDPOINT: tokenEndpoint } = process.env
if (sdkChunk === undefined || secretId === undefined || tokenEndpoint === undefined) throw new Error('probe environment incomplete')

interface SdkModule {
  SecretsManagerClient: new (config: object) => { send(command: object): Promise<{ SecretString?: string }> }
  GetSecretValueCommand: new (input: { SecretId: string }) => object
}

const subjects = [citizenToken(1), citizenToken(2)]
const url = new URL(tokenEndpoint)
const exchange = async (key: ReturnType<typeof importPrivateJwk>, subjectToken: string): Promise<void> => {
  const clientAssertion = signAssertion(key, { clientId: CLIENT_ID, audience: tokenEndpoint, lifetime: 30, clock: Date.now })
  const form = exchangeForm({ clientAssertion, subjectToken, audience: AUDIENCE })
  await requestToken(http1Post, url, form, AbortSignal.timeout(3000), 'TokenX', errorFromAnswer)
}

const t0 = performance.now()
const sdk = (await import(pathToFileURL(sdkChunk).href)) as SdkModule
const t1 = performance.now()
const output = await new sdk.SecretsManagerClient({}).send(new sdk.GetSecretValueCommand({ SecretId: secretId }))
const t2 = performance.now()
const key = importPrivateJwk(output.SecretString ?? '')
const t3 = performance.now()
await exchange(key, subjects[0] as string)
const t4 = performance.now()
await exchange(key, subjects[1] as string)
const t5 = performance.now()
process.stdout.write(
  `${JSON.stringify({ sdkImportMs: t1 - t0, secretFetchMs: t2 - t1, jwkImportMs: t3 - t2, firstExchangeMs: t4 - t3, secondExchangeMs: t5 - t4 })}\n`,
)
process.exit(0)
