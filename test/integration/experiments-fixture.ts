// A real `immune serve`-like fastify app with only the experiment and flag protocol routes (Unleash client, delta, frontend, OFREP), for the
// experiments and unleash integration tests: in-memory (or file) SQLite, silent logger, auth stub.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { SqliteAuditStore } from '../../src/adapters/store/sqlite/audit.js';
import { openDb, type Db } from '../../src/adapters/store/sqlite/db.js';
import { SqliteExperimentStore } from '../../src/adapters/store/sqlite/experiments.js';
import { systemClock } from '../../src/adapters/clock/system.js';
import { EventBus } from '../../src/engine/events.js';
import { ExperimentRegistry } from '../../src/engine/experiments.js';
import { FlagRollouts } from '../../src/engine/flag-rollouts.js';
import type { Store } from '../../src/ports.js';
import type { Auth, ServerContext } from '../../src/server/context.js';
import { registerErrorHandler } from '../../src/server/errors.js';
import { registerExperiments } from '../../src/server/experiments.js';
import type { FrontendToken } from '../../src/server/context.js';
import { registerFrontend } from '../../src/server/frontend.js';
import { registerOfrep } from '../../src/server/ofrep.js';
import { registerFlags } from '../../src/server/flags.js';
import { registerUnleash } from '../../src/server/unleash.js';
import { registerUnleashDelta } from '../../src/server/unleash-delta.js';

export const CLIENT_TOKEN = 'client-token-1';

/** The flags the protocol tests (OFREP, frontend API, OpenFeature) evaluate: on/off, targeting, rollout, typed payloads. */
export const PROTOCOL_FLAGS = `flags:
  - name: on-flag
  - name: off-flag
    enabled: false
  - name: half
    rollout: 50%
  - name: beta-users
    constraints: [{ contextName: plan, operator: IN, values: [beta] }]
  - name: prod-only
    constraints: [{ contextName: environment, operator: IN, values: [production] }]
  - name: theme
    variants:
      - { name: dark, weight: 500, payload: { type: json, value: '{"bg":"#000"}' } }
      - { name: light, weight: 500, payload: { type: json, value: '{"bg":"#fff"}' } }
  - name: limit
    variants:
      - { name: low, weight: 1000, payload: { type: number, value: '10' } }
`;
/** An experiment served beside them, half in each branch. */
export const CHECKOUT_EXPERIMENT =
  'name: Checkout\ninitial_rollout: 100%\nbranches: {Enhanced: 50%}\ngoals: [checkout]\nguardrails: [error_rate]\n';
/** Bearer token the auth stub treats as an engineer; anything else is a viewer. */
export const ENGINEER_TOKEN = 'engineer-token';

export const authStub: Auth = {
  require: (role) => async (req, reply) => {
    if (role === 'viewer') return;
    if (req.headers.authorization !== `Bearer ${ENGINEER_TOKEN}`) {
      await reply.code(req.headers.authorization ? 403 : 401).send({
        error: { code: req.headers.authorization ? 'IMMUNE_FORBIDDEN' : 'IMMUNE_UNAUTHORIZED', message: `needs ${role}`, details: null },
      });
    }
  },
  actor: (req) => (req.headers.authorization === `Bearer ${ENGINEER_TOKEN}` ? 'token:alice' : 'anonymous'),
};

export function tempDir(prefix = 'immune-exp-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

export interface TestServer {
  app: FastifyInstance;
  ctx: ServerContext;
  db: Db;
  url: string;
  events: { type: string; name?: string; action?: string }[];
  close(): Promise<void>;
}

/** Start on 127.0.0.1 with a free port; `dbFile` keeps state across restarts (default in memory). */
export async function startServer(
  dir: string,
  opts: { dbFile?: string; clientTokens?: string[]; frontendTokens?: FrontendToken[]; port?: number } = {},
): Promise<TestServer> {
  const db = openDb(opts.dbFile ?? ':memory:');
  const store = {
    line: undefined as unknown as Store['line'],
    tests: undefined as unknown as Store['tests'],
    audit: new SqliteAuditStore(db),
    experiments: new SqliteExperimentStore(db),
    close: async () => {
      db.close();
    },
  } satisfies Store;
  const events = new EventBus();
  const seen: TestServer['events'] = [];
  events.on((e) => seen.push(e as TestServer['events'][number]));
  const log = pino({ level: 'silent' });
  const experiments = new ExperimentRegistry({ dir, store, events, log, clock: systemClock });
  const ctx: ServerContext = {
    store,
    log,
    events,
    auth: authStub,
    experiments,
    flags: new FlagRollouts({ registry: experiments, store, events, log, clock: systemClock }),
    clientTokens: opts.clientTokens ?? [CLIENT_TOKEN],
    frontendTokens: opts.frontendTokens ?? [],
    publicUrl: 'http://127.0.0.1',
  };
  const app = Fastify({ logger: false });
  registerErrorHandler(app);
  registerUnleash(app, ctx);
  registerUnleashDelta(app, ctx);
  registerExperiments(app, ctx);
  await registerFrontend(app, ctx);
  await registerOfrep(app, ctx);
  registerFlags(app, ctx);
  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    app,
    ctx,
    db,
    url: `http://127.0.0.1:${port}`,
    events: seen,
    close: async () => {
      await app.close();
      db.close();
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
