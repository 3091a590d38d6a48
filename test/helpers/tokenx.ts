/**
 * A token endpoint for the TokenX client's tests (helpers/servers.ts, on 127.0.0.1) that issues
 * `access-1`, `access-2`, … with the app's signing key, and clients of the two.
 */
import { expect } from 'vitest'
import { createTokenXClient, type TokenXClient, type TokenXOptions } from '../../lib/index.ts'
import { newTestKey, type TestKey } from './keys.ts'
import { startServer, tokenAnswer, type Answer, type TestServer } from './servers.ts'

export interface TokenXEndpoint extends TestServer {
  /** The app's key: the clients sign their assertions with its private half. */
  readonly key: TestKey
  /** The plain answer: the next `access-<n>`, valid for the endpoint's `expiresIn` seconds. */
  nextAnswer(): Answer
  /** Forgets the requests and answers plainly again (after each test). */
  reset(): void
  /** A client of this endpoint as `dev-gcp:team:app` with 1 ms between retries; `overrides` over that. */
  client(overrides?: Partial<TokenXOptions>): TokenXClient
}

export async function startTokenXEndpoint(kid: string, expiresIn = 900): Promise<TokenXEndpoint> {
  const key = await newTestKey(kid)
  let issued = 0
  const nextAnswer = (): Answer => tokenAnswer(`access-${++issued}`, expiresIn)
  const server = await startServer(nextAnswer)
  return Object.assign(server, {
    key,
    nextAnswer,
    reset: () => {
      server.requests.length = 0
      server.respond = nextAnswer
    },
    client: (overrides: Partial<TokenXOptions> = {}) =>
      createTokenXClient({
        clientId: 'dev-gcp:team:app',
        tokenEndpoint: `${server.url}/token`,
        privateJwk: key.privateJwk,
        retryBackoff: 1,
        ...overrides,
      }),
  })
}

/**
 * Checks a token exchange request's body: the six RFC 8693 parameters, each once
 * (https://www.rfc-editor.org/rfc/rfc8693#section-2.1), the fixed grant and token types, a JWT
 * client assertion (RFC 7523, https://www.rfc-editor.org/rfc/rfc7523#section-2.2), and `values` for
 * the rest. Returns the parameters.
 */
export function expectExchangeForm(
  body: string,
  values: { readonly subject_token: string; readonly audience: string; readonly client_assertion?: string },
): Record<string, string> {
  const form = new URLSearchParams(body)
  expect([...form.keys()].sort()).toEqual([
    'audience',
    'client_assertion',
    'client_assertion_type',
    'grant_type',
    'subject_token',
    'subject_token_type',
  ])
  const parameters = Object.fromEntries(form)
  expect(parameters).toMatchObject({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    ...values,
  })
  return parameters
}
