/**
 * Where credentials may go: the URL checks the token endpoint, the JWKS fetch and the downstream
 * `fetch` share.
 */

/**
 * Whether `url` may receive a token or a client assertion: `https:`, or `http:` on a loopback host
 * (local development and tests only; anything else would send credentials in cleartext).
 */
export function isSafeUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))
}

/** Whether `value` is an absolute URL that `isSafeUrl` accepts; parsed once. */
export function isSafeUrlString(value: unknown): value is string {
  if (typeof value !== 'string') return false
  try {
    return isSafeUrl(new URL(value))
  } catch {
    return false
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname)
}

/**
 * Whether a URL's `hostname` (as the WHATWG URL parser leaves it: lower case, IPv4 in dotted
 * decimal, IPv6 in brackets and compressed hex) names this machine or its link: loopback
 * (127.0.0.0/8, ::1, `localhost` and `*.localhost`, RFC 6761 §6.3), the unspecified address
 * (0.0.0.0/8, ::, which connect to this machine on Linux), link-local (169.254.0.0/16, RFC 3927;
 * fe80::/10, RFC 4291 §2.5.6), and those IPv4 addresses embedded in IPv6 (::ffff:a.b.c.d, RFC 4291
 * §2.5.5; 64:ff9b::/96, RFC 6052). On Lambda these are the Runtime API, extensions and the
 * credentials endpoints. A name is not resolved: one that DNS maps to such an address is not caught.
 */
export function isLocalHost(hostname: string): boolean {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  if (name.startsWith('[')) return isLocalIpv6(name.slice(1, -1))
  const octets = ipv4Octets(name)
  return octets !== undefined && isLocalIpv4(octets)
}

function ipv4Octets(name: string): number[] | undefined {
  if (!/^\d{1,3}(?:\.\d{1,3}){3}$/.test(name)) return undefined
  return name.split('.').map(Number)
}

function isLocalIpv4([a, b]: readonly number[]): boolean {
  return a === 127 || a === 0 || (a === 169 && b === 254)
}

function isLocalIpv6(text: string): boolean {
  const halves = text.split('::')
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':')
  const tail = halves.length < 2 || halves[1] === '' ? [] : (halves[1] as string).split(':')
  const groups = [...head, ...Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail].map((group) =>
    parseInt(group, 16),
  )
  if (groups.length !== 8 || groups.some((group) => Number.isNaN(group))) return false
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups
  if ((g0 & 0xffc0) === 0xfe80) return true
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff]
  // ::/96 (::, ::1 and the deprecated IPv4-compatible form) and ::ffff:0:0/96 (IPv4-mapped).
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && (g5 === 0 || g5 === 0xffff)) return isLocalIpv4(embedded)
  // 64:ff9b::/96, the NAT64 well-known prefix.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isLocalIpv4(embedded)
  return false
}

/** Whether `value` parses as an http: or https: URL (whether cleartext is allowed is `isSafeUrl`'s call). */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:'
  } catch {
    return false
  }
}
