import { describe, expect, it } from 'vitest'
import {
  checkFunction,
  checkKnownKeys,
  checkOptionalName,
  checkOptionsObject,
  isClientId,
  optionKeys,
} from '../../../lib/util/option-checks.ts'

interface Options {
  timeout?: number
  retries?: number
  fetch?: typeof fetch
}

describe('optionKeys', () => {
  it('lists every key of the options type, frozen', () => {
    const keys = optionKeys<Options>()('timeout', 'retries', 'fetch')
    expect(keys).toEqual(['timeout', 'retries', 'fetch'])
    expect(Object.isFrozen(keys)).toBe(true)
    expect(() => checkKnownKeys({ timeout: 1, retry: 2 }, keys)).toThrow(expect.objectContaining({ name: 'TypeError', option: 'retry' }))
  })

  it('accepts a list spread from another one', () => {
    const shared = ['retries', 'fetch'] as const
    expect(optionKeys<Options>()('timeout', ...shared.filter((key) => key !== 'fetch'), 'fetch')).toEqual(['timeout', 'retries', 'fetch'])
  })

  it('fails to compile when a key is missing or unknown (checked by npm run typecheck)', () => {
    // @ts-expect-error 'fetch' is missing
    optionKeys<Options>()('timeout', 'retries')
    // @ts-expect-error 'retry' is not a key of Options
    optionKeys<Options>()('timeout', 'retries', 'fetch', 'retry')
    expect(true).toBe(true)
  })
})

describe('the shared value checks', () => {
  const refused = (name: string, run: () => void) =>
    expect(run).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_OPTION', option: name }))

  it('checkOptionsObject refuses what is not an object, arrays only when told', () => {
    for (const value of [null, undefined, 'x', 1]) refused('options', () => checkOptionsObject('options', value))
    expect(() => checkOptionsObject('options', [])).not.toThrow()
    refused('sharedCache', () => checkOptionsObject('sharedCache', [], 'must be an object', false))
    expect(() => checkOptionsObject('logger', 1, 'options must be an object')).toThrow('logger options must be an object')
  })

  it('checkFunction refuses a non-function; undefined only when the option is optional', () => {
    expect(() => checkFunction('fetch', undefined)).not.toThrow()
    expect(() => checkFunction('fetch', () => undefined)).not.toThrow()
    refused('fetch', () => checkFunction('fetch', 'fetch'))
    refused('clock', () => checkFunction('clock', undefined, false))
  })

  it('checkOptionalName refuses an empty or non-string name', () => {
    expect(() => checkOptionalName('serviceName', undefined)).not.toThrow()
    expect(() => checkOptionalName('serviceName', 'orders')).not.toThrow()
    refused('serviceName', () => checkOptionalName('serviceName', ''))
    refused('serviceName', () => checkOptionalName('serviceName', 5))
  })
})

describe('isClientId', () => {
  it('accepts cluster:namespace:app in either case, dots only in the app', () => {
    for (const id of ['prod-gcp:team:orders-api', 'DEV-GCP:Team:App', 'a:b:c', 'dev-gcp:team-x:app.v2', '0:1:2'])
      expect(isClientId(id)).toBe(true)
  })

  it('refuses anything else, whatever its case', () => {
    const refused = [
      '',
      'prod-gcp:team',
      'a:b:c:d',
      '-a:b:c',
      'a:-b:c',
      'a:b:-c',
      'a.b:c:d',
      'a:b.c:d',
      'a:b:c d',
      'a:b:ſ',
      'a:b:\u212A',
      'https://x:y:z',
      ' a:b:c',
    ]
    for (const id of refused) expect(isClientId(id), id).toBe(false)
    expect(isClientId(undefined)).toBe(false)
  })
})
