/**
 * Loads the private JWK the client assertions are signed with: inline, or from AWS Secrets Manager.
 * Nothing happens at import; the first caller loads, concurrent callers share that load, a failed
 * load is forgotten, and a key from Secrets Manager is loaded again after `keyMaxAge` or on demand
 * (after TokenX says `invalid_client`, the key was probably rotated).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import type { SecretsManagerLike } from './config.ts'
import { KeyError, TokenXError, translate } from './errors.ts'
import { publish, type KitEvents } from './events.ts'

export interface SigningKey {
  /** The JWK's `kid`, sent in every assertion's header so TokenX can pick the public key. */
  readonly kid: string
  /** The imported key; imported once and reused for every signature. */
  readonly key: KeyObject
}

export interface KeyLoader {
  /** The current key, loading it on first use or when it is older than `keyMaxAge`. */
  get(): Promise<SigningKey>
  /**
   * Forgets `stale` so the next `get()` loads anew. Concurrent callers that saw the same stale key
   * cause one reload, not many. Returns whether a reload will happen (false for an inline key).
   */
  invalidate(stale: SigningKey): boolean
}

export interface KeyLoaderOptions {
  readonly privateJwk?: string | JWK | undefined
  readonly privateJwkSecretId?: string | undefined
  readonly secretsManager?: SecretsManagerLike | undefined
  /** Seconds. */
  readonly keyMaxAge: number
  /** Milliseconds. */
  readonly keyTimeout: number
  readonly clock: () => number
}

const PRIVATE_RSA_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const
const MIN_MODULUS_BITS = 2048

/**
 * Parses and imports an RSA private JWK. Rejects anything that is not one, or lacks a `kid`.
 * Error messages name the problem, never the key's content.
 */
export function importPrivateJwk(source: string | JWK): SigningKey {
  let jwk: unknown = source
  if (typeof source === 'string') {
    try {
      jwk = JSON.parse(source)
    } catch (cause) {
      throw new KeyError('the private key is not valid JSON', { cause: new Error('JSON parse failed') })
    }
  }
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new KeyError('the private key is not a JWK object')
  const record = jwk as { readonly [member: string]: unknown; readonly kty?: unknown; readonly kid?: unknown; readonly alg?: unknown; readonly use?: unknown }
  if (record.kty !== 'RSA') throw new KeyError('the private key is not an RSA JWK (kty must be "RSA")')
  for (const member of PRIVATE_RSA_MEMBERS) {
    if (typeof record[member] !== 'string' || record[member] === '') {
      throw new KeyError(`the private key is not an RSA private JWK (member "${member}" is missing)`)
    }
  }
  if (typeof record.kid !== 'string' || record.kid.trim() === '') throw new KeyError('the private key has no "kid"')
  if (record.alg !== undefined && record.alg !== 'RS256') throw new KeyError('the private key\'s "alg" must be RS256')
  if (record.use !== undefined && record.use !== 'sig') throw new KeyError('the private key\'s "use" must be "sig"')
  let key: KeyObject
  try {
    key = createPrivateKey({ key: record as JsonWebKeyInput['key'], format: 'jwk' })
  } catch (cause) {
    // node's message does not include key material, but keep only its code to be sure.
    throw new KeyError('the private key could not be imported', { cause: codeOnly(cause) })
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_MODULUS_BITS) throw new KeyError(`the private key must be at least ${MIN_MODULUS_BITS} bits`)
  return Object.freeze({ kid: record.kid, key })
}

type JsonWebKeyInput = Extract<Parameters<typeof createPrivateKey>[0], { format: 'jwk' }>

export function createKeyLoader(options: KeyLoaderOptions): KeyLoader {
  if (options.privateJwk !== undefined) return inlineKeyLoader(options.privateJwk)
  if (options.privateJwkSecretId !== undefined) return secretKeyLoader(options.privateJwkSecretId, options)
  throw new TypeError('privateJwk or privateJwkSecretId is required')
}

function inlineKeyLoader(source: string | JWK): KeyLoader {
  let loaded: Promise<SigningKey> | undefined
  return {
    get() {
      // A bad inline key fails the same way every time, so caching the rejection would be harmless,
      // but forgetting it keeps one rule for all loaders: never cache a failure.
      if (loaded === undefined) {
        const started = performance.now()
        loaded = Promise.resolve().then(() => importPrivateJwk(source)).catch((err: unknown) => {
          loaded = undefined
          throw err
        })
        announceLoad(loaded, 'inline', 'initial', started)
      }
      return loaded
    },
    invalidate: () => false,
  }
}

function secretKeyLoader(secretId: string, options: KeyLoaderOptions): KeyLoader {
  let current: { promise: Promise<SigningKey>; loadedAt: number; key?: SigningKey } | undefined
  let client: Promise<SecretsManagerLike> | undefined
  /** Why the next load happens (for the `key.load` event). */
  let reason: KitEvents['key.load']['reason'] = 'initial'

  const load = (): Promise<SigningKey> => {
    const started = performance.now()
    const entry: { promise: Promise<SigningKey>; loadedAt: number; key?: SigningKey } = {
      loadedAt: options.clock(),
      promise: Promise.resolve().then(async () => {
        client ??= createClient(options.secretsManager).catch((err: unknown) => {
          client = undefined
          throw err
        })
        const key = importPrivateJwk(await fetchSecret(await client, secretId, options.keyTimeout))
        entry.key = key
        return key
      }),
    }
    entry.promise.catch(() => {
      if (current === entry) current = undefined
    })
    current = entry
    announceLoad(entry.promise, 'secrets-manager', reason, started)
    return entry.promise
  }

  return {
    get() {
      if (current === undefined) return load()
      if (options.clock() - current.loadedAt >= options.keyMaxAge * 1000) {
        reason = 'max-age'
        return load()
      }
      return current.promise
    },
    invalidate(stale) {
      if (current?.key === stale) {
        current = undefined
        reason = 'refused'
      }
      return true
    },
  }
}

/** Publishes the `key.load` event when `loading` settles: the `kid` on success, codes and names only on failure. */
function announceLoad(loading: Promise<SigningKey>, source: KitEvents['key.load']['source'], reason: KitEvents['key.load']['reason'], started: number): void {
  loading.then(
    (key) => publish('key.load', () => ({ source, reason, durationMs: performance.now() - started, kid: key.kid })),
    (err: unknown) => publish('key.load', () => ({
      source,
      reason,
      durationMs: performance.now() - started,
      code: err instanceof TokenXError ? err.code : 'ERR_KEY',
      errorName: err instanceof Error && err.cause instanceof Error ? err.cause.name : err instanceof Error ? err.name : undefined,
    })),
  )
}

/** The AWS SDK is imported on first use only, so functions with an inline key never pay for it. */
async function createClient(injected: SecretsManagerLike | undefined): Promise<SecretsManagerLike> {
  if (injected !== undefined) return injected
  try {
    const { SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager')
    return new SecretsManagerClient({})
  } catch (cause) {
    // Nothing secret exists yet at this point, so the cause's own message is safe to log, and it is
    // what an operator needs: a bundler that broke the SDK says so here ("Dynamic require of
    // \"node:https\" is not supported": see the README's bundling recipes).
    throw new KeyError(`the Secrets Manager client could not be created (${nameAndMessage(cause)})`, { cause })
  }
}

async function fetchSecret(client: SecretsManagerLike, secretId: string, timeout: number): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
  let output: { SecretString?: string | undefined }
  try {
    output = await client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal: AbortSignal.timeout(timeout) })
  } catch (cause) {
    throw translate(cause, (foreign) =>
      new KeyError(`the private key could not be loaded from Secrets Manager (${describeAwsError(foreign)})`, {
        cause: codeOnly(foreign),
      }))
  }
  if (typeof output.SecretString !== 'string' || output.SecretString === '') {
    throw new KeyError('the Secrets Manager secret has no SecretString')
  }
  return output.SecretString
}

/** `ResourceNotFoundException`, `AccessDeniedException`, `ThrottlingException`, `TimeoutError`, ... */
function describeAwsError(err: unknown): string {
  if (err instanceof Error) return err.name === 'AbortError' ? 'TimeoutError' : err.name
  return 'unknown error'
}

/**
 * Keeps an error's name, code and status but drops its message: an SDK or crypto message may quote
 * what it was given, and what it was given may be a key.
 */
function codeOnly(err: unknown): Error {
  if (!(err instanceof Error)) return new Error('non-error thrown')
  const safe = new Error(err.name)
  safe.name = err.name
  const { code, $metadata } = err as { code?: unknown; $metadata?: { httpStatusCode?: number } }
  Object.assign(safe, { code, httpStatusCode: $metadata?.httpStatusCode })
  return safe
}

/** `Error: Dynamic require of "node:https" is not supported`, on one line and bounded. */
function nameAndMessage(err: unknown): string {
  if (!(err instanceof Error)) return 'non-error thrown'
  return `${err.name}: ${err.message}`.replace(/\s+/g, ' ').slice(0, 300)
}
