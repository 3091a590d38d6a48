import { describe, expect, it, vi } from 'vitest'
import { ConfigError } from '../../../lib/index.ts'
import { downstreamFromEnv } from '../../../functions/shared/downstream-env.ts'
import { lambdaContext, v2Event } from '../../helpers/events.ts'

describe('downstreamFromEnv', () => {
  it('reads the base URL and audience', () => {
    const env = downstreamFromEnv({ DOWNSTREAM_URL: 'https://api.example/v1', DOWNSTREAM_AUDIENCE: 'prod:team:api' })
    expect(env).not.toBeInstanceOf(ConfigError)
    expect(String((env as { url: URL }).url)).toBe('https://api.example/v1/')
    expect(new URL('resource', (env as { url: URL }).url).href).toBe('https://api.example/v1/resource')
  })

  it.each([
    [{}, 'DOWNSTREAM_URL is not set'],
    [{ DOWNSTREAM_URL: 'https://api.example' }, 'DOWNSTREAM_AUDIENCE is not set'],
    [{ DOWNSTREAM_URL: 'not a url', DOWNSTREAM_AUDIENCE: 'a:b:c' }, 'DOWNSTREAM_URL must be an http(s) URL'],
    [{ DOWNSTREAM_URL: 'ftp://api.example', DOWNSTREAM_AUDIENCE: 'a:b:c' }, 'DOWNSTREAM_URL must be an http(s) URL'],
    [
      { DOWNSTREAM_URL: 'https://api.example', DOWNSTREAM_AUDIENCE: 'https://api.example' },
      'DOWNSTREAM_AUDIENCE must be "cluster:namespace:app"',
    ],
  ])('names the bad variable: %j', (env, message) => {
    const result = downstreamFromEnv(env)
    expect(result).toBeInstanceOf(ConfigError)
    expect((result as ConfigError).detail).toBe(message)
  })
})

describe('functions/resource without its DOWNSTREAM_* configuration', () => {
  it('answers every request with the documented 500 JSON body and logs which variable', async () => {
    vi.stubEnv('DOWNSTREAM_URL', '')
    vi.stubEnv('DOWNSTREAM_AUDIENCE', '')
    vi.resetModules()
    const lines: string[] = []
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true))
    const { handler } = await import('../../../functions/resource.ts')
    const result = await handler(v2Event('Bearer x.y.z'), lambdaContext(), { signal: new AbortController().signal })
    expect(result).toMatchObject({
      statusCode: 500,
      body: JSON.stringify({ error: 'server_error', error_description: 'The server could not complete the request' }),
    })
    // One JSON line from the kit's logger, naming the variable (never a value).
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        message: 'request failed',
        code: 'ERR_CONFIG',
        status: 500,
        detail: expect.stringContaining('DOWNSTREAM_URL is not set'),
      }),
    ])
  })
})
