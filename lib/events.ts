/**
 * What the kit does, published as events on `node:diagnostics_channel` channels, one per event name
 * (`tokenx-handler-kit:<name>`). Modules publish; logging, metrics and tracing subscribe. With no
 * subscriber, publishing costs one property read (`hasSubscribers`) and builds no event object.
 *
 * No event carries a token, an assertion, key material or a citizen's identity: only names, codes,
 * statuses, durations and counts (the leak tests read every event).
 */
import { channel, type Channel } from 'node:diagnostics_channel'
import type { TokenXErrorCode } from './errors.ts'

/** Every event the kit publishes, by name. Durations are milliseconds. */
export interface KitEvents {
  /** A token looked up in the in-memory cache. */
  cache: { readonly audience: string; readonly hit: boolean }
  /** One exchange finished (after all its attempts), successfully or not. */
  exchange: {
    readonly audience: string
    readonly durationMs: number
    /** Requests sent to TokenX, retries and the retry after a key reload included. */
    readonly attempts: number
    /** Unset on success. */
    readonly code?: TokenXErrorCode | undefined
    /** TokenX's HTTP status of the last attempt; 0 when it never answered. */
    readonly tokenEndpointStatus: number
    /** TokenX's RFC 6749 §5.2 `error` code of the last attempt, when it sent one (never its free text). */
    readonly upstreamError?: string | undefined
  }
  /** An attempt failed and another follows. */
  'exchange.retry': {
    readonly audience: string
    /** The attempt that failed, from 1. */
    readonly attempt: number
    readonly code: TokenXErrorCode
    readonly tokenEndpointStatus: number
    /** TokenX's RFC 6749 §5.2 `error` code, when it sent one (never its free text). */
    readonly upstreamError?: string | undefined
  }
  /** The signing key was loaded (or a load failed). */
  'key.load': {
    readonly source: 'inline' | 'secrets-manager' | 'loader'
    /** Why: the first load, `keyMaxAge` ran out, or TokenX refused the current key. */
    readonly reason: 'initial' | 'max-age' | 'refused'
    readonly durationMs: number
    /** The loaded key's `kid` (public); unset when the load failed. */
    readonly kid?: string | undefined
    /** Unset on success. */
    readonly code?: TokenXErrorCode | undefined
    /** The foreign error's name (`ThrottlingException`, `TimeoutError`, ...), never its message. */
    readonly errorName?: string | undefined
  }
  /** An inbound token was refused before any exchange. */
  'validation.refused': {
    readonly code: TokenXErrorCode
    /** Why, in words that name no token content: "expired", "unknown kid", "acr too low", ... */
    readonly reason: string
    readonly issuer?: string | undefined
  }
  /** An issuer's JWKS or discovery document was fetched. */
  'jwks.fetch': { readonly issuer: string; readonly durationMs: number; readonly ok: boolean; readonly errorName?: string | undefined }
  /** A look-up or write at the shared (second-level) cache. */
  'shared-cache': {
    readonly audience: string
    readonly operation: 'get' | 'put'
    readonly outcome: 'hit' | 'miss' | 'written' | 'error' | 'skipped' | 'rejected'
    readonly durationMs: number
    /**
     * The SDK error's name for `error` (`ThrottlingException`, `AccessDeniedException`,
     * `TimeoutError`, ...), `UnauthenticItem` or `MalformedItem` for `rejected`; never a message.
     */
    readonly errorName?: string | undefined
    /** Set when this operation opened the circuit breaker (the table is skipped for a while) or closed it. */
    readonly breaker?: 'opened' | 'closed' | undefined
  }
  /** A downstream request made through `Downstream.fetch` finished (status 0: no answer). */
  downstream: {
    readonly audience: string
    readonly status: number
    readonly durationMs: number
    readonly code?: TokenXErrorCode | undefined
  }
  /**
   * A downstream request got no answer (unreachable, too slow, a URL the token may not go to, the
   * caller's abort): also published as `downstream` with status 0. Its own event so that a logger
   * that reports only failures does not listen to every successful request.
   */
  'downstream.failed': { readonly audience: string; readonly durationMs: number; readonly code?: TokenXErrorCode | undefined }
  /**
   * The downstream answered 401 to the token (RFC 6750 §3.1), and what the kit did: `retry` (dropped
   * it from the caches, exchanging again to send the request once more), `drop` (dropped it; the
   * request's body is a stream, so it is not sent again), `keep` (the challenge says
   * `insufficient_user_authentication`, RFC 9470 §3: the citizen's login level, not the token, is the
   * problem; a fresh token cannot help).
   */
  'downstream.refused': {
    readonly audience: string
    /** The `Bearer` challenge's `error` code, when it is one of these (`other` for any other; unset: none sent). */
    readonly error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'insufficient_user_authentication' | 'other' | undefined
    readonly action: 'retry' | 'drop' | 'keep'
  }
  /** A kit error was turned into an HTTP answer. `detail` is the error's internal, token-free explanation. */
  error: {
    readonly code: TokenXErrorCode
    readonly statusCode: number
    readonly detail: string
    /** For TokenX's failures: its HTTP status (0 when it never answered) and RFC 6749 §5.2 `error` code. */
    readonly tokenEndpointStatus?: number | undefined
    readonly upstreamError?: string | undefined
    /** What the kit keeps of TokenX's `error_description`: one of the fixed texts of tokenx-descriptions.ts, never TokenX's own words. */
    readonly upstreamErrorDescription?: string | undefined
  }
}

export type KitEventName = keyof KitEvents

/** The channel name of an event: `tokenx-handler-kit:<name>`. */
export const channelName = (name: KitEventName): string => `tokenx-handler-kit:${name}`

const channels = new Map<KitEventName, Channel>()

/** The channel of one event, for subscribers (`subscribe(channelName(name), fn)` works as well). */
export function kitChannel(name: KitEventName): Channel {
  let found = channels.get(name)
  if (found === undefined) {
    found = channel(channelName(name))
    channels.set(name, found)
  }
  return found
}

/**
 * One event's channel, typed, for the warm path: `if (events.hasSubscribers) events.publish({...})`
 * builds nothing — not even the closure `publish` takes — when nobody listens.
 */
export function kitEvents<K extends KitEventName>(name: K): { readonly hasSubscribers: boolean; publish(event: KitEvents[K]): void } {
  return kitChannel(name)
}

/**
 * Publishes an event. `make` runs only when someone listens, so a hot path pays nothing for the
 * event object when observability is off.
 */
export function publish<K extends KitEventName>(name: K, make: () => KitEvents[K]): void {
  const target = kitChannel(name)
  if (target.hasSubscribers) target.publish(make())
}
