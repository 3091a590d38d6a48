import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { tokenX, type PrivateJwkLoader } from 'tokenx-handler-kit'

const ordersUrl = 'https://orders-api.intern.nav.no/api/orders'

function env(name: string): string {
  const value = process.env[name]
  if (value === undefined || value === '') throw new Error(`${name} is not set`)
  return value
}

// The AWS Parameters and Secrets Lambda extension (a layer) serves the secret on localhost from its
// own cache, so the function needs no AWS SDK client for its key. The kit calls this on the first
// exchange, again after keyMaxAge and when TokenX refuses the key, within keyTimeout (`signal`).
const privateJwk: PrivateJwkLoader = async ({ signal }) => {
  const port = process.env['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT'] ?? '2773'
  const secretId = encodeURIComponent(env('TOKEN_X_PRIVATE_JWK_SECRET_NAME'))
  const response = await fetch(`http://localhost:${port}/secretsmanager/get?secretId=${secretId}`, {
    headers: { 'X-Aws-Parameters-Secrets-Token': env('AWS_SESSION_TOKEN') },
    signal,
  })
  if (!response.ok) throw new Error(`the extension answered ${response.status}`)
  return ((await response.json()) as { SecretString: string }).SecretString
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(
    tokenX({
      audience: { audience: 'prod-gcp:team:orders-api', url: ordersUrl },
      client: {
        clientId: env('TOKEN_X_CLIENT_ID'),
        tokenEndpoint: env('TOKEN_X_TOKEN_ENDPOINT'),
        issuer: env('TOKEN_X_ISSUER'),
        privateJwk,
      },
    }),
  )
  .handler(async (_event, context, { signal }) => {
    const response = await context.tokenX.fetch(ordersUrl, { signal })
    return { statusCode: response.status, body: await response.text() }
  })
