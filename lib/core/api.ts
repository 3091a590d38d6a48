/**
 * The API side: a Lambda that *is* an internal API, called by other apps with TokenX tokens. Accepts
 * only tokens TokenX issued for our own client id (never an ID-porten token sent straight here),
 * optionally only from listed calling apps (`allowedClients`, the `client_id` claim, as a NAIS inbound
 * access policy), and with the same login-level rule as the exchange side. 401 for a bad token (or a
 * login level too low, with an RFC 9470 step-up challenge), 403 `insufficient_scope` for an app that is
 * not allowed. The middy middleware (lib/middy/tokenx-api.ts) is a thin wrapper over `createTokenXApiCore`.
 */
import type { LambdaContextLike } from '../types.ts'
import { bearerToken } from '../inbound/bearer.ts'
import { inboundValidatorGetter, type VerifiedClaims } from '../inbound/validator.ts'
import { checkAllowedClients, inboundDefaults, inboundOptionKeys, type InboundIssuer, type InboundOptions } from '../inbound/config.ts'
import { lazyDeadline, releaseDeadline } from './deadline.ts'
import { coreRuntimeOptionKeys, middlewareDefaults, observerFor, type CoreRuntimeOptions } from './options.ts'
import { checkKnownKeys, checkNonNegativeInteger, checkOptionsObject, optionKeys } from '../util/option-checks.ts'
import { respondTo } from './respond.ts'
import type { ErrorResponse } from './response.ts'

export interface TokenXApiOptions extends Omit<InboundOptions, 'idporten' | 'tokenX'>, CoreRuntimeOptions {
  /**
   * TokenX as the issuer, with our client id as `audience`. Default: from the environment on the first
   * invocation (`TOKEN_X_ISSUER`, `TOKEN_X_JWKS_URI` or `TOKEN_X_WELL_KNOWN_URL`, `TOKEN_X_CLIENT_ID`).
   */
  tokenX?: InboundIssuer | undefined
}

/** Every key of `TokenXApiOptions`, in one place: the inbound options but `idporten`, and the observability ones. */
export const apiOptionKeys = optionKeys<TokenXApiOptions>()(
  ...coreRuntimeOptionKeys,
  ...inboundOptionKeys.filter((key): key is Exclude<typeof key, 'idporten'> => key !== 'idporten'),
)
export interface TokenXApiCore {
  /** The verified claims of the event's TokenX token; rejects with a `TokenXError` (401, 403, 5xx). */
  authorize(event: unknown, context?: Partial<LambdaContextLike>): Promise<VerifiedClaims>
  /** The HTTP answer for a kit error (and logs and counts it: the `error` event); `undefined` for any other error. */
  respond(err: unknown): ErrorResponse | undefined
  /** Ends the invocation's observation (metrics record); the middleware calls it. */
  end(): void
}

/** The API side's core, for handlers that do not use middy. Bad options throw `TypeError` here. */
export function createTokenXApiCore(options: TokenXApiOptions = {}): TokenXApiCore {
  checkOptionsObject('options', options)
  checkKnownKeys(options, apiOptionKeys)
  const { env, deadlineMargin = middlewareDefaults.deadlineMargin, logger, metrics, tracer, serviceName, tokenX, ...inbound } = options
  checkNonNegativeInteger('deadlineMargin', deadlineMargin)
  // Now, though the issuer may come from the environment later: it can only be TokenX.
  if (inbound.allowedClients !== undefined) checkAllowedClients(inbound.allowedClients, true)
  const observer = observerFor({ env, logger, metrics, tracer, serviceName }, [])

  // From the environment, only TokenX: an ID-porten token sent straight to the API is refused as
  // from an unknown issuer (and `idporten` is not an option here).
  const getValidator = inboundValidatorGetter({ ...inbound, tokenX }, () => env ?? process.env, { idporten: false, tokenX: true })
  const maxTokenLength = inbound.maxTokenLength ?? inboundDefaults.maxTokenLength

  return {
    async authorize(event, context) {
      observer.begin(context)
      const token = bearerToken(event, maxTokenLength)
      // The deadline's timer starts only if validation has to wait (a JWKS fetch); it must not outlive the invocation.
      const deadline = lazyDeadline(context, deadlineMargin)
      try {
        return await getValidator().validate(token, deadline)
      } finally {
        releaseDeadline(deadline)
      }
    },
    respond: (err) => respondTo(err, observer),
    end() {
      observer.end()
    },
  }
}
