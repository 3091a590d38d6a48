import { describe, expect, it } from 'vitest'
import { acrValuesFor, isAcrLevel, satisfiesAcr } from '../../../lib/inbound/acr.ts'

describe('acr', () => {
  it('accepts both spellings of each level, and anything higher', () => {
    expect(satisfiesAcr('idporten-loa-high', 'idporten-loa-high')).toBe(true)
    expect(satisfiesAcr('Level4', 'idporten-loa-high')).toBe(true)
    expect(satisfiesAcr('idporten-loa-substantial', 'idporten-loa-substantial')).toBe(true)
    expect(satisfiesAcr('Level3', 'idporten-loa-substantial')).toBe(true)
    expect(satisfiesAcr('Level4', 'idporten-loa-substantial')).toBe(true)
    expect(satisfiesAcr('idporten-loa-high', 'Level3')).toBe(true)
  })

  it('refuses lower, unknown and missing levels', () => {
    expect(satisfiesAcr('idporten-loa-substantial', 'idporten-loa-high')).toBe(false)
    expect(satisfiesAcr('Level3', 'idporten-loa-high')).toBe(false)
    expect(satisfiesAcr('Level3', 'Level4')).toBe(false)
    expect(satisfiesAcr('idporten-loa-low', 'idporten-loa-substantial')).toBe(false)
    expect(satisfiesAcr(undefined, 'Level3')).toBe(false)
    expect(satisfiesAcr(4, 'Level3')).toBe(false)
    expect(satisfiesAcr('toString', 'Level3')).toBe(false)
  })

  it('names the level to step up to in ID-porten spelling', () => {
    expect(acrValuesFor('Level4')).toBe('idporten-loa-high')
    expect(acrValuesFor('idporten-loa-high')).toBe('idporten-loa-high')
    expect(acrValuesFor('Level3')).toBe('idporten-loa-substantial')
    expect(isAcrLevel('constructor')).toBe(false)
  })
})
