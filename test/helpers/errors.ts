/** Lists of the kit's error codes for the tests that build one error of each kind. */
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
