// The house's layout as rules: one rule per room, each with the reason it exists. `npm run lint`
// runs `depcruise src`; test/unit/architecture.test.ts checks that a wrong import fails it.
// Direction: cli, server, demo -> runtime -> engine -> core; engine -> ports <- adapters.

/** Every room's folder under src/ (a file directly in src/ is a room of its own). */
const ROOM = {
  core: '^src/core/',
  ports: '^src/ports\\.ts$',
  engine: '^src/engine/',
  adapters: '^src/adapters/',
  server: '^src/server/',
  cli: '^src/cli/',
  sdk: '^src/sdk/',
  sim: '^src/sim/',
  demo: '^src/demo/',
  dashboard: '^src/dashboard/',
  runtime: '^src/runtime\\.ts$',
  telemetry: '^src/telemetry\\.ts$',
};

/** Core's one plain-JavaScript module, which the dashboard loads too (served at /core/format/words.js). */
const SHARED_WORDS = '^src/core/format/words\\.js$';

const forbid = (name, comment, from, to, extra = {}) => ({ name, comment, severity: 'error', from, to: { ...to, ...extra } });

export default {
  forbidden: [
    forbid(
      'core-imports-only-core',
      'core is the pure domain: plain data in, plain data out. It may use npm libraries (zod, yaml) but nothing else of ours, so the simulation and crash-resume tests can run it anywhere.',
      { path: ROOM.core },
      { path: '^src/', pathNot: ROOM.core },
    ),
    forbid(
      'core-no-node-builtins',
      'core does no I/O: no fs, net, child_process or clocks from Node; take what you need as an argument.',
      { path: ROOM.core },
      { dependencyTypes: ['core'] },
    ),
    forbid(
      'ports-import-only-core',
      'ports.ts is the contract between the engine and the adapters: it names domain types from core and nothing else.',
      { path: ROOM.ports },
      { path: '^src/', pathNot: ROOM.core },
    ),
    forbid(
      'engine-uses-ports-not-adapters',
      'the engine drives the line through the ports; which adapters it gets is decided once, in runtime.ts. An engine that imported an adapter could not run on the simulation.',
      { path: ROOM.engine },
      { path: [ROOM.adapters, ROOM.server, ROOM.cli, ROOM.demo, ROOM.sim, ROOM.runtime, ROOM.sdk] },
    ),
    forbid(
      'adapters-stand-alone',
      'an adapter talks to one real system and knows only the ports and core (and telemetry.ts, for its own metrics); adapters never import the engine, the server or each other (Flagger: one file per backend).',
      { path: '^src/adapters/([^/]+)/' },
      { path: '^src/', pathNot: ['^src/adapters/$1/', ROOM.core, ROOM.ports, ROOM.telemetry] },
    ),
    forbid(
      'telemetry-stands-alone',
      "telemetry.ts declares immune's own Prometheus metrics for whichever room reports on itself (the notifier adapter, the server): it uses prom-client and nothing of ours, so any room may import it.",
      { path: ROOM.telemetry },
      { path: '^src/' },
    ),
    forbid(
      'server-never-builds-adapters',
      'the HTTP server is handed the engine and the store by runtime.ts; it never opens a database or a fleet itself.',
      { path: ROOM.server },
      { path: [ROOM.adapters, ROOM.cli, ROOM.demo, ROOM.sim, ROOM.runtime] },
    ),
    forbid(
      'sim-is-another-set-of-adapters',
      'the simulation stands in for the real systems behind the ports; it must not reach the real adapters, the server or the CLI.',
      { path: ROOM.sim },
      { path: [ROOM.adapters, ROOM.server, ROOM.cli, ROOM.demo, ROOM.runtime] },
    ),
    forbid(
      'sdk-stays-small',
      'the SDK is what applications import: it may share pure code from core, never the engine, adapters, server or CLI (an app must not pull the orchestrator in).',
      { path: ROOM.sdk },
      { path: '^src/', pathNot: [ROOM.sdk, ROOM.core] },
    ),
    forbid(
      'demo-is-an-app-of-the-runtime',
      'the demo runs the product as a user would, through runtime.ts; it does not import the CLI (the CLI hands it what it prints).',
      { path: ROOM.demo },
      { path: [ROOM.cli, ROOM.server] },
    ),
    forbid(
      'runtime-is-only-for-entry-points',
      'runtime.ts, the composition root, is imported by the entry points only (cli, demo); everything else receives what it needs.',
      { path: '^src/', pathNot: [ROOM.cli, ROOM.demo, ROOM.runtime] },
      { path: ROOM.runtime },
    ),
    forbid(
      'nothing-imports-the-cli',
      'the CLI is the outermost room: commands call inward, nothing calls them.',
      { path: '^src/', pathNot: ROOM.cli },
      { path: ROOM.cli },
    ),
    forbid(
      'dashboard-is-static-files',
      "the dashboard is plain browser JavaScript served as files; it talks to the API over HTTP, never by import (but for core's words, below).",
      { path: ROOM.dashboard },
      { path: '^src/', pathNot: [ROOM.dashboard, SHARED_WORDS] },
    ),
    forbid(
      'shared-words-stand-alone',
      'core/format/words.js is served to the browser as it is, so the page and the CLI print the same words: it may import nothing, or the browser would need that too.',
      { path: SHARED_WORDS },
      { path: '.' },
    ),
    forbid(
      'no-cycles',
      'an import cycle makes load order matter and hides which room depends on which.',
      { path: '^src/' },
      { circular: true },
    ),
    forbid('no-test-code-in-src', 'the product never imports its tests or their helpers.', { path: '^src/' }, { path: '^test/' }),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    exclude: { path: ['^src/dashboard/vendor/', '^src/demo/shop/'] },
  },
};
