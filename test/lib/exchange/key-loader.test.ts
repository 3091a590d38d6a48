/**
 * `privateJwk` as a function: the application's own key source (Powertools Parameters, the
 * Parameters and Secrets Lambda extension), loaded the way a Secrets Manager key is (on first use,
 * again after keyMaxAge and on a refusal, within keyTimeout), with no AWS SDK client in the kit.
 * Own file: the SDK module is replaced for the whole file, to see that it is never imported.
 */
import type { JWK } from 'jose'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { KeyError } from '../../../lib/errors.ts'
import { channelName, type KitEvents } from '../../../lib/events.ts'
import { createKeyLoader, type PrivateJwkLoader } from '../../../lib/exchange/key.ts'
import { newTestKey, type TestKey } from '../../helpers/keys.ts'

const sdk = vi.hoisted(() => ({ imports: 0 }))
vi.mock('@aws-sdk/client-secrets-manager', () => {
  sdk.imports += 1
  return { SecretsManagerClient: class {}, GetSecretValueCommand: class {} }
})

let key1: TestKey
let key2: TestKey

beforeAll(async () => {
  ;[key1, key2] = await Promise.all([newTestKey('key-1'), newTestKey('key-2')])
})

afterEach(() => {
  expect(sdk.imports).toBe(0)
})

/** A loader serving `current` (changeable), counting its calls. */
function source(first: string | JWK) {
  const state = { current: first, calls: 0 }
  const load: PrivateJwkLoader = async () => {
    state.calls += 1
    return state.current
  }
  return { state, load }
}

describe('createKeyLoader with a loader function', () => {
  let now = 1_000_000
  const clock = () => now

  it('calls it on first use only, once for concurrent gets, and takes JSON text or a JWK object', async () => {
    const { state, load } = source(JSON.stringify(key1.privateJwk))
    const keys = createKeyLoader({ privateJwk: load, keyMaxAge: 60_000, keyTimeout: 1000, clock })
    expect(state.calls).toBe(0)
    const got = await Promise.all(Array.from({ length: 5 }, () => keys.get()))
    expect(state.calls).toBe(1)
    expect(new Set(got).size).toBe(1)
    expect(got[0]?.kid).toBe('key-1')
    expect(await keys.get()).toBe(got[0])
    expect(state.calls).toBe(1)
    expect(keys.reloadable).toBe(true)

    const object = createKeyLoader({ privateJwk: source(key2.privateJwk).load, keyMaxAge: 60_000, keyTimeout: 1000, clock })
    expect((await object.get()).kid).toBe('key-2')
  })

  it('calls it again after keyMaxAge, and when TokenX refuses the key', async () => {
    const { state, load } = source(key1.privateJwk)
    const keys = createKeyLoader({ privateJwk: load, keyMaxAge: 60_000, keyTimeout: 1000, clock })
    const first = await keys.get()
    keys.accepted(first)
    now += 60_000
    state.current = key2.privateJwk
    const second = await keys.get()
    expect(state.calls).toBe(2)
    expect(second.kid).toBe('key-2')
    keys.accepted(second)
    state.current = key1.privateJwk
    const rotated = await keys.refused(second)
    expect(state.calls).toBe(3)
    expect(rotated?.kid).toBe('key-1')
  })

  it('does not cache a failed first load, and keeps only the name of what the loader threw', async () => {
    let fail = true
    const secret = 'eyJ-looks-like-a-token.and-key-material-d-value'
    const events: Array<KitEvents['key.load']> = []
    const onEvent = (message: unknown) => events.push(message as KitEvents['key.load'])
    subscribe(channelName('key.load'), onEvent)
    try {
      const keys = createKeyLoader({
        privateJwk: async () => {
          if (fail) throw new RangeError(`could not read ${secret}`)
          return key1.privateJwk
        },
        keyMaxAge: 60_000,
        keyTimeout: 1000,
        clock,
      })
      const err = await keys.get().catch((e: unknown) => e)
      expect(err).toBeInstanceOf(KeyError)
      expect((err as KeyError).detail).toBe('the private key loader failed (RangeError)')
      for (const text of [String(err), JSON.stringify(err), String((err as Error).stack), String((err as Error).cause)])
        expect(text).not.toContain(secret)
      fail = false
      expect((await keys.get()).kid).toBe('key-1')
    } finally {
      unsubscribe(channelName('key.load'), onEvent)
    }
    expect(events.map((e) => [e.source, e.errorName ?? e.kid])).toEqual([
      ['loader', 'RangeError'],
      ['loader', 'key-1'],
    ])
  })

  it('gives up at keyTimeout on a loader that never settles, aborting its signal, and calls it anew next time', async () => {
    const signals: AbortSignal[] = []
    let settle = false
    const keys = createKeyLoader({
      privateJwk: ({ signal }) => {
        signals.push(signal)
        return settle ? Promise.resolve(key1.privateJwk) : new Promise<JWK>(() => {})
      },
      keyMaxAge: 60_000,
      keyTimeout: 50,
      clock,
    })
    const started = performance.now()
    const err = await keys.get().catch((e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(1000)
    expect((err as KeyError).detail).toBe('the private key loader failed (TimeoutError)')
    expect(signals[0]?.aborted).toBe(true)
    settle = true
    expect((await keys.get()).kid).toBe('key-1')
    expect(signals).toHaveLength(2)
    expect(signals[1]?.aborted).toBe(false)
  })

  it('refuses what is not a usable key, as an inline key is refused', async () => {
    const keys = createKeyLoader({ privateJwk: async () => ({ kty: 'EC' }), keyMaxAge: 60_000, keyTimeout: 1000, clock })
    await expect(keys.get()).rejects.toMatchObject({ detail: expect.stringMatching(/kty must be "RSA"/) })
  })
})
