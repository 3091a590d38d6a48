import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { createTokenXApiCore, tokenXApi, type VerifiedClaims } from '../../../lib/index.ts'
import { lambdaContext, v1Event } from '../../helpers/events.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../../helpers/issuer.ts'

const ME = 'dev-gcp:team:api'
const CALLER = 'dev-gcp:team:frontend-app'
let tokenx: TestIssuer
let idporten: TestIssuer

beforeAll(async () => {
  ;[tokenx, idporten] = await Promise.all([startIssuer(), startIssuer()])
})
afterAll(async () => {
  await Promise.all([tokenx.close(), idporten.close()])
})

const tokenxToken = (extra: Record<string, unknown> = {}) =>
  mint({ key: tokenx.key.privateJwk, claims: citizenClaims(tokenx.issuer, ME, { client_id: CALLER, ...extra }) })
const env = () => ({
  TOKEN_X_CLIENT_ID: ME,
  TOKEN_X_ISSUER: tokenx.issuer,
  TOKEN_X_WELL_KNOWN_URL: tokenx.wellKnownUrl,
  // Configured, and still never accepted on the API side.
  IDPORTEN_ISSUER: idporten.issuer,
  IDPORTEN_JWKS_URI: idporten.jwksUri,
  IDPORTEN_AUDIENCE: ME,
})

describe('tokenXApi', () => {
  it('puts the verified claims of a TokenX token for us on context.citizen', async () => {
    const handler = middy<unknown, APIGatewayProxyResult, Error, Context & { citizen: VerifiedClaims }>()
      .use(tokenXApi({ env: env(), allowedClients: [CALLER], minimumAcr: 'idporten-loa-substantial', logger: false }))
      .handler(async (_event, context) => ({
        statusCode: 200,
        body: JSON.stringify({ caller: context.citizen.client_id, source: context.citizen.source }),
      }))
    const answer = await handler(v1Event(`Bearer ${tokenxToken()}`), lambdaContext())
    expect(answer).toMatchObject({ statusCode: 200, body: JSON.stringify({ caller: CALLER, source: 'tokenx' }) })
    const intruder = await handler(v1Event(`Bearer ${tokenxToken({ client_id: 'dev-gcp:team:intruder' })}`), lambdaContext())
    expect(intruder.statusCode).toBe(403)
    expect(intruder.headers?.['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The calling application is not allowed"',
    )
  })

  it('refuses an ID-porten token even when IDPORTEN_* is set, and a TokenX token for another app', async () => {
    const core = createTokenXApiCore({ env: env(), logger: false })
    const idportenToken = mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, ME) })
    for (const token of [idportenToken, tokenxToken({ aud: 'dev-gcp:team:other' })]) {
      const answer = await core.authorize(v1Event(`Bearer ${token}`), lambdaContext()).then(
        () => undefined,
        (err: unknown) => core.respond(err),
      )
      expect(answer).toMatchObject({ statusCode: 401 })
    }
  })

  it('takes TokenX from options, and answers 500 when the environment configures no TokenX JWKS', async () => {
    const core = createTokenXApiCore({ tokenX: { issuer: tokenx.issuer, jwksUri: tokenx.jwksUri, audience: ME } })
    expect((await core.authorize(v1Event(`Bearer ${tokenxToken()}`))).client_id).toBe(CALLER)
    const unconfigured = createTokenXApiCore({ env: { TOKEN_X_CLIENT_ID: ME }, logger: false })
    const answer = await unconfigured.authorize(v1Event(`Bearer ${tokenxToken()}`)).then(
      () => undefined,
      (err: unknown) => unconfigured.respond(err),
    )
    expect(answer).toMatchObject({ statusCode: 500 })
  })

  it('accepts every inbound option but idporten (jwksFailureCooldown included), and refuses idporten', () => {
    const tokenX = { issuer: tokenx.issuer, jwksUri: tokenx.jwksUri, audience: ME }
    expect(() => createTokenXApiCore({ tokenX, jwksFailureCooldown: 1000, jwksCooldown: 1000, verifiedCacheMaxEntries: 10 })).not.toThrow()
    expect(() => createTokenXApiCore({ tokenX, idporten: tokenX } as never)).toThrow(/idporten is not a known option/)
  })

  it('leaves no timer alive after an invocation that had to fetch the keys', async () => {
    const core = createTokenXApiCore({ tokenX: { issuer: tokenx.issuer, jwksUri: tokenx.jwksUri, audience: ME }, logger: false })
    // The deadline's timer (about a minute: the context's remaining time less the margin) starts when
    // the JWKS fetch has to wait; it is unref'd, so only its own clearTimeout shows it was released.
    const started: unknown[] = []
    const cleared = new Set<unknown>()
    const realSet = globalThis.setTimeout
    const realClear = globalThis.clearTimeout
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const handle = realSet(fn, ms)
      if ((ms ?? 0) > 50_000) started.push(handle)
      return handle
    }) as typeof setTimeout)
    vi.spyOn(globalThis, 'clearTimeout').mockImplementation(((handle: Parameters<typeof clearTimeout>[0]) => {
      cleared.add(handle)
      realClear(handle)
    }) as typeof clearTimeout)
    const claims = await core.authorize(v1Event(`Bearer ${tokenxToken()}`), lambdaContext(60_000))
    expect(claims.client_id).toBe(CALLER)
    expect(started).toHaveLength(1)
    expect(started.filter((handle) => !cleared.has(handle))).toEqual([])
  })

  // Issue 18 item 4: on the API side the verified-token cache is all a warm token meets; a token that
  // says it lives ten years used to be accepted for as long as the environment stayed warm.
  it('stops accepting a remembered ten-year token once TokenX has dropped its key (defaults)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const issuer = await startIssuer()
    try {
      const core = createTokenXApiCore({
        tokenX: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: ME },
        clock: () => Date.now(),
        logger: false,
      })
      const exp = Math.floor(Date.now() / 1000) + 10 * 365 * 86_400
      const token = mint({ key: issuer.key.privateJwk, claims: citizenClaims(issuer.issuer, ME, { client_id: CALLER, exp }) })
      const authorize = () =>
        core.authorize(v1Event(`Bearer ${token}`)).then(
          (claims) => claims.client_id,
          (err: unknown) => core.respond(err)?.statusCode,
        )
      expect(await authorize()).toBe(CALLER)
      await issuer.rotate()
      // Remembered for verifiedCacheMaxAge (5 min), then verified again with the JWKS at hand (fresh
      // for jwksMaxAge, 10 min), then refused once that is fetched again.
      vi.setSystemTime(Date.now() + 9 * 60_000)
      expect(await authorize()).toBe(CALLER)
      vi.setSystemTime(Date.now() + 6 * 60_000)
      expect(await authorize()).toBe(401)
      expect(issuer.jwksFetches()).toBe(2)
    } finally {
      vi.useRealTimers()
      await issuer.close()
    }
  })

  it('throws TypeError for bad options at construction', () => {
    expect(() => createTokenXApiCore({ allowedClient: [CALLER] } as never)).toThrow(/allowedClient is not a known option/)
    expect(() => createTokenXApiCore({ deadlineMargin: -1 })).toThrow(/deadlineMargin/)
    // Only TokenX tokens here: a client_id is always `cluster:namespace:app`, checked before any issuer is known.
    expect(() => createTokenXApiCore({ allowedClients: ['frontend'] })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'allowedClients' }),
    )
    expect(() => createTokenXApiCore({ allowedClients: [CALLER] })).not.toThrow()
    expect(() => createTokenXApiCore({ minimumAcr: 'high' as never })).toThrow(/minimumAcr/)
    expect(() => createTokenXApiCore({ tokenX: { issuer: tokenx.issuer, jwksUri: tokenx.jwksUri, audience: 'not a client id' } })).toThrow(
      /client id/,
    )
  })
})
