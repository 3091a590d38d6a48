/**
 * The local stack's downstream for the Entra ID and Maskinporten functions (dev/flows-downstream.ts):
 * each path accepts only its own flow's token, fetched from the stand-ins by the kit's real clients.
 * Everything on 127.0.0.1, free ports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startFlowsDownstream, type FlowsDownstream } from '../../dev/flows-downstream.ts'
import {
  FLOW_APP,
  FLOW_CALLER,
  FLOW_DOWNSTREAM,
  MASKINPORTEN_SCOPE,
  startFlowStandIns,
  type FlowStandIns,
} from '../../dev/flows-stand-ins.ts'
import { createEntraClient, entraOptionsFromEnv } from '../../lib/entra.ts'
import { createMaskinportenClient, maskinportenOptionsFromEnv } from '../../lib/maskinporten.ts'

describe('the flows downstream', () => {
  let standIns: FlowStandIns
  let downstream: FlowsDownstream

  beforeAll(async () => {
    standIns = await startFlowStandIns()
    downstream = await startFlowsDownstream({
      entra: { issuer: standIns.entra.issuer, jwksUri: standIns.entra.jwksUri, audience: FLOW_DOWNSTREAM.clientId },
      maskinporten: { issuer: standIns.maskinporten.issuer, jwksUri: standIns.maskinporten.jwksUri, scope: MASKINPORTEN_SCOPE },
    })
  })
  afterAll(async () => {
    await downstream?.close()
    await standIns?.close()
  })

  const call = (path: string, token: string) =>
    fetch(`${downstream.url}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status)
  // A user's token for the downstream app, as an on-behalf-of exchange would give.
  const userToken = (aud: string) => standIns.entra.mintUserToken({ aud, azp: FLOW_CALLER.clientId, sub: 'employee' })

  it('GET /employee takes a user token for the downstream app, and nothing else', async () => {
    expect(await call('/employee', await userToken(FLOW_DOWNSTREAM.clientId))).toBe(200)
    // Our own app's audience (the caller's token, not exchanged) is refused.
    expect(await call('/employee', await userToken(FLOW_APP.clientId))).toBe(401)
    expect(await call('/machine', await userToken(FLOW_DOWNSTREAM.clientId))).toBe(401)
    expect(await call('/external', await userToken(FLOW_DOWNSTREAM.clientId))).toBe(401)
    expect((await fetch(`${downstream.url}/employee`)).status).toBe(401)
  })

  it('GET /machine takes the app token the kit gets by client credentials', async () => {
    const url = `${downstream.url}/machine`
    const target = createEntraClient(entraOptionsFromEnv(standIns.env)).target({ scope: FLOW_DOWNSTREAM.name, url })
    expect((await target.fetch(url)).status).toBe(200)
    expect(downstream.authorized['/machine']).toBe(1)
  })

  it('GET /external takes a Maskinporten token with the scope', async () => {
    const url = `${downstream.url}/external`
    const target = createMaskinportenClient(maskinportenOptionsFromEnv(standIns.env)).target({ scope: MASKINPORTEN_SCOPE, url })
    expect((await target.fetch(url)).status).toBe(200)
    expect(downstream.authorized['/external']).toBe(1)
  })

  it('answers 404 on any other path', async () => {
    expect(await call('/resource', await userToken(FLOW_DOWNSTREAM.clientId))).toBe(404)
  })
})
