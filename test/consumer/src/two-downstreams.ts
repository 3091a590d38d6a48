// Run against `tokenx-local` (test/consumer/run.ts): one function, two downstream apps, each with its
// own token; the environment is what `tokenx-local env --client <id>` prints.
import middy from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda'
import { tokenX } from 'tokenx-handler-kit'

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

export const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>()
  .use(
    tokenX({
      inbound: true,
      audience: {
        profile: { audience: env('DOWNSTREAM_PROFILE_AUDIENCE'), url: env('DOWNSTREAM_PROFILE_URL') },
        ledger: { audience: env('DOWNSTREAM_LEDGER_AUDIENCE'), url: env('DOWNSTREAM_LEDGER_URL') },
      },
    }),
  )
  .handler(async (_event, context, { signal }) => {
    const [profile, ledger] = await Promise.all([
      context.tokenX.profile.fetch('people/me', { signal }),
      context.tokenX.ledger.fetch('entries', { signal }),
    ])
    return { statusCode: 200, body: JSON.stringify({ profile: await profile.json(), ledger: await ledger.json() }) }
  })
