/**
 * GET /api/resource: an internal API called by other apps with TokenX tokens issued for it. Answers
 * who called: the citizen (`pid`, `acr`, `sub`), the calling app (`client_id`), the token's `aud`
 * and the citizen's original issuer (`idp`).
 *
 * The middleware accepts only tokens TokenX issued for this function's client id (TOKEN_X_CLIENT_ID,
 * with TOKEN_X_ISSUER and TOKEN_X_JWKS_URI or TOKEN_X_WELL_KNOWN_URL), only from the apps listed in
 * ALLOWED_CALLERS (comma-separated client ids; unset: any app TokenX let through), and only at a
 * login level of at least REQUIRED_ACR (default idporten-loa-high).
 */
import middy from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, Context } from 'aws-lambda'
import { ConfigError, tokenXApi, type VerifiedClaims } from 'tokenx-handler-kit'
import { isClientId } from 'tokenx-handler-kit/config'
import { createLogger } from 'tokenx-handler-kit/observe'
import { misconfigured } from './shared/misconfigured.ts'
import { environmentAtLoad, requiredAcrFromEnv } from './shared/acr-env.ts'

type Event = APIGatewayProxyEvent | APIGatewayProxyEventV2
type ApiLambdaContext = Context & { citizen: VerifiedClaims }

const env = environmentAtLoad()
/** One logger for the kit and this function: JSON lines in Powertools' shape. */
const logger = createLogger()
const requiredAcr = requiredAcrFromEnv(env)
const allowedCallers = allowedCallersFromEnv(env)

/** ALLOWED_CALLERS: comma-separated `cluster:namespace:app` ids; unset or empty: no allow-list. */
function allowedCallersFromEnv(source: Readonly<Record<string, string | undefined>>): string[] | undefined | ConfigError {
  const value = source['ALLOWED_CALLERS']?.trim()
  if (value === undefined || value === '') return undefined
  const ids = value
    .split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '')
  if (!ids.every(isClientId)) return new ConfigError('ALLOWED_CALLERS must be comma-separated "cluster:namespace:app" ids')
  return ids
}

function whoCalled(claims: VerifiedClaims): APIGatewayProxyResult {
  const body = { pid: claims.pid, acr: claims.acr, client_id: claims.client_id, aud: claims.aud, idp: claims.idp, sub: claims.sub }
  return { statusCode: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) }
}

export const handler =
  requiredAcr instanceof ConfigError
    ? misconfigured(requiredAcr, logger)
    : allowedCallers instanceof ConfigError
      ? misconfigured(allowedCallers, logger)
      : middy<Event, APIGatewayProxyResult, Error, ApiLambdaContext>()
          .use(tokenXApi({ env, logger, minimumAcr: requiredAcr, allowedClients: allowedCallers }))
          .handler((_event, context) => whoCalled(context.citizen))
