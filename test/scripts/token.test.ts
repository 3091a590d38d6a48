/**
 * `npm run token` (scripts/token.ts in a child process): usage, the accepted `--acr` levels, and
 * refusals with usage instead of stack traces.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateRsaJwk } from '../../dev/keys.ts'
import { IDPORTEN_KEY_FILE } from '../../dev/stack.ts'
import { runScript, type Finished } from '../helpers/run.ts'

const script = fileURLToPath(new URL('../../scripts/token.ts', import.meta.url))
let stateDir: string

function token(args: string[]): Promise<Finished> {
  return runScript(script, args, {
    env: { ...process.env, DEV_STATE_DIR: stateDir, DEV_PORT_BASE: undefined, DEV_IDPORTEN_PORT: undefined },
  })
}

beforeAll(async () => {
  // An ID-porten key as `npm start` leaves it in its state folder (no running stack needed).
  stateDir = await mkdtemp(path.join(tmpdir(), 'tokenx-kit-token-'))
  await writeFile(path.join(stateDir, IDPORTEN_KEY_FILE), JSON.stringify((await generateRsaJwk()).privateJwk), { mode: 0o600 })
})
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true })
})

describe('npm run token', () => {
  it('prints usage for --help and -h, listing the accepted levels', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout, stderr } = await token([flag])
      expect(code).toBe(0)
      expect(stderr).toBe('')
      expect(stdout).toMatch(/^usage: npm run -s token -- --pid <11 digits>/)
      expect(stdout).toContain('idporten-loa-substantial, idporten-loa-high, Level3, Level4')
    }
  })

  it.each(['idporten-loa-substantial', 'idporten-loa-high', 'Level3', 'Level4'])('mints a token with --acr %s', async (acr) => {
    const { code, stdout } = await token(['--pid', '12345678910', '--acr', acr, '--expires-in', '60'])
    expect(code).toBe(0)
    const claims = decodeJwt(stdout.trim())
    expect(claims).toMatchObject({ pid: '12345678910', acr })
    expect(claims.exp! - claims.iat!).toBe(60)
  })

  it('mints a token for another app with --aud (default the example app)', async () => {
    const other = decodeJwt((await token(['--pid', '12345678910', '--aud', 'local:team:orders'])).stdout.trim())
    expect(other.aud).toBe('local:team:orders')
    const usual = decodeJwt((await token(['--pid', '12345678910'])).stdout.trim())
    expect(usual.aud).toBe('local:team:tokenx-kit-example')
  })

  it.each([
    [['--pid', '12345678910', '--aud', ''], '--aud must not be empty'],
    [['--pid', '12345678910', '--acr', 'foo'], '--acr must be one of idporten-loa-substantial, idporten-loa-high, Level3, Level4'],
    [['--pid', '12345678910', '--acr', 'level4'], '--acr must be one of'],
    [['--pid', '123'], '--pid must be 11 digits'],
    [[], '--pid is required'],
    [['--pid', '12345678910', '--expires-in', '0'], '--expires-in must be a whole number of seconds from 1'],
    [['--pid', '12345678910', '--verbose'], "Unknown option '--verbose'"],
    [['12345678910'], 'Unexpected argument'],
  ])('refuses %j with the reason and usage, exit 2, nothing on stdout', async (args, reason) => {
    const { code, stdout, stderr } = await token(args)
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toContain(reason)
    expect(stderr).toContain('usage: npm run -s token')
    expect(stderr).not.toMatch(/\n\s+at /)
  })
})
