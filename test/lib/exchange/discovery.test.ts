/**
 * TokenX's endpoints from its discovery document (TOKEN_X_WELL_KNOWN_URL / `wellKnownUrl`): against
 * the dev stack's TokenX (oidc-provider, RFC 8414 metadata) on 127.0.0.1, and with injected fetches
 * for the failures: issuer checks (RFC 8414 §3.3), the failure cooldown, bounds and aborts.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startIdPorten, type IdPorten } from '../../../dev/idporten.ts'
import { generateRsaJwk, type RsaJwkPair } from '../../../dev/keys.ts'
import { startTokenX, type TokenX } from '../../../dev/tokenx.ts'
import { createTokenXClient } from '../../../lib/exchange/client.ts'
import { optionsFromEnv } from '../../../lib/exchange/config.ts'
import { DISCOVERY_FAILURE_COOLDOWN, exchangeTargets, issuerOfWellKnownUrl, type TargetOptions } from '../../../lib/exchange/discovery.ts'
import { ConfigError, TokenExchangeError } from '../../../lib/errors.ts'
import type { FetchLike } from '../../../lib/types.ts'
import { rejection } from '../../helpers/errors.ts'

const CLIENT = 'local:team:client-app'
const TARGET = 'local:team:target-api'

describe('issuerOfWellKnownUrl', () => {
  it.each([
    ['https://tokenx.example/.well-known/oauth-authorization-server', 'https://tokenx.example'],
    ['https://tokenx.example/.well-known/openid-configuration', 'https://tokenx.example'],
    // OpenID Connect Discovery §4: appended to an issuer with a path.
    ['https://host.example/tokenx/.well-known/openid-configuration', 'https://host.example/tokenx'],
    // RFC 8414 §3: inserted between the host and the issuer's path.
    ['https://host.example/.well-known/oauth-authorization-server/tokenx', 'https://host.example/tokenx'],
    ['http://127.0.0.1:8080/.well-known/oauth-authorization-server', 'http://127.0.0.1:8080'],
  ])('%s was made from %s', (url, issuer) => {
    expect(issuerOfWellKnownUrl(url)).toBe(issuer)
  })

  it.each(['https://tokenx.example/metadata', 'https://tokenx.example/.well-known/oauth-authorization-server?x=1', 'not a url'])(
    '%s: no issuer',
    (url) => {
      expect(issuerOfWellKnownUrl(url)).toBeUndefined()
    },
  )
})

const WELL_KNOWN = 'https://tokenx.example/.well-known/oauth-authorization-server'
const DOCUMENT = {
  issuer: 'https://tokenx.example',
  token_endpoint: 'https://tokenx.example/token',
  jwks_uri: 'https://tokenx.example/jwks',
}

function json(body: unknown, status = 200): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

function targets(fetch: FetchLike, overrides: Partial<TargetOptions> = {}, clock = () => now.value) {
  return exchangeTargets({ wellKnownUrl: WELL_KNOWN, assertionAudience: 'issuer', timeout: 1000, fetch, clock, ...overrides })
}

const now = { value: 1_000_000 }
const never = new AbortController().signal

describe('exchangeTargets with a discovery document (injected fetch)', () => {
  it('fetches nothing until asked, then once; concurrent first callers share the fetch', async () => {
    const calls: string[] = []
    const source = targets(async (input) => {
      calls.push(String(input))
      await new Promise((resolve) => setTimeout(resolve, 10))
      return json(DOCUMENT)
    })
    expect(calls).toStrictEqual([])
    const [a, b] = await Promise.all([source.get(never), source.get(never)])
    expect(a).toStrictEqual({ tokenEndpoint: new URL(DOCUMENT.token_endpoint), assertionAudience: DOCUMENT.issuer })
    expect(b).toBe(a)
    expect(await source.get(never)).toBe(a)
    expect(calls).toStrictEqual([WELL_KNOWN])
  })

  it('addresses the assertion to the token endpoint when told to', async () => {
    const source = targets(async () => json(DOCUMENT), { assertionAudience: 'token_endpoint' })
    expect((await source.get(never)).assertionAudience).toBe(DOCUMENT.token_endpoint)
  })

  it('explicit options win: with tokenEndpoint nothing is fetched', async () => {
    const source = targets(
      async () => {
        throw new Error('fetched')
      },
      { tokenEndpoint: 'https://other.example/token', issuer: 'https://other.example', wellKnownUrl: undefined },
    )
    expect(await source.get(never)).toStrictEqual({
      tokenEndpoint: new URL('https://other.example/token'),
      assertionAudience: 'https://other.example',
    })
  })

  it('takes the issuer with a trailing slash the URL was made from (RFC 8414 §3.1), as the document gives it', async () => {
    // Maskinporten's issuer is https://maskinporten.no/, its document at https://maskinporten.no/.well-known/oauth-authorization-server.
    const source = targets(async () => json({ ...DOCUMENT, issuer: 'https://tokenx.example/' }))
    expect((await source.get(never)).assertionAudience).toBe('https://tokenx.example/')
  })

  it('with tokenEndpoint but no issuer to address the assertion to, reads the issuer from the document and keeps the endpoint', async () => {
    const calls: string[] = []
    const source = targets(
      async (input) => {
        calls.push(String(input))
        return json(DOCUMENT)
      },
      { tokenEndpoint: 'https://tokenx.example/other-token' },
    )
    expect(await source.get(never)).toStrictEqual({
      tokenEndpoint: new URL('https://tokenx.example/other-token'),
      assertionAudience: DOCUMENT.issuer,
    })
    expect(calls).toStrictEqual([WELL_KNOWN])
  })

  it('names the provider and its issuer variable in errors', async () => {
    const err = await rejection(
      targets(async () => json(DOCUMENT), { provider: 'Maskinporten', issuerName: 'MASKINPORTEN_ISSUER', issuer: 'https://x.example' }).get(
        never,
      ),
    )
    expect(err).toMatchObject({
      code: 'ERR_CONFIG',
      detail: 'MASKINPORTEN_ISSUER is not the issuer of the Maskinporten discovery document',
    })
  })

  it.each<[string, unknown, Partial<TargetOptions>?]>([
    ['an issuer other than the URL was made from (RFC 8414 §3.3)', { ...DOCUMENT, issuer: 'https://evil.example' }],
    ['an issuer with another path', { ...DOCUMENT, issuer: 'https://tokenx.example/x' }],
    ['an issuer with two trailing slashes', { ...DOCUMENT, issuer: 'https://tokenx.example//' }],
    ['an issuer other than the configured TOKEN_X_ISSUER', DOCUMENT, { issuer: 'https://tokenx.other.example' }],
    ['no token_endpoint', { issuer: DOCUMENT.issuer }],
    ['a cleartext token_endpoint off loopback', { ...DOCUMENT, token_endpoint: 'http://tokenx.example/token' }],
    ['not JSON', '<html>'],
    ['a JSON array', '[]'],
  ])('refuses a document with %s: ConfigError (500)', async (_label, body, overrides = {}) => {
    const err = await rejection(targets(async () => json(body), overrides).get(never))
    expect(err).toBeInstanceOf(ConfigError)
    expect(err).toMatchObject({ code: 'ERR_CONFIG', statusCode: 500 })
  })

  it("answers by what went wrong: 404 is ours (500), 5xx TokenX's (502), unreachable 503, too slow 504", async () => {
    expect(await rejection(targets(async () => json({}, 404)).get(never))).toMatchObject({ code: 'ERR_CONFIG', statusCode: 500 })
    expect(await rejection(targets(async () => json({}, 503)).get(never))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT', statusCode: 502 })
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })
    const unreachable = await rejection(
      targets(async () => {
        throw refused
      }).get(never),
    )
    expect(unreachable).toBeInstanceOf(TokenExchangeError)
    expect(unreachable).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE', statusCode: 503 })
    expect((unreachable as Error).message).not.toContain('fetch failed')
    // A fetch that honours its signal: the client's timeout ends it.
    const hanging: FetchLike = (_input, init) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))
    const started = Date.now()
    expect(await rejection(targets(hanging, { timeout: 100 }).get(never))).toMatchObject({ code: 'ERR_TIMEOUT', statusCode: 504 })
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('reads at most 256 KiB, declared or not', async () => {
    const big = JSON.stringify({ ...DOCUMENT, padding: 'x'.repeat(300 * 1024) })
    const chunked = () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(big))
            controller.close()
          },
        }),
        { status: 200 },
      )
    expect(await rejection(targets(async () => json(big)).get(never))).toMatchObject({
      code: 'ERR_CONFIG',
      detail: expect.stringMatching(/too large/),
    })
    expect(await rejection(targets(async () => chunked()).get(never))).toMatchObject({
      code: 'ERR_CONFIG',
      detail: expect.stringMatching(/too large/),
    })
  })

  it('keeps no failure: within the cooldown exchanges fail at once with the same code, after it the document is fetched again', async () => {
    let calls = 0
    let down = true
    const source = targets(async () => {
      calls += 1
      if (down) throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } })
      return json(DOCUMENT)
    })
    expect(await rejection(source.get(never))).toMatchObject({ code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE' })
    expect(calls).toBe(1)
    down = false
    now.value += DISCOVERY_FAILURE_COOLDOWN - 1
    expect(await rejection(source.get(never))).toMatchObject({
      code: 'ERR_TOKEN_ENDPOINT_UNAVAILABLE',
      detail: expect.stringMatching(/cooldown/),
    })
    expect(calls).toBe(1)
    now.value += 1
    expect((await source.get(never)).tokenEndpoint.href).toBe(DOCUMENT.token_endpoint)
    expect(calls).toBe(2)
  })

  it("honours the caller's signal: stops waiting at once, aborts the fetch once nobody waits, and starts no cooldown", async () => {
    const signals: AbortSignal[] = []
    let answer = false
    const source = targets(
      (_input, init) => {
        signals.push(init?.signal as AbortSignal)
        if (answer) return Promise.resolve(json(DOCUMENT))
        return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))
      },
      { timeout: 60_000 },
    )
    const caller = new AbortController()
    const waiting = source.get(caller.signal)
    await new Promise((resolve) => setTimeout(resolve, 5))
    caller.abort(new DOMException('gone', 'AbortError'))
    expect(await rejection(waiting)).toMatchObject({ code: 'ERR_TIMEOUT' })
    expect(signals[0]?.aborted).toBe(true)
    answer = true
    expect((await source.get(never)).tokenEndpoint.href).toBe(DOCUMENT.token_endpoint)
    expect(signals).toHaveLength(2)
  })
})

describe('optionsFromEnv with TOKEN_X_WELL_KNOWN_URL', () => {
  const base = { TOKEN_X_CLIENT_ID: CLIENT, TOKEN_X_PRIVATE_JWK: '{"kty":"RSA"}' }

  it('is enough without TOKEN_X_TOKEN_ENDPOINT and TOKEN_X_ISSUER', () => {
    expect(optionsFromEnv({ ...base, TOKEN_X_WELL_KNOWN_URL: WELL_KNOWN })).toMatchObject({
      wellKnownUrl: WELL_KNOWN,
      tokenEndpoint: undefined,
      issuer: undefined,
    })
  })

  it('is not read when TOKEN_X_TOKEN_ENDPOINT is set: explicit variables win', () => {
    const options = optionsFromEnv({ ...base, TOKEN_X_WELL_KNOWN_URL: WELL_KNOWN, TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx.example/token' })
    expect(options.wellKnownUrl).toBeUndefined()
    expect(options.tokenEndpoint).toBe('https://tokenx.example/token')
  })

  it.each([
    [{}, /TOKEN_X_TOKEN_ENDPOINT or TOKEN_X_WELL_KNOWN_URL must be set/],
    [{ TOKEN_X_WELL_KNOWN_URL: 'http://tokenx.example/.well-known/oauth-authorization-server' }, /https:/],
    [{ TOKEN_X_WELL_KNOWN_URL: 'https://tokenx.example/metadata' }, /well-known/],
  ])('refuses %j with a ConfigError', (env, detail) => {
    expect(() => optionsFromEnv({ ...base, ...env })).toThrow(ConfigError)
    expect(() => optionsFromEnv({ ...base, ...env })).toThrow(expect.objectContaining({ detail: expect.stringMatching(detail) }))
  })
})

describe('the wellKnownUrl option', () => {
  it('is checked at construction (TypeError), and stands in for tokenEndpoint', () => {
    const key = { kty: 'RSA', kid: 'k' }
    expect(() => createTokenXClient({ clientId: CLIENT, privateJwk: key })).toThrow(/tokenEndpoint or wellKnownUrl is required/)
    expect(() =>
      createTokenXClient({ clientId: CLIENT, privateJwk: key, wellKnownUrl: 'http://tokenx.example/.well-known/openid-configuration' }),
    ).toThrow(TypeError)
    expect(() => createTokenXClient({ clientId: CLIENT, privateJwk: key, wellKnownUrl: 'https://tokenx.example/other' })).toThrow(TypeError)
    const client = createTokenXClient({ clientId: CLIENT, privateJwk: key, wellKnownUrl: WELL_KNOWN })
    expect(client.options).toMatchObject({ wellKnownUrl: WELL_KNOWN, assertionAudience: 'issuer' })
  })
})

describe("against the dev stack's TokenX on 127.0.0.1", () => {
  let idporten: IdPorten
  let tokenx: TokenX
  let clientKey: RsaJwkPair

  beforeAll(async () => {
    clientKey = await generateRsaJwk()
    idporten = await startIdPorten()
    tokenx = await startTokenX({
      clients: [{ clientId: CLIENT, jwks: [clientKey.publicJwk] }],
      accessPolicy: { [TARGET]: [CLIENT] },
      subjectIssuers: [idporten.discoveryUrl],
    })
  })
  afterAll(async () => {
    await tokenx?.close()
    await idporten?.close()
  })

  it("exchanges with TOKEN_X_WELL_KNOWN_URL alone: the token endpoint and the assertion's aud (the issuer) from the document", async () => {
    const documents: string[] = []
    const observed: FetchLike = async (input, init) => {
      if (String(input) === tokenx.metadataUrl) documents.push(String(input))
      return fetch(input, init)
    }
    const env = {
      TOKEN_X_CLIENT_ID: CLIENT,
      TOKEN_X_PRIVATE_JWK: JSON.stringify(clientKey.privateJwk),
      TOKEN_X_WELL_KNOWN_URL: tokenx.metadataUrl,
    }
    const assertions: string[] = []
    const client = createTokenXClient({
      ...optionsFromEnv(env),
      fetch: async (input, init) => {
        if (typeof init?.body === 'string') assertions.push(new URLSearchParams(init.body).get('client_assertion') ?? '')
        return observed(input, init)
      },
    })
    const first = await client.exchange(await idporten.mint({ pid: '12345678910' }), TARGET)
    await client.exchange(await idporten.mint({ pid: '12345678911' }), TARGET)
    const { payload } = await jwtVerify(
      first.accessToken,
      createLocalJWKSet((await (await fetch(tokenx.jwksUri)).json()) as { keys: JWK[] }),
      { issuer: tokenx.issuer, audience: TARGET },
    )
    expect(payload.client_id).toBe(CLIENT)
    expect(tokenx.stats.exchanges).toBe(2)
    expect(documents).toStrictEqual([tokenx.metadataUrl])
    expect(assertions.map((assertion) => decodeJwt(assertion).aud)).toStrictEqual([tokenx.issuer, tokenx.issuer])
  })

  it('refuses the real document when the URL claims another issuer', async () => {
    // The same document, fetched through a URL made from another issuer (a path prefix it does not have).
    const claimed = `${tokenx.issuer}/other/.well-known/oauth-authorization-server`
    const client = createTokenXClient({
      clientId: CLIENT,
      privateJwk: clientKey.privateJwk,
      wellKnownUrl: claimed,
      fetch: (input, init) => fetch(String(input) === claimed ? tokenx.metadataUrl : input, init),
    })
    const err = await rejection(client.exchange(await idporten.mint({ pid: '12345678910' }), TARGET))
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).detail).toMatch(/another issuer/)
  })
})
