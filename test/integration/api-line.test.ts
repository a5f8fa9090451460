// The line's REST API, SSE and /metrics through fastify's inject (and one real socket for SSE),
// with a fake LineControl, the real SQLite store and the real token auth.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { systemClock } from '../../src/adapters/clock/system.js';
import { EventBus } from '../../src/engine/events.js';
import { ExperimentRegistry } from '../../src/engine/experiments.js';
import type { LineStatus } from '../../src/engine/summary.js';
import { ConflictError } from '../../src/core/errors.js';
import type { Store } from '../../src/ports.js';
import { buildServer } from '../../src/server/app.js';
import { createAuth } from '../../src/server/auth.js';
import type { LineControl, ServerContext } from '../../src/server/context.js';
import { commit, deploy, deployState } from '../unit/adapters/store/sqlite/fixtures.js';

const TOKENS = { viewer: 'viewer-token-1', engineer: 'engineer-token-1', captain: 'captain-token-1' };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

class FakeLine implements LineControl {
  calls: { action: string; arg: string; actor: string }[] = [];
  failNext?: Error;
  status_: LineStatus = { pipeline: 'local', blocked: false, paused: false, live: null, inFlight: null, queue: [] };
  async status() {
    return this.status_;
  }
  private record(action: string, arg: string, actor: string) {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    this.calls.push({ action, arg, actor });
  }
  async deploy(sha: string, actor: string) {
    this.record('deploy', sha, actor);
    return { queued: sha };
  }
  async block(r: string, a: string) {
    this.record('block', r, a);
  }
  async unblock(r: string, a: string) {
    this.record('unblock', r, a);
  }
  async pause(r: string, a: string) {
    this.record('pause', r, a);
  }
  async resume(r: string, a: string) {
    this.record('resume', r, a);
  }
  async abort(r: string, a: string) {
    this.record('abort', r, a);
  }
  async promote(r: string, a: string) {
    this.record('promote', r, a);
  }
  async override(r: string, a: string) {
    this.record('override', r, a);
  }
  async drop(sha: string, r: string, a: string) {
    this.record('drop', `${sha}:${r}`, a);
    return { dropped: sha, note: 'dropped' };
  }
  async retry(id: string, r: string, a: string) {
    this.record('retry', `${id}:${r}`, a);
    return { queued: ['aaaa'], deploy: id };
  }
  async rollbackTo(to: string, r: string, a: string) {
    this.record('rollback', `${to}:${r}`, a);
    return { release: to, sha: 'aaaa', servers: 3 };
  }
  async releases() {
    return {
      servers: [
        {
          server: 's1',
          current: 'r2',
          releases: [
            { id: 'r2', current: true, live: true },
            { id: 'r1', current: false, live: false },
          ],
        },
      ],
    };
  }
}

function context(store: Store, events: EventBus, line: LineControl | undefined, dir: string): ServerContext {
  return {
    store,
    log: pino({ level: 'silent' }),
    events,
    auth: createAuth({
      tokens: Object.entries(TOKENS).map(([role, token]) => ({ name: role, role: role as 'viewer', token })),
      openRead: true,
    }),
    line,
    pipelineName: line ? 'local' : undefined,
    experiments: new ExperimentRegistry({ dir, store, events, log: pino({ level: 'silent' }), clock: systemClock }),
    clientTokens: [],
    publicUrl: 'http://127.0.0.1:7070',
  };
}

describe('REST API of the line', function () {
  this.timeout(15_000);
  let dir: string;
  let store: Store;
  let events: EventBus;
  let line: FakeLine;
  let app: FastifyInstance;
  const now = Date.now();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-api-'));
    store = openSqliteStore(join(dir, 'state.db'));
    events = new EventBus();
    line = new FakeLine();
    app = await buildServer(context(store, events, line, dir), { logger: false, heartbeatMs: 50 });
    await app.ready();
    // Three deploys: an old live one, a reverted one with events, gate looks and a test report, and one baking.
    await store.line.createDeploy(
      deploy('d1', now - 3_600_000, {
        status: 'live',
        outcome: 'live',
        finishedAt: now - 3_000_000,
        state: deployState({ status: 'live', step: 2, outcome: 'live' }),
      }),
    );
    const bad = deploy('d2', now - 600_000, {
      status: 'failed',
      outcome: 'reverted',
      finishedAt: now - 500_000,
      revertSha: 'rev123',
      reason: 'checkout_error_rate +412%',
      testReport: {
        sha: 'sha-d2',
        ok: true,
        total: 3,
        passed: 3,
        failed: [],
        flaky: [],
        durationMs: 900,
        shards: [{ id: 0, worker: 'local', tests: 3, durationMs: 900, ok: true }],
        summary: '3 passed',
      },
      state: deployState({ status: 'failed', step: 0, outcome: 'reverted' }),
    });
    await store.line.createDeploy(bad);
    await store.line.saveDeploy(bad, { deployId: 'd2', time: now - 560_000, type: 'gate', status: 'rolling_back', data: { step: 0 } });
    await store.line.saveDeploy(bad, { deployId: 'd2', time: now - 550_000, type: 'rolled_back', status: 'reverting' });
    await store.line.appendGateLook({
      deployId: 'd2',
      step: 0,
      time: now - 560_000,
      elapsedMs: 10_000,
      decision: 'fail',
      explanation: 'checkout_error_rate +412%',
      metrics: [
        {
          name: 'checkout_error_rate',
          verdict: 'fail',
          pValue: 0.0003,
          effect: 4.12,
          ci: [2.5, Number.MAX_VALUE],
          samples: { baseline: 40, canary: 4 },
          kind: 'ratio',
          bad: 'increase',
          tolerance: 0.1,
          baselineEstimate: 0.001,
          canaryEstimate: 0.00512,
          explanation: 'checkout_error_rate +412%',
        },
      ],
    });
    await store.line.createDeploy(
      deploy('d3', now - 60_000, { status: 'baking', state: deployState({ status: 'baking', step: 1, since: now - 30_000 }) }),
    );
  });
  after(async () => {
    await app?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GET /api/line answers the line status', async () => {
    line.status_ = { ...line.status_, blocked: true, blockReason: 'bad', queue: [commit('q1', 5)] };
    const r = await app.inject({ method: 'GET', url: '/api/line' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), line.status_);
  });

  it('GET /api/deploys lists summaries newest first, with a limit', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/deploys' });
    assert.equal(r.statusCode, 200);
    const body = r.json() as {
      deploys: { id: string; step?: number; serversOnNew?: number; bakeElapsedMs?: number; revertSha?: string }[];
    };
    assert.deepEqual(
      body.deploys.map((d) => d.id),
      ['d3', 'd2', 'd1'],
    );
    assert.equal(body.deploys[0]!.step, 1);
    assert.equal(body.deploys[0]!.serversOnNew, 4);
    assert.ok(body.deploys[0]!.bakeElapsedMs! >= 30_000);
    assert.equal(body.deploys[1]!.revertSha, 'rev123');
    const two = await app.inject({ method: 'GET', url: '/api/deploys?limit=1' });
    assert.deepEqual(
      (two.json() as { deploys: { id: string }[] }).deploys.map((d) => d.id),
      ['d3'],
    );
    const older = await app.inject({ method: 'GET', url: `/api/deploys?limit=1&before=${now - 60_000}` });
    assert.deepEqual(
      (older.json() as { deploys: { id: string }[] }).deploys.map((d) => d.id),
      ['d2'],
    );
  });

  it('GET /api/deploys/:id answers the deploy, its events, gate looks and tests; 404 for an unknown id', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/deploys/d2' });
    assert.equal(r.statusCode, 200);
    const body = r.json();
    assert.equal(body.deploy.id, 'd2');
    assert.equal(body.deploy.reason, 'checkout_error_rate +412%');
    assert.deepEqual(
      body.events.map((e: { type: string }) => e.type),
      ['gate', 'rolled_back'],
    );
    assert.equal(body.events[0].deployId, undefined);
    assert.deepEqual(
      body.gates.map((g: { decision: string }) => g.decision),
      ['fail'],
    );
    // The summary table: per step its last look, per metric and step the evidence in words.
    assert.deepEqual(
      body.summary.steps.map((st: { name: string; decision: string }) => [st.name, st.decision]),
      [['step 1 of 3 (1 of 8 servers)', 'fail']],
    );
    assert.deepEqual(
      body.summary.rows.map((r: Record<string, unknown>) => [r.metric, r.label, r.estimate, r.interval, r.samples]),
      [['checkout_error_rate', 'fail', '+412% (0.1% → 0.51%, +0.41 pp)', 'at least +250%', '4 canary, 40 baseline']],
    );
    assert.equal(body.tests.summary, '3 passed');
    assert.equal('tests' in (await app.inject({ method: 'GET', url: '/api/deploys/d1' })).json(), false);
    const missing = await app.inject({ method: 'GET', url: '/api/deploys/nope' });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json().error.code, 'IMMUNE_NOT_FOUND');
    assert.match(missing.json().error.message, /no deploy nope/);
  });

  it('bad query strings get 400 naming the field', async () => {
    for (const [url, field] of [
      ['/api/deploys?limit=0', 'query.limit'],
      ['/api/deploys?limit=abc', 'query.limit'],
      ['/api/deploys?limit=5000', 'query.limit'],
      ['/api/deploys?lmit=5', 'lmit'],
      ['/api/deploys?before=yesterday', 'query.before'],
      ['/api/audit?limit=-1', 'query.limit'],
      ['/api/dora?days=0', 'query.days'],
      ['/api/dora?days=x', 'query.days'],
    ]) {
      const r = await app.inject({ method: 'GET', url: url! });
      assert.equal(r.statusCode, 400, url);
      const e = r.json().error;
      assert.equal(e.code, 'IMMUNE_INPUT_INVALID');
      assert.ok(e.message.includes(field!), `${url}: ${e.message}`);
      assert.equal(e.stack, undefined);
    }
  });

  it('every control needs a captain and a reason, calls the line with the actor, and says ok', async () => {
    for (const action of ['pause', 'resume', 'abort', 'promote', 'block', 'unblock']) {
      const url = `/api/line/${action}`;
      const anon = await app.inject({ method: 'POST', url, payload: { reason: 'r' } });
      assert.equal(anon.statusCode, 401, action);
      assert.equal(anon.json().error.code, 'IMMUNE_UNAUTHORIZED');
      const eng = await app.inject({ method: 'POST', url, headers: bearer(TOKENS.engineer), payload: { reason: 'r' } });
      assert.equal(eng.statusCode, 403, action);
      assert.equal(eng.json().error.code, 'IMMUNE_FORBIDDEN');
      const ok = await app.inject({ method: 'POST', url, headers: bearer(TOKENS.captain), payload: { reason: `  why ${action} ` } });
      assert.equal(ok.statusCode, 200, action);
      assert.deepEqual(ok.json(), { ok: true });
      assert.deepEqual(line.calls.at(-1), { action, arg: `why ${action}`, actor: 'token:captain' });
    }
    const unknown = await app.inject({ method: 'POST', url: '/api/line/block', headers: bearer('not-a-token'), payload: { reason: 'r' } });
    assert.equal(unknown.statusCode, 401);
  });

  it('a control without a reason, with an empty one, bad JSON or extra keys gets 400 naming the field', async () => {
    const cases: { payload?: string; type?: string; match: RegExp }[] = [
      { payload: '{}', match: /body\.reason: required/ },
      { payload: '{"reason": "   "}', match: /body\.reason: must not be empty/ },
      { payload: '{"reason": 5}', match: /body\.reason/ },
      { payload: '{"reason": "x", "extra": 1}', match: /extra/ },
      { payload: '{"reason": ', match: /not valid JSON/ },
      { payload: '[1]', match: /body/ },
      { match: /body\.reason: required/ },
    ];
    const before = line.calls.length;
    for (const c of cases) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/line/block',
        headers: { ...bearer(TOKENS.captain), ...(c.payload === undefined ? {} : { 'content-type': c.type ?? 'application/json' }) },
        ...(c.payload === undefined ? {} : { payload: c.payload }),
      });
      assert.equal(r.statusCode, 400, c.payload);
      assert.equal(r.json().error.code, 'IMMUNE_INPUT_INVALID');
      assert.match(r.json().error.message, c.match, c.payload);
    }
    assert.equal(line.calls.length, before);
  });

  it("the line's own errors keep their status and code", async () => {
    line.failNext = new ConflictError('nothing in flight to abort');
    const r = await app.inject({ method: 'POST', url: '/api/line/abort', headers: bearer(TOKENS.captain), payload: { reason: 'r' } });
    assert.equal(r.statusCode, 409);
    assert.deepEqual(r.json(), { error: { code: 'IMMUNE_CONFLICT', message: 'nothing in flight to abort', details: {} } });
  });

  it('an unexpected error is a 500 without a stack', async () => {
    line.failNext = new TypeError('cannot read properties of undefined (secret internals)');
    const r = await app.inject({ method: 'POST', url: '/api/line/pause', headers: bearer(TOKENS.captain), payload: { reason: 'r' } });
    assert.equal(r.statusCode, 500);
    assert.equal(r.json().error.code, 'IMMUNE_INTERNAL');
    assert.doesNotMatch(r.body, /secret internals|at .*\.ts/);
  });

  it('POST /api/deploys needs an engineer and a sha', async () => {
    assert.equal((await app.inject({ method: 'POST', url: '/api/deploys', payload: { sha: 'abcdef1' } })).statusCode, 401);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/api/deploys', headers: bearer(TOKENS.viewer), payload: { sha: 'abcdef1' } })).statusCode,
      403,
    );
    const bad = await app.inject({
      method: 'POST',
      url: '/api/deploys',
      headers: bearer(TOKENS.engineer),
      payload: { sha: 'main; rm -rf /' },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /body\.sha: must be a commit sha/);
    const ok = await app.inject({ method: 'POST', url: '/api/deploys', headers: bearer(TOKENS.engineer), payload: { sha: 'ABCDEF1' } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { ok: true, queued: 'abcdef1' });
    assert.deepEqual(line.calls.at(-1), { action: 'deploy', arg: 'abcdef1', actor: 'token:engineer' });
  });

  it('GET /api/audit lists entries newest first, by target and limit', async () => {
    await store.audit.append({ time: 1, actor: 'token:captain', action: 'block', target: 'local', reason: 'first' });
    await store.audit.append({ time: 2, actor: 'token:captain', action: 'unblock', target: 'local', reason: 'second' });
    await store.audit.append({ time: 3, actor: 'token:x', action: 'close', target: 'experiment:a', reason: 'third' });
    const r = await app.inject({ method: 'GET', url: '/api/audit?limit=2' });
    assert.deepEqual(
      (r.json().entries as { reason: string }[]).map((e) => e.reason),
      ['third', 'second'],
    );
    const t = await app.inject({ method: 'GET', url: '/api/audit?target=local' });
    assert.deepEqual(
      (t.json().entries as { reason: string }[]).map((e) => e.reason),
      ['second', 'first'],
    );
  });

  it('GET /api/dora answers the figures over the period', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/dora?days=7' });
    assert.equal(r.statusCode, 200);
    const d = r.json();
    assert.equal(d.days, 7);
    assert.equal(d.deploys, 2);
    assert.equal(d.live, 1);
    assert.equal(d.changeFailureRate, 0.5);
    assert.equal(d.timeToRestoreMs, 10_000);
    assert.equal(d.leadTimeMs, now - 3_000_000 - (now - 3_600_000 - 60_000));
    assert.equal((await app.inject({ method: 'GET', url: '/api/dora' })).json().days, 30);
  });

  it('unknown routes get a JSON 404', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/nothing?x=1' });
    assert.equal(r.statusCode, 404);
    assert.deepEqual(r.json(), {
      error: { code: 'IMMUNE_NOT_FOUND', message: 'no route GET /api/nothing', details: { method: 'GET', path: '/api/nothing' } },
    });
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/line' })).statusCode, 404);
  });

  it('mounts the other plugins: Unleash client API, experiments, webhooks, dashboard', async () => {
    const features = await app.inject({ method: 'GET', url: '/api/client/features' });
    assert.equal(features.statusCode, 401);
    assert.ok(features.json().error.message);
    assert.equal((await app.inject({ method: 'GET', url: '/api/experiments' })).statusCode, 200);
    const hook = await app.inject({
      method: 'POST',
      url: '/webhooks/github',
      headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
      payload: '{}',
    });
    assert.equal(hook.statusCode, 401);
    assert.equal(hook.json().error.code, 'IMMUNE_UNAUTHORIZED');
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
  });

  it('GET /metrics shows the orchestrator metrics fed from events', async () => {
    await store.line.saveLine({ pipeline: 'local', blocked: true, paused: false, queue: ['a', 'b', 'c'], version: 1 });
    events.emit({ type: 'gate', pipeline: 'local', deploy: 'd3', step: 0, elapsedMs: 1, decision: 'continue', explanation: '' });
    events.emit({ type: 'gate', pipeline: 'local', deploy: 'd3', step: 0, elapsedMs: 2, decision: 'fail', explanation: '' });
    events.emit({ type: 'deploy', pipeline: 'local', deploy: 'd2', status: 'baking', step: 0, message: '' });
    events.emit({ type: 'deploy', pipeline: 'local', deploy: 'd2', status: 'rolling_back', step: 0, message: '' });
    events.emit({ type: 'deploy', pipeline: 'local', deploy: 'd2', status: 'failed', step: 0, message: '' });
    events.emit({ type: 'deploy', pipeline: 'local', deploy: 'd2', status: 'failed', step: 0, message: '' }); // counted once
    await new Promise((r) => setTimeout(r, 20)); // the outcome lookup is async
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(r.headers['content-type'] as string, /text\/plain/);
    const text = r.body;
    assert.match(text, /^immune_deploys_total\{outcome="reverted"\} 1$/m);
    assert.match(text, /^immune_deploys_total\{outcome="live"\} 0$/m);
    assert.match(text, /^immune_gate_verdicts_total\{decision="fail"\} 1$/m);
    assert.match(text, /^immune_gate_verdicts_total\{decision="continue"\} 1$/m);
    assert.match(text, /^immune_line_blocked 1$/m);
    assert.match(text, /^immune_queue_length 3$/m);
    assert.match(text, /^immune_step_duration_seconds_count\{status="baking"\} 1$/m);
    assert.match(text, /^immune_step_duration_seconds_count\{status="rolling_back"\} 1$/m);
  });

  it('GET /api/stream delivers events as SSE and stops listening when the client goes', async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const url = new URL('/api/stream', address);
    const got = await new Promise<{ type: string; status: string; heartbeat: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no event within 5 s')), 5000);
      const req = request(url, (res) => {
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /text\/event-stream/);
        let buf = '';
        let heartbeat = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          if (buf.includes(': connected') && !buf.includes('data:')) {
            events.emit({ type: 'deploy', pipeline: 'local', deploy: 'd9', status: 'testing', message: 'tests running' });
          }
          if (buf.includes(': heartbeat')) heartbeat = true;
          const m = /^data: (.*)$/m.exec(buf);
          if (m && heartbeat) {
            clearTimeout(timer);
            req.destroy();
            resolve({ ...JSON.parse(m[1]!), heartbeat });
          }
        });
      });
      req.on('error', (e) => (e.message.includes('aborted') || (e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    });
    assert.equal(got.type, 'deploy');
    assert.equal(got.status, 'testing');
    assert.equal(got.heartbeat, true);
    // The server lets go of the listener once the client disconnects.
    const listeners = () => (events as unknown as { emitter: { listenerCount(n: string): number } }).emitter.listenerCount('event');
    const deadline = Date.now() + 2000;
    while (listeners() > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(listeners(), 1); // only /metrics' listener is left
  });
});

describe('REST API without a pipeline', () => {
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-api-'));
    store = openSqliteStore(':memory:');
    app = await buildServer(context(store, new EventBus(), undefined, dir), { logger: false });
  });
  after(async () => {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 503 with a clear message for the line routes', async () => {
    for (const [method, url] of [
      ['GET', '/api/line'],
      ['GET', '/api/deploys'],
      ['GET', '/api/dora'],
    ] as const) {
      const r = await app.inject({ method, url });
      assert.equal(r.statusCode, 503, url);
      assert.equal(r.json().error.code, 'IMMUNE_UNAVAILABLE');
      assert.match(r.json().error.message, /without a pipeline.*--pipeline/);
    }
    const r = await app.inject({ method: 'POST', url: '/api/line/block', headers: bearer(TOKENS.captain), payload: { reason: 'r' } });
    assert.equal(r.statusCode, 503);
  });
});

describe('GET /api/dora over a long history', () => {
  let store: Store;
  let app: FastifyInstance;
  const now = Date.now();
  before(async () => {
    store = openSqliteStore(':memory:');
    // 1,200 live deploys, one an hour: 50 days, more than two pages of the store's listing.
    for (let i = 0; i < 1200; i++) {
      const created = now - (i + 1) * 3_600_000;
      await store.line.createDeploy(
        deploy(`h${i}`, created, {
          status: 'live',
          outcome: 'live',
          finishedAt: created + 600_000,
          state: deployState({ status: 'live', step: 2, outcome: 'live' }),
        }),
      );
    }
    app = await buildServer(context(store, new EventBus(), new FakeLine(), '/nonexistent'), { logger: false });
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  it('counts every deploy finished in the period, across pages', async () => {
    const d30 = (await app.inject({ method: 'GET', url: '/api/dora?days=30' })).json();
    // Finished at now - (i+1)h + 10min, inside 30 days for i + 1 <= 720.
    assert.equal(d30.live, 720);
    assert.equal(d30.deployFrequencyPerDay, 24);
    assert.equal(d30.leadTimeMs, 660_000);
    assert.equal((await app.inject({ method: 'GET', url: '/api/dora?days=1' })).json().live, 24);
    assert.equal((await app.inject({ method: 'GET', url: '/api/dora?days=100' })).json().live, 1200);
  });
});

describe('SSE and shutdown', () => {
  it('closing the server ends open streams instead of waiting for them', async () => {
    const store = openSqliteStore(':memory:');
    const app = await buildServer(context(store, new EventBus(), new FakeLine(), '/nonexistent'), { logger: false });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    let ended!: Promise<void>;
    await new Promise<void>((resolve, reject) => {
      const req = request(new URL('/api/stream', address), (res) => {
        ended = new Promise((done) => res.on('end', done));
        res.once('data', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      app.close().then(() => 'closed'),
      new Promise((r) => (timer = setTimeout(() => r('still open after 5 s'), 5000))),
    ]);
    clearTimeout(timer);
    assert.equal(closed, 'closed');
    await ended;
    await store.close();
  });
});
