/**
 * `tokenx-handler-kit/entra`: Entra ID (Azure AD) on Lambda, with NAIS's variable names — the
 * client-credentials and on-behalf-of clients with their bound `fetch`, the on-behalf-of middleware
 * and its core, and the caller token's validation. An explicit list, as lib/index.ts; a promise
 * (semver) as well. See docs/flows-entra.md.
 */
export { createEntraClient } from './flows/clients.ts'
export type { EntraClient } from './flows/clients.ts'
export type { BoundTarget, TargetOptions } from './flows/bound-fetch.ts'
export type { EntraTokenClient } from './exchange/provider-client.ts'
export type { EntraOptions, ProviderClientOptions, ResolvedProviderOptions } from './exchange/provider-options.ts'
export { entraDefaults, entraOptionsFromEnv } from './exchange/provider-options.ts'
export { entraScope } from './exchange/entra.ts'
export { createEntraValidator, entraInboundFromEnv } from './flows/entra-inbound.ts'
export type { EntraClaims, EntraInboundOptions, EntraValidator, PreAuthorizedApp } from './flows/entra-inbound.ts'
export { createEntraOnBehalfOfCore } from './core/entra.ts'
export type { EntraAuthorized, EntraOnBehalfOfCore, EntraOnBehalfOfOptions } from './core/entra.ts'
export { entraOnBehalfOf } from './middy/entra.ts'
export type { EntraOnBehalfOfMiddleware, EntraOnBehalfOfMiddlewareRequest } from './middy/entra.ts'
