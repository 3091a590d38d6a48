/** The kit's errors in tests: lists of codes for the tests that build one error of each kind, and the error a promise rejects with. */
import { expect } from 'vitest'
import type { TokenExchangeError } from '../../lib/errors.ts'

export type TokenExchangeCode = ConstructorParameters<typeof TokenExchangeError>[0]

/** A Record, not an array: tsc refuses it when TokenExchangeError takes a code it does not name. */
const EXCHANGE: Readonly<Record<TokenExchangeCode, true>> = {
  ERR_SUBJECT_TOKEN_REJECTED: true,
  ERR_CLIENT_REJECTED: true,
  ERR_CLAIMS_CHALLENGE: true,
  ERR_TOKEN_ENDPOINT: true,
  ERR_TOKEN_ENDPOINT_UNAVAILABLE: true,
  ERR_TIMEOUT: true,
}

/** Every code a TokenExchangeError takes. */
export const TOKEN_EXCHANGE_CODES = Object.keys(EXCHANGE) as readonly TokenExchangeCode[]

/**
 * The error `promise` rejects with, checked to be an instance of `type` when given; a promise that
 * resolves fails the test.
 */
export async function rejection(promise: unknown): Promise<unknown>
export async function rejection<E>(promise: unknown, type: abstract new (...args: never[]) => E): Promise<E>
export async function rejection(promise: unknown, type?: abstract new (...args: never[]) => unknown): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    if (type !== undefined) expect(err).toBeInstanceOf(type)
    return err
  }
  throw new Error('resolved: a rejection was expected')
}
