import assert from 'node:assert/strict';
import pino from 'pino';
import { isLoopback, seededRandom, startTraffic } from '../../../src/demo/traffic.js';
import type { Server } from '../../../src/ports.js';

const log = pino({ level: 'silent' });

/** A fake shop: even user numbers see Enhanced; records every request. */
function fakeShop() {
  const seen: { url: URL; method: string; user: string; body?: unknown }[] = [];
  const fetch = (async (input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const user = (init?.headers as Record<string, string>)['x-user-id'];
    seen.push({ url, method: init?.method ?? 'GET', user, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const headers: Record<string, string> = {};
    if (url.pathname.startsWith('/product/')) headers['x-branch'] = Number(user.slice(1)) % 2 === 0 ? 'Enhanced' : 'control';
    return new Response('ok', { status: 200, headers });
  }) as typeof globalThis.fetch;
  return { seen, fetch };
}

describe('demo/traffic', () => {
  const a: Server = { id: 'a', host: '127.0.0.1', port: 1, labels: {} };
  const b: Server = { id: 'b', host: '127.0.0.2', port: 2, labels: {} };
  const remote: Server = { id: 'r', host: '10.0.0.1', port: 3, labels: {} };

  it('knows loopback addresses', () => {
    assert.deepEqual(
      ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '10.0.0.1', '8.8.8.8', 'example.com', '127.0.0.1.evil.com'].map(isLoopback),
      [true, true, true, true, false, false, false, false],
    );
  });

  it('draws the same numbers from the same seed', () => {
    const r1 = seededRandom(42);
    const r2 = seededRandom(42);
    const xs = Array.from({ length: 5 }, () => r1());
    assert.deepEqual(
      xs,
      Array.from({ length: 5 }, () => r2()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.notDeepEqual(xs, Array.from({ length: 5 }, seededRandom(43)));
  });

  it('spreads users evenly over loopback servers only, from a fixed pool, and stops by itself', async () => {
    const shop = fakeShop();
    const t = startTraffic({
      targets: () => [a, b, remote],
      rpsPerServer: 200,
      durationMs: 400,
      seed: 1,
      users: 20,
      log,
      fetch: shop.fetch,
    });
    await t.done;
    const s = t.stats();
    assert.equal(s.running, false);
    const hosts = new Set(shop.seen.map((r) => r.url.hostname));
    assert.deepEqual([...hosts].sort(), ['127.0.0.1', '127.0.0.2']);
    assert.ok(s.requests > 50, `${s.requests} requests`);
    assert.equal(s.requests, shop.seen.length);
    const [na, nb] = [s.byServer.a, s.byServer.b];
    assert.ok(Math.abs(na - nb) <= 0.25 * Math.max(na, nb), `a ${na}, b ${nb}`);
    assert.ok(
      shop.seen.every((r) => /^u(1?\d)$/.test(r.user)),
      'users from the pool',
    );
    const after = shop.seen.length;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(shop.seen.length, after, 'no requests after it stopped');
    for (const r of shop.seen.filter((x) => x.url.pathname === '/checkout')) {
      const body = r.body as { user: string; amount: number };
      assert.equal(body.user, r.user);
      assert.ok(body.amount > 0);
    }
  });

  it('Enhanced users check out more often (a real effect for the readout)', async () => {
    const shop = fakeShop();
    const t = startTraffic({
      targets: () => [a],
      rpsPerServer: 4000,
      durationMs: 600,
      seed: 3,
      users: 400,
      checkoutRate: 0.3,
      enhancedLift: 1,
      maxInFlight: 1000,
      log,
      fetch: shop.fetch,
    });
    await t.done;
    const { byBranch } = t.stats();
    const rate = (k: string) => byBranch[k].checkouts / byBranch[k].views;
    assert.ok(byBranch.control.views > 200 && byBranch.Enhanced.views > 200, JSON.stringify(byBranch));
    // control ~0.3, Enhanced ~0.6: far apart compared with the sampling error at these counts.
    assert.ok(rate('Enhanced') > rate('control') * 1.4, JSON.stringify(byBranch));
  });

  it('stop() ends it early and waits for requests in flight', async () => {
    const shop = fakeShop();
    const t = startTraffic({ targets: () => [a], rpsPerServer: 100, durationMs: 60_000, seed: 5, log, fetch: shop.fetch });
    await new Promise((r) => setTimeout(r, 120));
    await t.stop();
    assert.equal(t.stats().running, false);
    const sent = shop.seen.length;
    assert.ok(sent > 0);
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(shop.seen.length, sent, 'nothing sent after stop()');
    await t.done;
  });
});
