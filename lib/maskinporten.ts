/**
 * `tokenx-handler-kit/maskinporten`: Maskinporten on Lambda, with NAIS's variable names — the client
 * (`token(scope)`, cached per scopes and resource) and its `fetch` bound to an external API. An
 * explicit list, as lib/index.ts; a promise (semver) as well. See docs/flows-maskinporten.md.
 */
export { createMaskinportenClient } from './flows/clients.ts'
export type { MaskinportenClient } from './flows/clients.ts'
export type { BoundTarget, TargetOptions } from './flows/bound-fetch.ts'
export type { MaskinportenTokenClient, MaskinportenTokenOptions } from './exchange/provider-client.ts'
export type { MaskinportenOptions, ProviderClientOptions, ResolvedProviderOptions } from './exchange/provider-options.ts'
export { maskinportenDefaults, maskinportenOptionsFromEnv } from './exchange/provider-options.ts'
