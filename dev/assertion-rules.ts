/**
 * The assertion rules the local Entra ID and Maskinporten stand-ins enforce, as strictly as the real
 * servers document them: RS256 only, signed by a key registered for the client (`kid` required),
 * `iss` (and `sub`, when required) = the client id, exactly one `aud` equal to what the server
 * expects, `exp` in the future and at most `maxLifetime` seconds after `iat`, `iat`/`nbf` not in the
 * future, and a `jti` used once.
 */
import { decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose'
import { rs256Key } from './keys.ts'

export interface AssertionRules {
  /** The accepted `aud` values (one string in the token). */
  readonly audiences: readonly string[]
  /** Seconds from `iat` to `exp` at most. */
  readonly maxLifetime: number
  readonly requireSub: boolean
  /** The registered public keys of each client id. */
  readonly clients: ReadonlyMap<string, readonly JWK[]>
  /** Seconds; the clock the server checks against. */
  readonly now: () => number
  /** Seconds of clock skew allowed for `iat`, `nbf` and `exp` (Maskinporten: 10). Default 0. */
  readonly skew?: number
}

export class AssertionRefused extends Error {
  override name = 'AssertionRefused'
}

/** Verifies `assertion`; returns its payload, or throws `AssertionRefused` saying which rule failed. */
export async function checkAssertion(
  assertion: string,
  rules: AssertionRules,
  usedJtis: Set<string>,
  expectedClient?: string,
): Promise<JWTPayload> {
  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(assertion)
  } catch {
    throw new AssertionRefused('malformed assertion')
  }
  if (header.alg !== 'RS256') throw new AssertionRefused('alg must be RS256')
  if (typeof header.kid !== 'string') throw new AssertionRefused('kid is required')
  const unverified = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8')) as JWTPayload
  const clientId = expectedClient ?? unverified.iss
  const keys = typeof clientId === 'string' ? rules.clients.get(clientId) : undefined
  if (keys === undefined) throw new AssertionRefused('unknown client')
  const jwk = keys.find((key) => key.kid === header.kid)
  if (jwk === undefined) throw new AssertionRefused('no registered key matches the kid')
  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(assertion, await rs256Key(jwk), {
      algorithms: ['RS256'],
      currentDate: new Date(rules.now() * 1000),
      clockTolerance: rules.skew ?? 0,
    }))
  } catch {
    throw new AssertionRefused('signature or time claims invalid')
  }
  if (payload.iss !== clientId) throw new AssertionRefused('iss must be the client id')
  if (rules.requireSub && payload.sub !== clientId) throw new AssertionRefused('sub must be the client id')
  if (typeof payload.aud !== 'string' || !rules.audiences.includes(payload.aud))
    throw new AssertionRefused('aud must be exactly one accepted audience')
  const now = rules.now()
  if (typeof payload.exp !== 'number' || typeof payload.iat !== 'number') throw new AssertionRefused('exp and iat are required')
  if (payload.iat > now + (rules.skew ?? 0) || (payload.nbf !== undefined && payload.nbf > now + (rules.skew ?? 0)))
    throw new AssertionRefused('issued in the future')
  if (payload.exp - payload.iat > rules.maxLifetime) throw new AssertionRefused('lifetime too long')
  if (typeof payload.jti !== 'string' || payload.jti === '') throw new AssertionRefused('jti is required')
  if (usedJtis.has(payload.jti)) throw new AssertionRefused('jti already used')
  usedJtis.add(payload.jti)
  return payload
}

/** Parses a form body, refusing a repeated parameter (RFC 6749 §3.2: parameters must not be repeated). */
export function parseForm(body: string): Map<string, string> | undefined {
  const form = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (form.has(name)) return undefined
    form.set(name, value)
  }
  return form
}
