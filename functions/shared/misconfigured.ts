/**
 * The handler of an example function whose own configuration is invalid: every request is answered
 * with the documented 500 JSON body and logged, rather than a crashed init phase that API Gateway
 * turns into an opaque 502.
 */
import type { APIGatewayProxyResult } from 'aws-lambda'
import { errorResponse, type ConfigError, type KitLogger } from 'tokenx-handler-kit'

export function misconfigured(err: ConfigError, logger: KitLogger) {
  return async (): Promise<APIGatewayProxyResult> => {
    logger.error('request failed', { code: err.code, status: err.statusCode, detail: err.detail })
    return errorResponse(err)
  }
}
