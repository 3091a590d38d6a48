/**
 * dynalite with the shared cache table (dev/dynamodb.ts), in a process of its own for bench/shared.ts:
 * sends `{ url, table }` to its parent and ends when the parent goes.
 */
import { startDynamoDB } from '../dev/dynamodb.ts'

const db = await startDynamoDB()
process.send?.({ url: db.url, table: db.table })
process.on('disconnect', () => void db.close().then(() => process.exit(0)))
process.on('SIGTERM', () => void db.close().then(() => process.exit(0)))
