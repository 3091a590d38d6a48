import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../../lib/index.ts'
import { environmentAtLoad, inboundValidationFromEnv, requiredAcrFromEnv } from '../../../functions/shared/acr-env.ts'

describe('requiredAcrFromEnv', () => {
  it('defaults to idporten-loa-high and accepts each level', () => {
    expect(requiredAcrFromEnv({})).toBe('idporten-loa-high')
    expect(requiredAcrFromEnv({ REQUIRED_ACR: ' ' })).toBe('idporten-loa-high')
    expect(requiredAcrFromEnv({ REQUIRED_ACR: 'idporten-loa-substantial' })).toBe('idporten-loa-substantial')
    expect(requiredAcrFromEnv({ REQUIRED_ACR: 'Level4' })).toBe('Level4')
  })

  it('turns an unknown level into a ConfigError', () => {
    expect(requiredAcrFromEnv({ REQUIRED_ACR: 'high' })).toBeInstanceOf(ConfigError)
  })

  it('copies the environment, so later writes to process.env do not change it', () => {
    process.env['ACR_ENV_TEST'] = 'before'
    const env = environmentAtLoad()
    process.env['ACR_ENV_TEST'] = 'after'
    expect(env['ACR_ENV_TEST']).toBe('before')
    delete process.env['ACR_ENV_TEST']
  })
})

describe('inboundValidationFromEnv', () => {
  it('is on unless INBOUND_VALIDATION says off', () => {
    expect(inboundValidationFromEnv({})).toBe(true)
    expect(inboundValidationFromEnv({ INBOUND_VALIDATION: 'ON' })).toBe(true)
    expect(inboundValidationFromEnv({ INBOUND_VALIDATION: 'off' })).toBe(false)
    expect(inboundValidationFromEnv({ INBOUND_VALIDATION: 'no' })).toBeInstanceOf(ConfigError)
  })
})
