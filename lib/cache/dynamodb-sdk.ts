/**
 * The part of `@aws-sdk/client-dynamodb` the shared cache uses, imported lazily through this module:
 * a dynamic `import()` of the package itself keeps every export (all commands, paginators, waiters)
 * in the bundle, while this static re-export lets esbuild drop what is not named here.
 */
export { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
