// The experiment routes and the Unleash client API over real HTTP on loopback: tokens, ETag/304,
// phases on re-weighting, closing (audited, served at once, kept across a restart), bad input.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CLIENT_TOKEN, ENGINEER_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

/** Parsed JSON bodies, navigated freely in assertions. */
type Json = ReturnType<typeof JSON.parse>;

const EXPERIMENT =
  'name: EnhancedCheckout\ninitial_rollout: 100%\nbranches:\n  Enhanced: 50%\ngoals: [checkout]\nguardrails: [error_rate]\n';

async function call(
  server: TestServer,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = opts.token;
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.url + path, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

describe('experiments API and Unleash client API', function () {
  this.timeout(20_000);
  let dir: string;
  let server: TestServer;

  beforeEach(async () => {
    dir = tempDir();
    writeFiles(dir, {
      'enhanced-checkout.yaml': EXPERIMENT,
      'flags.yaml': 'flags:\n  - name: new-search\n    rollout: 25%\n  - name: payments\n    enabled: false\n',
    });
    server = await startServer(dir, { dbFile: join(dir, 'state', 'immune.db') });
  });
  afterEach(async () => {
    await server.close();
    removeDir(dir);
  });

  it('answers 401 on every client call without a valid token', async () => {
    for (const [method, path] of [
      ['GET', '/api/client/features'],
      ['POST', '/api/client/register'],
      ['POST', '/api/client/metrics'],
      ['POST', '/api/events'],
    ] as const) {
      const body = method === 'POST' ? {} : undefined;
      const none = await call(server, method, path, { body });
      assert.equal(none.status, 401, `${method} ${path}`);
      assert.equal(none.body.error.code, 'IMMUNE_UNAUTHORIZED');
      assert.equal((await call(server, method, path, { token: 'wrong', body })).status, 401);
    }
    assert.equal((await call(server, 'GET', '/api/client/features', { token: `Bearer ${CLIENT_TOKEN}` })).status, 200);
  });

  it('serves experiments and flags with an ETag, and 304 on If-None-Match', async () => {
    const first = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN });
    assert.equal(first.status, 200);
    const etag = first.headers.get('etag')!;
    assert.match(etag, /^".+"$/);
    assert.deepEqual(
      first.body.features.map((f: { name: string }) => f.name),
      ['EnhancedCheckout', 'new-search', 'payments'],
    );
    const exp = first.body.features[0];
    assert.deepEqual(exp.strategies[0].parameters, { rollout: '100', stickiness: 'default', groupId: 'EnhancedCheckout.phase1' });
    const again = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN, headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('etag'), etag);
    const prefixed = await call(server, 'GET', '/api/client/features?namePrefix=new-', { token: CLIENT_TOKEN });
    assert.deepEqual(
      prefixed.body.features.map((f: { name: string }) => f.name),
      ['new-search'],
    );
    assert.notEqual(prefixed.headers.get('etag'), etag);
    assert.equal(
      (
        await call(server, 'GET', '/api/client/features?namePrefix=new-', {
          token: CLIENT_TOKEN,
          headers: { 'if-none-match': prefixed.headers.get('etag')! },
        })
      ).status,
      304,
    );
    const reg = await call(server, 'POST', '/api/client/register', {
      token: CLIENT_TOKEN,
      body: { appName: 'shop', instanceId: 'i1', sdkVersion: 'x', strategies: [] },
    });
    assert.equal(reg.status, 202);
    const met = await call(server, 'POST', '/api/client/metrics', {
      token: CLIENT_TOKEN,
      body: {
        appName: 'shop',
        instanceId: 'i1',
        bucket: { start: 'a', stop: 'b', toggles: { payments: { yes: 2, no: 3, variants: {} } } },
      },
    });
    assert.equal(met.status, 202);
    const list = await call(server, 'GET', '/api/experiments');
    assert.deepEqual(list.body.usage.payments, { yes: 2, no: 3, variants: {} });
    assert.equal(list.body.clients[0].appName, 'shop');
    const bad = await call(server, 'POST', '/api/client/register', { token: CLIENT_TOKEN, body: { instanceId: 'i1' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /appName/);
  });

  it('starts a new phase with a new groupId when the weights change, recorded and announced', async () => {
    const before = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN });
    writeFiles(dir, { 'enhanced-checkout.yaml': EXPERIMENT.replace('Enhanced: 50%', 'Enhanced: 20%') });
    await server.ctx.experiments.refresh(true);
    const after = await call(server, 'GET', '/api/client/features', {
      token: CLIENT_TOKEN,
      headers: { 'if-none-match': before.headers.get('etag')! },
    });
    assert.equal(after.status, 200, 'ETag changed');
    const s = after.body.features[0].strategies[0];
    assert.equal(s.parameters.groupId, 'EnhancedCheckout.phase2');
    assert.deepEqual(
      s.variants.map((v: { name: string; weight: number }) => [v.name, v.weight]),
      [
        ['control', 800],
        ['Enhanced', 200],
      ],
    );
    const phases = await server.ctx.store.experiments.phases('EnhancedCheckout');
    assert.equal(phases.length, 2);
    assert.ok(phases[0]!.endedAt !== undefined);
    const audit = await server.ctx.store.audit.list({ target: 'EnhancedCheckout' });
    assert.ok(audit.some((a) => a.action === 'experiment.phase' && /re-randomised/.test(a.reason)));
    assert.ok(server.events.some((e) => e.type === 'experiment' && e.action === 'phase'));
    const list = await call(server, 'GET', '/api/experiments');
    assert.equal(list.body.experiments[0].phase, 2);
  });

  it('picks up changed files by itself within a few seconds', async () => {
    writeFiles(dir, { 'other.yaml': EXPERIMENT.replace('EnhancedCheckout', 'Other') });
    const deadline = Date.now() + 5000;
    let names: string[] = [];
    while (Date.now() < deadline && !names.includes('Other')) {
      names = (await call(server, 'GET', '/api/experiments')).body.experiments.map((e: { name: string }) => e.name);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(names.includes('Other'), names.join());
  });

  it('reports a bad file with file:line:col, keeps serving its last good version and the others', async () => {
    writeFiles(dir, { 'enhanced-checkout.yaml': EXPERIMENT.replace('Enhanced: 50%', 'Enhanced: 150%'), 'broken.yaml': 'name: [\n' });
    await server.ctx.experiments.refresh(true);
    const list = await call(server, 'GET', '/api/experiments');
    assert.equal(list.status, 200);
    assert.equal(list.body.errors.length, 2);
    assert.ok(
      list.body.errors.some((e: string) =>
        e.startsWith(`${join(dir, 'enhanced-checkout.yaml')}:4:13 branches.Enhanced: "150%" is not a share`),
      ),
      list.body.errors.join('\n'),
    );
    // The unclosed sequence is reported where the parser noticed it (the end of the file).
    assert.ok(
      list.body.errors.some(
        (e: string) => /^:[12]:/.test(e.slice(join(dir, 'broken.yaml').length)) && e.startsWith(join(dir, 'broken.yaml')),
      ),
    );
    const f = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN });
    assert.equal(f.body.features.find((x: { name: string }) => x.name === 'EnhancedCheckout').strategies[0].variants[1].weight, 500);
  });

  it('closes an experiment: guarded, audited, announced, served at once and kept after a restart', async () => {
    const etag = (await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN })).headers.get('etag')!;
    const body = { branch: 'Enhanced', reason: 'checkout +12%, errors flat' };
    assert.equal((await call(server, 'POST', '/api/experiments/EnhancedCheckout/close', { body })).status, 401);
    const noField = await call(server, 'POST', '/api/experiments/EnhancedCheckout/close', {
      token: `Bearer ${ENGINEER_TOKEN}`,
      body: { branch: 'Enhanced' },
    });
    assert.equal(noField.status, 400);
    assert.equal(noField.body.error.code, 'IMMUNE_INPUT_INVALID');
    assert.match(noField.body.error.message, /^body\.reason: /);
    const badBranch = await call(server, 'POST', '/api/experiments/EnhancedCheckout/close', {
      token: `Bearer ${ENGINEER_TOKEN}`,
      body: { branch: 'Nope', reason: 'x' },
    });
    assert.equal(badBranch.status, 400);
    assert.match(badBranch.body.error.message, /^branch: "Nope" is not a branch of EnhancedCheckout \(control, Enhanced\)/);
    assert.equal((await call(server, 'POST', '/api/experiments/Nope/close', { token: `Bearer ${ENGINEER_TOKEN}`, body })).status, 404);

    const ok = await call(server, 'POST', '/api/experiments/EnhancedCheckout/close', { token: `Bearer ${ENGINEER_TOKEN}`, body });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.state, 'closed');
    const served = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN, headers: { 'if-none-match': etag } });
    assert.equal(served.status, 200, 'the ETag changed at once');
    assert.deepEqual(
      served.body.features[0].strategies[0].variants.map((v: { name: string }) => v.name),
      ['Enhanced'],
    );
    const audit = await server.ctx.store.audit.list({ target: 'EnhancedCheckout' });
    const entry = audit.find((a) => a.action === 'experiment.close')!;
    assert.equal(entry.actor, 'token:alice');
    assert.equal(entry.reason, body.reason);
    assert.ok(server.events.some((e) => e.type === 'experiment' && e.name === 'EnhancedCheckout' && e.action === 'close'));
    assert.equal(
      (await call(server, 'POST', '/api/experiments/EnhancedCheckout/close', { token: `Bearer ${ENGINEER_TOKEN}`, body })).status,
      409,
    );

    await server.close();
    server = await startServer(dir, { dbFile: join(dir, 'state', 'immune.db') });
    const restarted = await call(server, 'GET', '/api/client/features', { token: CLIENT_TOKEN });
    assert.deepEqual(
      restarted.body.features[0].strategies[0].variants.map((v: { name: string }) => v.name),
      ['Enhanced'],
    );
    assert.equal(restarted.body.features[0].strategies[0].parameters.groupId, 'EnhancedCheckout.phase1');
    const results = await call(server, 'GET', '/api/experiments/EnhancedCheckout/results');
    assert.equal(results.body.state, 'closed');
    assert.equal(results.body.closing.branch, 'Enhanced');
  });

  it('rejects bad event bodies naming the field, and bad JSON, in the API error shape', async () => {
    const missing = await call(server, 'POST', '/api/events', {
      token: CLIENT_TOKEN,
      body: { events: [{ type: 'conversion', goal: 'checkout' }] },
    });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.code, 'IMMUNE_INPUT_INVALID');
    assert.match(missing.body.error.message, /events\.0\.userId/);
    const extra = await call(server, 'POST', '/api/events', {
      token: CLIENT_TOKEN,
      body: { events: [{ type: 'conversion', userId: 'u', goal: 'g', valeu: 3 }] },
    });
    assert.equal(extra.status, 400);
    assert.match(extra.body.error.message, /valeu/);
    const kind = await call(server, 'POST', '/api/events', { token: CLIENT_TOKEN, body: { events: [{ type: 'click', userId: 'u' }] } });
    assert.equal(kind.status, 400);
    assert.match(kind.body.error.message, /events\.0\.type/);
    const json = await call(server, 'POST', '/api/events', { token: CLIENT_TOKEN, raw: '{"events": [' });
    assert.equal(json.status, 400);
    assert.equal(json.body.error.code, 'IMMUNE_INPUT_INVALID');
    const notFound = await call(server, 'GET', '/api/experiments/Nope/results');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.body.error.code, 'IMMUNE_NOT_FOUND');
  });

  it('stores exposures once per user and phase, ignores stale or unknown ones, and excludes users seen in two branches', async () => {
    const g = 'EnhancedCheckout.phase1';
    const exp = (userId: string, branch: string, groupId = g) => ({
      type: 'exposure',
      experiment: 'EnhancedCheckout',
      groupId,
      branch,
      userId,
      time: 1000,
    });
    const conv = (userId: string, goal: string, time: number, id?: string) => ({
      type: 'conversion',
      userId,
      goal,
      time,
      ...(id ? { id } : {}),
    });
    const events = [
      exp('a', 'control'),
      exp('a', 'control'),
      exp('b', 'Enhanced'),
      exp('c', 'control'),
      exp('c', 'Enhanced'),
      exp('d', 'Enhanced', 'EnhancedCheckout.phase9'),
      exp('e', 'Nope'),
    ];
    const r = await call(server, 'POST', '/api/events', {
      token: CLIENT_TOKEN,
      body: {
        events: [
          ...events,
          conv('a', 'checkout', 2000, 'x1'),
          conv('a', 'checkout', 2000, 'x1'),
          conv('b', 'checkout', 500),
          conv('c', 'checkout', 2000),
        ],
      },
    });
    assert.equal(r.status, 202);
    assert.deepEqual(r.body, {
      exposures: 4,
      conversions: 3,
      duplicates: 2,
      ignored: [
        { index: 5, reason: 'unknown groupId "EnhancedCheckout.phase9"' },
        { index: 6, reason: 'no branch "Nope"' },
      ],
    });
    const results = await call(server, 'GET', '/api/experiments/EnhancedCheckout/results');
    assert.equal(results.status, 200);
    assert.equal(results.body.excluded, 1, 'c saw both branches');
    const [control, enhanced] = results.body.branches;
    assert.equal(control.participants, 1);
    assert.equal(enhanced.participants, 1);
    assert.equal(control.metrics[0].converted, 1, "a's checkout after exposure counts once");
    assert.equal(enhanced.metrics[0].converted, 0, "b's checkout before exposure does not count");
    assert.equal(results.body.decision, 'no statistical significance');
  });
});
