import { describe, expect, it } from 'vitest'
import * as config from '../../lib/config.ts'
import * as kit from '../../lib/index.ts'
import * as entra from '../../lib/entra.ts'
import * as maskinporten from '../../lib/maskinporten.ts'
import * as observe from '../../lib/observe.ts'
import * as testing from '../../lib/testing.ts'

describe('the public API', () => {
  it('exports exactly the settled list: no internals', () => {
    expect(Object.keys(kit).sort()).toEqual([
      'BearerTokenError',
      'ConfigError',
      'DownstreamError',
      'ForbiddenCallerError',
      'InsufficientAcrError',
      'InvalidOptionError',
      'JwksError',
      'KeyError',
      'TokenExchangeError',
      'TokenXError',
      'createInboundValidator',
      'createTokenXApiCore',
      'createTokenXClient',
      'createTokenXHandlerCore',
      'downstreamAnswer',
      'errorResponse',
      'tokenX',
      'tokenXApi',
    ])
  })

  it('tokenx-handler-kit/observe exports the logger, the metric names and the event channels', () => {
    expect(Object.keys(observe).sort()).toEqual(['METRICS', 'channelName', 'createLogger'])
  })

  it('tokenx-handler-kit/config exports the defaults, the environment readers and the value checks', () => {
    expect(Object.keys(config).sort()).toEqual([
      'acrLevels',
      'inboundDefaults',
      'inboundFromEnv',
      'isAcrLevel',
      'isClientId',
      'middlewareDefaults',
      'optionsFromEnv',
      'satisfiesAcr',
      'sharedCacheDefaults',
    ])
  })

  it('tokenx-handler-kit/testing exports the event and context builders and the issuer stand-ins, none of them in the root', () => {
    expect(Object.keys(testing).sort()).toEqual([
      'albEvent',
      'apiGatewayV1Event',
      'apiGatewayV2Event',
      'lambdaContext',
      'startTestIdporten',
      'startTestTokenX',
    ])
    expect(Object.keys(kit).filter((name) => name in testing)).toEqual([])
  })

  it('package.json exports each entry file under its subpath, with types, import and the source condition', async () => {
    const { default: manifest } = await import('../../package.json', { with: { type: 'json' } })
    const entry = (name: string) => ({
      'tokenx-kit-source': `./lib/${name}.ts`,
      types: `./build/${name}.d.ts`,
      import: `./build/${name}.js`,
      default: `./build/${name}.js`,
    })
    expect(manifest.exports).toEqual({
      '.': entry('index'),
      './observe': entry('observe'),
      './config': entry('config'),
      './entra': entry('entra'),
      './maskinporten': entry('maskinporten'),
      './testing': entry('testing'),
      './package.json': './package.json',
    })
  })

  it("tokenx-handler-kit/entra and /maskinporten export the flows' clients, readers and the on-behalf-of middleware", () => {
    expect(Object.keys(entra).sort()).toEqual([
      'createEntraClient',
      'createEntraOnBehalfOfCore',
      'createEntraValidator',
      'entraDefaults',
      'entraInboundFromEnv',
      'entraOnBehalfOf',
      'entraOptionsFromEnv',
      'entraScope',
    ])
    expect(Object.keys(maskinporten).sort()).toEqual(['createMaskinportenClient', 'maskinportenDefaults', 'maskinportenOptionsFromEnv'])
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
