/**
 * esbuild.config.mjs's size-driven output choices, on a real build of functions/resource: the AWS SDK
 * clients narrowed to what the kit takes from them, their package.json cut to its version, and the createRequire banner only on the files that
 * name `require` (with their source maps shifted to match). The bundle's behaviour as a whole is
 * tested in test/functions/.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: the build script is plain JavaScript without type declarations.
import { buildFunction } from '../esbuild.config.mjs'
import { startServer, type TestServer } from './helpers/servers.ts'

const BANNER = "import { createRequire as __kitCreateRequire } from 'node:module';\nconst require = __kitCreateRequire(import.meta.url);\n"

let out: string
let outdir: string
/** Each .mjs of the build (path relative to outdir) and its text. */
let files: Map<string, string>
let server: TestServer | undefined

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'kit-esbuild-'))
  ;({ outdir } = (await buildFunction('resource', { into: out })) as { outdir: string })
  files = new Map()
  for (const file of await readdir(outdir, { recursive: true })) {
    if (file.endsWith('.mjs')) files.set(file, await readFile(path.join(outdir, file), 'utf8'))
  }
}, 60_000)

afterAll(async () => {
  await server?.close()
  await rm(out, { recursive: true, force: true })
})

const chunk = (prefix: string): [string, string] => {
  const found = [...files].find(([file]) => path.basename(file).startsWith(`${prefix}-`))
  if (found === undefined) throw new Error(`no ${prefix} chunk`)
  return found
}

describe('esbuild.config.mjs', () => {
  it('ships no AWS SDK package.json beyond its version', async () => {
    for (const [file, text] of files) expect(text, file).not.toMatch(/devDependencies|"build:cjs"|dist-cjs\/index\.js/)

    // The version is still what the client's user agent says.
    const { version } = JSON.parse(await readFile('node_modules/@aws-sdk/client-dynamodb/package.json', 'utf8')) as { version: string }
    const { DynamoDBClient, GetItemCommand } = (await import(
      path.join(outdir, chunk('client-dynamodb')[0])
    )) as typeof import('@aws-sdk/client-dynamodb')
    server = await startServer(() => ({ status: 200, body: {}, headers: { 'content-type': 'application/x-amz-json-1.0' } }))
    const client = new DynamoDBClient({
      endpoint: server.url,
      region: 'eu-north-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    })
    await client.send(new GetItemCommand({ TableName: 'table', Key: { pk: { S: 'key' } } }))
    client.destroy()
    expect(server.requests[0]?.headers['user-agent']).toContain(`api/dynamodb#${version}`)
  })

  it('narrows each lazily imported SDK client to the exports the kit destructures', () => {
    // The kit takes the client and GetSecretValue / GetItem and PutItem; any other command (or the
    // aggregated client class, which names them all) is dead weight in the lazy chunk.
    const [, secrets] = chunk('client-secrets-manager')
    expect(secrets).toContain('GetSecretValue')
    expect(secrets).not.toMatch(/CreateSecret|RotateSecret|ListSecrets/)
    const [, dynamodb] = chunk('client-dynamodb')
    expect(dynamodb).toMatch(/GetItem/)
    expect(dynamodb).not.toMatch(/BatchWriteItem|CreateTable|paginateScan|waitUntilTableExists/)
  })

  it('puts the createRequire banner on exactly the files that name require', () => {
    const bannered = [...files].filter(([, text]) => text.startsWith(BANNER))
    expect(bannered.length).toBeGreaterThan(0)
    expect(bannered.length).toBeLessThan(files.size)
    for (const [file, text] of files) {
      const code = text.startsWith(BANNER) ? text.slice(BANNER.length) : text
      expect(text.startsWith(BANNER), file).toBe(/\brequire\b/.test(code))
    }
  })

  it("shifts a bannered file's source map by the banner's lines", async () => {
    const [file, text] = chunk('sts')
    expect(text.startsWith(BANNER)).toBe(true)
    const map = new SourceMap(JSON.parse(await readFile(path.join(outdir, `${file}.map`), 'utf8')))
    const at = text.indexOf('signature-v4-crt')
    const line = text.slice(0, at).split('\n').length - 1
    const column = at - (text.lastIndexOf('\n', at) + 1)
    expect(map.findEntry(line, column)).toMatchObject({ originalSource: expect.stringContaining('signature-v4-multi-region') })
  })
})
