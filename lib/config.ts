/**
 * `tokenx-handler-kit/config`: the documented defaults of each options object, the readers of the
 * documented environment variables, and the checks a function's own configuration needs (a TokenX
 * client id, a login level). An explicit list, as lib/index.ts; a promise (semver) as well.
 */
export { middlewareDefaults } from './core/options.ts'
export { sharedCacheDefaults } from './cache/shared.ts'
export { inboundDefaults } from './inbound/config.ts'
export { optionsFromEnv } from './exchange/config.ts'
export { inboundFromEnv } from './inbound/validator.ts'
export { isClientId } from './util/option-checks.ts'
export { acrLevels, isAcrLevel, satisfiesAcr } from './inbound/acr.ts'
export type { AcrLevel } from './inbound/acr.ts'
