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

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname)
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
