/**
 * `npm run keygen` as a user runs it (the script in a child process): the key pair, the file's mode,
 * what is printed (and what never is), and that the kit signs assertions with the key that the
 * printed JWKS verifies.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLocalJWKSet, jwtVerify, type JWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signAssertion } from '../../lib/exchange/assertion.ts'
import { importPrivateJwk } from '../../lib/exchange/key.ts'
import { generateKeyPairJwks, secretCommands, shellQuote, USAGE } from '../../scripts/keygen.ts'
import { runScript, type Finished } from '../helpers/run.ts'

const script = fileURLToPath(new URL('../../scripts/keygen.ts', import.meta.url))
let dir: string

function keygen(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  const { TOKEN_X_PRIVATE_JWK_SECRET_ID: _, AWS_REGION: __, ...inherited } = process.env
  return runScript(script, args, { cwd: dir, env: { ...inherited, ...env } })
}

/** The JSON block printed after the "Public JWKS" line. */
function printedJwks(stdout: string): { keys: JWK[] } {
  const lines = stdout.split('\n')
  const start = lines.findIndex((line) => line.startsWith('Public JWKS')) + 1
  const end = lines.indexOf('', start)
  return JSON.parse(lines.slice(start, end).join('\n'))
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-keygen-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('npm run keygen', () => {
  it('writes an owner-only private JWK and prints the public JWKS and the secret commands, never the private key', async () => {
    const { code, stdout, stderr } = await keygen(['--secret-id', 'team/tokenx-key', '--region', 'eu-west-1'])
    expect(code).toBe(0)
    expect(stderr).toBe('')
    const jwks = printedJwks(stdout)
    expect(jwks.keys).toHaveLength(1)
    const publicJwk = jwks.keys[0]!
    // The whole kid, as docs/deploying.md says: .keys/tokenx-private-jwk-<kid>.json
    const file = path.join(dir, '.keys', `tokenx-private-jwk-${publicJwk.kid}.json`)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const privateJwk = JSON.parse(await readFile(file, 'utf8')) as JWK
    expect(privateJwk).toMatchObject({ kty: 'RSA', e: 'AQAB', alg: 'RS256', use: 'sig', kid: publicJwk.kid })
    expect(Buffer.from(privateJwk.n!, 'base64url').length * 8).toBeGreaterThanOrEqual(2048)
    expect(publicJwk).toEqual({ kty: 'RSA', n: privateJwk.n, e: 'AQAB', kid: privateJwk.kid, alg: 'RS256', use: 'sig' })
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) expect(stdout).not.toContain(privateJwk[member]!)
    expect(stdout).not.toMatch(/"d"/)
    const shown = path.relative(dir, file)
    expect(stdout).toContain(
      `aws secretsmanager create-secret --region eu-west-1 --name team/tokenx-key --description 'TokenX private JWK (tokenx-handler-kit)' --secret-string file://${shown}`,
    )
    expect(stdout).toContain(
      `aws secretsmanager put-secret-value --region eu-west-1 --secret-id team/tokenx-key --secret-string file://${shown}`,
    )

    // The kit signs with the file's key; the printed JWKS verifies what it signs, as TokenX would.
    const assertion = signAssertion(importPrivateJwk(await readFile(file, 'utf8')), {
      clientId: 'prod-gcp:team:app',
      audience: 'https://tokenx.example',
      lifetime: 30,
      clock: Date.now,
    })
    const { protectedHeader, payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), { audience: 'https://tokenx.example' })
    expect(protectedHeader).toMatchObject({ alg: 'RS256', kid: publicJwk.kid })
    expect(payload.iss).toBe('prod-gcp:team:app')
  })

  it('takes the secret and region from TOKEN_X_PRIVATE_JWK_SECRET_ID and AWS_REGION, and honours --out and --kid', async () => {
    const { code, stdout } = await keygen(['--out', 'my key.json', '--kid', 'key-2026-11', '--bits', '3072'], {
      TOKEN_X_PRIVATE_JWK_SECRET_ID: 'from/env',
      AWS_REGION: 'eu-central-1',
    })
    expect(code).toBe(0)
    const privateJwk = JSON.parse(await readFile(path.join(dir, 'my key.json'), 'utf8')) as JWK
    expect(privateJwk.kid).toBe('key-2026-11')
    expect(Buffer.from(privateJwk.n!, 'base64url').length * 8).toBe(3072)
    expect(stdout).toContain("--region eu-central-1 --secret-id from/env --secret-string 'file://my key.json'")
  })

  it('refuses to overwrite a key file unless --force, and makes an overwritten file owner-only', async () => {
    const file = path.join(dir, 'existing.json')
    await writeFile(file, 'keep me', { mode: 0o644 })
    const refused = await keygen(['--out', file])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain(`${file} exists; choose another --out, or --force to overwrite it`)
    expect(await readFile(file, 'utf8')).toBe('keep me')
    const forced = await keygen(['--out', file, '--force'])
    expect(forced.code).toBe(0)
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ kty: 'RSA' })
    expect((await stat(file)).mode & 0o777).toBe(0o600)
  })

  it('prints the private JWK only when --print-private asks', async () => {
    const { code, stdout } = await keygen(['--out', 'printed.json', '--print-private'])
    expect(code).toBe(0)
    const privateJwk = JSON.parse(await readFile(path.join(dir, 'printed.json'), 'utf8')) as JWK
    expect(stdout).toContain(JSON.stringify(privateJwk))
  })

  it('--rotate prints the JWKS with the registered key and the new one, then the new one alone; never a private member', async () => {
    const old = await generateKeyPairJwks()
    // The registered JWKS, and (a careless choice) the old private JWK itself: only public parts are printed.
    await writeFile(path.join(dir, 'registered.json'), JSON.stringify(old.publicJwks))
    await writeFile(path.join(dir, 'old-private.json'), JSON.stringify(old.privateJwk))
    for (const file of ['registered.json', 'old-private.json']) {
      const { code, stdout } = await keygen(['--out', `new-${file}`, '--rotate', file, '--jwks-out', `both-${file}`])
      expect(code).toBe(0)
      const newJwk = JSON.parse(await readFile(path.join(dir, `new-${file}`), 'utf8')) as JWK
      const both = printedJwks(stdout)
      expect(both.keys.map((key) => key.kid)).toEqual([old.kid, newJwk.kid])
      expect(both.keys[0]).toEqual(old.publicJwks.keys[0])
      expect(JSON.parse(await readFile(path.join(dir, `both-${file}`), 'utf8'))).toEqual(both)
      const lines = stdout.split('\n')
      const after = lines.findIndex((line) => line.startsWith('Once every function signs with the new key'))
      expect(JSON.parse(lines.slice(after + 1, lines.indexOf('', after)).join('\n')).keys.map((key: JWK) => key.kid)).toEqual([newJwk.kid])
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
        expect(stdout).not.toContain(old.privateJwk[member]!)
        expect(stdout).not.toContain(newJwk[member]!)
      }
    }
    const bad = await keygen(['--out', 'never2.json', '--rotate', 'missing.json'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('cannot read --rotate missing.json')
  })

  it('prints usage for --help, and usage with the reason for bad options', async () => {
    const help = await keygen(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout.trim()).toBe(USAGE)
    for (const [args, reason] of [
      [['--bits', '1024'], '--bits must be one of 2048, 3072, 4096'],
      [['--unknown'], "Unknown option '--unknown'"],
      [['--kid', 'a b'], 'kid must be'],
    ] as const) {
      const { code, stdout, stderr } = await keygen([...args, '--out', 'never.json'])
      expect(code).toBe(2)
      expect(stdout).toBe('')
      expect(stderr).toContain(reason)
      expect(stderr).toContain('usage: npm run -s keygen')
    }
    await expect(stat(path.join(dir, 'never.json'))).rejects.toThrow(/ENOENT/)
  })
})

describe('keygen helpers', () => {
  it('quotes for a POSIX shell', () => {
    expect(shellQuote('team/key')).toBe('team/key')
    expect(shellQuote("it's here")).toBe(`'it'\\''s here'`)
    expect(shellQuote('$(rm -rf /)')).toBe(`'$(rm -rf /)'`)
  })

  it('creates a secret by its name, also when given its ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-north-1:123456789012:secret:team/key-AbCdEf'
    expect(secretCommands(arn, 'eu-north-1', 'k.json')).toEqual({
      create:
        "aws secretsmanager create-secret --region eu-north-1 --name team/key-AbCdEf --description 'TokenX private JWK (tokenx-handler-kit)' --secret-string file://k.json",
      put: `aws secretsmanager put-secret-value --region eu-north-1 --secret-id ${arn} --secret-string file://k.json`,
    })
  })

  it('refuses weak or unusual key sizes', async () => {
    await expect(generateKeyPairJwks({ bits: 1024 })).rejects.toThrow(TypeError)
  })
})
