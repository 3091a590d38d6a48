/**
 * A local DynamoDB for the dev stack, the tests and the bench: dynalite (a DynamoDB API
 * implementation on LevelDB, in memory here) on 127.0.0.1, reached by the real
 * `@aws-sdk/client-dynamodb` client through `AWS_ENDPOINT_URL_DYNAMODB`.
 *
 * `startDynamoDB` creates the shared token cache table with the schema serverless.yml deploys:
 * partition key `pk` (S), on-demand. dynalite has no TTL (UpdateTimeToLive is unknown to it): the kit
 * checks each item's `ttl` itself, as it must on AWS, where expired items linger until deleted.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import dynalite from 'dynalite'
import { closeServer, listen } from './http.ts'

export const CACHE_TABLE = 'tokenx-kit-token-cache'

export interface LocalDynamoDB {
  /** The endpoint URL, for `AWS_ENDPOINT_URL_DYNAMODB`. */
  readonly url: string
  readonly port: number
  /** The cache table's name. */
  readonly table: string
  /** An SDK client for this endpoint (for tests and tools; the kit makes its own). */
  readonly client: DynamoDBClient
  close(): Promise<void>
}

/**
 * Credentials the SDK signs with locally; dynalite does not check signatures. Not frozen, and pass a
 * copy: the SDK marks the credentials object it is given.
 */
export const LOCAL_CREDENTIALS: { readonly accessKeyId: string; readonly secretAccessKey: string } = {
  accessKeyId: 'local-dev-access-key',
  secretAccessKey: 'local-dev-secret-key',
}

export async function startDynamoDB(options: { port?: number; region?: string; table?: string } = {}): Promise<LocalDynamoDB> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
  const port = await listen(server, options.port ?? 0)
  const url = `http://127.0.0.1:${port}`
  const table = options.table ?? CACHE_TABLE
  const client = new DynamoDBClient({
    endpoint: url,
    region: options.region ?? 'eu-north-1',
    credentials: { ...LOCAL_CREDENTIALS },
    maxAttempts: 1,
  })
  try {
    await createCacheTable(client, table)
  } catch (error) {
    client.destroy()
    await closeServer(server)
    throw error
  }
  return {
    url,
    port,
    table,
    client,
    async close() {
      client.destroy()
      await closeServer(server)
    },
  }
}

/** The shared cache table, as serverless.yml declares it (TTL aside, which dynalite lacks). */
export async function createCacheTable(client: DynamoDBClient, table: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
}
