import { describe, expect, it, vi } from 'vitest'
import { defaults, optionsFromEnv, resolveOptions, withoutKey, type TokenXOptions } from '../../../lib/exchange/config.ts'
import { ConfigError } from '../../../lib/errors.ts'

const JWK = { kty: 'RSA', kid: 'k1', n: 'n', e: 'AQAB', d: 'd' }
const good: TokenXOptions = { clientId: 'dev-gcp:team:app', tokenEndpoint: 'https://tokenx.example/token', privateJwk: JWK }

describe('resolveOptions', () => {
  it('applies the documented defaults', () => {
    const resolved = resolveOptions(good)
    expect(resolved).toEqual({ ...good, ...defaults })
    expect(resolved).toMatchObject({
      assertionAudience: 'token_endpoint',
      assertionLifetime: 30_000,
      timeout: 3000,
      retries: 2,
      retryBackoff: 100,
      renewBefore: 120_000,
      cacheMaxEntries: 10_000,
      keyMaxAge: 3_600_000,
      keyTimeout: 3000,
      maxSubjectTokenLength: 16_384,
    })
    expect(resolved.clock).toBe(Date.now)
    expect(Object.isFrozen(resolved)).toBe(true)
    expect(Object.isFrozen(defaults)).toBe(true)
  })

  it('addresses assertions to the issuer by default when the issuer is known, to the token endpoint otherwise', () => {
    expect(resolveOptions({ ...good, issuer: 'https://tokenx.example' }).assertionAudience).toBe('issuer')
    expect(resolveOptions({ ...good, issuer: undefined }).assertionAudience).toBe('token_endpoint')
    expect(resolveOptions({ ...good, issuer: 'https://tokenx.example', assertionAudience: 'token_endpoint' }).assertionAudience).toBe(
      'token_endpoint',
    )
    expect(resolveOptions({ ...good, issuer: 'https://tokenx.example', assertionAudience: undefined }).assertionAudience).toBe('issuer')
  })

  it('keeps given values and treats undefined as not given', () => {
    const clock = () => 1
    const fetch = async () => new Response()
    const secretsManager = { send: async () => ({}) }
    const resolved = resolveOptions({
      clientId: 'prod-gcp:ns:app.v2',
      tokenEndpoint: 'http://127.0.0.1:1/token',
      issuer: 'http://127.0.0.1:1',
      privateJwkSecretId: 'arn:aws:secretsmanager:eu-north-1:1:secret:x',
      privateJwk: undefined,
      assertionAudience: 'issuer',
      assertionLifetime: 120_000,
      timeout: 1,
      retries: 0,
      retryBackoff: 0,
      renewBefore: undefined,
      cacheMaxEntries: 1,
      keyMaxAge: 1000,
      keyTimeout: 60_000,
      maxSubjectTokenLength: 64,
      clock,
      fetch,
      secretsManager,
    })
    expect(resolved).toMatchObject({
      assertionAudience: 'issuer',
      assertionLifetime: 120_000,
      timeout: 1,
      retries: 0,
      retryBackoff: 0,
      renewBefore: 120_000,
      cacheMaxEntries: 1,
      keyMaxAge: 1000,
      keyTimeout: 60_000,
      maxSubjectTokenLength: 64,
    })
    expect(resolved.clock).toBe(clock)
    expect(resolved.fetch).toBe(fetch)
    expect(resolved.secretsManager).toBe(secretsManager)
    expect('privateJwk' in resolved).toBe(false)
  })

  it('withoutKey shows an inline key as "[redacted]", and a secret id as it is', () => {
    for (const privateJwk of [JWK, JSON.stringify(JWK)]) {
      const shown = withoutKey(resolveOptions({ ...good, privateJwk }))
      expect(shown.privateJwk).toBe('[redacted]')
      expect(JSON.stringify(shown)).not.toContain('"d"')
      expect(Object.isFrozen(shown)).toBe(true)
      expect(shown).toMatchObject({ clientId: good.clientId, tokenEndpoint: good.tokenEndpoint, timeout: 3000 })
    }
    const bySecret = withoutKey(resolveOptions({ ...good, privateJwk: undefined, privateJwkSecretId: 'tokenx/jwk' }))
    expect(bySecret.privateJwkSecretId).toBe('tokenx/jwk')
    expect('privateJwk' in bySecret).toBe(false)
  })

  it('accepts a JWK as JSON text', () => {
    expect(resolveOptions({ ...good, privateJwk: JSON.stringify(JWK) }).privateJwk).toBe(JSON.stringify(JWK))
  })

  it.each([null, undefined, 'options', 42])('rejects %o as options', (options) => {
    expect(() => resolveOptions(options as unknown as TokenXOptions)).toThrow(TypeError)
    expect(() => resolveOptions(options as unknown as TokenXOptions)).toThrow('options must be an object')
    expect(() => resolveOptions(options as unknown as TokenXOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['clientId missing', { clientId: undefined }, /^clientId must be "cluster:namespace:app"$/],
    ['clientId not a string', { clientId: 42 }, /^clientId/],
    ['clientId without parts', { clientId: 'app' }, /^clientId/],
    ['clientId with two parts', { clientId: 'team:app' }, /^clientId/],
    ['clientId with an empty part', { clientId: 'dev-gcp::app' }, /^clientId/],
    ['clientId with spaces', { clientId: 'dev gcp:team:app' }, /^clientId/],
    ['tokenEndpoint missing (and no wellKnownUrl)', { tokenEndpoint: undefined }, /^tokenEndpoint or wellKnownUrl is required$/],
    ['tokenEndpoint not a URL', { tokenEndpoint: 'not a url' }, /^tokenEndpoint/],
    ['tokenEndpoint not http', { tokenEndpoint: 'ftp://tokenx/token' }, /^tokenEndpoint/],
    ['tokenEndpoint an object', { tokenEndpoint: new URL('https://tokenx/token') }, /^tokenEndpoint/],
    // Issue #9 defect 7: a client assertion and a citizen's token never travel in cleartext.
    [
      'tokenEndpoint http: off loopback',
      { tokenEndpoint: 'http://tokenx.example/token' },
      /^tokenEndpoint must be an https: URL \(http: only on a loopback host\)$/,
    ],
    ['issuer http: off loopback', { issuer: 'http://10.0.0.1' }, /^issuer must be an https: URL/],
    ['assertionLifetime not whole seconds', { assertionLifetime: 30_500 }, /^assertionLifetime must be whole seconds/],
    ['an unknown key', { retry: 5 }, /^retry is not a known option$/],
    ['a misspelt key', { renewBefor: 1000 }, /^renewBefor is not a known option$/],
    ['issuer not a URL', { issuer: 'tokenx' }, /^issuer must be an http\(s\) URL$/],
    ['assertionAudience unknown', { assertionAudience: 'audience' }, /^assertionAudience must be "token_endpoint" or "issuer"$/],
    ['assertionAudience issuer without issuer', { assertionAudience: 'issuer' }, /^assertionAudience "issuer" needs issuer$/],
    ['both key sources', { privateJwkSecretId: 'secret' }, /^privateJwk or privateJwkSecretId is required, exactly one of them$/],
    ['no key source', { privateJwk: undefined }, /^privateJwk or privateJwkSecretId is required/],
    ['empty privateJwkSecretId', { privateJwk: undefined, privateJwkSecretId: '' }, /^privateJwkSecretId must be a non-empty string$/],
    ['blank privateJwkSecretId', { privateJwk: undefined, privateJwkSecretId: '  ' }, /^privateJwkSecretId/],
    ['privateJwkSecretId not a string', { privateJwk: undefined, privateJwkSecretId: 42 }, /^privateJwkSecretId/],
    ['privateJwk a number', { privateJwk: 42 }, /^privateJwk must be JWK JSON text, a JWK object or a function that loads it$/],
    ['privateJwk a boolean', { privateJwk: true }, /^privateJwk must be/],
    [
      'privateJwk the placeholder of client.options',
      { privateJwk: '[redacted]' },
      /^privateJwk is the "\[redacted\]" placeholder of client\.options; pass the key itself$/,
    ],
    ['clock not a function', { clock: 1 }, /^clock must be a function$/],
    ['clock null', { clock: null }, /^clock must be a function$/],
    ['fetch not a function', { fetch: 'fetch' }, /^fetch must be a function$/],
    ['secretsManager without send', { secretsManager: {} }, /^secretsManager must have a send\(\) method$/],
    ['secretsManager null', { secretsManager: null }, /^secretsManager must have a send\(\) method$/],
  ])('rejects %s', (_label, change, message) => {
    expect(() => resolveOptions({ ...good, ...change } as TokenXOptions)).toThrow(TypeError)
    expect(() => resolveOptions({ ...good, ...change } as TokenXOptions)).toThrow(message)
    expect(() => resolveOptions({ ...good, ...change } as TokenXOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })

  it('accepts http: on loopback hosts only', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]']) {
      expect(resolveOptions({ ...good, tokenEndpoint: `http://${host}:8080/token` }).tokenEndpoint).toBe(`http://${host}:8080/token`)
    }
    for (const host of ['127.0.0.1.example', '10.0.0.1', 'localhost.example', '[::2]']) {
      expect(() => resolveOptions({ ...good, tokenEndpoint: `http://${host}/token` }), host).toThrow(/https:/)
    }
  })

  // The key loader would only fail on first use, far from the misconfiguration.
  it('rejects a null privateJwk at construction', () => {
    expect(() => resolveOptions({ ...good, privateJwk: null } as unknown as TokenXOptions)).toThrow(TypeError)
  })

  it.each([
    ['assertionLifetime', 1000, 120_000],
    ['timeout', 1, 60_000],
    ['retries', 0, 10],
    ['retryBackoff', 0, 10_000],
    ['renewBefore', 0, 3_600_000],
    ['cacheMaxEntries', 1, 10_000_000],
    ['keyMaxAge', 1000, 31_536_000_000],
    ['keyTimeout', 1, 60_000],
    ['maxSubjectTokenLength', 64, 1_048_576],
  ] as const)('%s is an integer from %i to %i', (name, min, max) => {
    const message = `${name} must be an integer from ${min} to ${max}`
    expect(resolveOptions({ ...good, [name]: min })[name]).toBe(min)
    expect(resolveOptions({ ...good, [name]: max })[name]).toBe(max)
    for (const bad of [min - 1, max + 1, min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, String(min), null]) {
      expect(() => resolveOptions({ ...good, [name]: bad } as unknown as TokenXOptions), `${name}=${String(bad)}`).toThrow(
        expect.objectContaining({ name: 'TypeError', message, code: 'ERR_INVALID_OPTION', option: name }),
      )
    }
  })
})

describe('optionsFromEnv', () => {
  const SECRET_JWK = JSON.stringify({ kty: 'RSA', kid: 'k', n: 'bW9kdWx1cw', e: 'AQAB', d: 'TOP-SECRET-PRIVATE-EXPONENT-d3adb33f' })
  const env = {
    TOKEN_X_CLIENT_ID: 'dev-gcp:team:app',
    TOKEN_X_TOKEN_ENDPOINT: 'https://tokenx.example/token',
    TOKEN_X_PRIVATE_JWK: SECRET_JWK,
  }

  function configError(change: Record<string, string | undefined>): ConfigError {
    try {
      optionsFromEnv({ ...env, ...change })
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      return err as ConfigError
    }
    throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(change))}`)
  }

  it('reads the TOKEN_X_* variables', () => {
    expect(optionsFromEnv(env)).toEqual({
      clientId: 'dev-gcp:team:app',
      tokenEndpoint: 'https://tokenx.example/token',
      issuer: undefined,
      privateJwk: SECRET_JWK,
      privateJwkSecretId: undefined,
    })
    expect(optionsFromEnv({ ...env, TOKEN_X_ASSERTION_AUDIENCE: 'issuer', TOKEN_X_ISSUER: 'https://tokenx.example' })).toMatchObject({
      issuer: 'https://tokenx.example',
      assertionAudience: 'issuer',
    })
    expect(optionsFromEnv({ ...env, TOKEN_X_PRIVATE_JWK: undefined, TOKEN_X_PRIVATE_JWK_SECRET_ID: 'tokenx-jwk' })).toMatchObject({
      privateJwk: undefined,
      privateJwkSecretId: 'tokenx-jwk',
    })
  })

  it('trims values, treats blank ones as unset, and leaves assertionAudience out when unset', () => {
    const options = optionsFromEnv({
      ...env,
      TOKEN_X_CLIENT_ID: '  dev-gcp:team:app\n',
      TOKEN_X_ISSUER: '   ',
      TOKEN_X_ASSERTION_AUDIENCE: '',
    })
    expect(options.clientId).toBe('dev-gcp:team:app')
    expect(options.issuer).toBeUndefined()
    expect('assertionAudience' in options).toBe(false)
  })

  it('gives options that resolveOptions accepts', () => {
    expect(() => resolveOptions(optionsFromEnv(env))).not.toThrow()
  })

  it('reads process.env by default', () => {
    vi.stubEnv('TOKEN_X_CLIENT_ID', 'dev-gcp:team:from-env')
    vi.stubEnv('TOKEN_X_TOKEN_ENDPOINT', 'http://127.0.0.1:1/token')
    vi.stubEnv('TOKEN_X_ISSUER', '')
    vi.stubEnv('TOKEN_X_ASSERTION_AUDIENCE', '')
    vi.stubEnv('TOKEN_X_PRIVATE_JWK', '')
    vi.stubEnv('TOKEN_X_PRIVATE_JWK_SECRET_ID', 'tokenx-jwk')
    expect(optionsFromEnv()).toMatchObject({ clientId: 'dev-gcp:team:from-env', privateJwkSecretId: 'tokenx-jwk' })
  })

  it.each<[string, Record<string, string | undefined>, string]>([
    ['TOKEN_X_CLIENT_ID missing', { TOKEN_X_CLIENT_ID: undefined }, 'TOKEN_X_CLIENT_ID is not set'],
    ['TOKEN_X_CLIENT_ID blank', { TOKEN_X_CLIENT_ID: ' ' }, 'TOKEN_X_CLIENT_ID is not set'],
    ['TOKEN_X_CLIENT_ID malformed', { TOKEN_X_CLIENT_ID: 'SECRET-LOOKING-client' }, 'TOKEN_X_CLIENT_ID must be "cluster:namespace:app"'],
    [
      'TOKEN_X_TOKEN_ENDPOINT missing (and no TOKEN_X_WELL_KNOWN_URL)',
      { TOKEN_X_TOKEN_ENDPOINT: undefined },
      'TOKEN_X_TOKEN_ENDPOINT or TOKEN_X_WELL_KNOWN_URL must be set',
    ],
    [
      'TOKEN_X_TOKEN_ENDPOINT not a URL',
      { TOKEN_X_TOKEN_ENDPOINT: 'SECRET-LOOKING-endpoint' },
      'TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)',
    ],
    [
      'TOKEN_X_TOKEN_ENDPOINT not http',
      { TOKEN_X_TOKEN_ENDPOINT: 'file:///SECRET-LOOKING' },
      'TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)',
    ],
    [
      'TOKEN_X_TOKEN_ENDPOINT cleartext off loopback',
      { TOKEN_X_TOKEN_ENDPOINT: 'http://SECRET-LOOKING.example/token' },
      'TOKEN_X_TOKEN_ENDPOINT must be an https: URL (http: only on a loopback host)',
    ],
    [
      'TOKEN_X_ISSUER not a URL',
      { TOKEN_X_ISSUER: 'SECRET-LOOKING-issuer' },
      'TOKEN_X_ISSUER must be an https: URL (http: only on a loopback host)',
    ],
    [
      'TOKEN_X_ASSERTION_AUDIENCE unknown',
      { TOKEN_X_ASSERTION_AUDIENCE: 'SECRET-LOOKING' },
      'TOKEN_X_ASSERTION_AUDIENCE must be "token_endpoint" or "issuer"',
    ],
    [
      'TOKEN_X_ASSERTION_AUDIENCE=issuer without TOKEN_X_ISSUER',
      { TOKEN_X_ASSERTION_AUDIENCE: 'issuer' },
      'TOKEN_X_ASSERTION_AUDIENCE=issuer needs TOKEN_X_ISSUER',
    ],
    ['no key source', { TOKEN_X_PRIVATE_JWK: undefined }, 'TOKEN_X_PRIVATE_JWK or TOKEN_X_PRIVATE_JWK_SECRET_ID must be set'],
    [
      'blank key sources',
      { TOKEN_X_PRIVATE_JWK: '  ', TOKEN_X_PRIVATE_JWK_SECRET_ID: '' },
      'TOKEN_X_PRIVATE_JWK or TOKEN_X_PRIVATE_JWK_SECRET_ID must be set',
    ],
    [
      'both key sources',
      { TOKEN_X_PRIVATE_JWK_SECRET_ID: 'SECRET-LOOKING-id' },
      'set only one of TOKEN_X_PRIVATE_JWK and TOKEN_X_PRIVATE_JWK_SECRET_ID',
    ],
  ])('%s: ConfigError naming the variable, without its value', (_label, change, message) => {
    const err = configError(change)
    expect(err.detail).toBe(message)
    expect(err.code).toBe('ERR_CONFIG')
    expect(err.status).toBe(500)
    expect(err.cause).toBeUndefined()
    expect(err.detail).not.toContain('SECRET-LOOKING')
    expect(err.stack).not.toContain('SECRET-LOOKING')
  })

  it('never echoes the private JWK, whatever else is wrong', () => {
    for (const change of [
      { TOKEN_X_TOKEN_ENDPOINT: 'not a url' },
      { TOKEN_X_CLIENT_ID: 'bad' },
      { TOKEN_X_ISSUER: 'bad' },
      { TOKEN_X_PRIVATE_JWK_SECRET_ID: 'also-set' },
      { TOKEN_X_PRIVATE_JWK: `{"kty":"RSA","d":"TOP-SECRET-PRIVATE-EXPONENT-d3adb33f"`, TOKEN_X_TOKEN_ENDPOINT: 'ftp://x' },
    ]) {
      const err = configError(change)
      for (const text of [err.detail, String(err.stack), JSON.stringify(err), String(err)]) {
        expect(text).not.toContain('TOP-SECRET')
        expect(text).not.toContain('d3adb33f')
        expect(text).not.toContain('"kty"')
      }
    }
  })
})
