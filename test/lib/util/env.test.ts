import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../lib/errors.ts'
import { envReader } from '../../../lib/util/env.ts'

/** What `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('did not throw')
}

describe('envReader', () => {
  const env = envReader({
    SET: '  value  ',
    BLANK: '   ',
    URL: 'https://tokenx.example/token',
    LOCAL: 'http://127.0.0.1:8080',
    PLAIN: 'http://tokenx.example',
  })

  it('reads a value trimmed, and a blank or missing one as unset', () => {
    expect(env.read('SET')).toBe('value')
    expect(env.read('BLANK')).toBeUndefined()
    expect(env.read('MISSING')).toBeUndefined()
  })

  it('refuses a required variable that is unset or blank, naming it', () => {
    expect(env.required('SET')).toBe('value')
    for (const name of ['BLANK', 'MISSING']) {
      const err = thrown(() => env.required(name))
      expect(err).toBeInstanceOf(ConfigError)
      expect(err).toMatchObject({ code: 'ERR_CONFIG', detail: `${name} is not set` })
    }
  })

  it('takes an https: URL, or http: on a loopback host, and refuses any other without echoing it', () => {
    expect(env.url('URL')).toBe('https://tokenx.example/token')
    expect(env.url('LOCAL')).toBe('http://127.0.0.1:8080')
    expect(env.url('MISSING')).toBeUndefined()
    for (const name of ['PLAIN', 'SET']) {
      const err = thrown(() => env.url(name))
      expect(err).toBeInstanceOf(ConfigError)
      expect(err).toMatchObject({ detail: `${name} must be an https: URL (http: only on a loopback host)` })
      expect(JSON.stringify(err)).not.toContain('tokenx.example')
    }
  })
})
