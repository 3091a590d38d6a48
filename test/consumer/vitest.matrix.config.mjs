// The middleware matrix (test/middy-stack/, copied beside this file by run.ts) in the consumer, against
// the installed package. No alias: `tokenx-handler-kit` resolves as in any consumer's project, to
// node_modules/tokenx-handler-kit and its export conditions (the tarball's build/). The plugin only
// records what the name resolved to (in KIT_RESOLUTIONS), so run.ts can check it was the tarball.
import { appendFileSync } from 'node:fs'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  plugins: [
    {
      name: 'record-kit-resolution',
      enforce: 'pre',
      async resolveId(source, importer, options) {
        if (source !== 'tokenx-handler-kit') return null
        const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
        appendFileSync(process.env.KIT_RESOLUTIONS ?? 'kit-resolutions.txt', `${resolved?.id ?? 'unresolved'}\n`)
        return resolved
      },
    },
  ],
  test: {
    include: ['test/middy-stack/**/*.test.ts'],
    // As in the repository's vitest.config.ts: real servers on 127.0.0.1 on a 2-core machine.
    testTimeout: 20_000,
    hookTimeout: 60_000,
    unstubEnvs: true,
    restoreMocks: true,
  },
})
