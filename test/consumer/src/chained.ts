// Run against `tokenx-local` (test/consumer/run.ts): an app called with a TokenX token (not a citizen
// token) validates it (inbound: TokenX tokens for its own client id) and exchanges it onward.
import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { downstreamAnswer, tokenX } from 'tokenx-handler-kit'

const ledgerAudience = process.env['DOWNSTREAM_LEDGER_AUDIENCE'] ?? 'missing'
const ledgerUrl = process.env['DOWNSTREAM_LEDGER_URL'] ?? 'https://ledger.invalid/'

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(tokenX({ inbound: true, audience: { audience: ledgerAudience, url: ledgerUrl } }))
  .handler(async (_event, context, { signal }) => {
    const response = await context.tokenX.fetch('entries', { signal })
    return downstreamAnswer(response, context.tokenX)
  })
