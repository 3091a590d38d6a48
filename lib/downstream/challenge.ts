/**
 * Reads a downstream's `WWW-Authenticate` answer (RFC 9110 §11.6.1): the `error` and `acr_values`
 * of its `Bearer` challenge (RFC 6750 §3, RFC 9470 §3). Foreign input: the header is read up to a
 * bound, quoted strings are skipped as a whole (an `error=` inside a description is not one), and
 * what is returned is for decisions; nothing of it is logged but a known error code (lib/events.ts).
 */

export interface BearerChallenge {
  /** The RFC 6750 §3.1 / RFC 9470 §3 `error` code, as sent. */
  readonly error?: string | undefined
  /** RFC 9470 §3 `acr_values`: space-separated login levels, as sent. */
  readonly acrValues?: string | undefined
}

/** More than any challenge a downstream API sends; past it the header is not read. */
const MAX_HEADER = 4096

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"'
/** An auth-param (`name=value`), a quoted string, a bare token (a scheme name or token68), or any other character. */
const PART = new RegExp(`(${TOKEN})[ \\t]*=[ \\t]*(${TOKEN}|${QUOTED})|${QUOTED}|(${TOKEN})|[^ \\t,]`, 'g')

/** The `Bearer` challenge's `error` and `acr_values`; empty when there is no `Bearer` challenge. */
export function bearerChallenge(header: string | null | undefined): BearerChallenge {
  if (header === null || header === undefined || header === '') return {}
  let scheme = ''
  let error: string | undefined
  let acrValues: string | undefined
  let seenBearer = false
  for (const [, name, value, bare] of header.slice(0, MAX_HEADER).matchAll(PART)) {
    if (bare !== undefined) {
      // A new challenge begins; only the first Bearer one counts.
      if (seenBearer && scheme === 'bearer') break
      scheme = bare.toLowerCase()
      if (scheme === 'bearer') seenBearer = true
      continue
    }
    if (scheme !== 'bearer' || name === undefined || value === undefined) continue
    const key = name.toLowerCase()
    if (key === 'error' && error === undefined) error = unquote(value)
    else if (key === 'acr_values' && acrValues === undefined) acrValues = unquote(value)
  }
  return { error, acrValues }
}

function unquote(value: string): string {
  return value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value
}
