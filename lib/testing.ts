/**
 * `tokenx-handler-kit/testing`: what a consumer's unit tests of a handler need, with no stack: events
 * and a Lambda context, and ID-porten and TokenX stand-ins on 127.0.0.1 (docs/testing.md). Not in
 * the root export, so that no function bundle carries it.
 */
export { albEvent, apiGatewayV1Event, apiGatewayV2Event, lambdaContext } from './testing/events.ts'
export type { TestAlbEvent, TestApiGatewayV1Event, TestApiGatewayV2Event, TestContextOptions, TestEventOptions } from './testing/events.ts'
export { startTestIdporten, startTestTokenX } from './testing/issuer.ts'
export type { MintOptions, TestClaims, TestIdportenOptions, TestIssuer, TestTokenX, TestTokenXOptions } from './testing/issuer.ts'
