/**
 * GET /resource: calls the downstream API's `GET /resource` on behalf of the citizen who called this
 * function, and answers with what the citizen may see of the downstream's answer (`downstreamAnswer`:
 * a 2xx as it is, a 404 with a fixed body, a step-up as the kit's step-up challenge, anything else —
 * our token refused, a 5xx — as 502; docs/downstream-security.md).
 *
 * Everything TokenX-related happens in the middleware: by the time the handler runs, the caller's
 * token has been validated (signature, issuer, audience, expiry, and a login level of at least
 * `REQUIRED_ACR`, default idporten-loa-high), exchanged (or taken from the cache), and
 * `context.tokenX.fetch` sends it; `context.citizen` holds the verified claims (validation on).
 */
import middy from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda'
import { ConfigError, downstreamAnswer, tokenX, type Downstream } from 'tokenx-handler-kit'
import { createLogger } from 'tokenx-handler-kit/observe'
import { misconfigured } from './shared/misconfigured.ts'
import { environmentAtLoad, inboundValidationFromEnv, requiredAcrFromEnv } from './shared/acr-env.ts'
import { downstreamFromEnv } from './shared/downstream-env.ts'

type Event = APIGatewayProxyEvent | APIGatewayProxyEventV2

const env = environmentAtLoad()
const downstream = downstreamFromEnv(env)
const requiredAcr = requiredAcrFromEnv(env)
const inboundValidation = inboundValidationFromEnv(env)
/** One logger for the kit and this function: JSON lines in Powertools' shape (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL). */
const logger = createLogger()

/** Needs only the downstream of the context the middleware types (tokenX, and citizen when validation is on). */
async function getResource(context: { readonly tokenX: Downstream }, signal: AbortSignal): Promise<APIGatewayProxyResult> {
  // Relative to DOWNSTREAM_URL, the one origin this audience's token may go to. A downstream that
  // cannot be reached or does not answer in time rejects with a DownstreamError, which the middleware
  // answers (502 / 504, docs/errors.md); so does an answer downstreamAnswer does not pass on.
  const response = await context.tokenX.fetch('resource', { signal, headers: { accept: 'application/json' } })
  return downstreamAnswer(response, context.tokenX)
}

export const handler =
  downstream instanceof ConfigError
    ? misconfigured(downstream, logger)
    : requiredAcr instanceof ConfigError
      ? misconfigured(requiredAcr, logger)
      : inboundValidation instanceof ConfigError
        ? misconfigured(inboundValidation, logger)
        : middy<Event, APIGatewayProxyResult>()
            // Inbound validation on: IDPORTEN_* (and TOKEN_X_JWKS_URI, for tokens other apps exchanged for us).
            .use(
              tokenX({
                audience: { audience: downstream.audience, url: downstream.url.href },
                logger,
                env,
                inbound: inboundValidation && { minimumAcr: requiredAcr },
              }),
            )
            .handler((_event, context, { signal }) => getResource(context, signal))
