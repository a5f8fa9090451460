// The Unleash frontend API read by the real unleash-proxy-client (the browser SDK; it runs in Node
// 20 with fetch and an in-memory storage provider): toggles and variants for its context, context
// updates, ETag/304, metrics reaching the server; frontend tokens scoped to an app and environment,
// and refused from an Origin the token does not list.
import assert from 'node:assert/strict';
import { EVENTS, InMemoryStorageProvider, UnleashClient } from 'unleash-proxy-client';
import {
  CHECKOUT_EXPERIMENT,
  CLIENT_TOKEN,
  PROTOCOL_FLAGS,
  removeDir,
  startServer,
  tempDir,
  writeFiles,
  type TestServer,
} from './experiments-fixture.js';

const TOKEN = 'frontend-shop-production-1';

describe('Unleash frontend API with unleash-proxy-client', function () {
  this.timeout(30_000);
  let dir: string;
  let server: TestServer;
  const clients: UnleashClient[] = [];
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': PROTOCOL_FLAGS, 'checkout.yaml': CHECKOUT_EXPERIMENT });
    server = await startServer(dir, {
      frontendTokens: [
        { name: 'shop-web', token: TOKEN, app: 'shop', environment: 'production', origins: ['https://shop.example'] },
        { name: 'any-app', token: 'frontend-any-app-1', app: '*', environment: 'staging', origins: [] },
      ],
    });
  });
  afterEach(() => clients.splice(0).forEach((c) => c.stop()));
  after(async () => {
    await server?.close();
    removeDir(dir);
  });

  const open = (o: Partial<ConstructorParameters<typeof UnleashClient>[0]> = {}): UnleashClient => {
    const c = new UnleashClient({
      url: `${server.url}/api/frontend`,
      clientKey: TOKEN,
      appName: 'shop',
      refreshInterval: 0,
      metricsInterval: 0,
      disableMetrics: true,
      storageProvider: new InMemoryStorageProvider(),
      ...o,
    });
    clients.push(c);
    return c;
  };
  const started = async (c: UnleashClient): Promise<void> => {
    const ready = new Promise<void>((resolve, reject) => {
      c.once(EVENTS.READY, () => resolve());
      c.once(EVENTS.ERROR, (e: unknown) => reject(new Error(`unleash-proxy-client error: ${JSON.stringify(e)}`)));
    });
    await c.start();
    await ready;
  };
  /** The error the SDK reports on start (it also logs it with console.error, kept out of the test output). */
  const failure = async (c: UnleashClient): Promise<unknown> => {
    const err = new Promise<unknown>((resolve) => c.once(EVENTS.ERROR, resolve));
    const log = console.error;
    console.error = () => undefined;
    try {
      await c.start();
      return await err;
    } finally {
      console.error = log;
    }
  };

  it('serves toggles and variants for the client context, in the token environment', async () => {
    const c = open({ context: { userId: 'u1', properties: { plan: 'beta' } } });
    await started(c);
    assert.equal(c.isEnabled('on-flag'), true);
    assert.equal(c.isEnabled('off-flag'), false);
    assert.equal(c.isEnabled('beta-users'), true);
    assert.equal(c.isEnabled('prod-only'), true, 'the token environment is the evaluation environment');
    const v = c.getVariant('theme');
    assert.ok(v.name === 'dark' || v.name === 'light');
    assert.deepEqual(v.payload, { type: 'json', value: v.name === 'dark' ? '{"bg":"#000"}' : '{"bg":"#fff"}' });
    assert.equal(v.enabled, true);
    assert.equal(v.feature_enabled, true);
    const branch = c.getVariant('Checkout');
    assert.ok(['control', 'Enhanced'].includes(branch.name));
    // Only enabled toggles are sent; /all sends the rest.
    const names = c.getAllToggles().map((t) => t.name);
    for (const n of ['Checkout', 'beta-users', 'on-flag', 'prod-only', 'theme', 'limit'])
      assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
    assert.ok(!names.includes('off-flag'), 'a disabled toggle is not sent');
    await c.updateContext({ userId: 'u1', properties: { plan: 'free' } });
    assert.equal(c.isEnabled('beta-users'), false);
  });

  it('splits variants by userId, about half each, the SDK seeing what a direct call gets', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const res = await fetch(`${server.url}/api/frontend?userId=u${i}&appName=shop`, { headers: { authorization: TOKEN } });
      const body = (await res.json()) as { toggles: { name: string; variant: { name: string } }[] };
      const name = body.toggles.find((t) => t.name === 'theme')!.variant.name;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.ok((counts.dark ?? 0) > 65 && (counts.light ?? 0) > 65, JSON.stringify(counts));
    const c = open({ context: { userId: 'u5' } });
    await started(c);
    const again = (await (
      await fetch(`${server.url}/api/frontend?userId=u5&appName=shop`, { headers: { authorization: TOKEN } })
    ).json()) as { toggles: { name: string; variant: { name: string } }[] };
    assert.equal(c.getVariant('theme').name, again.toggles.find((t) => t.name === 'theme')!.variant.name);
  });

  it('/all and POST with a context; ETag and 304', async () => {
    const post = await fetch(`${server.url}/api/frontend/all`, {
      method: 'POST',
      headers: { authorization: TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ context: { userId: 'u1', appName: 'shop' } }),
    });
    assert.equal(post.status, 200);
    const all = (await post.json()) as { toggles: { name: string; enabled: boolean }[] };
    assert.deepEqual(
      all.toggles.find((t) => t.name === 'off-flag'),
      { name: 'off-flag', enabled: false, variant: { name: 'disabled', enabled: false, feature_enabled: false }, impressionData: false },
    );
    const etag = post.headers.get('etag')!;
    const same = await fetch(`${server.url}/api/frontend/all`, {
      method: 'POST',
      headers: { authorization: TOKEN, 'content-type': 'application/json', 'if-none-match': etag },
      body: JSON.stringify({ context: { userId: 'u1', appName: 'shop' } }),
    });
    assert.equal(same.status, 304);
  });

  it('takes the SDK metrics', async () => {
    const c = open({ disableMetrics: false, metricsInterval: 0 });
    await started(c);
    c.isEnabled('on-flag');
    c.isEnabled('on-flag');
    c.getVariant('theme');
    const sent = new Promise<void>((resolve) => c.once(EVENTS.SENT, () => resolve()));
    await c.sendMetrics();
    await sent;
    const usage = server.ctx.experiments.usage;
    assert.equal(usage.get('on-flag')?.yes, 2);
    assert.equal(
      Object.values(usage.get('theme')?.variants ?? {}).reduce((a, b) => a + b, 0),
      1,
    );
  });

  it("turns the SDK's impression events, forwarded by the app, into exposures in the readout", async () => {
    const impressions: unknown[] = [];
    for (let i = 0; i < 30; i++) {
      const c = open({ context: { userId: `imp-${i}` } });
      c.on(EVENTS.IMPRESSION, (e: unknown) => impressions.push(e));
      await started(c);
      c.getVariant('Checkout');
    }
    assert.equal(impressions.length, 30, 'experiments are served with impressionData');
    const res = await fetch(`${server.url}/api/frontend/client/impressions`, {
      method: 'POST',
      headers: { authorization: TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ events: impressions }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    const r = (await (await fetch(`${server.url}/api/experiments/Checkout/results`)).json()) as {
      participants: number;
      sources: { exposures: Record<string, number> };
    };
    assert.equal(r.sources.exposures['unleash-frontend-impressions'], 30, JSON.stringify(r.sources));
    const foreign = { ...(impressions[0] as Record<string, unknown>), context: { userId: 'x', appName: 'admin' } };
    const refused = await fetch(`${server.url}/api/frontend/client/impressions`, {
      method: 'POST',
      headers: { authorization: TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [foreign] }),
    });
    assert.equal(refused.status, 403);
  });

  it('refuses a token used for another app (403), an unknown token (401) and a client token (403)', async () => {
    const otherApp = await failure(open({ appName: 'admin-console' }));
    assert.deepEqual(otherApp, { type: 'HttpError', code: 403 });
    const unknown = await failure(open({ clientKey: 'not-a-token' }));
    assert.deepEqual(unknown, { type: 'HttpError', code: 401 });
    const client = await failure(open({ clientKey: CLIENT_TOKEN }));
    assert.deepEqual(client, { type: 'HttpError', code: 403 });
    const wrongEnv = await failure(open({ environment: 'staging' }));
    assert.deepEqual(wrongEnv, { type: 'HttpError', code: 403 });
    // A token for any app, in its own environment.
    const any = open({ clientKey: 'frontend-any-app-1', appName: 'whatever' });
    await started(any);
    assert.equal(any.isEnabled('prod-only'), false);
  });

  it('CORS: an allowed Origin gets the headers; another Origin is refused, preflight included', async () => {
    const ok = await fetch(`${server.url}/api/frontend?appName=shop`, {
      headers: { authorization: TOKEN, origin: 'https://shop.example' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://shop.example');
    assert.match(ok.headers.get('access-control-expose-headers') ?? '', /ETag/);
    const evil = await failure(open({ customHeaders: { origin: 'https://evil.example' } }));
    assert.deepEqual(evil, { type: 'HttpError', code: 403 });
    const pre = await fetch(`${server.url}/api/frontend`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://shop.example');
    const bad = await fetch(`${server.url}/api/frontend/all`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
  });
});
