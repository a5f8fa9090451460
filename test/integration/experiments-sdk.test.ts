// The application-side SDK against a real server on loopback: weights hold over 100,000 users,
// assignment is sticky across SDK instances and server restarts, the readout converges on a
// simulated effect, SRM is caught, and events survive a brief outage within a bounded buffer.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createExperimentsClient, type ExperimentsClient, type SdkLogger } from '../../src/sdk/index.js';
import { createRandom } from '../../src/sim/random.js';
import { CLIENT_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const quiet: SdkLogger & { warnings: string[] } = {
  warnings: [],
  warn: (_o, m) => quiet.warnings.push(m),
  error: (_o, m) => quiet.warnings.push(m),
};

function sdk(url: string, extra: Partial<Parameters<typeof createExperimentsClient>[0]> = {}): ExperimentsClient {
  return createExperimentsClient({
    url,
    clientToken: CLIENT_TOKEN,
    appName: 'shop',
    refreshInterval: 200,
    flushInterval: 50,
    logger: quiet,
    ...extra,
  });
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const experiment = (name: string, branches: string, rollout = '100%') =>
  `name: ${name}\ninitial_rollout: ${rollout}\nbranches: ${branches}\ngoals: [checkout]\nguardrails: [error_rate]\n`;

describe('experiments SDK against the server', function () {
  this.timeout(60_000);
  let dir: string;
  let server: TestServer;
  const clients: ExperimentsClient[] = [];
  const open = (extra: Partial<Parameters<typeof createExperimentsClient>[0]> = {}): ExperimentsClient => {
    const c = sdk(server.url, extra);
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    dir = tempDir();
    writeFiles(dir, {
      'three.yaml': experiment('Three', '{A: 20%, B: 30%}'),
      'partial.yaml': experiment('Partial', '{Enhanced: 50%}', '30%'),
      'enhanced-checkout.yaml': experiment('EnhancedCheckout', '{Enhanced: 50%}'),
    });
    server = await startServer(dir, { dbFile: join(dir, 'db', 'immune.db') });
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    removeDir(dir);
  });

  it('assigns 100,000 users in line with the weights; the server counts the buffered ones without SRM', async () => {
    // The buffer holds the first 10,000 exposures; the other 90,000 are dropped and counted.
    const c = open({ maxBuffer: 10_000, flushInterval: 60_000 });
    await c.ready();
    const counts: Record<string, number> = { control: 0, A: 0, B: 0 };
    const firstCounts: Record<string, number> = { control: 0, A: 0, B: 0 };
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const branch = c.branchFor('Three', `user-${i}`);
      counts[branch]!++;
      if (i < 10_000) firstCounts[branch]!++;
    }
    for (const [branch, share] of [
      ['control', 0.5],
      ['A', 0.2],
      ['B', 0.3],
    ] as const) {
      const sd = Math.sqrt(n * share * (1 - share));
      assert.ok(
        Math.abs(counts[branch]! - n * share) < 4 * sd,
        `${branch}: ${counts[branch]} for ${n * share} expected (4 sd = ${Math.round(4 * sd)})`,
      );
    }
    let taking = 0;
    for (let i = 0; i < n; i++) if (c.unleash.getVariant('Partial', { userId: `user-${i}` }).enabled) taking++;
    assert.ok(Math.abs(taking - 0.3 * n) < 4 * Math.sqrt(n * 0.3 * 0.7), `${taking} of ${n} take part at 30%`);

    assert.equal(c.buffered, 10_000);
    assert.equal(c.dropped, 90_000);
    await c.flush();
    assert.equal(c.buffered, 0);
    const res = (await (await fetch(`${server.url}/api/experiments/Three/results`)).json()) as {
      participants: number;
      srm: { mismatch: boolean };
      branches: { name: string; participants: number }[];
    };
    assert.equal(res.participants, 10_000);
    assert.deepEqual(
      res.branches.map((b) => b.participants),
      [firstCounts.control, firstCounts.A, firstCounts.B],
    );
    assert.equal(res.srm.mismatch, false);
  });

  it('registers with the server and serves flags to the SDK (gradual rollout, kill switch)', async () => {
    writeFiles(dir, { 'flags.yaml': 'flags:\n  - name: new-search\n    rollout: 25%\n  - name: payments\n    enabled: false\n' });
    await server.ctx.experiments.refresh(true);
    const c = open({ instanceId: 'reg-1' });
    await c.ready();
    let on = 0;
    for (let i = 0; i < 4000; i++) if (c.isEnabled('new-search', `user-${i}`)) on++;
    assert.ok(Math.abs(on - 1000) < 4 * Math.sqrt(4000 * 0.25 * 0.75), `${on} of 4000 at 25%`);
    assert.equal(c.isEnabled('payments', 'user-1'), false);
    assert.equal(c.isEnabled('unknown-flag'), false);
    await until('the SDK to register', async () => {
      const list = (await (await fetch(`${server.url}/api/experiments`)).json()) as { clients: { appName: string; instanceId: string }[] };
      return list.clients.some((x) => x.appName === 'shop' && x.instanceId === 'reg-1');
    });
  });

  it('keeps each user in one branch across SDK instances and server restarts; re-weighting re-randomises', async () => {
    const users = Array.from({ length: 2000 }, (_, i) => `u${i}`);
    const a = open({ instanceId: 'a' });
    const b = open({ instanceId: 'b' });
    await Promise.all([a.ready(), b.ready()]);
    const first = users.map((u) => a.branchFor('EnhancedCheckout', u));
    assert.deepEqual(
      users.map((u) => b.branchFor('EnhancedCheckout', u)),
      first,
    );
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    server = await startServer(dir, { dbFile: join(dir, 'db', 'immune.db') });
    const c = open({ instanceId: 'c' });
    await c.ready();
    assert.deepEqual(
      users.map((u) => c.branchFor('EnhancedCheckout', u)),
      first,
    );

    writeFiles(dir, { 'enhanced-checkout.yaml': experiment('EnhancedCheckout', '{Enhanced: 40%}') });
    await server.ctx.experiments.refresh(true);
    await until(
      'the SDK to see phase 2',
      () => c.unleash.getFeatureToggleDefinition('EnhancedCheckout')?.strategies?.[0]?.parameters?.groupId === 'EnhancedCheckout.phase2',
    );
    const second = users.map((u) => c.branchFor('EnhancedCheckout', u));
    const moved = second.filter((x, i) => x !== first[i]).length;
    // A fresh, independent draw moves about half of the users (p=0.5*0.6 + 0.5*0.4 = 0.5), not just the 10% a weight shift would.
    assert.ok(moved > 0.4 * users.length, `${moved} of ${users.length} moved`);
    await c.flush();
    const phases = await server.ctx.store.experiments.phases('EnhancedCheckout');
    assert.equal(phases.length, 2);
    const p2 = await server.ctx.store.experiments.tally('EnhancedCheckout', 2, []);
    assert.equal(p2.branches.reduce((s, x) => s + x.users, 0) + p2.excluded, users.length, 'phase 2 exposures are counted apart');
  });

  it('reads out a simulated +40% checkout effect as a desired result', async () => {
    const c = open({ maxBuffer: 100_000 });
    await c.ready();
    const r = createRandom(11);
    for (let i = 0; i < 12_000; i++) {
      const user = `shopper-${i}`;
      const branch = c.branchFor('EnhancedCheckout', user);
      if (r.next() < (branch === 'Enhanced' ? 0.14 : 0.1)) c.track(user, 'checkout', 20);
      if (r.next() < 0.01) c.track(user, 'error_rate');
    }
    await c.flush();
    const res = (await (await fetch(`${server.url}/api/experiments/EnhancedCheckout/results`)).json()) as {
      decision: string;
      winner: string;
      summary: string;
      branches: { metrics: { name: string; lift: number; valuePerUser: number }[] }[];
    };
    assert.equal(res.decision, 'desired result', res.summary);
    assert.equal(res.winner, 'Enhanced');
    const lift = res.branches[1]!.metrics[0]!.lift;
    assert.ok(lift > 0.2 && lift < 0.6, `lift ${lift}`);
    assert.ok(res.branches[1]!.metrics[0]!.valuePerUser > res.branches[0]!.metrics[0]!.valuePerUser);
  });

  it('marks the readout invalid when exposures are lost from one branch (sample ratio mismatch)', async () => {
    const c = open();
    await c.ready();
    const events = [];
    for (let i = 0; i < 20_000; i++) {
      const userId = `v${i}`;
      const branch = c.unleash.getVariant('EnhancedCheckout', { userId }).name;
      // A bug that loses 10% of the Enhanced exposures, e.g. a page that crashes before logging.
      if (branch === 'Enhanced' && i % 10 === 0) continue;
      events.push({ type: 'exposure', experiment: 'EnhancedCheckout', groupId: 'EnhancedCheckout.phase1', branch, userId });
    }
    for (let i = 0; i < events.length; i += 5000) {
      const posted: Response = await fetch(`${server.url}/api/events`, {
        method: 'POST',
        headers: { authorization: CLIENT_TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify({ events: events.slice(i, i + 5000) }),
      });
      assert.equal(posted.status, 202);
    }
    const res = (await (await fetch(`${server.url}/api/experiments/EnhancedCheckout/results`)).json()) as {
      decision: string;
      srm: { pValue: number };
    };
    assert.equal(res.decision, 'invalid');
    assert.ok(res.srm.pValue < 0.001);
  });

  it('drops past the buffer bound, counts and logs it', async () => {
    const port = await freePort();
    const c = sdk(`http://127.0.0.1:${port}`, { maxBuffer: 100, readyTimeout: 300, closeTimeout: 300 });
    clients.push(c);
    await assert.rejects(c.ready(), /no features from the server within 300 ms/);
    quiet.warnings.length = 0;
    for (let i = 0; i < 150; i++) c.track(`u${i}`, 'checkout');
    assert.equal(c.buffered, 100);
    assert.equal(c.dropped, 50);
    assert.ok(quiet.warnings.some((w) => /buffer full/.test(w)));
    await assert.rejects(c.flush(), /cannot send events/);
    assert.equal(c.buffered, 100, 'kept for retry');
  });

  it('loses nothing across a brief server outage: events are retried', async () => {
    const port = await freePort();
    await server.close();
    server = await startServer(dir, { dbFile: join(dir, 'db', 'immune.db'), port });
    const c = open();
    await c.ready();
    await server.close();
    for (let i = 0; i < 300; i++) c.track(`u${i}`, 'checkout', 1);
    await assert.rejects(c.flush());
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.buffered, 300);
    server = await startServer(dir, { dbFile: join(dir, 'db', 'immune.db'), port });
    await until('the buffer to drain', () => c.buffered === 0);
    assert.equal(c.dropped, 0);
    const row = server.db.prepare('SELECT COUNT(*) AS n, SUM(value) AS v FROM experiment_conversions').get() as { n: number; v: number };
    assert.deepEqual(row, { n: 300, v: 300 });
  });
});
