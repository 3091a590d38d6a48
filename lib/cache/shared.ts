/**
 * The shared second cache level: exchanged tokens in a DynamoDB table, so that every warm Lambda
 * environment of a function — Lambda routes a citizen's requests to any of them — can use a token
 * one of them exchanged. Order of look-ups: the environment's own in-memory cache, then the table,
 * then an exchange; a fresh exchange is written to both.
 *
 * Bound to the app, zero knowledge at rest (lib/cache/seal.ts, docs/shared-cache-security.md): the
 * item key is an HMAC under a secret only the app's private key can derive, over the client id, the
 * audience and the subject token's digest (no audience in it, nothing that links a citizen's items);
 * the value is sealed under a key derived from that secret and the citizen's own subject token. So
 * a table read needs the signing key: it shares the load the exchange needs anyway, and when the key
 * cannot be loaded the table is not consulted (the exchange then fails as it would without a table).
 * Another app on the same table, or anyone who can only write the table, cannot make an item this
 * app accepts; a token read back passes the checks of a TokenX answer again (lib/exchange/token-request.ts).
 *
 * Never worse than no cache:
 * - every read and write has a small time budget (`readTimeout`, `writeTimeout`, ms) enforced with
 *   an AbortSignal on the SDK call, and the SDK does not retry (the fallback, an exchange, is the retry);
 *   until one request has succeeded, `coldTimeout` applies, and a request given up on is aborted
 *   only later, so that it can finish connecting;
 * - any failure (throttling, unreachable, access denied, a timeout) or a refused item is a miss, never
 *   an error, and is published as a `shared-cache` event (lib/events.ts) without token material;
 * - after `failureThreshold` failures in a row, the table is skipped for `breakerCooldown` ms (a
 *   circuit breaker); then one call probes it, and a success closes the breaker again.
 *
 * Writes are awaited, within `writeTimeout`, before the exchanged token is handed out. On Lambda,
 * work left running after the answer is frozen with the environment: a write racing the answer
 * would be stopped mid-flight, lost or reported as a failure invocations later. An awaited write
 * costs one DynamoDB round trip (single-digit ms in the region) on a path that has just paid for a
 * token exchange, and never more than `writeTimeout`.
 *
 * Table schema (serverless.yml creates it): partition key `pk` (S), on-demand capacity, TTL on `ttl`.
 * Item: `pk` (S, `itemKey`), `ttl` (N, epoch seconds: when the token stops being served, never
 * after its expiry minus the renewal margin nor after the subject token's `exp`), `v` (N, the sealed
 * format's version), `data` (B, the sealed token). DynamoDB deletes expired items only eventually, so
 * reads check freshness themselves. When the downstream refuses a token (401), its item is
 * overwritten with a tombstone, `pk`, `ttl` (the token's expiry), `v` and `refused` (BOOL true),
 * which every environment reads as a miss: the role may only GetItem and PutItem.
 */
import { createHash } from 'node:crypto'
import { appBinding, itemKey, open, seal, SEAL_VERSION, type AppBinding, type SealedToken } from './seal.ts'
import { publish, type KitEvents } from '../events.ts'
import type { DynamoDBLike, ExchangedToken, Loaded, SigningKey } from '../types.ts'
import { budgetErrorName, InvalidOptionError } from '../errors.ts'
import { ACCESS_TOKEN_TYPE, MAX_EXPIRES_IN } from '../util/access-token.ts'
import { loadTimeTimers, within, type Budget } from '../util/abort.ts'
import { lazy } from '../util/lazy.ts'
import { checkInteger, checkKnownKeys, checkOptionsObject, optionKeys, withoutUndefined } from '../util/option-checks.ts'

/** Options of the shared cache (`sharedCache` in the client options; `TOKEN_X_CACHE_TABLE` sets `table`). */
export interface SharedCacheOptions {
  /** The DynamoDB table's name or ARN. Required. */
  table: string
  /** Replaces the `@aws-sdk/client-dynamodb` client, which is otherwise imported and created on first use. */
  client?: DynamoDBLike | undefined
  /** Milliseconds a GetItem may take before it is aborted and counted as a miss. Default 50. */
  readTimeout?: number
  /** Milliseconds a PutItem may take before it is aborted (the token is handed out regardless). Default 50. */
  writeTimeout?: number
  /**
   * Milliseconds for the requests of an environment until one has succeeded: the first one also
   * sets the SDK client up and opens the TCP and TLS connection. Default 250.
   */
  coldTimeout?: number
  /** Failures in a row (errors and timeouts, not refused items) that open the circuit breaker. Default 3. */
  failureThreshold?: number
  /** Milliseconds the table is skipped once the breaker is open. Default 30000. */
  breakerCooldown?: number
}

/** Every key of `SharedCacheOptions`, in one place (unknown keys are refused). */
export const sharedCacheOptionKeys = optionKeys<SharedCacheOptions>()(
  'table',
  'client',
  'readTimeout',
  'writeTimeout',
  'coldTimeout',
  'failureThreshold',
  'breakerCooldown',
)

export type ResolvedSharedCacheOptions = Readonly<Required<Omit<SharedCacheOptions, 'client'>> & Pick<SharedCacheOptions, 'client'>>

export const sharedCacheDefaults = Object.freeze({
  // A GetItem in the region takes a few ms; the first one of an environment also opens a TLS
  // connection. 50 ms leaves room for that and still costs far less than an exchange.
  readTimeout: 50,
  writeTimeout: 50,
  // Without it, a new environment — the one that gains most from the table — would give up on its
  // first read while still connecting, and every read of an environment whose connection keeps being
  // aborted would start over.
  coldTimeout: 250,
  failureThreshold: 3,
  breakerCooldown: 30_000,
})

/** A table name (3–255 of `[A-Za-z0-9_.-]`) or a table ARN, as GetItem's `TableName` accepts. */
const TABLE = /^(?:arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table\/)?[A-Za-z0-9_.-]{3,255}$/

/** Whether `value` names a DynamoDB table (for `TOKEN_X_CACHE_TABLE`). */
export function isTableName(value: unknown): value is string {
  return typeof value === 'string' && TABLE.test(value)
}

/** Merges `options` over the defaults and checks them; throws `TypeError` naming the bad one. */
export function resolveSharedCacheOptions(options: SharedCacheOptions): ResolvedSharedCacheOptions {
  checkOptionsObject('sharedCache', options, 'must be an object', false)
  checkKnownKeys(options, sharedCacheOptionKeys, 'sharedCache.')
  const defined = withoutUndefined(options) as SharedCacheOptions
  const resolved = { ...sharedCacheDefaults, ...defined }
  if (!isTableName(resolved.table)) throw new InvalidOptionError('sharedCache.table', 'must be a DynamoDB table name or ARN')
  if (resolved.client !== undefined && typeof resolved.client?.send !== 'function')
    throw new InvalidOptionError('sharedCache.client', 'must have a send() method')
  checkInteger('sharedCache.readTimeout', resolved.readTimeout, 1, 5000)
  checkInteger('sharedCache.writeTimeout', resolved.writeTimeout, 1, 5000)
  checkInteger('sharedCache.coldTimeout', resolved.coldTimeout, 1, 5000)
  checkInteger('sharedCache.failureThreshold', resolved.failureThreshold, 1, 1000)
  checkInteger('sharedCache.breakerCooldown', resolved.breakerCooldown, 0, 3_600_000)
  return Object.freeze(resolved)
}

/** What the table is asked about: one citizen's token for one audience. */
export interface SharedLookup {
  /** The in-memory cache key (`cacheKeyFor`): the audience and the subject token's digest. */
  readonly cacheKey: string
  readonly subjectToken: string
  readonly audience: string
}

export interface SharedCache {
  /**
   * The token cached in the table for `lookup`, or an exchange through `exchange` (written to the
   * table afterwards). `subjectExp` (seconds since the epoch) caps how long a found token is served.
   * `signingKey` is the key load the exchange shares (the item key needs the key). Never fails
   * because of the table: only `exchange` can make it reject.
   */
  through(
    lookup: SharedLookup,
    subjectExp: number,
    signingKey: Promise<SigningKey>,
    signal: AbortSignal,
    exchange: () => Promise<Loaded<ExchangedToken>>,
  ): Promise<Loaded<ExchangedToken>>
  /**
   * The downstream refused `token` (it answered 401): this environment does not serve it from the
   * table again, and the table's item is overwritten with a tombstone, so no other environment does
   * either. Resolves once the write is done or given up on (within `writeTimeout`); never rejects.
   */
  evict(lookup: SharedLookup, token: ExchangedToken, signingKey: Promise<SigningKey>, signal?: AbortSignal): Promise<void>
}

/** A cold request is aborted this many times its budget after the caller stopped waiting for it. */
const COLD_ABORT_FACTOR = 4

/** Refused tokens remembered by `evict`, per environment; bounded, oldest first out. */
const MAX_REFUSED = 1000

/**
 * Milliseconds a token read back may expire beyond the longest lifetime a TokenX answer may give
 * (`MAX_EXPIRES_IN` from now): the writer's clock may run a little ahead of the reader's.
 */
const CLOCK_MARGIN = 60_000

type Outcome = KitEvents['shared-cache']['outcome']

/**
 * One SDK call's budget: `wait` ms at most for the answer, or until `outer` aborts (some clients ignore
 * their signal, or notice it late: the wait holds regardless), and its signal aborted after `abortAfter`
 * ms. Budgets run on real time even while a test fakes the global timers.
 */
const budget = (wait: number, abortAfter: number, outer: AbortSignal | undefined): Budget => ({
  wait,
  abortAfter,
  outer,
  message: 'The shared cache did not answer within its budget',
  timers: loadTimeTimers,
})

/** The part of `@aws-sdk/client-dynamodb` the shared cache uses. */
type DynamoDBSdk = Pick<typeof import('@aws-sdk/client-dynamodb'), 'DynamoDBClient' | 'GetItemCommand' | 'PutItemCommand'>

/**
 * Imports the DynamoDB client on first use, only when a table is configured. The import is a literal
 * `import()` of the package at its use site, so every bundler leaves it lazy: with the SDK external
 * and no code splitting, a static import anywhere in the kit (even in a module that is itself only
 * imported lazily) would be hoisted to the bundle's top and load the SDK at every cold start.
 * The destructuring names what is used: esbuild.config.mjs narrows the chunk to these exports.
 */
async function loadDynamoDBSdk(): Promise<DynamoDBSdk> {
  const { DynamoDBClient, GetItemCommand, PutItemCommand } = await import('@aws-sdk/client-dynamodb')
  return { DynamoDBClient, GetItemCommand, PutItemCommand }
}

export function createSharedCache(options: SharedCacheOptions, clientId: string, clock: () => number = Date.now): SharedCache {
  const resolved = resolveSharedCacheOptions(options)
  /** SHA-256 of refused access tokens, by in-memory cache key. */
  const refused = new Map<string, string>()
  const breaker = createBreaker(resolved.failureThreshold, resolved.breakerCooldown, clock)
  /** Whether a request has succeeded: the client is set up and (likely) connected. */
  let warm = false

  const loadSdk = lazy(loadDynamoDBSdk)
  const getClient = lazy(
    async () =>
      resolved.client ??
      // No SDK retries: within a budget of tens of ms they cannot help, and the fallback is an exchange.
      (new (await loadSdk()).DynamoDBClient({ maxAttempts: 1 }) as DynamoDBLike),
  )

  const event = (
    audience: string,
    operation: 'get' | 'put',
    outcome: Outcome,
    started: number,
    extra: { errorName?: string; breaker?: 'opened' | 'closed' } = {},
  ) => publish('shared-cache', () => ({ audience, operation, outcome, durationMs: performance.now() - started, ...extra }))

  /** Runs one SDK call within `limit` ms; reports failures to the breaker and as events. */
  const call = async <T>(
    audience: string,
    operation: 'get' | 'put',
    limit: number,
    outer: AbortSignal | undefined,
    send: (sdk: DynamoDBSdk, client: DynamoDBLike, signal: AbortSignal) => Promise<T>,
  ): Promise<{ ok: true; value: T; started: number; closed: boolean } | { ok: false }> => {
    const started = performance.now()
    if (!breaker.allow()) {
      event(audience, operation, 'skipped', started)
      return { ok: false }
    }
    try {
      // The SDK's import and client creation happen once per environment and are not counted
      // against the budget (a cold start would otherwise always miss); the request is.
      const [module, dynamodb] = await Promise.all([loadSdk(), getClient()])
      const value = warm
        ? await within(budget(limit, limit, outer), (signal) => send(module, dynamodb, signal))
        : // Until one request has succeeded, a slow one is not aborted when we stop waiting for it
          // but a while later, so it can finish connecting and leave a warm client behind (and a
          // loaded environment does not start over with every request).
          await within(
            budget(Math.max(limit, resolved.coldTimeout), COLD_ABORT_FACTOR * Math.max(limit, resolved.coldTimeout), outer),
            (signal) =>
              send(module, dynamodb, signal).then((result) => {
                warm = true
                return result
              }),
          )
      return { ok: true, value, started, closed: breaker.succeeded() }
    } catch (err) {
      // The caller gave up (its deadline): not the table's fault, so not counted against it.
      if (outer?.aborted === true) {
        breaker.released()
        event(audience, operation, 'error', started, { errorName: 'AbortError' })
        return { ok: false }
      }
      const opened = breaker.failed()
      event(audience, operation, 'error', started, { errorName: budgetErrorName(err), ...(opened ? { breaker: 'opened' as const } : {}) })
      return { ok: false }
    }
  }
  /** The outcome of a call that reached the table; `closed`: it was the probe that closed the breaker. */
  const report = (
    audience: string,
    operation: 'get' | 'put',
    outcome: Outcome,
    call: { started: number; closed: boolean },
    errorName?: string,
  ) =>
    event(audience, operation, outcome, call.started, {
      ...(errorName === undefined ? {} : { errorName }),
      ...(call.closed ? { breaker: 'closed' as const } : {}),
    })

  /** The app's cache secrets for the key `signingKey` resolves to; `undefined` when it does not load. */
  const bind = async (signingKey: Promise<SigningKey>): Promise<AppBinding | undefined> => {
    try {
      return appBinding((await signingKey).key, clientId)
    } catch {
      // The exchange awaits the same load and reports its failure (a `key.load` and an `exchange` event).
      return undefined
    }
  }

  const get = async (
    pk: string,
    binding: AppBinding,
    lookup: SharedLookup,
    subjectExp: number,
    signal: AbortSignal,
  ): Promise<Loaded<ExchangedToken> | undefined> => {
    const { audience } = lookup
    const result = await call(audience, 'get', resolved.readTimeout, signal, (module, dynamodb, budgetSignal) =>
      dynamodb.send(new module.GetItemCommand({ TableName: resolved.table, Key: { pk: { S: pk } } }), { abortSignal: budgetSignal }),
    )
    if (!result.ok) return undefined
    const item = (result.value as { Item?: Record<string, unknown> } | undefined)?.Item
    if (item === undefined) return void report(audience, 'get', 'miss', result)
    const now = clock()
    const fields = itemFields(item)
    if (fields === undefined || fields.pk !== pk) return void report(audience, 'get', 'rejected', result, 'MalformedItem')
    // Expired, written by another version of the format, or a tombstone: a miss, not tampering.
    if (fields.ttl * 1000 <= now || fields.v !== SEAL_VERSION || fields.data === undefined)
      return void report(audience, 'get', 'miss', result)
    const opened = open(fields.data, binding, lookup.subjectToken, audience, pk)
    if (!opened.ok)
      return void report(audience, 'get', 'rejected', result, opened.reason === 'unauthentic' ? 'UnauthenticItem' : 'MalformedItem')
    const { token } = opened
    // The lifetime check of a TokenX answer (`expires_in` ≤ MAX_EXPIRES_IN), from the reader's clock.
    if (token.expiresAt > now + MAX_EXPIRES_IN * 1000 + CLOCK_MARGIN)
      return void report(audience, 'get', 'rejected', result, 'MalformedItem')
    // Never served after the citizen's token expires (the same rule as the in-memory cache).
    const freshUntil = Math.min(token.freshUntil, Math.ceil(subjectExp) * 1000)
    if (now >= freshUntil || refused.get(lookup.cacheKey) === fingerprint(token.accessToken))
      return void report(audience, 'get', 'miss', result)
    report(audience, 'get', 'hit', result)
    return {
      value: Object.freeze({
        accessToken: token.accessToken,
        audience: token.audience,
        expiresAt: token.expiresAt,
        tokenType: token.tokenType,
        // The usual value shares the constant's string, as a fresh answer does (lib/exchange.ts).
        issuedTokenType: token.issuedTokenType === ACCESS_TOKEN_TYPE ? ACCESS_TOKEN_TYPE : token.issuedTokenType,
      }),
      freshUntil,
    }
  }

  const put = async (
    pk: string,
    binding: AppBinding,
    lookup: SharedLookup,
    loaded: Loaded<ExchangedToken>,
    signal: AbortSignal,
  ): Promise<void> => {
    const { value, freshUntil } = loaded
    // DynamoDB TTL is in whole seconds: round down, so the item is never kept past `freshUntil`.
    const ttl = Math.floor(freshUntil / 1000)
    if (ttl * 1000 <= clock()) return
    const sealed: SealedToken = { ...pick(value), freshUntil }
    const data = seal(sealed, binding, lookup.subjectToken, pk)
    const result = await call(value.audience, 'put', resolved.writeTimeout, signal, (module, dynamodb, budgetSignal) =>
      dynamodb.send(
        new module.PutItemCommand({
          TableName: resolved.table,
          Item: { pk: { S: pk }, ttl: { N: String(ttl) }, v: { N: String(SEAL_VERSION) }, data: { B: data } },
        }),
        { abortSignal: budgetSignal },
      ),
    )
    if (!result.ok) return
    refused.delete(lookup.cacheKey)
    report(value.audience, 'put', 'written', result)
  }

  return {
    async through(lookup, subjectExp, signingKey, signal, exchange) {
      const binding = await bind(signingKey)
      if (binding === undefined) return exchange()
      // Written under the binding it was looked up with, even if the exchange had to change keys.
      const pk = itemKey(binding, lookup.cacheKey)
      const found = await get(pk, binding, lookup, subjectExp, signal)
      if (found !== undefined) return found
      const loaded = await exchange()
      await put(pk, binding, lookup, loaded, signal)
      return loaded
    },
    async evict(lookup, token, signingKey, signal) {
      refused.delete(lookup.cacheKey)
      refused.set(lookup.cacheKey, fingerprint(token.accessToken))
      if (refused.size > MAX_REFUSED) refused.delete(refused.keys().next().value as string)
      const binding = await bind(signingKey)
      if (binding === undefined) return
      const now = clock()
      // Unusable for as long as the refused token could be served (its item's ttl is earlier still).
      const ttl = Math.ceil(Math.min(token.expiresAt, now + MAX_EXPIRES_IN * 1000) / 1000)
      if (ttl * 1000 <= now) return
      const pk = itemKey(binding, lookup.cacheKey)
      // A blind overwrite: a newer token another environment wrote meanwhile goes too (a miss, then an exchange).
      const result = await call(token.audience, 'put', resolved.writeTimeout, signal, (module, dynamodb, budgetSignal) =>
        dynamodb.send(
          new module.PutItemCommand({
            TableName: resolved.table,
            Item: { pk: { S: pk }, ttl: { N: String(ttl) }, v: { N: String(SEAL_VERSION) }, refused: { BOOL: true } },
          }),
          { abortSignal: budgetSignal },
        ),
      )
      if (result.ok) report(token.audience, 'put', 'written', result)
    },
  }
}

function pick(token: ExchangedToken): Omit<SealedToken, 'freshUntil'> {
  return {
    accessToken: token.accessToken,
    audience: token.audience,
    expiresAt: token.expiresAt,
    tokenType: token.tokenType,
    issuedTokenType: token.issuedTokenType,
  }
}

function fingerprint(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url')
}

/**
 * The item's attributes in DynamoDB's JSON shape (`{ S }`, `{ N }`, `{ B }`, `{ BOOL }`), or undefined
 * if any is off. A tombstone (`refused`) has no `data`.
 */
function itemFields(item: Record<string, unknown>): { pk: string; ttl: number; v: number; data: Uint8Array | undefined } | undefined {
  const pk = (item['pk'] as { S?: unknown } | undefined)?.S
  const ttl = Number((item['ttl'] as { N?: unknown } | undefined)?.N)
  const v = Number((item['v'] as { N?: unknown } | undefined)?.N)
  const data = (item['data'] as { B?: unknown } | undefined)?.B
  const tombstone = (item['refused'] as { BOOL?: unknown } | undefined)?.BOOL === true
  if (typeof pk !== 'string' || !Number.isFinite(ttl) || !Number.isInteger(v)) return undefined
  if (tombstone) return { pk, ttl, v, data: undefined }
  return data instanceof Uint8Array ? { pk, ttl, v, data } : undefined
}

interface Breaker {
  /** Whether a call may go to the table now (closed, or the one probe after the cooldown). */
  allow(): boolean
  /** Returns whether this success closed an open breaker. */
  succeeded(): boolean
  /** Returns whether this failure opened the breaker. */
  failed(): boolean
  /** The call ended without telling anything about the table (the caller gave up). */
  released(): void
}

/** Consecutive-failure circuit breaker: open for `cooldown` ms after `threshold` failures, then one probe. */
function createBreaker(threshold: number, cooldown: number, clock: () => number): Breaker {
  let failures = 0
  let openUntil = 0
  let open = false
  let probing = false
  return {
    allow() {
      if (!open) return true
      if (probing || clock() < openUntil) return false
      probing = true
      return true
    },
    succeeded() {
      failures = 0
      probing = false
      if (!open) return false
      open = false
      return true
    },
    failed() {
      failures += 1
      const wasProbe = probing
      probing = false
      if (wasProbe || (!open && failures >= threshold)) {
        // Reached only by a failed probe (the breaker was open) or by opening it now: either way, news.
        openUntil = clock() + cooldown
        open = true
        return true
      }
      return false
    },
    released() {
      probing = false
    },
  }
}
