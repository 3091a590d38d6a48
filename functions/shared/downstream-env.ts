/**
 * The example functions' own configuration: where the downstream API is and which TokenX audience
 * it has. Read once at module load; a bad value becomes a `ConfigError` the function answers with
 * (500, JSON), rather than a crashed init phase that API Gateway turns into an opaque 502.
 */
import { ConfigError } from 'tokenx-handler-kit'
import { isClientId } from 'tokenx-handler-kit/config'

export interface DownstreamEnv {
  /** Base URL of the downstream API, ending in `/`. */
  readonly url: URL
  /** Its TokenX audience, `cluster:namespace:app`. */
  readonly audience: string
}

export function downstreamFromEnv(env: Readonly<Record<string, string | undefined>>): DownstreamEnv | ConfigError {
  const url = env['DOWNSTREAM_URL']?.trim()
  const audience = env['DOWNSTREAM_AUDIENCE']?.trim()
  if (!url) return new ConfigError('DOWNSTREAM_URL is not set')
  if (!audience) return new ConfigError('DOWNSTREAM_AUDIENCE is not set')
  let base: URL
  try {
    base = new URL(url.endsWith('/') ? url : `${url}/`)
  } catch {
    return new ConfigError('DOWNSTREAM_URL must be an http(s) URL')
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') return new ConfigError('DOWNSTREAM_URL must be an http(s) URL')
  // The citizen's exchanged token goes there: never in cleartext, except to a local test server.
  if (base.protocol === 'http:' && !isLoopbackHost(base.hostname)) {
    return new ConfigError('DOWNSTREAM_URL must be an https: URL (http: only on a loopback host)')
  }
  if (!isClientId(audience)) {
    return new ConfigError('DOWNSTREAM_AUDIENCE must be "cluster:namespace:app"')
  }
  return { url: base, audience }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname)
}
