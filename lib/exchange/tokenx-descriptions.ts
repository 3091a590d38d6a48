/**
 * What the kit keeps of TokenX's `error_description` (RFC 6749 §5.2, RFC 8693 §2.2.2): never the
 * text TokenX sent, only one of the fixed texts below, picked by matching tokendings' own wording.
 *
 * Why an allow-list and not redaction: the description is free text from the other side, and
 * tokendings fills it with whatever Nimbus said about the subject token ("JWT iss claim has value
 * …", "JWT audience rejected: […]") and with client ids, audiences and issuers. A redactor has to
 * recognise every form a secret can take — a JWT, a payload alone, the claims decoded, in standard
 * base64, as base64url that does not start with `eyJ`, URL-encoded, cut anywhere — and misses the
 * one it did not think of. Keeping only texts written here guarantees that no byte of what TokenX
 * said, so no claim of the citizen's token in any encoding, reaches `detail`, `upstream`, an event
 * or a log line. Where tokendings interpolates a value, the kept text names it with a placeholder
 * (`<audience>`); the audience and client id are on the log line's other keys anyway.
 *
 * The wording is tokendings' (github.com/nais/tokendings: TokenRequestAuthorizer.kt,
 * TokenRequestContext.kt, TokenIssuer.kt, Extensions.kt, ParametersExtensions.kt), Nimbus JOSE+JWT's
 * (DefaultJWTProcessor, DefaultJWTClaimsVerifier) for "token verification failed: " (URL-encoded by
 * tokendings), and the local TokenX's (dev/tokenx.ts) where it differs.
 */

/** Any description not listed: kept as this marker, so operators see that TokenX said something. */
export const WITHHELD = '[withheld: not a known TokenX message]'

/**
 * Longer than any known message; a longer text is not one of them (and no pattern ever runs over
 * more than this: TokenX's body may be 256 KiB).
 */
const MAX_EXAMINED = 1200

/** The request parameters the kit sends (RFC 8693 §2.1, RFC 7523 §2.2): named as they are. */
const PARAMETERS = [
  'grant_type',
  'client_assertion_type',
  'client_assertion',
  'subject_token_type',
  'subject_token',
  'audience',
  'scope',
] as const

/** `[pattern, kept text]`: the first pattern that matches the whole description decides. */
type Known = readonly [RegExp, string]

/** Nimbus' messages about a JWT (the subject token, or our client assertion), decoded. */
const NIMBUS: readonly Known[] = [
  [
    /^Signed JWT rejected: Another algorithm expected, or no matching key\(s\) found$/,
    'Signed JWT rejected: Another algorithm expected, or no matching key(s) found',
  ],
  [/^Signed JWT rejected: Invalid signature$/, 'Signed JWT rejected: Invalid signature'],
  [/^Expired JWT$/, 'Expired JWT'],
  [/^JWT before use time$/, 'JWT before use time'],
  [/^JWT issue time ahead of current time$/, 'JWT issue time ahead of current time'],
  [/^JWT missing required audience$/, 'JWT missing required audience'],
  [/^JWT missing required claims: /, 'JWT missing required claims: <claims>'],
  [/^JWT has prohibited claims: /, 'JWT has prohibited claims: <claims>'],
  [/^JWT audience rejected: /, 'JWT audience rejected: <audience>'],
  [/^JWT iss claim has value /, 'JWT iss claim has value <issuer>, must be <expected issuer>'],
  [/^JWT aud claim has value /, 'JWT aud claim has value <audience>, must be <expected audience>'],
  [/^JWT \w{1,32} claim has value /, 'JWT <claim> claim has value <value>, must be <expected value>'],
  [/^JWT "?\w{1,32}"? claim (?:value rejected|doesn't match expected value)/, 'JWT <claim> claim value rejected'],
  [/^Unsecured \(plain\) JWTs are rejected/, 'Unsecured (plain) JWTs are rejected'],
]

/** tokendings' own descriptions (and the local TokenX's variants), whole. */
const TOKENDINGS: readonly Known[] = [
  [/^invalid request, cannot parse token$/, 'invalid request, cannot parse token'],
  [/^invalid request, cannot validate token from issuer=/, 'invalid request, cannot validate token from issuer=<issuer>'],
  [/^invalid request, validator for issuer=.{0,300} not found$/, 'invalid request, validator for issuer=<issuer> not found'],
  [/^token exchange audience .{0,300} is invalid$/, 'token exchange audience <audience> is invalid'],
  [/^audience .{0,300} is invalid$/, 'audience <audience> is invalid'],
  [/^client is not authenticated$/, 'client is not authenticated'],
  [
    /^client '.{0,300}' is not authorized to get token with aud=/,
    "client '<client id>' is not authorized to get token with aud=<audience>",
  ],
  [/^audience does not match client_id=/, 'audience does not match client_id=<client id>'],
  [
    /^invalid client authentication for client_id=.{0,300}, client not registered\.$/,
    'invalid client authentication for client_id=<client id>, client not registered.',
  ],
  [
    /^invalid client authentication for client_id=.{0,300}, client assertion exceeded max lifetime/,
    'invalid client authentication for client_id=<client id>, client assertion exceeded max lifetime (<seconds>).',
  ],
  [/^could not find authorizer for grant_type=/, 'could not find authorizer for grant_type=<grant type>'],
  [/^grant_type=.{0,300} is not supported$/, 'grant_type=<grant type> is not supported'],
  [/^Client authentication failed: invalid client_assertion_type$/, 'Client authentication failed: invalid client_assertion_type'],
  [/^Client authentication failed: sub must be present in assertion$/, 'Client authentication failed: sub must be present in assertion'],
  [/^Client authentication failed$/, 'Client authentication failed'],
  [/^unexpected error$/, 'unexpected error'],
  ...PARAMETERS.flatMap((name): Known[] => [
    [new RegExp(`^Parameter ${name} missing$`), `Parameter ${name} missing`],
    [new RegExp(`^Parameter ${name} must be `), `Parameter ${name} must be <value>`],
  ]),
]

/** Prefixes tokendings puts before Nimbus' URL-encoded message (Extensions.kt `SignedJWT.verify`; dev/tokenx.ts). */
const VERIFICATION_FAILED = 'token verification failed: '
const CLIENT_VERIFICATION_FAILED = /^invalid client authentication for client_id=.{0,300}, token verification failed: /
/** tokendings' prefix for anything about the subject token (Extensions.kt `tryOrInvalidSubjectToken`). */
const SUBJECT_TOKEN = 'invalid subject_token: '

/**
 * The fixed text kept for TokenX's `error_description`: the matching known text, or `WITHHELD`.
 * Nothing of `text` itself is ever returned.
 */
export function keptDescription(text: string): string {
  if (text.length > MAX_EXAMINED) return WITHHELD
  if (text.startsWith(SUBJECT_TOKEN)) return `${SUBJECT_TOKEN}${known(text.slice(SUBJECT_TOKEN.length))}`
  return known(text)
}

function known(text: string): string {
  if (text.startsWith(VERIFICATION_FAILED)) return `${VERIFICATION_FAILED}${nimbus(text.slice(VERIFICATION_FAILED.length))}`
  if (CLIENT_VERIFICATION_FAILED.test(text)) {
    return `invalid client authentication for client_id=<client id>, ${VERIFICATION_FAILED}${nimbus(text.replace(CLIENT_VERIFICATION_FAILED, ''))}`
  }
  return match(TOKENDINGS, text)
}

/** Nimbus' message, which tokendings URL-encodes (`URLEncoder.encode`: `+` for a space). */
function nimbus(encoded: string): string {
  let text: string
  try {
    text = decodeURIComponent(encoded.replace(/\+/g, ' '))
  } catch {
    return WITHHELD
  }
  return match(NIMBUS, text)
}

function match(table: readonly Known[], text: string): string {
  for (const [pattern, kept] of table) if (pattern.test(text)) return kept
  return WITHHELD
}
