import { describe, expect, it, vi } from 'vitest'
import { lazy } from '../../../lib/util/lazy.ts'

describe('lazy', () => {
  it('starts nothing until called, then shares one load with concurrent and later callers', async () => {
    const load = vi.fn(async () => ({ client: 1 }))
    const get = lazy(load)
    expect(load).not.toHaveBeenCalled()
    const [a, b] = await Promise.all([get(), get()])
    expect(await get()).toBe(a)
    expect(b).toBe(a)
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('forgets a failure: concurrent callers share it, the next caller loads again', async () => {
    let calls = 0
    const get = lazy(async () => {
      calls += 1
      if (calls === 1) throw new Error('throttled')
      return calls
    })
    const failed = await Promise.allSettled([get(), get()])
    expect(failed.map((result) => result.status)).toEqual(['rejected', 'rejected'])
    expect(await get()).toBe(2)
    expect(await get()).toBe(2)
    expect(calls).toBe(2)
  })
})
