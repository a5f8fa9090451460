import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalFleet, type LocalFleet } from '../../src/adapters/fleet/local.js';
import { createScrapeSource } from '../../src/adapters/metrics/scrape.js';
import { localFleet } from '../../src/core/config/fleet.js';
import { metricsConfig } from '../../src/core/config/metrics.js';
import { badChange, fixChange } from '../../src/demo/shop-changes.js';
import { startTraffic } from '../../src/demo/traffic.js';
import type { Server } from '../../src/ports.js';
import { call, freePorts, log, ROOT, shopArtifacts, tempDir } from './fleet-fixture.js';

// Metric definitions as a pipeline would write them for the shop.
const metrics = metricsConfig.parse({
  timeout: '1s',
  definitions: [
    {
      name: 'error_rate',
      kind: 'ratio',
      bad: 'increase',
      numerator: 'shop_http_requests_total{code=~"5.."}',
      denominator: 'shop_http_requests_total',
    },
    { name: 'checkouts', kind: 'count', bad: 'decrease', group: 'business', counter: 'shop_checkouts_total' },
    { name: 'revenue', kind: 'count', bad: 'decrease', group: 'business', counter: 'shop_revenue_total' },
    { name: 'visits', kind: 'count', bad: 'decrease', group: 'business', counter: 'shop_visits_total' },
    { name: 'signups', kind: 'count', bad: 'decrease', group: 'business', counter: 'shop_signups_total' },
    {
      name: 'latency_p90',
      kind: 'continuous',
      bad: 'increase',
      histogram: 'shop_http_request_duration_seconds{route="/checkout"}',
      quantile: 0.9,
    },
    { name: 'memory', kind: 'continuous', bad: 'increase', gauge: 'process_resident_memory_bytes' },
    { name: 'cpu', kind: 'continuous', bad: 'increase', rate: 'process_cpu_seconds_total' },
  ],
});

describe('demo shop on the local fleet, scraped directly', function () {
  this.timeout(40_000);
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let fleet: LocalFleet;
  let servers: Server[];
  const signal = () => AbortSignal.timeout(20_000);

  before(async () => {
    tmp = await tempDir('shop');
    const build = shopArtifacts(tmp.dir);
    const fakeSdk = join(tmp.dir, 'fake-sdk.mts');
    // Stands in for immune's SDK (same API): Enhanced for even user numbers; track calls go to a file.
    await writeFile(
      fakeSdk,
      `import { appendFileSync } from 'node:fs';
export function createExperimentsClient(o: { url: string; clientToken: string; appName: string }) {
  return {
    async ready() {},
    branchFor(exp: string, user: string): string { return exp === 'EnhancedCheckout' && Number(user.slice(1)) % 2 === 0 ? 'Enhanced' : 'control'; },
    track(user: string, goal: string, value?: number) { appendFileSync(${JSON.stringify(join(tmp.dir, 'tracked.jsonl'))}, JSON.stringify({ user, goal, value, app: o.appName }) + '\\n'); },
    async close() {},
  };
}
`,
    );
    const config = localFleet.parse({
      type: 'local',
      servers: 3,
      base_port: await freePorts(3),
      dir: join(tmp.dir, 'fleet'),
      stop_timeout: '2s',
    });
    fleet = createLocalFleet(config, { root: ROOT, log });
    servers = await fleet.servers();
    const [good, bad] = [await build(), await build(badChange().files)];
    await Promise.all([fleet.activate(servers[0], good, signal()), fleet.activate(servers[1], bad, signal())]);
    const withSdk = createLocalFleet(config, {
      root: ROOT,
      log,
      env: { IMMUNE_URL: 'http://127.0.0.1:9', IMMUNE_CLIENT_TOKEN: 't', IMMUNE_SDK: fakeSdk },
    });
    await withSdk.activate(servers[2], await build(fixChange().files), signal());
  });

  after(async () => {
    await fleet?.close();
    await tmp?.cleanup();
  });

  it('serves pages and counts what happened; the scrape turns counters into increases', async () => {
    const s = servers[0];
    const src = createScrapeSource(metrics, { log });
    const [primed] = await src.sample([s], 1000);
    assert.equal(primed.ok, true);
    assert.equal(primed.values.checkouts, null);
    assert.ok((primed.values.memory as number) > 1e6);

    for (let i = 0; i < 5; i++) assert.equal((await call(s.port, '/')).status, 200);
    const product = await call(s.port, '/product/3', { user: 'u1' });
    assert.equal(product.status, 200);
    assert.equal(product.headers.get('x-branch'), 'control', 'no experiments without IMMUNE_* env');
    assert.equal((await call(s.port, '/product/99')).status, 404);
    assert.equal((await call(s.port, '/signup', { body: { user: 'u1' } })).status, 201);
    assert.deepEqual((await call(s.port, '/checkout', { body: { user: 'u1', amount: 20 } })).body, { ok: true, order: 1, amount: 20 });
    assert.equal((await call(s.port, '/checkout', { body: { user: 'u1', amount: 12.5 } })).status, 200);
    assert.equal((await call(s.port, '/checkout', { body: { user: 'u1', amount: -1 } })).status, 400);

    const [a] = await src.sample([s], 1000);
    assert.equal(a.ok, true);
    assert.equal(a.values.visits, 5);
    assert.equal(a.values.checkouts, 2);
    assert.equal(a.values.revenue, 32.5);
    assert.equal(a.values.signups, 1);
    assert.deepEqual(a.values.error_rate, [0, 11]);
    assert.ok((a.values.latency_p90 as number) > 0);
    assert.ok((a.values.cpu as number) >= 0);

    const [b] = await src.sample([s], 1000);
    assert.equal(b.ok, true, b.error);
    assert.equal(b.values.checkouts, 0, 'nothing happened since');
    assert.deepEqual(b.values.error_rate, [0, 0]);
  });

  it('a server that does not answer is ok:false with the error', async () => {
    const src = createScrapeSource(metrics, { log });
    const dead = { id: 'dead', host: '127.0.0.1', port: (await freePorts(1)) as number, labels: {} };
    const [live, gone] = await src.sample([servers[0], dead], 1000);
    assert.equal(live.ok, true);
    assert.equal(gone.ok, false);
    assert.match(gone.error!, /ECONNREFUSED|fetch failed/);
    assert.deepEqual(
      Object.values(gone.values),
      metrics.definitions.map(() => null),
    );
  });

  it('under simulated traffic, the bad change fails some checkouts with 500 and the good one none; scrape and traffic agree', async () => {
    const src = createScrapeSource(metrics, { log });
    const [good, bad] = servers;
    await src.sample([good, bad], 1000);
    const traffic = startTraffic({
      targets: () => [good, bad],
      rpsPerServer: 80,
      durationMs: 2500,
      seed: 7,
      users: 400,
      checkoutRate: 1,
      enhancedLift: 0,
      log,
    });
    await traffic.done;
    const stats = traffic.stats();
    const [g, b] = await src.sample([good, bad], 1000);
    console.log(
      `      traffic: ${stats.requests} requests in ${stats.elapsedMs} ms, ${stats.checkouts} checkouts, ${stats.serverErrors} errors, ${stats.dropped} dropped`,
    );
    assert.equal(stats.running, false);
    assert.ok(stats.requests > 200, `requests ${stats.requests}`);
    assert.ok(Math.abs(stats.byServer.s1 - stats.byServer.s2) <= 0.2 * stats.byServer.s1, 'spread evenly');
    const [gErr] = g.values.error_rate as [number, number];
    const [bErr, bTotal] = b.values.error_rate as [number, number];
    assert.equal(gErr, 0);
    assert.ok(bErr > 0, 'bad release answers some 500s');
    assert.ok(bErr < 0.2 * bTotal);
    assert.equal(stats.serverErrors, bErr, 'every 500 the users saw is in the scrape');
    assert.equal((g.values.checkouts as number) + (b.values.checkouts as number), stats.checkouts);
  });

  it('the bad change fails checkout for the users its tier lookup misses, the fix for none', async () => {
    // Users whose id hashes to 19 (mod 20) hit the missing loyalty tier.
    const hash = (u: string) => [...u].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 0);
    const users = Array.from({ length: 400 }, (_, i) => `u${i}`);
    const unlucky = users.filter((u) => hash(u) % 20 === 19);
    assert.ok(unlucky.length > 10 && unlucky.length < 40, `${unlucky.length} of 400 users`);
    const lucky = users.find((u) => hash(u) % 20 !== 19)!;
    assert.equal((await call(servers[1].port, '/checkout', { body: { user: unlucky[0], amount: 10 } })).status, 500);
    assert.equal((await call(servers[1].port, '/checkout', { body: { user: lucky, amount: 10 } })).status, 200);
    assert.equal((await call(servers[2].port, '/checkout', { body: { user: unlucky[0], amount: 10 } })).status, 200);
  });

  it('with IMMUNE_SDK set, product pages carry X-Branch and checkouts are tracked', async () => {
    const s = servers[2];
    const even = await call(s.port, '/product/2', { user: 'u2' });
    const odd = await call(s.port, '/product/2', { user: 'u3' });
    assert.equal(even.headers.get('x-branch'), 'Enhanced');
    assert.match(String(even.body), /one-click/);
    assert.equal(odd.headers.get('x-branch'), 'control');
    assert.equal((await call(s.port, '/checkout', { body: { user: 'u2', amount: 40 } })).status, 200);
    const { readFile } = await import('node:fs/promises');
    const tracked = (await readFile(join(tmp.dir, 'tracked.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = tracked.at(-1);
    assert.deepEqual({ ...last, value: undefined }, { user: 'u2', goal: 'checkout', value: undefined, app: 'shop' });
    assert.ok(last.value === 40 || last.value === 38, `amount after the loyalty discount: ${last.value}`);
  });
});
