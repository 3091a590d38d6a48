/**
 * The floor of bench/function.ts: what a function without the kit does with a token it already
 * has — a middy handler making the same downstream request with plain `fetch`, answering as the
 * example function does.
 */
import middy from '@middy/core'
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'

export type Invoke = (event: unknown, context: Context) => Promise<APIGatewayProxyStructuredResultV2>

/** The token the bench endpoint issues (the same for every exchange): what the floor sends, same bytes as the kit. */
export async function issuedToken(endpointUrl: string): Promise<string> {
  const issued = await fetch(`${endpointUrl}/token`, { method: 'POST', headers: { connection: 'close' } })
  return ((await issued.json()) as { access_token: string }).access_token
}

/** The downstream's answer as the example function gives it. */
export async function answer(response: Response): Promise<APIGatewayProxyStructuredResultV2> {
  return {
    statusCode: response.status,
    headers: { 'content-type': response.headers.get('content-type') ?? 'application/json', 'cache-control': 'no-store' },
    body: await response.text(),
  }
}

/** middy + plain `fetch` of `resourceUrl` with `token`, under middy's signal. */
export function floorHandler(resourceUrl: string, token: string): Invoke {
  return middy(async (_event: unknown, _context: Context, { signal }: { signal: AbortSignal }) =>
    answer(await fetch(resourceUrl, { signal, headers: { accept: 'application/json', authorization: `Bearer ${token}` } })),
  ) as unknown as Invoke
}
