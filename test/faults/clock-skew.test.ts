/**
 * Clock skew between the function and TokenX, shown with the kit's injectable `clock` against a token
 * endpoint on 127.0.0.1 whose own clock runs `skew` seconds ahead (positive) or behind (negative).
 *
 * What tokendings checks on a client assertion (nais/tokendings):
 * - TokenRequestContext.kt: `exp - now <= 120` s (`clientAssertionMaxLifetime`), with no skew allowance;
 * - Nimbus `DefaultJWTClaimsVerifier` (its default `maxClockSkew` is 60 s): `exp > now - 60`,
 *   `nbf < now + 60`;
 * - ClientAssertionJwtClaimsVerifier.kt: `iat < now + 60` (not issued in the future beyond the skew).
 *
 * The kit's assertion is `iat = nbf = ⌊clock⌋`, `exp = iat + assertionLifetime` (default 30 s, as
 * texas). With skew s = serverNow − functionNow, tokendings accepts it when
 *   lifetime − s <= 120   (s >= lifetime − 120, i.e. −90 s for 30)
 *   lifetime − s > −60    (s < lifetime + 60, i.e. +90 s for 30)
 *   −s < 60               (s > −60, from nbf and iat)
 * so the bound for the default lifetime is −60 s < skew < +90 s: every skew within ±60 s except the
 * very edge −60 s itself. `assertionLifetime` cannot widen the negative side (nbf and iat fix it at
 * −60 s), and above 60 s the 120 s limit narrows it (s >= lifetime − 120); it only moves the positive
 * side (lifetime + 60).
 *
 * A stricter endpoint that allows no skew on `exp` either (`exp - now <= 120` and `exp > now`) cannot
 * accept every skew of ±60 s with any lifetime: it needs lifetime > 60 (server 60 s ahead) and
 * lifetime <= 60 (server 60 s behind). The default 30 s covers −90 s <= skew < +30 s there; 60 s
 * would cover −60 s <= skew < +60 s (give or take the second `iat` is floored by). Both are shown
 * below. Both sides keep NTP time (TokenX on GCP, Lambda on the Amazon Time Sync Service), so real
 * skews are far below a second and the default stays texas's 30 s.
 */
import { compactVerify, decodeJwt, importJWK } from 'jose'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTokenXClient } from '../../lib/index.ts'
import { citizenToken } from '../helpers/citizen.ts'
import { newTestKey, type TestKey } from '../helpers/keys.ts'
import { startServer, type Answer, type Recorded, type TestServer } from '../helpers/servers.ts'
import { AUDIENCE, CLIENT_ID, formOf, issue } from './support.ts'

type Check = 'tokendings' | 'strict'

const NIMBUS_MAX_CLOCK_SKEW = 60
const MAX_LIFETIME = 120

/** Whether an endpoint whose clock reads `serverNow` (seconds, fractional) accepts these claims. */
function accepts(check: Check, claims: { iat: number; nbf: number; exp: number }, serverNow: number): boolean {
  if (Math.floor(claims.exp - serverNow) > MAX_LIFETIME) return false // Duration.between(...).seconds <= 120
  if (check === 'strict') return claims.exp > serverNow
  return (
    claims.exp > serverNow - NIMBUS_MAX_CLOCK_SKEW &&
    claims.nbf - NIMBUS_MAX_CLOCK_SKEW < serverNow &&
    claims.iat - NIMBUS_MAX_CLOCK_SKEW < serverNow
  )
}

let key: TestKey
let tokenx: TestServer
/** The endpoint's view: which check, and the time on its clock in milliseconds. */
let endpoint: { check: Check; now: number }

beforeAll(async () => {
  key = await newTestKey('app-key')
  const publicKey = await importJWK(key.publicJwk, 'RS256')
  tokenx = await startServer(async (request: Recorded): Promise<Answer> => {
    const assertion = formOf(request).client_assertion ?? ''
    await compactVerify(assertion, publicKey)
    const { iat, nbf, exp } = decodeJwt(assertion) as { iat: number; nbf: number; exp: number }
    if (!accepts(endpoint.check, { iat, nbf, exp }, endpoint.now / 1000)) {
      return { status: 400, body: { error: 'invalid_request', error_description: 'token verification failed: Expired+JWT' } }
    }
    return issue(request)
  })
})
afterEach(() => {
  tokenx.requests.length = 0
})
afterAll(() => tokenx.close())

/** Exchanges once with the function's clock at `functionNow` and TokenX's at `functionNow + skew`. */
async function exchangeWithSkew(
  check: Check,
  functionNow: number,
  skewSeconds: number,
  /** ms */ assertionLifetime?: number,
): Promise<boolean> {
  endpoint = { check, now: functionNow + skewSeconds * 1000 }
  const kit = createTokenXClient({
    clientId: CLIENT_ID,
    tokenEndpoint: `${tokenx.url}/token`,
    privateJwk: key.privateJwk,
    retries: 0,
    clock: () => functionNow,
    ...(assertionLifetime !== undefined ? { assertionLifetime } : {}),
  })
  return kit.exchange(await subjectAt(functionNow), AUDIENCE).then(
    () => true,
    () => false,
  )
}

const subjects = new Map<number, Promise<string>>()
/** A citizen token valid at `functionNow` (one per clock: signing them is the slow part). */
function subjectAt(functionNow: number): Promise<string> {
  let subject = subjects.get(functionNow)
  if (subject === undefined) {
    subject = citizenToken('12345678910', { now: Math.floor(functionNow / 1000), expiresIn: 3600 })
    subjects.set(functionNow, subject)
  }
  return subject
}

/** Skews from `from` to `to` seconds, in whole seconds. */
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

// A function clock on a whole second, and one just before the next: flooring `iat` matters at the edges.
const WHOLE = Date.UTC(2026, 10, 25, 12, 0, 0)
const CLOCKS = [
  ['on a whole second', WHOLE],
  ['999 ms past a second', WHOLE + 999],
] as const

describe.each(CLOCKS)('with the function clock %s', (_name, functionNow) => {
  it('tokendings accepts the default 30 s assertion for skews within ±60 s (except exactly −60 s)', async () => {
    const refused: number[] = []
    // Every 5 s across the range, and every second near its ends.
    const skews = [...range(-59, -55), ...range(-11, 11).map((n) => n * 5), ...range(55, 60)]
    for (const skew of skews) if (!(await exchangeWithSkew('tokendings', functionNow, skew))) refused.push(skew)
    expect(refused).toEqual([])
  })

  it('and refuses it just outside: the bound is −60 s < skew < +90 s', async () => {
    expect(await exchangeWithSkew('tokendings', functionNow, -61)).toBe(false)
    expect(await exchangeWithSkew('tokendings', functionNow, 89)).toBe(true)
    expect(await exchangeWithSkew('tokendings', functionNow, 90)).toBe(false)
  })

  // Edges only; TokenX floors `exp - now` to whole seconds, so an edge may move out by one second
  // when the function clock's fraction is floored away from `iat`.
  it('an endpoint without skew allowance on exp accepts the default for −90 s <= skew < +30 s', async () => {
    const accepted: number[] = []
    for (const skew of [...range(-93, -86), ...range(26, 33)]) if (await exchangeWithSkew('strict', functionNow, skew)) accepted.push(skew)
    expect(accepted).toEqual(expect.arrayContaining([...range(-90, -86), ...range(26, 29)]))
    expect(accepted.every((skew) => skew >= -91 && skew < 30)).toBe(true)
  })

  it('there, a 60 s lifetime centres the window at −60 s <= skew < +60 s', async () => {
    const accepted: number[] = []
    for (const skew of [...range(-63, -56), ...range(56, 63)])
      if (await exchangeWithSkew('strict', functionNow, skew, 60_000)) accepted.push(skew)
    expect(accepted).toEqual(expect.arrayContaining([...range(-60, -56), ...range(56, 59)]))
    expect(accepted.every((skew) => skew >= -61 && skew < 60)).toBe(true)
  })
})

describe('no lifetime covers ±60 s against an endpoint without skew allowance on exp', () => {
  it('for every allowed assertionLifetime, server +60 s or −60 s refuses it', () => {
    for (let lifetime = 1; lifetime <= 120; lifetime++) {
      const claims = (now: number) => ({ iat: now, nbf: now, exp: now + lifetime })
      const now = WHOLE / 1000
      const ahead = accepts('strict', claims(now), now + 60)
      const behind = accepts('strict', claims(now), now - 60)
      expect(ahead && behind, `lifetime ${lifetime}`).toBe(false)
    }
  })
})
