/**
 * GET /resource: calls the downstream API's `GET /resource` on behalf of the citizen who called this
 * function, and answers with the downstream's status and body.
 *
 * Everything TokenX-related happens in the middleware: by the time the handler runs, the caller's
 * token has been validated (signature, issuer, audience, expiry, and a login level of at least
 * `REQUIRED_ACR`, default idporten-loa-high), exchanged (or taken from the cache), and
 * `context.tokenX.fetch` sends it; `context.citizen` holds the verified claims.
 */
import middy from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, Context } from 'aws-lambda'
import { ConfigError, createLogger, errorResponse, tokenX, type Downstream, type VerifiedClaims } from 'tokenx-handler-kit'
import { environmentAtLoad, inboundValidationFromEnv, requiredAcrFromEnv } from './shared/acr-env.ts'
import { downstreamFromEnv, type DownstreamEnv } from './shared/downstream-env.ts'

type Event = APIGatewayProxyEvent | APIGatewayProxyEventV2
type TokenXLambdaContext = Context & { tokenX: Downstream; citizen: VerifiedClaims | undefined }

const env = environmentAtLoad()
const downstream = downstreamFromEnv(env)
const requiredAcr = requiredAcrFromEnv(env)
const inboundValidation = inboundValidationFromEnv(env)
/** One logger for the kit and this function: JSON lines in Powertools' shape (POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL). */
const logger = createLogger()

async function getResource(
  downstreamEnv: DownstreamEnv,
  context: TokenXLambdaContext,
  signal: AbortSignal,
): Promise<APIGatewayProxyResult> {
  let response: Response
  try {
    response = await context.tokenX.fetch(new URL('resource', downstreamEnv.url), { signal, headers: { accept: 'application/json' } })
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
    // The kit logs the failed request itself (a `downstream` event); this line says what the function answered.
    logger.error('downstream unavailable, answering with a gateway error', { error: err instanceof Error ? err.name : 'unknown', status: timedOut ? 504 : 502 })
    return json(timedOut ? 504 : 502, {
      error: 'temporarily_unavailable',
      error_description: timedOut ? 'An upstream service did not answer in time' : 'An upstream service is unavailable',
    })
  }
  return {
    statusCode: response.status,
    headers: { 'content-type': response.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' },
    body: await response.text(),
  }
}

function json(statusCode: number, body: object): APIGatewayProxyResult {
  return { statusCode, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) }
}

/** A misconfigured function still answers every request with the documented 500 JSON body. */
function misconfigured(err: ConfigError) {
  return async (): Promise<APIGatewayProxyResult> => {
    logger.error('request failed', { code: err.code, status: err.statusCode, detail: err.detail })
    return errorResponse(err)
  }
}

export const handler =
  downstream instanceof ConfigError
    ? misconfigured(downstream)
    : requiredAcr instanceof ConfigError
    ? misconfigured(requiredAcr)
    : inboundValidation instanceof ConfigError
    ? misconfigured(inboundValidation)
    : middy<Event, APIGatewayProxyResult, Error, TokenXLambdaContext>()
        // Inbound validation on: IDPORTEN_* (and TOKEN_X_JWKS_URI, for tokens other apps exchanged for us).
        .use(tokenX({ audience: downstream.audience, logger, env, inbound: inboundValidation && { minimumAcr: requiredAcr } }))
        .handler((_event, context, { signal }) => getResource(downstream, context, signal))
