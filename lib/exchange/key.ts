/**
 * Loads the private JWK the client assertions are signed with: inline, from AWS Secrets Manager, or
 * from the application's own loader function (a key it already reads another way: Powertools
 * Parameters, the Parameters and Secrets Lambda extension), which needs no AWS SDK client here.
 * Nothing happens at import; the first caller loads, concurrent callers share that load, and a failed
 * first load is forgotten (the next caller tries again).
 *
 * A key from Secrets Manager or a loader is loaded again after `keyMaxAge`, or when TokenX refuses it
 * (the secret was probably rotated). The last good key is kept until a new one has loaded and passed its
 * sign/verify self-test: a failed reload (throttling, a broken new secret) serves the old key and
 * backs off (1 s, doubling, at most `keyMaxAge`). A new key that TokenX refuses while it still accepted
 * the previous one (the secret rotated before TokenX learnt the new public key) gives way to the
 * previous key, and is tried again after the same backoff.
 *
 * Refusals are rate-limited: a refusal-driven reload that finds the key already in use did not help
 * (or the refusal was not about our key at all: a caller's forged token can be worded alike, see
 * exchange.ts), so the next one waits 1 s, doubling per such reload, at most 30 s (or `keyMaxAge`, if
 * shorter: a secret fixed after a while of refusals is picked up within that); a reload that finds a
 * new key ends the wait. A refusal within the wait gets no other key.
 *
 * Every Secrets Manager request and loader call is raced against `keyTimeout`: a client or loader
 * that ignores its abort signal cannot hold the load, and every caller waiting on it, past that budget.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { JWK } from 'jose'
import { budgetErrorName, KeyError, loadFailureText, safeErrorName, TokenXError, translate } from '../errors.ts'
import { publish, type KitEvents } from '../events.ts'
import type { SecretsManagerLike, SigningKey } from '../types.ts'
import { lazy } from '../util/lazy.ts'
import { within } from '../util/abort.ts'

export interface KeyLoader {
  /** The key to sign with: loading it on first use, or again once it is older than `keyMaxAge`. */
  get(): Promise<SigningKey>
  /** Whether `refused` can ever offer another key (false for an inline key). */
  readonly reloadable: boolean
  /** TokenX accepted an assertion signed with `key`: it is a proven key from now on. */
  accepted(key: SigningKey): void
  /**
   * TokenX refused an assertion signed with `key`. Resolves to the key to try instead — the previous
   * key when `key` is a new one TokenX has never accepted, or the key loaded anew (the same one when
   * the secret has not changed) — or `undefined` when there is none (an inline key, a failed reload,
   * a refusal within the reload rate limit). Concurrent callers refused with the same key share one
   * reload. `changing` is called just before another key is looked for (a reload starts) or offered.
   */
  refused(key: SigningKey, changing?: () => void): Promise<SigningKey | undefined>
}

/**
 * The application's own source of the private JWK: called on first use, again after `keyMaxAge` and
 * when TokenX refuses the key, each time within `keyTimeout` (its `signal` aborts then). Resolves to
 * the JWK, as JSON text or object.
 */
export type PrivateJwkLoader = (options: { readonly signal: AbortSignal }) => Promise<string | JWK>

export interface KeyLoaderOptions {
  readonly privateJwk?: string | JWK | PrivateJwkLoader | undefined
  readonly privateJwkSecretId?: string | undefined
  readonly secretsManager?: SecretsManagerLike | undefined
  /** Milliseconds a key loaded from Secrets Manager is used before it is loaded again. */
  readonly keyMaxAge: number
  /** Milliseconds the Secrets Manager request may take; a request still running then is abandoned. */
  readonly keyTimeout: number
  readonly clock: () => number
}

const PRIVATE_RSA_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const
const MIN_MODULUS_BITS = 2048
/**
 * First wait after a failed reload or a refused new key, and between refusal-driven reloads that find
 * no new key; doubles per such event, at most `keyMaxAge` (and MAX_REFUSAL_WAIT between refusal-driven ones).
 */
const RELOAD_BACKOFF = 1000
/** The longest wait between refusal-driven reloads: at most two `GetSecretValue` a minute, however many refusals. */
const MAX_REFUSAL_WAIT = 30_000
const SELF_TEST_INPUT = Buffer.from('tokenx-handler-kit key self-test')

/**
 * Parses and imports an RSA private JWK. Rejects anything that is not one, lacks a `kid`, may not sign
 * (`use`, `key_ops`, RFC 7517 §4.2–4.3), or fails a sign/verify self-test against its own public
 * members (a corrupted `e` imports fine and signs assertions nobody can verify).
 * Error messages name the problem, never the key's content.
 */
export function importPrivateJwk(source: string | JWK): SigningKey {
  let jwk: unknown = source
  if (typeof source === 'string') {
    try {
      jwk = JSON.parse(source)
    } catch (cause) {
      // JSON.parse quotes the text it could not read: the cause keeps the name `SyntaxError` only (errors.ts).
      throw new KeyError('the private key is not valid JSON', { cause })
    }
  }
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new KeyError('the private key is not a JWK object')
  const record = jwk as {
    readonly [member: string]: unknown
    readonly kty?: unknown
    readonly kid?: unknown
    readonly alg?: unknown
    readonly use?: unknown
    readonly key_ops?: unknown
  }
  if (record.kty !== 'RSA') throw new KeyError('the private key is not an RSA JWK (kty must be "RSA")')
  for (const member of PRIVATE_RSA_MEMBERS) {
    if (typeof record[member] !== 'string' || record[member] === '') {
      throw new KeyError(`the private key is not an RSA private JWK (member "${member}" is missing)`)
    }
  }
  if (typeof record.kid !== 'string' || record.kid.trim() === '') throw new KeyError('the private key has no "kid"')
  if (record.alg !== undefined && record.alg !== 'RS256') throw new KeyError('the private key\'s "alg" must be RS256')
  if (record.use !== undefined && record.use !== 'sig') throw new KeyError('the private key\'s "use" must be "sig"')
  if (record.key_ops !== undefined && !(Array.isArray(record.key_ops) && record.key_ops.includes('sign'))) {
    throw new KeyError('the private key\'s "key_ops" must include "sign"')
  }
  let key: KeyObject
  let publicKey: KeyObject
  try {
    key = createPrivateKey({ key: record as JsonWebKeyInput['key'], format: 'jwk' })
    publicKey = createPublicKey({ key: { kty: 'RSA', n: record['n'] as string, e: record['e'] as string }, format: 'jwk' })
  } catch (cause) {
    // The cause keeps node's name and code only (errors.ts), never its message.
    throw new KeyError('the private key could not be imported', { cause })
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_MODULUS_BITS) throw new KeyError(`the private key must be at least ${MIN_MODULUS_BITS} bits`)
  if (!selfTest(key, publicKey)) throw new KeyError('the private key failed its sign/verify self-test')
  return Object.freeze({ kid: record.kid, key })
}

/** Signs as assertions are signed (RS256) and verifies with the JWK's own public members, as TokenX will. */
function selfTest(key: KeyObject, publicKey: KeyObject): boolean {
  try {
    return verify('sha256', SELF_TEST_INPUT, publicKey, sign('sha256', SELF_TEST_INPUT, key))
  } catch {
    return false
  }
}

type JsonWebKeyInput = Extract<Parameters<typeof createPrivateKey>[0], { format: 'jwk' }>

export function createKeyLoader(options: KeyLoaderOptions): KeyLoader {
  const { privateJwk, privateJwkSecretId } = options
  if (typeof privateJwk === 'function') return reloadingKeyLoader('loader', (timeout) => callLoader(privateJwk, timeout), options)
  if (privateJwk !== undefined) return inlineKeyLoader(privateJwk)
  if (privateJwkSecretId !== undefined) {
    const client = lazy(() => createClient(options.secretsManager))
    return reloadingKeyLoader('secrets-manager', async (timeout) => fetchSecret(await client(), privateJwkSecretId, timeout), options)
  }
  throw new TypeError('privateJwk or privateJwkSecretId is required')
}

type LoadReason = KitEvents['key.load']['reason']

function inlineKeyLoader(source: string | JWK): KeyLoader {
  // A bad inline key fails the same way every time, so caching the rejection would be harmless,
  // but forgetting it keeps one rule for all loaders: never cache a failure.
  const get = lazy(() => loadReported('inline', 'initial', async () => importPrivateJwk(source)))
  return {
    get,
    reloadable: false,
    accepted: () => undefined,
    refused: async () => undefined,
  }
}

/** The key in use and when it is due to be loaded again. */
interface Held {
  readonly key: SigningKey
  readonly dueAt: number
}

/** A key that can change: fetched (as JWK text or object) within `keyTimeout` ms by `fetchKey`. */
function reloadingKeyLoader(
  source: 'secrets-manager' | 'loader',
  fetchKey: (timeout: number) => Promise<string | JWK>,
  options: KeyLoaderOptions,
): KeyLoader {
  const { clock, keyMaxAge } = options
  let held: Held | undefined
  /** The key `held` replaced, for when TokenX refuses a new key. */
  let previous: SigningKey | undefined
  let loading: Promise<SigningKey> | undefined
  let failures = 0
  /** Refusal-driven reloads in a row that found the key already in use. */
  let fruitless = 0
  /** No refusal-driven reload before this time (milliseconds since the epoch, `clock`). */
  let refusalReloadAt = 0
  const proven = new WeakSet<SigningKey>()

  const backoff = () => Math.min(keyMaxAge, RELOAD_BACKOFF * 2 ** Math.max(0, failures - 1))

  /** One load at a time; a new key replaces `held` only once it has passed importPrivateJwk's checks. */
  const load = (reason: LoadReason): Promise<SigningKey> => {
    loading ??= loadReported(source, reason, async () => importPrivateJwk(await fetchKey(options.keyTimeout))).then(
      (key) => {
        loading = undefined
        failures = 0
        // The secret still holds the key in use: keep the very object (assertion headers are cached per key).
        if (held !== undefined && sameKey(held.key, key)) {
          held = { key: held.key, dueAt: clock() + keyMaxAge }
          return held.key
        }
        if (held !== undefined) previous = held.key
        held = { key, dueAt: clock() + keyMaxAge }
        // A new key: a refusal of it deserves a reload at once.
        fruitless = 0
        refusalReloadAt = 0
        return key
      },
      (err: unknown) => {
        loading = undefined
        failures += 1
        if (held !== undefined) held = { key: held.key, dueAt: clock() + backoff() }
        throw err
      },
    )
    return loading
  }

  return {
    get() {
      if (held === undefined) return load('initial')
      if (clock() < held.dueAt) return Promise.resolve(held.key)
      // Due: load anew, but a failed load leaves the last good key in service (the failure is published).
      const fallback = held.key
      return load('max-age').catch(() => fallback)
    },
    reloadable: true,
    accepted(key) {
      proven.add(key)
    },
    async refused(key, changing) {
      if (loading !== undefined) await loading.catch(() => undefined)
      if (held === undefined) return undefined
      // Another caller has already moved on from `key` (a reload or a fall-back).
      if (held.key !== key) {
        changing?.()
        return held.key
      }
      if (!proven.has(key) && previous !== undefined) {
        // TokenX never accepted this new key, and did accept the previous one: it does not know the
        // new public key yet. Go back, and try the new key again after a backoff.
        failures += 1
        const back = previous
        held = { key: back, dueAt: clock() + backoff() }
        changing?.()
        return back
      }
      // The rate limit: one GetSecretValue (and one more TokenX request) per refusal would let any
      // caller whose token TokenX words like a refused assertion make us pay both at will.
      const now = clock()
      if (now < refusalReloadAt) return undefined
      refusalReloadAt = now + Math.min(keyMaxAge, MAX_REFUSAL_WAIT, RELOAD_BACKOFF * 2 ** fruitless)
      changing?.()
      try {
        // The same key again when the secret has not changed: TokenX may have been briefly out of
        // date (its view of our JWKS), so it gets one more try.
        const reloaded = await load('refused')
        if (reloaded === key) fruitless += 1
        return reloaded
      } catch {
        return undefined
      }
    },
  }
}

function sameKey(a: SigningKey, b: SigningKey): boolean {
  return a.kid === b.kid && a.key.equals(b.key)
}

/** Runs one load and publishes its `key.load` event, successful or not. */
async function loadReported(
  source: KitEvents['key.load']['source'],
  reason: LoadReason,
  run: () => Promise<SigningKey>,
): Promise<SigningKey> {
  // Real elapsed time, not the injectable clock (which tests freeze).
  const started = performance.now()
  try {
    const key = await run()
    publish('key.load', () => ({ source, reason, durationMs: performance.now() - started, kid: key.kid }))
    return key
  } catch (err) {
    publish('key.load', () => ({
      source,
      reason,
      durationMs: performance.now() - started,
      code: err instanceof TokenXError ? err.code : 'ERR_KEY',
      errorName: errorNameOf(err),
    }))
    throw err
  }
}

/** The name of what went wrong underneath (`ThrottlingException`, `TimeoutError`, ...), never a message. */
function errorNameOf(err: unknown): string {
  const cause = (err as { cause?: unknown } | undefined)?.cause
  return safeErrorName(cause instanceof Error ? cause : err)
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
    // \"node:https\" is not supported": see docs/bundling.md).
    throw new KeyError(`the Secrets Manager client could not be created (${loadFailureText(cause)})`, { cause })
  }
}

/**
 * Calls the application's loader within `timeout` ms (its signal aborts then, and the race ends the
 * wait whether or not it listens). What it throws is foreign: only its name is kept (errors.ts).
 */
async function callLoader(loader: PrivateJwkLoader, timeout: number): Promise<string | JWK> {
  try {
    // Raced as well as signalled, as the Secrets Manager request is. A loader that throws instead of
    // rejecting is a rejection too.
    return await within({ abortAfter: timeout, wait: timeout, message: 'The private key loader did not finish in time' }, (signal) =>
      Promise.resolve().then(() => loader({ signal })),
    )
  } catch (cause) {
    throw translate(cause, (foreign) => new KeyError(`the private key loader failed (${budgetErrorName(foreign)})`, { cause: foreign }))
  }
}

async function fetchSecret(client: SecretsManagerLike, secretId: string, timeout: number): Promise<string> {
  const { GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
  let output: { SecretString?: string | undefined }
  // Raced as well as signalled (`wait`): a client that ignores `abortSignal` (a wrapper, a hung
  // socket) would otherwise hold the shared load, and every invocation waiting on it, for ever. The
  // timer goes when the request settles and never keeps the process alive.
  try {
    output = await within(
      { abortAfter: timeout, wait: timeout, message: 'The Secrets Manager request did not finish in time' },
      (abortSignal) => client.send(new GetSecretValueCommand({ SecretId: secretId }), { abortSignal }),
    )
  } catch (cause) {
    throw translate(
      cause,
      (foreign) =>
        new KeyError(`the private key could not be loaded from Secrets Manager (${describeAwsError(foreign)})`, {
          cause: foreign,
        }),
    )
  }
  if (typeof output.SecretString !== 'string' || output.SecretString === '') {
    throw new KeyError('the Secrets Manager secret has no SecretString')
  }
  return output.SecretString
}

/** `ResourceNotFoundException`, `AccessDeniedException`, `ThrottlingException`, `TimeoutError`, ... (the SDK call is cut at `keyTimeout`). */
function describeAwsError(err: unknown): string {
  return budgetErrorName(err)
}
