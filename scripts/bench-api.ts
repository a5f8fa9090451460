// Benchmark of the line's REST API on loopback: GET /api/line, GET /api/deploys?limit=50 and
// GET /api/deploys/:id with 1,000 stored deploys, and SSE fan-out to 200 clients. Prints figures.
// Run: node --import tsx scripts/bench-api.ts
// @ts-expect-error autocannon ships no type declarations
import autocannonUntyped from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openSqliteStore } from '../src/adapters/store/sqlite/index.js';
import { systemClock } from '../src/adapters/clock/system.js';
import { EventBus } from '../src/engine/events.js';
import { ExperimentRegistry } from '../src/engine/experiments.js';
import { summarizeLine } from '../src/engine/summary.js';
import { buildServer } from '../src/server/app.js';
import { createAuth } from '../src/server/auth.js';
import type { LineControl } from '../src/server/context.js';
import type { DeployRecord } from '../src/ports.js';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  errors: number;
  non2xx: number;
}
const autocannon = autocannonUntyped as (o: { url: string; connections: number; duration: number }) => Promise<CannonResult>;

const dir = mkdtempSync(join(tmpdir(), 'immune-bench-api-'));
const store = openSqliteStore(join(dir, 'state.db'));
const events = new EventBus();
const now = Date.now();
const fleet = Array.from({ length: 8 }, (_, i) => `s${i + 1}`);
for (let i = 0; i < 1000; i++) {
  const d: DeployRecord = {
    id: `d${i}`,
    pipeline: 'bench',
    shas: [`${i}`.padStart(40, 'a')],
    commits: [
      {
        sha: `${i}`.padStart(40, 'a'),
        author: 'Dev',
        email: 'dev@example.test',
        subject: `change ${i}`,
        message: `change ${i}`,
        time: now - 1e6,
      },
    ],
    state: {
      status: 'live',
      step: 2,
      steps: 3,
      plan: [fleet.slice(0, 1), fleet.slice(0, 4), fleet],
      since: now,
      warnings: [],
      outcome: 'live',
    },
    status: 'live',
    outcome: 'live',
    createdAt: now - (1000 - i) * 60_000,
    updatedAt: now,
    finishedAt: now - (1000 - i) * 60_000 + 30_000,
  };
  await store.line.saveDeploy(d, { deployId: d.id, time: d.createdAt, type: 'start', status: 'testing' });
  for (let k = 0; k < 5; k++)
    await store.line.appendGateLook({
      deployId: d.id,
      step: 0,
      time: d.createdAt + k,
      elapsedMs: k * 2000,
      decision: 'continue',
      explanation: 'ok',
      metrics: [],
    });
}
const line: LineControl = {
  status: async () => summarizeLine(await store.line.getLine('bench'), await store.line.getDeploy('d999'), [], { now: Date.now() }),
  deploy: async (sha) => ({ queued: sha }),
  block: async () => {},
  unblock: async () => {},
  pause: async () => {},
  resume: async () => {},
  abort: async () => {},
  promote: async () => {},
  override: async () => {},
  drop: async (sha) => ({ dropped: sha, note: 'dropped' }),
  retry: async (deploy) => ({ queued: [], deploy }),
  rollbackTo: async (to) => ({ release: to, sha: to, servers: 0 }),
  releases: async () => ({ servers: [] }),
};
const app = await buildServer(
  {
    store,
    log: pino({ level: 'silent' }),
    events,
    auth: createAuth({ tokens: [], openRead: true }),
    line,
    pipelineName: 'bench',
    experiments: new ExperimentRegistry({ dir, store, events, log: pino({ level: 'silent' }), clock: systemClock }),
    clientTokens: [],
    publicUrl: '',
  },
  { logger: false },
);
const base = await app.listen({ host: '127.0.0.1', port: 0 });

for (const path of ['/api/line', '/api/deploys?limit=50', '/api/deploys/d500', '/api/dora?days=30', '/metrics']) {
  const r = await autocannon({ url: `${base}${path}`, connections: 10, duration: 5 });
  console.log(
    `${path.padEnd(24)} ${Math.round(r.requests.average).toString().padStart(6)} req/s  p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  errors ${r.errors + r.non2xx}`,
  );
}

// SSE: 200 clients, 100 events; time until every client has every event.
const clients = 200;
const perClient: number[] = new Array(clients).fill(0);
const reqs = await Promise.all(
  Array.from(
    { length: clients },
    (_, i) =>
      new Promise<ReturnType<typeof request>>((resolve) => {
        const req = request(`${base}/api/stream`, (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => (perClient[i]! += (c.match(/^data: /gm) ?? []).length));
          resolve(req);
        });
        req.end();
      }),
  ),
);
const t0 = performance.now();
for (let k = 0; k < 100; k++)
  events.emit({ type: 'deploy', pipeline: 'bench', deploy: 'd1', status: 'baking', step: 1, message: `look ${k}` });
while (perClient.some((n) => n < 100) && performance.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
console.log(
  `SSE: 100 events to ${clients} clients delivered in ${Math.round(performance.now() - t0)} ms (${perClient.filter((n) => n === 100).length}/${clients} complete)`,
);
for (const r of reqs) r.destroy();

await app.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
