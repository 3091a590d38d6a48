/**
 * The import layering of lib/ (.dependency-cruiser.cjs, CONTRIBUTING.md): lib/ keeps it, and the
 * rules catch what they are for, type-only imports included, on a throwaway tree shaped like lib/.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cruise, type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as {
  forbidden: IForbiddenRuleType[]
  options: ICruiseOptions
}

/** The rules broken in `baseDir`'s lib/, one `rule: from → to` per violation (a cycle once, from one of its modules), sorted. */
async function violations(baseDir: string): Promise<string[]> {
  const { output } = await cruise(['lib'], {
    ...config.options,
    tsConfig: undefined,
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  })
  const result = output as ICruiseResult
  return [...new Set(result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`))].sort()
}

describe('.dependency-cruiser.cjs', () => {
  it('finds no violation in lib/', async () => {
    expect(await violations(root)).toEqual([])
  })

  describe('on a tree shaped like lib/', () => {
    let dir: string
    const write = async (file: string, text: string): Promise<void> => {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true })
      await writeFile(path.join(dir, file), text)
    }

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'layering-'))
      await write('lib/types.ts', 'export interface Token { readonly value: string }\n')
      await write('lib/errors.ts', 'export class KitError extends Error {}\n')
      // A cycle of type-only imports: gone from the compiled JavaScript, still a cycle.
      await write(
        'lib/exchange/client.ts',
        "import type { Shared } from '../cache/shared.ts'\nexport interface Client { readonly shared: Shared }\n",
      )
      await write(
        'lib/cache/shared.ts',
        "import type { Client } from '../exchange/client.ts'\nimport type { Token } from '../types.ts'\nexport interface Shared { readonly client: Client; readonly token: Token }\n",
      )
      // A sibling, an upward import, and the public API imported from inside.
      await write(
        'lib/inbound/jwks.ts',
        "import { KitError } from '../errors.ts'\nimport type { Client } from '../exchange/client.ts'\nexport const fail = (client: Client): KitError => new KitError(String(client))\n",
      )
      await write('lib/util/lazy.ts', "import type { Handler } from '../core/handler.ts'\nexport type Lazy = () => Handler\n")
      await write('lib/core/handler.ts', "import type { Api } from '../index.ts'\nexport type Handler = Api\n")
      await write('lib/index.ts', "export type Api = string\nexport type { Handler } from './core/handler.ts'\n")
      // A subpath's entry file imported from inside.
      await write('lib/config.ts', 'export const defaults = 1\n')
      await write('lib/cache/memory.ts', "import { defaults } from '../config.ts'\nexport const size = defaults\n")
      await write('lib/observe/logger.ts', "import type { Helper } from '../../test/helper.ts'\nexport type Logger = Helper\n")
      await write('test/helper.ts', 'export type Helper = string\n')
    })
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true })
    })

    it('refuses cycles of type-only imports, upward and sibling imports, an entry file from inside, and the rest of the repo', async () => {
      expect(await violations(dir)).toEqual([
        'cache-below-features: lib/cache/shared.ts → lib/exchange/client.ts',
        'inbound-no-sibling: lib/inbound/jwks.ts → lib/exchange/client.ts',
        'index-is-the-top: lib/cache/memory.ts → lib/config.ts',
        'index-is-the-top: lib/core/handler.ts → lib/index.ts',
        'lib-stands-alone: lib/observe/logger.ts → test/helper.ts',
        'no-circular: lib/cache/shared.ts → lib/exchange/client.ts',
        'no-circular: lib/core/handler.ts → lib/index.ts',
        'util-below-layers: lib/util/lazy.ts → lib/core/handler.ts',
      ])
    })
  })
})
