/**
 * GET /employee: calls the downstream API's `GET /employee` on behalf of the NAV employee who called
 * this function, and answers with what the employee may see of the downstream's answer
 * (`downstreamAnswer`, as GET /resource does: a 2xx as it is, a 404 with a fixed body, anything else
 * as 502; docs/downstream-security.md).
 *
 * The `entraOnBehalfOf()` middleware (docs/flows-entra.md) does the rest before the handler runs:
 * the caller's Entra ID token is validated (AZURE_OPENID_CONFIG_ISSUER, AZURE_OPENID_CONFIG_JWKS_URI,
 * `aud` = AZURE_APP_CLIENT_ID, the calling app one of AZURE_APP_PRE_AUTHORIZED_APPS or 403) and
 * exchanged on-behalf-of for DOWNSTREAM_SCOPE (AZURE_OPENID_CONFIG_TOKEN_ENDPOINT, the key from
 * AZURE_APP_JWK_SECRET_ID, or AZURE_APP_JWK inline, locally); `context.entra.downstream.fetch` sends
 * that token to DOWNSTREAM_URL only.
 */
import middy from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, Context } from 'aws-lambda'
import { ConfigError, downstreamAnswer } from 'tokenx-handler-kit'
import { entraOnBehalfOf, type EntraAuthorized } from 'tokenx-handler-kit/entra'
import { createLogger } from 'tokenx-handler-kit/observe'
import { environmentAtLoad } from './shared/acr-env.ts'
import { misconfigured } from './shared/misconfigured.ts'
import { configuredAtLoad } from './shared/scheduled.ts'

type Event = APIGatewayProxyEvent | APIGatewayProxyEventV2
type EntraLambdaContext = Context & { entra: EntraAuthorized }

const env = environmentAtLoad()
const logger = createLogger()

/** The middleware, or why it cannot be built (the target's settings; the rest is read on the first call). */
const middleware = configuredAtLoad(() => {
  const url = env['DOWNSTREAM_URL']?.trim()
  const scope = env['DOWNSTREAM_SCOPE']?.trim()
  if (!url) throw new ConfigError('DOWNSTREAM_URL is not set')
  if (!scope) throw new ConfigError('DOWNSTREAM_SCOPE is not set')
  try {
    // Relative paths resolve under DOWNSTREAM_URL, as a directory.
    return entraOnBehalfOf({ target: { scope, url: url.endsWith('/') ? url : `${url}/` }, env, logger })
  } catch (err) {
    throw new ConfigError(`DOWNSTREAM_URL / DOWNSTREAM_SCOPE: ${(err as Error).message}`, { cause: err })
  }
})

async function getEmployee(context: EntraLambdaContext, signal: AbortSignal): Promise<APIGatewayProxyResult> {
  const response = await context.entra.downstream.fetch('employee', { signal, headers: { accept: 'application/json' } })
  return downstreamAnswer(response, { audience: context.entra.downstream.scope })
}

export const handler =
  middleware instanceof Error
    ? misconfigured(middleware instanceof ConfigError ? middleware : new ConfigError(middleware.message), logger)
    : middy<Event, APIGatewayProxyResult, Error, EntraLambdaContext>()
        .use(middleware)
        .handler((_event, context, { signal }) => getEmployee(context, signal))
