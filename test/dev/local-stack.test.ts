/**
 * `tokenx-local` (dev/local-stack.ts, dev/local-tokenx.ts, dev/local-cli.ts): a consumer's stack of
 * several clients, audiences and an access policy. The kit (lib/, by the package name) runs a
 * two-downstream handler and a chained handler against it; TokenX keeps tokendings' rules; the
 * configuration and the command refuse what they should. test/consumer/run.ts runs the same
 * handlers with the command installed from the packed tarball.
 */
import { randomUUID } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { decodeJwt, importJWK, SignJWT, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { lambdaContext, v2Event } from '../helpers/events.ts'
import { mintCitizenToken } from '../../dev/idporten.ts'
import { issueTokenXToken, JWT_BEARER_ASSERTION, JWT_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from '../../dev/local-tokenx.ts'
import { functionEnv, localKeys, parseLocalConfig, startLocalStack, type LocalConfig, type LocalStack } from '../../dev/local-stack.ts'
import { generateRsaJwk, type RsaJwkPair } from '../../dev/keys.ts'
import { runScript } from '../helpers/run.ts'

const FRONTEND = 'local:team:frontend'
const ORDERS = 'local:team:orders'
const PROFILE = 'local:team:profile'
const LEDGER = 'local:team:ledger'

const raw = {
  tokenx: { port: 0 },
  idporten: { port: 0 },
  clients: {
    [FRONTEND]: { audiences: [PROFILE, LEDGER, ORDERS] },
    [ORDERS]: { audiences: [LEDGER] },
  },
  downstreams: { [PROFILE]: { port: 0 }, [LEDGER]: { port: 0 } },
}
const config: LocalConfig = parseLocalConfig(raw)

let stateDir: string
let stack: LocalStack
let keys: Awaited<ReturnType<typeof localKeys>>

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), 'tokenx-local-'))
  stack = await startLocalStack(config, stateDir)
  keys = await localKeys(stateDir, config)
})
afterAll(async () => {
  await stack?.close()
  await rm(stateDir, { recursive: true, force: true })
})

/** A handler module of test/consumer/src, loaded fresh with the environment of one client. */
const handlerModules = {
  'two-downstreams.ts': () => import('../consumer/src/two-downstreams.ts'),
  'chained.ts': () => import('../consumer/src/chained.ts'),
}

async function handlerAs(
  clientId: string,
  file: keyof typeof handlerModules,
): Promise<(event: unknown, context: unknown) => Promise<{ statusCode: number; body: string }>> {
  vi.resetModules()
  for (const [name, value] of Object.entries(functionEnv(config, stack.state, clientId, keys.clients.get(clientId)!)))
    vi.stubEnv(name, value)
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', '')
  return (await handlerModules[file]()).handler as never
}

const citizen = (pid: string, aud: string = FRONTEND) => mintCitizenToken(stack.idporten.signer, { pid, aud })

describe('the kit against tokenx-local', () => {
  it('runs a handler with two downstream apps: one exchange each, each app sees its own audience', async () => {
    const handler = await handlerAs(FRONTEND, 'two-downstreams.ts')
    const before = stack.tokenx.stats.exchanges
    const result = await handler(v2Event(`Bearer ${await citizen('12345678910')}`, '/x'), lambdaContext())
    expect(result.statusCode).toBe(200)
    const body = JSON.parse(result.body) as Record<string, Record<string, unknown>>
    expect(body.profile).toMatchObject({
      method: 'GET',
      path: '/people/me',
      pid: '12345678910',
      client_id: FRONTEND,
      aud: PROFILE,
      idp: stack.idporten.issuer,
    })
    expect(body.ledger).toMatchObject({ path: '/entries', pid: '12345678910', client_id: FRONTEND, aud: LEDGER })
    expect(stack.tokenx.stats.exchanges - before).toBe(2)
  })

  it('runs a chained handler: a TokenX token for orders, validated there, exchanged onward to the ledger', async () => {
    const handler = await handlerAs(ORDERS, 'chained.ts')
    const subject = decodeJwt(await citizen('10987654321'))
    const incoming = await issueTokenXToken({ issuer: stack.tokenx.issuer, key: keys.tokenx }, subject, FRONTEND, ORDERS, 300)
    const result = await handler(v2Event(`Bearer ${incoming}`, '/x'), lambdaContext())
    expect(result.statusCode).toBe(200)
    expect(JSON.parse(result.body)).toMatchObject({
      path: '/entries',
      pid: '10987654321',
      client_id: ORDERS,
      aud: LEDGER,
      idp: stack.idporten.issuer,
    })
  })

  it('refuses a TokenX token for another app at the chained handler, before any exchange', async () => {
    const handler = await handlerAs(ORDERS, 'chained.ts')
    const subject = decodeJwt(await citizen('10987654321'))
    const forProfile = await issueTokenXToken({ issuer: stack.tokenx.issuer, key: keys.tokenx }, subject, FRONTEND, PROFILE, 300)
    const before = stack.tokenx.stats.exchanges
    expect((await handler(v2Event(`Bearer ${forProfile}`, '/x'), lambdaContext())).statusCode).toBe(401)
    expect(stack.tokenx.stats.exchanges).toBe(before)
  })
})

/** A client assertion (RFC 7523) as the kit makes it, with overrides. */
async function assertion(key: RsaJwkPair, clientId: string, claims: Record<string, unknown> = {}, lifetime = 60): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(stack.tokenx.issuer)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + lifetime)
    .sign(await importJWK(key.privateJwk as JWK, 'RS256'))
}

async function exchange(
  clientAssertion: string,
  audience: string,
  subjectToken: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(stack.tokenx.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      client_assertion_type: JWT_BEARER_ASSERTION,
      client_assertion: clientAssertion,
      subject_token_type: JWT_TOKEN_TYPE,
      subject_token: subjectToken,
      audience,
    }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

describe("tokenx-local's TokenX keeps tokendings' rules", () => {
  it('issues for an allowed audience; refuses one outside the access policy, and an unknown one', async () => {
    const orders = keys.clients.get(ORDERS)!
    expect((await exchange(await assertion(orders, ORDERS), LEDGER, await citizen('12345678910'))).status).toBe(200)
    expect(await exchange(await assertion(orders, ORDERS), PROFILE, await citizen('12345678910'))).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: `client '${ORDERS}' is not authorized to get token with aud=${PROFILE}` },
    })
    expect(
      (await exchange(await assertion(orders, ORDERS), 'local:team:nobody', await citizen('12345678910'))).body.error_description,
    ).toBe('audience local:team:nobody is invalid')
  })

  it('refuses a replayed assertion, a lifetime over 120 s, an unknown client and a key not registered', async () => {
    const orders = keys.clients.get(ORDERS)!
    const once = await assertion(orders, ORDERS)
    expect((await exchange(once, LEDGER, await citizen('12345678910'))).status).toBe(200)
    expect(await exchange(once, LEDGER, await citizen('12345678910'))).toMatchObject({ status: 401, body: { error: 'invalid_client' } })
    expect((await exchange(await assertion(orders, ORDERS, {}, 121), LEDGER, await citizen('12345678910'))).body.error_description).toBe(
      `invalid client authentication for client_id=${ORDERS}, client assertion exceeded max lifetime (120s).`,
    )
    expect(
      (await exchange(await assertion(orders, 'local:team:stranger'), LEDGER, await citizen('12345678910'))).body.error_description,
    ).toBe('invalid client authentication for client_id=local:team:stranger, client not registered.')
    const other = await generateRsaJwk()
    expect(await exchange(await assertion({ ...other, kid: orders.kid }, ORDERS), LEDGER, await citizen('12345678910'))).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'token verification failed: Signed+JWT+rejected%3A+Invalid+signature' },
    })
  })

  it('refuses a subject token of an unknown issuer, and an expired one', async () => {
    const orders = keys.clients.get(ORDERS)!
    const stranger = await mintCitizenToken(
      { issuer: 'http://127.0.0.1:1', privateJwk: (await generateRsaJwk()).privateJwk },
      { pid: '12345678910' },
    )
    expect((await exchange(await assertion(orders, ORDERS), LEDGER, stranger)).body.error_description).toBe(
      'invalid subject_token: invalid request, cannot validate token from issuer=http://127.0.0.1:1',
    )
    const expired = await mintCitizenToken(stack.idporten.signer, {
      pid: '12345678910',
      issuedAt: Math.floor(Date.now() / 1000) - 600,
      expiresIn: 300,
    })
    expect((await exchange(await assertion(orders, ORDERS), LEDGER, expired)).body.error_description).toBe(
      'invalid subject_token: token verification failed: Expired+JWT',
    )
  })
})

describe('the configuration', () => {
  it.each([
    [{ ...raw, extra: 1 }, 'unknown key extra'],
    [{ ...raw, clients: {} }, 'at least one client'],
    [{ ...raw, clients: { [FRONTEND]: { audiences: ['local:team:nowhere'] } } }, 'local:team:nowhere is neither a downstream nor a client'],
    [{ ...raw, clients: { frontend: { audiences: [] } } }, 'cluster:namespace:app'],
    [{ ...raw, downstreams: { ...raw.downstreams, [ORDERS]: { port: 0 } } }, 'is also a client'],
    [{ ...raw, downstreams: { [PROFILE]: { port: 70000 }, [LEDGER]: { port: 0 } } }, 'port number from 0 to 65535'],
    [
      { ...raw, downstreams: { [PROFILE]: { port: 0 }, [LEDGER]: { port: 0 }, 'other:team:profile': { port: 0 } } },
      'would both be DOWNSTREAM_PROFILE_*: give one a "name"',
    ],
  ])('refuses %j', (bad, message) => {
    expect(() => parseLocalConfig(bad)).toThrow(message)
  })

  it('prints a function environment: TOKEN_X_*, IDPORTEN_* and DOWNSTREAM_<NAME>_URL/_AUDIENCE per audience', () => {
    const env = functionEnv(config, stack.state, FRONTEND, keys.clients.get(FRONTEND)!)
    expect(env).toMatchObject({
      TOKEN_X_CLIENT_ID: FRONTEND,
      TOKEN_X_ISSUER: stack.tokenx.issuer,
      TOKEN_X_TOKEN_ENDPOINT: stack.tokenx.tokenEndpoint,
      TOKEN_X_JWKS_URI: stack.tokenx.jwksUri,
      IDPORTEN_ISSUER: stack.idporten.issuer,
      IDPORTEN_JWKS_URI: stack.idporten.jwksUri,
      IDPORTEN_AUDIENCE: FRONTEND,
      DOWNSTREAM_PROFILE_URL: stack.downstreams.get(PROFILE)!.url,
      DOWNSTREAM_PROFILE_AUDIENCE: PROFILE,
      DOWNSTREAM_LEDGER_AUDIENCE: LEDGER,
      DOWNSTREAM_ORDERS_AUDIENCE: ORDERS,
    })
    expect(env.DOWNSTREAM_ORDERS_URL).toBeUndefined()
    expect(JSON.parse(String(env.TOKEN_X_PRIVATE_JWK))).toMatchObject({ kty: 'RSA', d: expect.any(String) })
  })
})

describe('the tokenx-local command', () => {
  const cli = fileURLToPath(new URL('../../dev/local-cli.ts', import.meta.url))
  let configFile: string
  beforeAll(async () => {
    configFile = path.join(stateDir, 'tokenx-local.json')
    await writeFile(configFile, JSON.stringify(raw))
  })
  const run = (args: string[]) => runScript(cli, [...args, '--config', configFile, '--state-dir', stateDir])

  it('prints a citizen token with --aud, --exp and --acr', async () => {
    const { code, stdout } = await run([
      'token',
      '--pid',
      '12345678910',
      '--aud',
      ORDERS,
      '--exp',
      '60',
      '--acr',
      'idporten-loa-substantial',
    ])
    expect(code).toBe(0)
    const claims = decodeJwt(stdout.trim())
    expect(claims).toMatchObject({ iss: stack.idporten.issuer, aud: ORDERS, pid: '12345678910', acr: 'idporten-loa-substantial' })
    expect(claims.exp! - claims.iat!).toBe(60)
    const expired = decodeJwt((await run(['token', '--pid', '12345678910', '--exp=-30'])).stdout.trim())
    expect(expired.exp! - Math.floor(Date.now() / 1000)).toBeLessThan(0)
    expect(expired.aud).toBe(FRONTEND)
  })

  it('prints a TokenX token for a client, which the stand-in downstream accepts', async () => {
    const { code, stdout } = await run(['token', '--pid', '12345678910', '--client', FRONTEND, '--aud', PROFILE, '--exp', '120'])
    expect(code).toBe(0)
    const claims = decodeJwt(stdout.trim())
    expect(claims).toMatchObject({
      iss: stack.tokenx.issuer,
      aud: PROFILE,
      client_id: FRONTEND,
      idp: stack.idporten.issuer,
      pid: '12345678910',
    })
    expect(claims.exp! - claims.iat!).toBe(120)
    const answer = await fetch(`${stack.downstreams.get(PROFILE)!.url}/anything`, { headers: { authorization: `Bearer ${stdout.trim()}` } })
    expect(answer.status).toBe(200)
  })

  it('refuses a TokenX token the access policy does not allow, and bad arguments', async () => {
    const refused = await run(['token', '--pid', '12345678910', '--client', ORDERS, '--aud', PROFILE])
    expect(refused).toMatchObject({ code: 1, stdout: '' })
    expect(refused.stderr).toContain(`${ORDERS} is not authorized to get a token with aud=${PROFILE}`)
    for (const args of [
      ['token', '--pid', '123'],
      ['token', '--pid', '12345678910', '--exp', 'soon'],
      ['token', '--pid', '12345678910', '--acr', 'high'],
      ['env'],
      ['nonsense'],
    ]) {
      const { code, stdout, stderr } = await run(args)
      expect(code, args.join(' ')).toBe(2)
      expect(stdout).toBe('')
      expect(stderr).toContain('usage: tokenx-local')
    }
  })

  it('prints the environment for a client as KEY=value lines and as JSON', async () => {
    const lines = await run(['env', '--client', ORDERS])
    expect(lines.code).toBe(0)
    expect(lines.stdout).toContain(`TOKEN_X_CLIENT_ID='${ORDERS}'\n`)
    expect(lines.stdout).toContain(`DOWNSTREAM_LEDGER_URL='${stack.downstreams.get(LEDGER)!.url}'\n`)
    const json = JSON.parse((await run(['env', '--client', ORDERS, '--json'])).stdout) as Record<string, string>
    expect(json).toEqual(functionEnv(config, stack.state, ORDERS, keys.clients.get(ORDERS)!))
  })

  it('starts, writes where it runs, and stops on SIGTERM leaving no state file; a taken port is one line, exit 1', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tokenx-local-start-'))
    try {
      await writeFile(path.join(dir, 'tokenx-local.json'), JSON.stringify(raw))
      const child = spawn(process.execPath, [cli, 'start'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      let printed = ''
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          printed += chunk.toString('utf8')
          if (printed.includes('tokenx-local: ready')) resolve()
        })
        void exited.then(() => reject(new Error(printed)))
      })
      const running = JSON.parse(await readFile(path.join(dir, '.tokenx-local/running.json'), 'utf8')) as {
        pid: number
        tokenxIssuer: string
        downstreams: Record<string, string>
      }
      expect(running.pid).toBe(child.pid)
      expect(printed).toContain(running.tokenxIssuer)
      expect(Object.keys(running.downstreams).sort()).toEqual([LEDGER, PROFILE])
      expect((await fetch(`${running.tokenxIssuer}/jwks`)).status).toBe(200)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      await expect(stat(path.join(dir, '.tokenx-local/running.json'))).rejects.toThrow()

      const taken = createServer()
      const port = await new Promise<number>((resolve) =>
        taken.listen(0, '127.0.0.1', () => resolve((taken.address() as { port: number }).port)),
      )
      try {
        await writeFile(path.join(dir, 'tokenx-local.json'), JSON.stringify({ ...raw, tokenx: { port } }))
        const refused = await runScript(cli, ['start'], { cwd: dir })
        expect(refused.code).toBe(1)
        expect(refused.stderr.trim()).toBe(`tokenx-local: port ${port} on 127.0.0.1 is already in use: change it in tokenx-local.json`)
      } finally {
        taken.close()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
