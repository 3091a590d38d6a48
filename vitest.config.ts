import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // functions/ import the kit by its package name, as a consumer does; in the repo that name means
    // the TypeScript source (package.json's "tokenx-kit-source" export condition, which tsc and
    // esbuild.config.mjs use too).
    // The subpaths map to their entry files (lib/observe.ts, lib/config.ts).
    alias: [
      { find: /^tokenx-handler-kit$/, replacement: fileURLToPath(new URL('./lib/index.ts', import.meta.url)) },
      { find: /^tokenx-handler-kit\/(observe|config)$/, replacement: fileURLToPath(new URL('./lib/$1.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // End-to-end tests start real servers on 127.0.0.1; give them room on a 2-core machine.
    testTimeout: 20_000,
    hookTimeout: 60_000,
    unstubEnvs: true,
    restoreMocks: true,
  },
})
