// The import layering of lib/ (CONTRIBUTING.md, "Layout"), checked by `npm run lint:deps` and CI.
//
//   middy/ → core/ → flows/ → { downstream/ → exchange/, inbound/ } ; core/ → observe/ ; all → cache/ → util/ → types.ts, errors.ts, events.ts
//
// A module may import its own folder and any layer below its own, never one above it nor a sibling
// (downstream/ → exchange/ is the one sibling edge: the bound fetch re-exchanges through the client
// after a 401). Type-only imports count as imports: `tsPreCompilationDeps` keeps `import type` edges,
// which the compiled JavaScript no longer has.
const layers = ['util', 'cache', 'exchange', 'inbound', 'downstream', 'observe', 'flows', 'core', 'middy']
const folders = (names) => `^lib/(${names.join('|')})/`

/** `from` may import none of `above`. */
const layer = (name, from, above, comment) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: folders(above) },
})

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle in lib/, type-only imports included.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { circular: true },
    },
    {
      name: 'types-import-nothing',
      comment: 'lib/types.ts holds the shared types and imports no module of the kit, so that every layer can use it.',
      severity: 'error',
      from: { path: '^lib/types\\.ts$' },
      to: { path: '^lib/' },
    },
    layer(
      'base-below-all',
      '^lib/(errors|events)\\.ts$',
      layers,
      'errors.ts and events.ts are the bottom layer: every layer throws kit errors and publishes events.',
    ),
    layer(
      'util-below-layers',
      '^lib/util/',
      layers.filter((l) => l !== 'util'),
      'util/ holds helpers any layer may use; it imports only the base modules.',
    ),
    layer(
      'cache-below-features',
      '^lib/cache/',
      ['exchange', 'inbound', 'downstream', 'observe', 'flows', 'core', 'middy'],
      'cache/ knows nothing of who caches what.',
    ),
    layer(
      'exchange-no-sibling',
      '^lib/exchange/',
      ['inbound', 'downstream', 'observe', 'flows', 'core', 'middy'],
      'exchange/ is below core/ and beside inbound/ and observe/.',
    ),
    layer(
      'inbound-no-sibling',
      '^lib/inbound/',
      ['exchange', 'downstream', 'observe', 'flows', 'core', 'middy'],
      'inbound/ is below core/ and beside exchange/ and observe/.',
    ),
    layer(
      'downstream-only-exchange',
      '^lib/downstream/',
      ['inbound', 'observe', 'flows', 'core', 'middy'],
      'downstream/ may use exchange/ (re-exchange after a 401), no other sibling.',
    ),
    layer(
      'observe-no-sibling',
      '^lib/observe/',
      ['exchange', 'inbound', 'downstream', 'flows', 'core', 'middy'],
      'observe/ turns events into logs, metrics and spans; it needs no feature module.',
    ),
    layer(
      'flows-below-core',
      '^lib/flows/',
      ['observe', 'core', 'middy'],
      'flows/ (the Entra ID and Maskinporten clients with their bound fetch, the Entra ID token check) uses exchange/, downstream/ and inbound/; core/ builds on it.',
    ),
    layer('core-below-middy', '^lib/core/', ['middy'], 'core/ works without middy; middy/ wraps it.'),
    {
      name: 'index-is-the-top',
      comment:
        'The entry files (lib/index.ts, lib/observe.ts, lib/config.ts, lib/testing.ts: the package exports) are the public API: no module of the kit imports them.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^lib/(index|observe|config|testing|entra|maskinporten)\\.ts$' },
    },
    {
      name: 'testing-apart',
      comment:
        'lib/testing/ (tokenx-handler-kit/testing: test doubles) is reached only through its entry file, so that no function bundle carries it.',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/(testing\\.ts$|testing/)' },
      to: { path: '^lib/testing/' },
    },
    {
      name: 'lib-stands-alone',
      comment: 'lib/ is the published package: it imports nothing from the rest of the repository.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { dependencyTypes: ['local'], pathNot: '^lib/' },
    },
    {
      name: 'lib-resolvable',
      comment: 'Every import in lib/ resolves.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.lib.json' },
  },
}
