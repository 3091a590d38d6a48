/**
 * End to end, over HTTP only: a caller → the example function (serverless-offline, the built
 * dist/ bundle) → local Secrets Manager + local TokenX (+ local ID-porten) → downstream API.
 *
 * The first block shares one stack (startStack in beforeAll, free ports, fresh keys); the tests
 * that change TokenX's registry restore it, and each test uses citizens of its own so the kit's
 * token cache from earlier tests cannot hide an exchange. The second block runs `npm start` and
 * `npm run token` as a developer would, after the first stack is closed (both build dist/, so
 * they stay in one file: vitest runs a file's blocks one after the other).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ScanCommand } from '@aws-sdk/client-dynamodb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeJwt } from 'jose'
import { startIdPorten, type IdPorten } from '../../dev/idporten.ts'
import { FLOW_APP } from '../../dev/flows-stand-ins.ts'
import { generateRsaJwk } from '../../dev/keys.ts'
import { APP_CLIENT_ID, DOWNSTREAM_AUDIENCE, freePort, startStack, type Stack } from '../../dev/stack.ts'
import { tokenCacheKey } from '../../lib/cache/memory.ts'
import { appBinding, itemKey } from '../../lib/cache/seal.ts'
import { importPrivateJwk } from '../../lib/exchange/key.ts'
import { bearerClaims, callResource, isAlive, newPid, portIsOpen, portOf, processesMentioning, processGroupMembers } from './helpers.ts'

describe('the example function behind serverless-offline', () => {
  let stack: Stack
  let stranger: IdPorten
  let apiUrl: string

  beforeAll(async () => {
    stack = await startStack({ root: process.cwd() })
    apiUrl = String(stack.apiUrl)
    // A citizen token issuer TokenX does not know.
    stranger = await startIdPorten()
  }, 120_000)

  afterAll(async () => {
    const offlinePid = stack?.offline?.pid
    const ports = stack
      ? [
          apiUrl,
          stack.offline?.lambdaUrl ?? '',
          stack.tokenx.url,
          stack.idporten.url,
          stack.downstream.url,
          stack.secretsManager.url,
          stack.dynamodb?.url ?? '',
          stack.flows?.standIns.entra.url ?? '',
          stack.flows?.standIns.maskinporten.url ?? '',
          stack.flows?.downstream.url ?? '',
        ]
          .filter(Boolean)
          .map(portOf)
      : []
    await stranger?.close()
    await stack?.close()
    // Nothing left behind: serverless-offline (and its process group) ended, every port closed.
    if (offlinePid !== undefined) {
      expect(isAlive(offlinePid)).toBe(false)
      expect(processGroupMembers(offlinePid)).toEqual([])
      expect(processesMentioning(`--httpPort ${portOf(apiUrl)}`)).toEqual([])
    }
    for (const port of ports) expect(await portIsOpen(port)).toBe(false)
  }, 30_000)

  /** Counters before an action, to assert on what the action alone caused. */
  function snapshot() {
    return {
      exchanges: stack.tokenx.stats.exchanges,
      tokenxFailures: stack.tokenx.stats.failures,
      invalidClient: stack.tokenx.stats.errors.invalid_client ?? 0,
      downstream: stack.downstream.stats.requests,
      seen: stack.downstream.seen.length,
      secretReads: stack.secretsManager.stats.getSecretValue,
    }
  }

  function delta(before: ReturnType<typeof snapshot>) {
    const now = snapshot()
    return {
      exchanges: now.exchanges - before.exchanges,
      tokenxFailures: now.tokenxFailures - before.tokenxFailures,
      invalidClient: now.invalidClient - before.invalidClient,
      downstream: now.downstream - before.downstream,
      secretReads: now.secretReads - before.secretReads,
      seen: stack.downstream.seen.slice(before.seen),
    }
  }

  describe('a citizen calling the example function', () => {
    it('reaches the downstream API with a TokenX token for the downstream audience and the citizen pid', async () => {
      const pid = newPid()
      const citizenToken = await stack.idporten.mint({ pid })
      const before = snapshot()

      const answer = await callResource(apiUrl, citizenToken)

      expect(answer.status).toBe(200)
      expect(answer.json).toMatchObject({
        pid,
        acr: 'idporten-loa-high',
        aud: DOWNSTREAM_AUDIENCE,
        client_id: APP_CLIENT_ID,
        idp: stack.idporten.issuer,
      })
      const { seen, exchanges, downstream } = delta(before)
      expect({ exchanges, downstream }).toEqual({ exchanges: 1, downstream: 1 })
      // What arrived downstream is TokenX's token, not the citizen's.
      expect(seen[0]?.authorization).not.toContain(citizenToken)
      expect(bearerClaims(seen[0]?.authorization)).toMatchObject({
        iss: stack.tokenx.issuer,
        aud: DOWNSTREAM_AUDIENCE,
        pid,
        client_id: APP_CLIENT_ID,
        sub: decodeJwt(citizenToken).sub,
      })
    })

    it('reuses the exchanged token on warm calls (one exchange for several calls)', async () => {
      const pid = newPid()
      const citizenToken = await stack.idporten.mint({ pid })
      const before = snapshot()

      for (let call = 0; call < 4; call += 1) {
        const answer = await callResource(apiUrl, citizenToken)
        expect(answer.status).toBe(200)
        expect(answer.json.pid).toBe(pid)
      }

      const { exchanges, downstream, seen } = delta(before)
      expect(exchanges).toBe(1)
      expect(downstream).toBe(4)
      expect(new Set(seen.map((request) => request.authorization)).size).toBe(1)
    })

    it('never lets two citizens see each other, even with interleaved concurrent calls', async () => {
      const pids = [newPid(), newPid()]
      const tokens = await Promise.all(pids.map((pid) => stack.idporten.mint({ pid })))
      const before = snapshot()

      const order = [0, 1, 0, 1, 1, 0, 0, 1]
      const answers = await Promise.all(order.map((who) => callResource(apiUrl, tokens[who])))

      answers.forEach((answer, index) => {
        expect(answer.status).toBe(200)
        expect(answer.json.pid).toBe(pids[order[index] ?? -1])
      })
      const { seen, exchanges } = delta(before)
      // Concurrent first calls of one citizen may each exchange; never more than one per call.
      expect(exchanges).toBeGreaterThanOrEqual(2)
      expect(exchanges).toBeLessThanOrEqual(order.length)
      const pidsByToken = new Map<string, Set<unknown>>()
      for (const request of seen) {
        const claims = bearerClaims(request.authorization)
        const set = pidsByToken.get(String(request.authorization)) ?? new Set()
        set.add(claims.pid)
        pidsByToken.set(String(request.authorization), set)
        expect(pids).toContain(claims.pid)
      }
      // No token downstream ever carried both citizens, and each token served one citizen only.
      for (const set of pidsByToken.values()) expect(set.size).toBe(1)
      expect(new Set(seen.map((request) => bearerClaims(request.authorization).pid))).toEqual(new Set(pids))
    })
  })

  describe('a caller without a valid citizen token', () => {
    const cases: Array<[string, () => Promise<string | undefined>]> = [
      ['has no token', async () => undefined],
      ['has an expired token', () => stack.idporten.mintExpired({ pid: newPid() }, 600)],
      ['has a badly signed token', () => stack.idporten.mintBadlySigned({ pid: newPid() })],
      ['has a token from an unknown issuer', () => stranger.mint({ pid: newPid() })],
    ]

    it.each(cases)('gets 401 with WWW-Authenticate: Bearer and no downstream call when it %s', async (_name, token) => {
      const citizenToken = await token()
      const before = snapshot()

      const answer = await callResource(apiUrl, citizenToken)

      expect(answer.status).toBe(401)
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer\b/)
      expect(answer.headers.get('content-type')).toMatch(/json/)
      expect(answer.json).toHaveProperty('error_description')
      if (citizenToken !== undefined) expect(answer.text).not.toContain(citizenToken)
      const { exchanges, downstream } = delta(before)
      expect({ exchanges, downstream }).toEqual({ exchanges: 0, downstream: 0 })
    })
  })

  describe('TokenX refusing the app', () => {
    /** A 500 whose body says nothing about tokens, keys or TokenX's reasons. */
    function expectOpaque500(answer: Awaited<ReturnType<typeof callResource>>, citizenToken: string): void {
      expect(answer.status).toBe(500)
      expect(answer.headers.get('content-type')).toMatch(/json/)
      expect(answer.json.error).toBe('server_error')
      for (const key of Object.keys(answer.json)) expect(['error', 'error_description']).toContain(key)
      expect(answer.text).not.toContain(citizenToken)
      expect(answer.text).not.toMatch(/eyJ[\w-]+\.[\w-]+/) // no JWT of any kind
      expect(answer.text).not.toMatch(/not authorized|invalid client authentication|client_id=|aud=|token verification/i)
      expect(answer.text).not.toContain(String(stack.appKey().privateJwk.d))
      expect(answer.text).not.toContain(APP_CLIENT_ID)
    }

    it('answers 500 without detail when the access policy denies the downstream audience', async () => {
      const citizenToken = await stack.idporten.mint({ pid: newPid() })
      stack.tokenx.setAccessPolicy(DOWNSTREAM_AUDIENCE, [])
      try {
        const before = snapshot()
        const answer = await callResource(apiUrl, citizenToken)
        expectOpaque500(answer, citizenToken)
        const { exchanges, downstream, tokenxFailures } = delta(before)
        expect({ exchanges, downstream }).toEqual({ exchanges: 0, downstream: 0 })
        expect(tokenxFailures).toBeGreaterThanOrEqual(1)
        expect(stack.tokenx.stats.lastError?.error_description).toMatch(/is not authorized to get token with aud=/)
      } finally {
        stack.tokenx.setAccessPolicy(DOWNSTREAM_AUDIENCE, [APP_CLIENT_ID])
      }
    })

    it('answers 500 without detail when the app key is not registered at TokenX (after one key reload)', async () => {
      const citizenToken = await stack.idporten.mint({ pid: newPid() })
      const unrelated = await generateRsaJwk()
      stack.tokenx.setClientJwks(APP_CLIENT_ID, [unrelated.publicJwk])
      try {
        const before = snapshot()
        const answer = await callResource(apiUrl, citizenToken)
        expectOpaque500(answer, citizenToken)
        const { exchanges, downstream, invalidClient, secretReads } = delta(before)
        expect({ exchanges, downstream }).toEqual({ exchanges: 0, downstream: 0 })
        // invalid_client makes the kit load its key again and retry once, then give up.
        expect(invalidClient).toBe(2)
        expect(secretReads).toBe(1)
      } finally {
        stack.tokenx.setClientJwks(APP_CLIENT_ID, [stack.appKey().publicJwk])
      }
      // Restored: the next citizen gets through again.
      expect((await callResource(apiUrl, await stack.idporten.mint({ pid: newPid() }))).status).toBe(200)
      // The reload found the key already in use, so refusal-driven reloads wait 1 s now
      // (docs/keys-and-verification.md): let that pass, so that the next test's rotation is picked up at once.
      await new Promise((resolve) => setTimeout(resolve, 1_100))
    })

    it('picks up a key rotated in Secrets Manager when TokenX answers invalid_client', async () => {
      // Warm up: the kit holds the current key.
      expect((await callResource(apiUrl, await stack.idporten.mint({ pid: newPid() }))).status).toBe(200)
      const oldKid = stack.appKey().kid

      const rotated = await stack.rotateAppKey()
      expect(rotated.kid).not.toBe(oldKid)

      const pid = newPid()
      const before = snapshot()
      const answer = await callResource(apiUrl, await stack.idporten.mint({ pid }))

      expect(answer.status).toBe(200)
      expect(answer.json.pid).toBe(pid)
      const { exchanges, invalidClient, secretReads, downstream } = delta(before)
      expect({ exchanges, invalidClient, secretReads, downstream }).toEqual({
        exchanges: 1,
        invalidClient: 1,
        secretReads: 1,
        downstream: 1,
      })

      // And the new key keeps working without further reloads.
      const after = snapshot()
      expect((await callResource(apiUrl, await stack.idporten.mint({ pid: newPid() }))).status).toBe(200)
      expect(delta(after)).toMatchObject({ exchanges: 1, invalidClient: 0, secretReads: 0 })
    })
  })

  it('writes each exchange to the shared cache table (TOKEN_X_CACHE_TABLE), sealed', async () => {
    const citizenToken = await stack.idporten.mint({ pid: newPid() })
    expect((await callResource(apiUrl, citizenToken)).status).toBe(200)
    const dynamodb = stack.dynamodb
    if (dynamodb === undefined) throw new Error('the stack runs without its DynamoDB')
    const items = (await dynamodb.client.send(new ScanCommand({ TableName: dynamodb.table }))).Items ?? []
    // The item key only the app's private key can compute.
    const binding = appBinding(importPrivateJwk(stack.appKey().privateJwk).key, APP_CLIENT_ID)
    const item = items.find((candidate) => candidate.pk?.S === itemKey(binding, tokenCacheKey(citizenToken, DOWNSTREAM_AUDIENCE)))
    expect(Object.keys(item ?? {}).sort()).toEqual(['data', 'pk', 'ttl', 'v'])
    expect(Buffer.from(item?.data?.B ?? new Uint8Array()).toString('latin1')).not.toContain('eyJ')
  })

  describe('the Entra ID and Maskinporten functions', () => {
    it('GET /employee exchanges an Entra ID user token on-behalf-of and calls the downstream with it', async () => {
      const flows = stack.flows
      if (flows === undefined) throw new Error('the stack started without its Entra ID and Maskinporten side')
      const before = flows.downstream.authorized['/employee'] ?? 0
      const response = await fetch(`${apiUrl}/employee`, { headers: { authorization: `Bearer ${await flows.userToken()}` } })
      expect(response.status).toBe(200)
      // The downstream saw a user token (on-behalf-of), issued for it by the Entra ID stand-in.
      expect(await response.json()).toMatchObject({ path: '/employee', sub: 'local-employee', azp_name: FLOW_APP.name })
      expect(flows.downstream.authorized['/employee']).toBe(before + 1)
      expect(flows.standIns.entra.requests.at(-1)?.form.get('requested_token_use')).toBe('on_behalf_of')
    })

    it('GET /employee refuses a caller without an Entra ID token', async () => {
      const response = await fetch(`${apiUrl}/employee`)
      expect(response.status).toBe(401)
    })

    it('invokes the scheduled functions through the Lambda invoke API: machine (Entra ID) and maskinporten', async () => {
      const flows = stack.flows
      if (flows === undefined) throw new Error('the stack started without its Entra ID and Maskinporten side')
      for (const [name, path] of [
        ['machine', '/machine'],
        ['maskinporten', '/external'],
      ] as const) {
        const before = flows.downstream.authorized[path] ?? 0
        const response = await fetch(String(stack.invokeUrl(name)), { method: 'POST', body: '{}' })
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ status: 200 })
        expect(flows.downstream.authorized[path]).toBe(before + 1)
      }
    })
  })

  describe("with TokenX wording errors as tokendings' main branch does", () => {
    // tokendings answers a failed assertion verification with 400 invalid_request "token
    // verification failed: ..." and prefixes subject token failures with "invalid subject_token: ".
    beforeAll(() => {
      stack.tokenx.errorStyle = 'tokendings'
    })
    afterAll(() => {
      stack.tokenx.errorStyle = 'oauth'
    })

    it.each([
      ['a badly signed token', () => stack.idporten.mintBadlySigned({ pid: newPid() })],
      ['a token from an unknown issuer', () => stranger.mint({ pid: newPid() })],
    ])('still gets 401 and no downstream call for %s', async (_name, token) => {
      const citizenToken = await token()
      const before = snapshot()
      const answer = await callResource(apiUrl, citizenToken)
      expect(answer.status).toBe(401)
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer\b/)
      // The example validates inbound tokens itself (issue #11): TokenX never sees this one, whatever
      // its wording (test/faults covers the kit's reading of "invalid subject_token: ...").
      expect(delta(before)).toMatchObject({ exchanges: 0, tokenxFailures: 0, downstream: 0, secretReads: 0 })
    })

    it('still picks up a rotated key (TokenX: 400 "token verification failed: ... no matching key(s)")', async () => {
      expect((await callResource(apiUrl, await stack.idporten.mint({ pid: newPid() }))).status).toBe(200)
      await stack.rotateAppKey()
      const pid = newPid()
      const before = snapshot()
      const answer = await callResource(apiUrl, await stack.idporten.mint({ pid }))
      expect(answer.status).toBe(200)
      expect(answer.json.pid).toBe(pid)
      expect(delta(before)).toMatchObject({ exchanges: 1, tokenxFailures: 1, secretReads: 1, downstream: 1 })
      expect(stack.tokenx.stats.lastError).toMatchObject({ status: 400, error: 'invalid_request' })
      expect(stack.tokenx.stats.lastError?.error_description).toMatch(/^token verification failed: .*no\+matching\+key/)
    })
  })
})

describe('npm start and npm run token', () => {
  const PID = '12345678910'
  let stateDir: string
  let child: ChildProcess
  let output = ''
  const ports: Record<string, number> = {}

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'tokenx-dev-stack-'))
    for (const name of ['HTTP', 'LAMBDA', 'TOKENX', 'IDPORTEN', 'DOWNSTREAM', 'SECRETS_MANAGER']) ports[name] = await freePort()
    const env: Record<string, string | undefined> = { ...process.env, DEV_STATE_DIR: stateDir }
    for (const [name, port] of Object.entries(ports)) env[`DEV_${name}_PORT`] = String(port)
    // Detached: its own process group, so SIGINT can go to the whole group as a terminal's Ctrl-C does.
    child = spawn('npm', ['start'], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const deadline = Date.now() + 90_000
    while (!output.includes('Try it:')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not get ready:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }, 120_000)

  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // Gone already.
      }
    }
    if (stateDir) await rm(stateDir, { recursive: true, force: true })
  })

  it('prints where every piece listens and a ready-to-copy curl', () => {
    for (const port of Object.values(ports)) expect(output).toContain(`http://127.0.0.1:${port}`)
    expect(output).toContain(
      `curl -s -H "Authorization: Bearer $(npm run -s token -- --pid ${PID})" http://127.0.0.1:${ports.HTTP}/resource`,
    )
  })

  it('npm run token prints only a citizen token, which the running function accepts', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'token', '--', '--pid', PID], {
      env: { ...process.env, DEV_STATE_DIR: stateDir },
    })
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const token = stdout.trim()
    expect(decodeJwt(token)).toMatchObject({ iss: `http://127.0.0.1:${ports.IDPORTEN}`, pid: PID, acr: 'idporten-loa-high' })

    const answer = await callResource(`http://127.0.0.1:${ports.HTTP}`, token)
    expect(answer.status).toBe(200)
    expect(answer.json).toMatchObject({ pid: PID, aud: DOWNSTREAM_AUDIENCE, client_id: APP_CLIENT_ID })
    // Nothing the stack (or the function in it) logged contains a token or key material.
    expect(output).not.toContain(token)
    expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+/)
    expect(output).not.toMatch(/"d"\s*:/)
  })

  it('prints curls for GET /employee (an Entra ID user token) and the scheduled functions, which work as printed', async () => {
    const curls = output.split('\n').filter((line) => /^\s*curl /.test(line) && !line.includes('/resource'))
    expect(curls).toHaveLength(3)
    const employee = curls.find((line) => line.endsWith(`http://127.0.0.1:${ports.HTTP}/employee`))
    expect(employee).toBeDefined()
    const run = async (line: string) => (await promisify(execFile)('bash', ['-c', `set -o pipefail; ${line.trim()}`])).stdout
    expect(JSON.parse(await run(String(employee)))).toMatchObject({ path: '/employee', sub: 'local-employee' })
    for (const [name, line] of [
      ['machine', curls[1]],
      ['maskinporten', curls[2]],
    ]) {
      expect(line).toContain(`http://127.0.0.1:${ports.LAMBDA}/2015-03-31/functions/tokenx-handler-kit-local-${name}/invocations`)
      expect(JSON.parse(await run(String(line)))).toEqual({ status: 200 })
    }
  })

  it('stops everything on Ctrl-C (SIGINT to the process group), leaving no process behind', async () => {
    const pid = child.pid ?? -1
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    process.kill(-pid, 'SIGINT')
    await exited
    expect(output).toContain('stopped')
    expect(processesMentioning(`--httpPort ${ports.HTTP}`)).toEqual([])
    expect(processGroupMembers(pid)).toEqual([])
    for (const port of Object.values(ports)) expect(await portIsOpen(port)).toBe(false)
    // Keys stay for the next start; the running-stack marker is gone.
    expect((await readdir(stateDir)).sort()).toEqual(['app-private-jwk.json', 'idporten-private-jwk.json'])
  }, 30_000)
})
