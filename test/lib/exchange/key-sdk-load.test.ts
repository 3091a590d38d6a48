/**
 * When the AWS SDK cannot be loaded or its client not created (a consumer's plain ESM bundle:
 * `Dynamic require of "node:https" is not supported`), the KeyError's detail, and so the log line, names the
 * cause's name and message. Own file: the SDK module is mocked for the whole file.
 * (test/consumer/run.ts shows the same with a real esbuild bundle.)
 */
import { describe, expect, it, vi } from 'vitest'
import { KeyError } from '../../../lib/errors.ts'
import { createKeyLoader } from '../../../lib/exchange/key.ts'

vi.mock('@aws-sdk/client-secrets-manager', () => ({
  SecretsManagerClient: class {
    constructor() {
      throw new Error('Dynamic require of "node:https" is not supported')
    }
  },
  GetSecretValueCommand: class {},
}))

describe('a Secrets Manager client that cannot be created', () => {
  it('is a KeyError whose detail (what the kit logs) names the real cause', async () => {
    const loader = createKeyLoader({ privateJwkSecretId: 'app/private-jwk', keyMaxAge: 300, keyTimeout: 1000, clock: Date.now })
    const err = await loader.get().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KeyError)
    expect((err as KeyError).detail).toBe(
      'the Secrets Manager client could not be created (Error: Dynamic require of "node:https" is not supported)',
    )
    // Not cached: the next call tries again.
    await expect(loader.get()).rejects.toBeInstanceOf(KeyError)
  })
})
