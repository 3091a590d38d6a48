/**
 * `npm run keygen`: the app's key pair for TokenX client authentication (private_key_jwt, RFC 7523).
 *
 * Writes the private JWK to a file only its owner can read (mode 0600), and prints the public JWKS to
 * register with TokenX and the `aws secretsmanager` commands that store the private JWK from that file
 * (`file://`), so the private key never appears on the terminal or in the shell history unless
 * `--print-private` asks for it. Run `npm run -s keygen -- --help` for the options.
 */
import { generateKeyPairSync } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint, type JWK } from 'jose'
import { parseCommandLine, usageError } from '../dev/command-line.ts'
import { publicJwkOf } from '../dev/keys.ts'

export const USAGE = `usage: npm run -s keygen -- [options]

Makes an RS256 key pair for TokenX: writes the private JWK to a file (mode 0600), prints the public
JWKS to register with TokenX and the aws CLI commands that store the private JWK in Secrets Manager.

options:
  --out <file>          where to write the private JWK (default .keys/tokenx-private-jwk-<kid>.json)
  --force               overwrite --out if it exists
  --secret-id <id>      secret name or ARN for the printed commands
                        (default $TOKEN_X_PRIVATE_JWK_SECRET_ID, else tokenx-handler-kit/private-jwk)
  --region <region>     region for the printed commands (default $AWS_REGION, else eu-north-1)
  --bits <n>            RSA modulus length: 2048 (default), 3072 or 4096
  --kid <kid>           key id (default the key's RFC 7638 SHA-256 thumbprint)
  --jwks-out <file>     also write the public JWKS to this file (with --rotate: old and new keys)
  --rotate <file>       key rotation: the public JWKS (or JWK) registered now; prints the JWKS
                        with its keys and the new one, to register with TokenX until the rotation
                        is done
  --print-private       also print the private JWK (it is a secret: avoid on shared screens and in logs)
  -h, --help            this text`

const BITS = [2048, 3072, 4096] as const
const DEFAULT_SECRET_ID = 'tokenx-handler-kit/private-jwk'
const DEFAULT_REGION = 'eu-north-1'

export interface KeyPairJwks {
  readonly kid: string
  /** The private JWK: `kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`, `kid`, `alg: RS256`, `use: sig`. */
  readonly privateJwk: JWK & { kid: string }
  /** `{ keys: [public JWK] }`, what TokenX needs. */
  readonly publicJwks: { keys: JWK[] }
}

/** A fresh RSA key pair as JWKs for RS256 signatures (RFC 7517, RFC 7518 §6.3). */
export async function generateKeyPairJwks(options: { bits?: number; kid?: string } = {}): Promise<KeyPairJwks> {
  const bits = options.bits ?? 2048
  if (!(BITS as readonly number[]).includes(bits)) throw new TypeError(`bits must be one of ${BITS.join(', ')}`)
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
  const exported = privateKey.export({ format: 'jwk' }) as JWK
  const kid = options.kid ?? (await calculateJwkThumbprint(exported, 'sha256'))
  if (!/^[A-Za-z0-9._~-]{1,128}$/.test(kid)) throw new TypeError('kid must be 1-128 of letters, digits and ._~-')
  const privateJwk = { ...exported, kid, alg: 'RS256', use: 'sig' }
  return { kid, privateJwk, publicJwks: { keys: [publicJwkOf(privateJwk)] } }
}

/** POSIX shell single-quoting, so a printed command can be pasted as it is. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`
}

/** The aws CLI commands that store the private JWK in `file` as the secret's SecretString. */
export function secretCommands(secretId: string, region: string, file: string): { create: string; put: string } {
  const source = shellQuote(`file://${file}`)
  const id = shellQuote(secretId)
  // create-secret takes a name; a secret given by ARN exists already, so only put-secret-value fits it.
  const name = secretId.startsWith('arn:') ? secretId.slice(secretId.indexOf(':secret:') + ':secret:'.length) : secretId
  return {
    create:
      `aws secretsmanager create-secret --region ${shellQuote(region)} --name ${shellQuote(name)} ` +
      `--description ${shellQuote('TokenX private JWK (tokenx-handler-kit)')} --secret-string ${source}`,
    put: `aws secretsmanager put-secret-value --region ${shellQuote(region)} --secret-id ${id} --secret-string ${source}`,
  }
}

/**
 * The JWKS to register during a rotation: the public parts of the keys in `registered` (a JWKS or
 * one JWK, as text), then `next`. Private members are never carried over; a key with `next`'s kid is
 * replaced by it. Throws `TypeError` naming the problem (never a key).
 */
export function rotationJwks(registered: string, next: JWK): { keys: JWK[] } {
  let parsed: unknown
  try {
    parsed = JSON.parse(registered)
  } catch {
    throw new TypeError('the --rotate file is not JSON')
  }
  const keys =
    parsed !== null && typeof parsed === 'object' && Array.isArray((parsed as { keys?: unknown }).keys)
      ? (parsed as { keys: unknown[] }).keys
      : [parsed]
  const old = keys.map((key) => {
    if (key === null || typeof key !== 'object' || (key as JWK).kty !== 'RSA' || typeof (key as JWK).n !== 'string') {
      throw new TypeError('the --rotate file must hold a JWKS or a JWK of RSA keys')
    }
    return publicJwkOf(key as JWK)
  })
  return { keys: [...old.filter((key) => key.kid !== next.kid), next] }
}

function fail(message: string): never {
  usageError('keygen', USAGE, message)
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseCommandLine('keygen', USAGE, {
    args: argv,
    options: {
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      'secret-id': { type: 'string' },
      region: { type: 'string' },
      bits: { type: 'string', default: '2048' },
      kid: { type: 'string' },
      'jwks-out': { type: 'string' },
      'print-private': { type: 'boolean', default: false },
      rotate: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  })
  const bits = Number(values.bits)
  if (!(BITS as readonly number[]).includes(bits)) fail(`--bits must be one of ${BITS.join(', ')}`)
  const secretId = values['secret-id'] ?? (process.env['TOKEN_X_PRIVATE_JWK_SECRET_ID'] || DEFAULT_SECRET_ID)
  const region = values.region ?? (process.env['AWS_REGION'] || DEFAULT_REGION)

  let pair: KeyPairJwks
  try {
    pair = await generateKeyPairJwks({ bits, ...(values.kid !== undefined ? { kid: values.kid } : {}) })
  } catch (error) {
    fail((error as Error).message)
  }
  let registered: string | undefined
  if (values.rotate !== undefined) {
    try {
      registered = await readFile(resolve(values.rotate), 'utf8')
    } catch {
      fail(`cannot read --rotate ${values.rotate}`)
    }
  }
  let rotation: { keys: JWK[] } | undefined
  try {
    if (registered !== undefined) rotation = rotationJwks(registered, pair.publicJwks.keys[0]!)
  } catch (error) {
    fail((error as Error).message)
  }
  const out = resolve(values.out ?? `.keys/tokenx-private-jwk-${pair.kid}.json`)
  await mkdir(dirname(out), { recursive: true, mode: 0o700 })
  try {
    // `wx`: never overwrite a key by accident (it may be the only copy of a registered key).
    await writeFile(out, `${JSON.stringify(pair.privateJwk, null, 2)}\n`, { mode: 0o600, flag: values.force ? 'w' : 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') fail(`${out} exists; choose another --out, or --force to overwrite it`)
    throw error
  }
  // A file that existed before keeps its mode on overwrite: make it owner-only either way.
  await chmod(out, 0o600)
  const jwks = JSON.stringify(pair.publicJwks, null, 2)
  const registerNow = rotation === undefined ? jwks : JSON.stringify(rotation, null, 2)
  if (values['jwks-out'] !== undefined) await writeFile(resolve(values['jwks-out']), `${registerNow}\n`, { mode: 0o644 })

  const shown = relative(process.cwd(), out).startsWith('..') ? out : relative(process.cwd(), out)
  const commands = secretCommands(secretId, region, shown)
  const lines = [
    `Private JWK (RSA ${bits}, RS256, kid ${pair.kid}) written to ${shown} (mode 0600, owner only).`,
    '',
    ...(rotation === undefined
      ? ['Public JWKS to register with TokenX (safe to share):', jwks]
      : [
          `Public JWKS to register with TokenX now, the registered key${rotation.keys.length > 2 ? 's' : ''} and the new one (safe to share):`,
          registerNow,
          '',
          'Once every function signs with the new key, register the new key alone:',
          jwks,
        ]),
    '',
    'Store the private JWK in AWS Secrets Manager. A new secret:',
    `  ${commands.create}`,
    'Or a new version of an existing secret (key rotation: register the new public key first):',
    `  ${commands.put}`,
    '',
    `Then set TOKEN_X_PRIVATE_JWK_SECRET_ID=${shellQuote(secretId)} for the stage and delete ${shown} once it is stored.`,
  ]
  if (values['print-private']) lines.push('', 'Private JWK (--print-private; keep it secret):', JSON.stringify(pair.privateJwk))
  console.log(lines.join('\n'))
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2))
