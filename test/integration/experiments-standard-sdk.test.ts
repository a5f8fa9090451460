// Exposures from a standard SDK: the real unleash-client (no immune code in the app) reads an
// experiment from a running server, its impression events are forwarded as the docs show and its
// own metrics posts go out as usual; the readout counts participants per variant, says which
// sources fed it, checks the sample ratio on both, and reads "not started" before anyone came.
// A stale SDK instance still serving old weights is caught as a sample ratio mismatch.
import assert from 'node:assert/strict';
import { InMemStorageProvider, Unleash } from 'unleash-client';
import type { Readout } from '../../src/core/experiments/readout.js';
import { CLIENT_TOKEN, removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

type Results = Readout & { state: string };

async function sdk(url: string, appName: string, refreshInterval: number): Promise<{ unleash: Unleash; forward(): Promise<void> }> {
  const unleash = new Unleash({
    url: `${url}/api/`,
    appName,
    refreshInterval,
    // Posts only when flushed below: one bucket per round, as every 60 s in production.
    metricsInterval: 3_600_000,
    customHeaders: { Authorization: CLIENT_TOKEN },
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
  });
  unleash.on('error', () => undefined);
  await new Promise<void>((resolve) => unleash.once('synchronized', () => resolve()));
  const pending: unknown[] = [];
  unleash.on('impression', (e: unknown) => pending.push(e));
  return {
    unleash,
    // What the docs tell an application to do with the impression events.
    async forward() {
      const events = pending.splice(0);
      const res = await fetch(`${url}/api/client/impressions`, {
        method: 'POST',
        headers: { authorization: CLIENT_TOKEN, 'content-type': 'application/json' },
        body: JSON.stringify({ events }),
      });
      assert.equal(res.status, 202, await res.text());
    },
  };
}

const results = async (server: TestServer, name: string): Promise<Results> =>
  (await (await fetch(`${server.url}/api/experiments/${name}/results`)).json()) as Results;

describe('readout from a standard Unleash SDK (unleash-client impressions and metrics)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: TestServer;
  const clients: Unleash[] = [];
  beforeEach(async () => {
    dir = tempDir();
    writeFiles(dir, { 'checkout.yaml': 'name: Checkout\ninitial_rollout: 100%\nbranches: {Enhanced: 50%}\ngoals: [checkout]\n' });
    server = await startServer(dir);
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await server.close();
    removeDir(dir);
  });

  it('reads "not started" before anyone comes, then counts participants per variant from impressions and evaluations from metrics posts', async () => {
    const before = await results(server, 'Checkout');
    assert.equal(before.decision, 'not started');
    assert.equal(before.srm.pValue, null);
    assert.equal(before.srm.mismatch, false);
    assert.match(before.summary, /not started: no participants yet/);
    assert.doesNotMatch(before.summary + before.srm.summary, /no statistical significance|OK/);

    const app = await sdk(server.url, 'shop', 60_000);
    clients.push(app.unleash);
    const seen = new Map<string, string>();
    const evaluations: Record<string, number> = {};
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 400; i++) {
        // New users each round, and some come back (evaluated again, still one participant).
        const userId = i % 4 === 0 && round > 0 ? `u${round - 1}-${i}` : `u${round}-${i}`;
        const v = app.unleash.getVariant('Checkout', { userId });
        assert.ok(v.enabled);
        seen.set(userId, v.name);
        evaluations[v.name] = (evaluations[v.name] ?? 0) + 1;
      }
      await app.forward();
      await app.unleash.flushMetrics();
    }
    const r = await results(server, 'Checkout');
    const expected = { control: 0, Enhanced: 0 } as Record<string, number>;
    for (const b of seen.values()) expected[b]!++;
    assert.deepEqual(Object.fromEntries(r.branches.map((b) => [b.name, b.participants])), expected);
    assert.equal(r.participants, seen.size);
    assert.deepEqual(r.sources.exposures, { 'unleash-impressions': seen.size });
    assert.deepEqual(r.sources.evaluations, { 'unleash-metrics': evaluations });
    const checks = Object.fromEntries(r.srmChecks.map((c) => [c.source, c]));
    assert.equal(checks.participants!.basis, 'participants');
    assert.ok(checks.participants!.pValue! > 0.001, checks.participants!.summary);
    assert.equal(checks['unleash-metrics']!.buckets, 6);
    assert.ok(checks['unleash-metrics']!.pValue! > 0.001, checks['unleash-metrics']!.summary);
    assert.equal(r.decision, 'no statistical significance', r.summary);
    assert.match(r.srm.summary, /^SRM: [\d,]+ \/ [\d,]+ participants against 50% \/ 50%: p=[\d.]+, OK$/);
  });

  it('catches a stale SDK instance that still serves old weights as a sample ratio mismatch, on impressions and on metrics posts', async () => {
    writeFiles(dir, { 'checkout.yaml': 'name: Checkout\ninitial_rollout: 100%\nbranches: {Enhanced: 10%}\ngoals: [checkout]\n' });
    await server.ctx.experiments.refresh(true);
    // This instance fetched the 10% document and does not refresh in time.
    const stale = await sdk(server.url, 'shop-old', 3_600_000);
    clients.push(stale.unleash);
    writeFiles(dir, { 'checkout.yaml': 'name: Checkout\ninitial_rollout: 100%\nbranches: {Enhanced: 50%}\ngoals: [checkout]\n' });
    await server.ctx.experiments.refresh(true);
    const fresh = await sdk(server.url, 'shop', 60_000);
    clients.push(fresh.unleash);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i++) {
        stale.unleash.getVariant('Checkout', { userId: `s${round}-${i}` });
        fresh.unleash.getVariant('Checkout', { userId: `f${round}-${i}` });
      }
      await stale.forward();
      await fresh.forward();
      await stale.unleash.flushMetrics();
      await fresh.unleash.flushMetrics();
    }
    const r = await results(server, 'Checkout');
    assert.equal(r.phase, 3);
    assert.equal(r.decision, 'invalid', r.summary);
    const checks = Object.fromEntries(r.srmChecks.map((c) => [c.source, c]));
    assert.ok(checks.participants!.mismatch, checks.participants!.summary);
    assert.ok(checks['unleash-metrics']!.mismatch, checks['unleash-metrics']!.summary);
    const enhanced = checks.participants!.counts.find((c) => c.branch === 'Enhanced')!;
    assert.ok(enhanced.observed < enhanced.expected * 0.8, JSON.stringify(enhanced));
    assert.match(r.summary, /sample ratio mismatch \(SRM: [\d,]+ \/ [\d,]+ participants against 50% \/ 50%: p=.*MISMATCH/);
  });
});
