/**
 * The subpath exports (package.json "exports"): `tokenx-handler-kit/observe` and
 * `tokenx-handler-kit/config` resolve, with their types, under NodeNext and Bundler resolution.
 * Compiled here; run.ts also imports them under plain `node`.
 */
import { tokenX, type KitLogger } from 'tokenx-handler-kit'
import { acrLevels, isAcrLevel, isClientId, middlewareDefaults, optionsFromEnv, type AcrLevel } from 'tokenx-handler-kit/config'
import { channelName, createLogger, type METRICS, type KitEventName, type KitEvents, type MetricName } from 'tokenx-handler-kit/observe'

const logger: KitLogger = createLogger({ serviceName: 'orders' })
export const observed = tokenX({ audience: 'prod-gcp:team:orders-api', logger })

const event: KitEventName = 'exchange'
export const channel: string = channelName(event)
export const onExchange = (message: KitEvents['exchange']): number => message.durationMs
export const metric: MetricName = 'ExchangeLatency' satisfies keyof typeof METRICS

const level: AcrLevel | undefined = acrLevels[0]
export const configured = {
  level,
  high: isAcrLevel('idporten-loa-high'),
  client: isClientId('prod-gcp:team:app'),
  timeout: middlewareDefaults.downstreamTimeout,
}
export const fromEnv = (): unknown => optionsFromEnv({})

// @ts-expect-error the observability pieces are not in the root export any more
export { createLogger as rootLogger } from 'tokenx-handler-kit'
