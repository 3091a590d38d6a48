import { describe, expect, it } from 'vitest'
import * as kit from '../../lib/index.ts'

describe('the public API', () => {
  it('exports exactly the settled list: no internals', () => {
    expect(Object.keys(kit).sort()).toEqual([
      'BearerTokenError', 'ConfigError', 'DownstreamError', 'ForbiddenCallerError', 'InsufficientAcrError', 'InvalidOptionError', 'JwksError',
      'KeyError', 'METRICS', 'TokenExchangeError', 'TokenXError',
      'acrLevels', 'channelName', 'createInboundValidator', 'createLogger', 'createTokenXApiCore', 'createTokenXClient', 'createTokenXHandlerCore',
      'downstreamAnswer', 'errorResponse', 'inboundDefaults', 'inboundFromEnv', 'isAcrLevel', 'isClientId',
      'middlewareDefaults', 'optionsFromEnv', 'satisfiesAcr', 'sharedCacheDefaults', 'tokenX', 'tokenXApi',
    ])
  })

  it('refuses unknown option keys with a TypeError that names the key and carries a code', () => {
    const base = { clientId: 'dev-gcp:team:app', tokenEndpoint: 'https://tokenx.example/token', privateJwk: '{}' }
    expect(() => kit.createTokenXClient({ ...base, retry: 5 } as never)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_OPTION', option: 'retry', message: 'retry is not a known option' }),
    )
    expect(() => kit.tokenX({ audience: 'dev-gcp:team:api', timeout: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'timeout' }),
    )
    expect(() => kit.tokenX({ audience: { audience: 'dev-gcp:team:api', url: 'https://api.example', urls: [] } } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'audience.urls' }),
    )
    expect(() => kit.tokenX({ audience: { api: { audience: 'dev-gcp:team:api', url: 'http://api.example' } } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'audience.api.url' }),
    )
    expect(() => kit.tokenX({ audience: 'dev-gcp:team:api', downstreamTimeout: -1 })).toThrow(kit.InvalidOptionError)
  })
})
