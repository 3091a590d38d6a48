import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { BearerTokenError, ConfigError, ForbiddenCallerError, InsufficientAcrError, JwksError, TokenXError } from '../../../lib/errors.ts'
import { channelName } from '../../../lib/events.ts'
import { subjectDigest } from '../../../lib/cache/memory.ts'
import { createInboundValidator, inboundFromEnv, rememberedClaims } from '../../../lib/inbound/validator.ts'
import type { InboundOptions } from '../../../lib/inbound/config.ts'
import { rejection } from '../../helpers/errors.ts'
import { citizenClaims, mint, startIssuer, type TestIssuer } from '../../helpers/issuer.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'

// Counts signature verifications (delegating to the real one) to see what the verified cache saves.
const verifications = vi.hoisted(() => ({ count: 0 }))
vi.mock('../../../lib/inbound/verify.ts', async (original) => {
  const actual = await original<typeof import('../../../lib/inbound/verify.ts')>()
  return {
    ...actual,
    verifySignature: (...args: Parameters<typeof actual.verifySignature>) => (verifications.count++, actual.verifySignature(...args)),
  }
})

const ME = 'dev-gcp:team:me'
let idporten: TestIssuer
let tokenx: TestIssuer

beforeAll(async () => {
  ;[idporten, tokenx] = await Promise.all([startIssuer(), startIssuer()])
})
afterAll(async () => {
  await Promise.all([idporten.close(), tokenx.close()])
})

function validator(extra: Partial<InboundOptions> = {}) {
  return createInboundValidator({
    idporten: { issuer: idporten.issuer, jwksUri: idporten.jwksUri, audience: 'frontend' },
    tokenX: { issuer: tokenx.issuer, wellKnownUrl: tokenx.wellKnownUrl, audience: ME },
    ...extra,
  })
}

const idportenToken = (extra: Record<string, unknown> = {}) =>
  mint({ key: idporten.key.privateJwk, claims: citizenClaims(idporten.issuer, 'frontend', extra) })
const tokenxToken = (extra: Record<string, unknown> = {}) =>
  mint({
    key: tokenx.key.privateJwk,
    claims: citizenClaims(tokenx.issuer, ME, { client_id: 'dev-gcp:team:caller', idp: idporten.issuer, ...extra }),
  })

const failure = (promise: Promise<unknown>) => rejection(promise, TokenXError)

describe('createInboundValidator', () => {
  it('accepts a token of either issuer and returns its verified, typed claims', async () => {
    const v = validator()
    const fromIdporten = await v.validate(idportenToken())
    expect(fromIdporten).toMatchObject({
      source: 'idporten',
      iss: idporten.issuer,
      pid: '12345678910',
      acr: 'idporten-loa-high',
      client_id: 'test-frontend',
      aud: 'frontend',
    })
    const fromTokenx = await v.validate(tokenxToken({ acr: 'Level4' }))
    expect(fromTokenx).toMatchObject({
      source: 'tokenx',
      iss: tokenx.issuer,
      idp: idporten.issuer,
      client_id: 'dev-gcp:team:caller',
      acr: 'Level4',
    })
    expect(Object.isFrozen(fromTokenx)).toBe(true)
  })

  it('verifies a repeated token once, until it expires', async () => {
    let now = Date.now()
    const v = validator({ clock: () => now, clockTolerance: 0 })
    const token = idportenToken({ exp: Math.floor(now / 1000) + 2 })
    const before = verifications.count
    const first = await v.validate(token)
    expect(await v.validate(token)).toBe(first)
    expect(await v.validate(token)).toBe(first)
    expect(verifications.count - before).toBe(1)
    now += 3000
    expect(await failure(v.validate(token))).toBeInstanceOf(BearerTokenError)
  })

  it('bounds the verified cache', async () => {
    const v = validator({ verifiedCacheMaxEntries: 2 })
    const tokens = [idportenToken(), idportenToken(), idportenToken()]
    for (const token of tokens) await v.validate(token)
    const before = verifications.count
    await v.validate(tokens[2]!)
    await v.validate(tokens[1]!)
    expect(verifications.count).toBe(before)
    // The oldest was dropped: it is verified again.
    await v.validate(tokens[0]!)
    expect(verifications.count).toBe(before + 1)
  })

  it('refuses a token of an unknown issuer without fetching anything', async () => {
    const before = idporten.server.requests.length + tokenx.server.requests.length
    const v = validator()
    const err = await failure(v.validate(mint({ key: idporten.key.privateJwk, claims: citizenClaims('https://evil.example', 'frontend') })))
    expect(err).toBeInstanceOf(BearerTokenError)
    expect(err.status).toBe(401)
    expect(idporten.server.requests.length + tokenx.server.requests.length).toBe(before)
  })

  it('checks the token against its own issuer only (no cross-issuer keys or audiences)', async () => {
    const v = validator()
    // Claims tokenx as issuer but signed by ID-porten's key.
    expect(await failure(v.validate(mint({ key: idporten.key.privateJwk, claims: citizenClaims(tokenx.issuer, ME) })))).toBeInstanceOf(
      BearerTokenError,
    )
    // ID-porten's audience in a TokenX token.
    expect(await failure(v.validate(tokenxToken({ aud: 'frontend' })))).toBeInstanceOf(BearerTokenError)
  })

  it('answers a login level too low with a step-up error, and does not remember the token', async () => {
    const v = validator({ minimumAcr: 'idporten-loa-high' })
    const low = idportenToken({ acr: 'idporten-loa-substantial' })
    const err = await failure(v.validate(low))
    expect(err).toBeInstanceOf(InsufficientAcrError)
    expect(err).toMatchObject({ status: 401, error: 'insufficient_user_authentication', acrValues: 'idporten-loa-high' })
    expect(await failure(v.validate(low))).toBeInstanceOf(InsufficientAcrError)
    expect((await v.validate(tokenxToken({ acr: 'Level4' }))).acr).toBe('Level4')
    expect(await failure(v.validate(tokenxToken({ acr: 'Level3' })))).toBeInstanceOf(InsufficientAcrError)
    expect(await failure(v.validate(idportenToken({ acr: undefined })))).toBeInstanceOf(InsufficientAcrError)
  })

  it('refuses an app not on the allow-list with 403', async () => {
    const v = validator({ allowedClients: ['dev-gcp:team:caller'] })
    expect((await v.validate(tokenxToken())).client_id).toBe('dev-gcp:team:caller')
    const err = await failure(v.validate(tokenxToken({ client_id: 'dev-gcp:team:intruder' })))
    expect(err).toBeInstanceOf(ForbiddenCallerError)
    expect(err).toMatchObject({ status: 403, error: 'insufficient_scope' })
    expect(await failure(v.validate(tokenxToken({ client_id: undefined })))).toBeInstanceOf(ForbiddenCallerError)
  })

  it('answers 5xx, not 401, when the issuer keys cannot be had, after one retry', async () => {
    const down = createInboundValidator({ idporten: { issuer: idporten.issuer, jwksUri: 'http://127.0.0.1:1/jwks', audience: 'frontend' } })
    const err = await failure(down.validate(idportenToken()))
    expect(err).toBeInstanceOf(JwksError)
    expect(err.status).toBe(503)
    idporten.jwksAnswer = () => ({ status: 502, body: 'bad gateway' })
    const before = idporten.jwksFetches()
    try {
      const v = validator()
      expect((await failure(v.validate(idportenToken()))).status).toBe(503)
      expect(idporten.jwksFetches() - before).toBe(2)
      // Within jwksFailureCooldown (5 s) the next new token is answered at once, without a fetch.
      const fast = await failure(v.validate(idportenToken()))
      expect(fast).toBeInstanceOf(JwksError)
      expect(fast.status).toBe(503)
      expect(idporten.jwksFetches() - before).toBe(2)
    } finally {
      idporten.jwksAnswer = undefined
    }
  })

  it('times the JWKS failure cooldown on the injected clock', async () => {
    let now = Date.now()
    const v = validator({ clock: () => now, jwksRetries: 0, jwksFailureCooldown: 5000 })
    idporten.jwksAnswer = () => ({ status: 502, body: 'bad gateway' })
    const before = idporten.jwksFetches()
    try {
      expect((await failure(v.validate(idportenToken()))).status).toBe(503)
      now += 4999
      expect((await failure(v.validate(idportenToken()))).status).toBe(503)
      expect(idporten.jwksFetches() - before).toBe(1)
      idporten.jwksAnswer = undefined
      now += 1
      // No real time has passed: only the injected clock can have ended the cooldown.
      expect(await v.validate(idportenToken())).toMatchObject({ source: 'idporten' })
      expect(idporten.jwksFetches() - before).toBe(2)
    } finally {
      idporten.jwksAnswer = undefined
    }
  })

  it('publishes validation.refused with a token-free reason', async () => {
    const events: unknown[] = []
    const listener = (message: unknown) => events.push(message)
    subscribe(channelName('validation.refused'), listener)
    try {
      const v = validator({ minimumAcr: 'Level4', allowedClients: ['test-frontend'] })
      await failure(v.validate(idportenToken({ exp: 1 })))
      await failure(v.validate(idportenToken({ acr: 'Level3' })))
      await failure(v.validate(idportenToken({ client_id: 'x' })))
      await failure(v.validate('x'.repeat(20_000)))
    } finally {
      unsubscribe(channelName('validation.refused'), listener)
    }
    expect(events).toEqual([
      { code: 'ERR_BEARER_TOKEN', reason: 'expired', issuer: idporten.issuer },
      { code: 'ERR_INSUFFICIENT_ACR', reason: 'acr too low', issuer: idporten.issuer },
      { code: 'ERR_CALLER_NOT_ALLOWED', reason: 'caller not allowed', issuer: idporten.issuer },
      { code: 'ERR_BEARER_TOKEN', reason: 'too long', issuer: undefined },
    ])
  })
})

// Issue 18 item 4: a verified token used to stay accepted until its own `exp` (ten years, if it says
// so), even after its issuer had removed the key that signed it and the kit had fetched the new set.
describe("a remembered token and its issuer's keys", () => {
  let issuer: TestIssuer
  const TEN_YEARS = 10 * 365 * 86_400
  beforeEach(async () => {
    issuer = await startIssuer()
  })
  afterEach(async () => {
    vi.useRealTimers()
    await issuer.close()
  })

  const validatorFor = (extra: Partial<InboundOptions> = {}) =>
    createInboundValidator({
      idporten: { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: 'frontend' },
      jwksCooldown: 0,
      ...extra,
    })
  const signedBy = (key: TestKey, extra: Record<string, unknown> = {}) =>
    mint({
      key: key.privateJwk,
      claims: citizenClaims(issuer.issuer, 'frontend', { exp: Math.floor(Date.now() / 1000) + TEN_YEARS, ...extra }),
    })

  it('is verified again, and refused, once a fetched JWKS no longer has the key that verified it', async () => {
    const v = validatorFor()
    const old = signedBy(issuer.key)
    await v.validate(old)
    expect(rememberedClaims(v, subjectDigest(old))).toBeDefined()
    await issuer.rotate()
    // Another caller's token, signed with the new key, makes the kit fetch the JWKS again.
    await v.validate(signedBy(issuer.key))
    expect(issuer.jwksFetches()).toBe(2)
    expect(rememberedClaims(v, subjectDigest(old))).toBeUndefined()
    expect(await failure(v.validate(old))).toBeInstanceOf(BearerTokenError)
  })

  it('is refused when the issuer replaced the key under the same kid', async () => {
    const v = validatorFor()
    const old = signedBy(issuer.key)
    await v.validate(old)
    const other = await newTestKey(issuer.key.privateJwk.kid)
    issuer.published = [other]
    // A token with a kid the set lacks makes the kit fetch it again.
    expect(await failure(v.validate(signedBy(await newTestKey('unknown'))))).toBeInstanceOf(BearerTokenError)
    expect(issuer.jwksFetches()).toBe(2)
    expect(await failure(v.validate(old))).toBeInstanceOf(BearerTokenError)
  })

  it('stays remembered, without another verification, while the fetched JWKS still has its key', async () => {
    const v = validatorFor()
    const oldKey = issuer.key
    const old = signedBy(oldKey)
    const claims = await v.validate(old)
    const next = await newTestKey()
    issuer.published = [oldKey, next]
    await v.validate(signedBy(next))
    expect(issuer.jwksFetches()).toBe(2)
    const before = verifications.count
    expect(await v.validate(old)).toBe(claims)
    expect(rememberedClaims(v, subjectDigest(old))).toBe(claims)
    expect(verifications.count).toBe(before)
  })

  it('is verified again after verifiedCacheMaxAge, and refused once the JWKS, older than jwksMaxAge, is fetched again', async () => {
    // jose times the JWKS's max age on Date.now: the validator's clock follows the same fake time.
    vi.useFakeTimers({ toFake: ['Date'] })
    const v = validatorFor({ clock: () => Date.now(), jwksMaxAge: 60_000, jwksCooldown: 30_000, verifiedCacheMaxAge: 30_000 })
    const old = signedBy(issuer.key)
    await v.validate(old)
    // The issuer drops the key; nothing makes the kit fetch its JWKS again yet.
    await issuer.rotate()
    const before = verifications.count
    vi.setSystemTime(Date.now() + 29_999)
    await v.validate(old)
    expect(verifications.count).toBe(before)
    // Verified again, with the set fetched a moment ago, which still has the key.
    vi.setSystemTime(Date.now() + 1)
    await v.validate(old)
    expect(verifications.count).toBe(before + 1)
    expect(issuer.jwksFetches()).toBe(1)
    // The set is stale: fetched again, without the key.
    vi.setSystemTime(Date.now() + 30_000)
    expect(await failure(v.validate(old))).toBeInstanceOf(BearerTokenError)
    expect(issuer.jwksFetches()).toBe(2)
  })

  it('is remembered for 5 minutes by default, or until exp if sooner', async () => {
    let now = Date.now()
    const v = validatorFor({ clock: () => now })
    const before = verifications.count
    const token = signedBy(issuer.key)
    await v.validate(token)
    now += 299_999
    await v.validate(token)
    expect(verifications.count).toBe(before + 1)
    now += 1
    await v.validate(token)
    expect(verifications.count).toBe(before + 2)
  })
})

describe('inboundFromEnv', () => {
  it('reads the NAIS variables and turns bad ones into ConfigError', async () => {
    const v = inboundFromEnv(
      {},
      {
        IDPORTEN_ISSUER: idporten.issuer,
        IDPORTEN_JWKS_URI: idporten.jwksUri,
        IDPORTEN_AUDIENCE: 'frontend',
        TOKEN_X_ISSUER: tokenx.issuer,
        TOKEN_X_WELL_KNOWN_URL: tokenx.wellKnownUrl,
        TOKEN_X_CLIENT_ID: ME,
      },
    )
    expect((await v.validate(idportenToken())).source).toBe('idporten')
    expect((await v.validate(tokenxToken())).source).toBe('tokenx')
    const detailOf = (run: () => unknown): string => {
      try {
        run()
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError)
        return (err as ConfigError).detail
      }
      return 'no error'
    }
    expect(detailOf(() => inboundFromEnv({}, {}))).toMatch(/no issuer is configured/)
    expect(detailOf(() => inboundFromEnv({}, { IDPORTEN_ISSUER: 'x', IDPORTEN_JWKS_URI: idporten.jwksUri }))).toMatch(/IDPORTEN_AUDIENCE/)
    expect(detailOf(() => inboundFromEnv({}, { TOKEN_X_JWKS_URI: 'ftp://x', TOKEN_X_ISSUER: 'x', TOKEN_X_CLIENT_ID: ME }))).toMatch(
      /TOKEN_X_JWKS_URI/,
    )
    // TOKEN_X_ISSUER alone only configures the client assertion; it accepts no tokens.
    expect(detailOf(() => inboundFromEnv({}, { TOKEN_X_ISSUER: tokenx.issuer, TOKEN_X_CLIENT_ID: ME }))).toMatch(/no issuer/)
    // The API side selects TokenX only.
    expect(
      detailOf(() =>
        inboundFromEnv(
          {},
          { IDPORTEN_ISSUER: 'x', IDPORTEN_JWKS_URI: idporten.jwksUri, IDPORTEN_AUDIENCE: 'a' },
          { idporten: false, tokenX: true },
        ),
      ),
    ).toMatch(/TOKEN_X_JWKS_URI/)
  })
})
