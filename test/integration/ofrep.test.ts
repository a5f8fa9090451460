// OFREP on our server, read by the real OpenFeature providers on loopback: @openfeature/ofrep-provider
// (server SDK, single-flag evaluation) and @openfeature/ofrep-web-provider (web SDK, bulk evaluation
// with ETag polling; it runs in Node 20, which has fetch). Also the spec's error shapes and statuses
// over plain fetch: FLAG_NOT_FOUND 404, PARSE_ERROR / INVALID_CONTEXT / TARGETING_KEY_MISSING 400,
// 401 without a token, 403 for a frontend token from an origin it does not list.
import assert from 'node:assert/strict';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { OpenFeature as ServerOpenFeature } from '@openfeature/server-sdk';
import { OpenFeature as WebOpenFeature, ClientProviderEvents } from '@openfeature/web-sdk';
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

const FRONTEND_TOKEN = 'frontend-token-shop-1';

describe('OFREP with the real OpenFeature providers', function () {
  this.timeout(30_000);
  let dir: string;
  let server: TestServer;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': PROTOCOL_FLAGS, 'checkout.yaml': CHECKOUT_EXPERIMENT });
    server = await startServer(dir, {
      frontendTokens: [
        { name: 'shop-web', token: FRONTEND_TOKEN, app: 'shop', environment: 'production', origins: ['https://shop.example'] },
      ],
    });
  });
  after(async () => {
    await ServerOpenFeature.close();
    await WebOpenFeature.close();
    await server?.close();
    removeDir(dir);
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${CLIENT_TOKEN}` }) =>
    fetch(`${server.url}/ofrep/v1/evaluate/flags${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  describe('@openfeature/ofrep-provider (server SDK)', () => {
    let client: ReturnType<typeof ServerOpenFeature.getClient>;
    before(async () => {
      await ServerOpenFeature.setProviderAndWait(
        'ofrep',
        new OFREPProvider({ baseUrl: server.url, headers: { Authorization: `Bearer ${CLIENT_TOKEN}` } }),
      );
      client = ServerOpenFeature.getClient('ofrep');
    });

    it('evaluates booleans with reasons and variants', async () => {
      const on = await client.getBooleanDetails('on-flag', false, { targetingKey: 'u1' });
      assert.deepEqual([on.value, on.reason, on.variant, on.errorCode], [true, 'STATIC', 'on', undefined]);
      const off = await client.getBooleanDetails('off-flag', true, { targetingKey: 'u1' });
      assert.deepEqual([off.value, off.reason, off.variant], [false, 'DISABLED', 'off']);
      const beta = await client.getBooleanDetails('beta-users', false, { targetingKey: 'u1', plan: 'beta' });
      assert.deepEqual([beta.value, beta.reason], [true, 'TARGETING_MATCH']);
      const free = await client.getBooleanDetails('beta-users', true, { targetingKey: 'u1', plan: 'free' });
      assert.deepEqual([free.value, free.reason], [false, 'DEFAULT']);
    });

    it('splits a 50% rollout stickily by targetingKey, about half on', async () => {
      let on = 0;
      for (let i = 0; i < 400; i++) {
        const d = await client.getBooleanDetails('half', false, { targetingKey: `user-${i}` });
        if (d.value) on++;
        if (i < 20)
          assert.equal((await client.getBooleanValue('half', !d.value, { targetingKey: `user-${i}` })) as boolean, d.value, 'sticky');
      }
      assert.ok(on > 150 && on < 250, `${on}/400 on`);
    });

    it('returns typed payloads for variant flags', async () => {
      const theme = await client.getObjectDetails('theme', {}, { targetingKey: 'u7' });
      assert.ok(theme.variant === 'dark' || theme.variant === 'light');
      assert.deepEqual(theme.value, { bg: theme.variant === 'dark' ? '#000' : '#fff' });
      assert.equal(theme.reason, 'SPLIT');
      assert.equal(await client.getNumberValue('limit', 0, { targetingKey: 'u7' }), 10);
    });

    it('serves experiments as their branch, with experiment metadata', async () => {
      const d = await client.getStringDetails('Checkout', 'control', { targetingKey: 'u3' });
      assert.ok(['control', 'Enhanced'].includes(d.value));
      assert.equal(d.variant, d.value);
      assert.equal(d.reason, 'SPLIT');
      assert.equal(d.flagMetadata.experiment, 'Checkout');
      assert.equal(d.flagMetadata.groupId, 'Checkout.phase1');
    });

    it('maps errors: unknown flag, missing targeting key, wrong type', async () => {
      const missing = await client.getBooleanDetails('nope', true, { targetingKey: 'u1' });
      assert.deepEqual([missing.value, missing.errorCode, missing.reason], [true, 'FLAG_NOT_FOUND', 'ERROR']);
      const noKey = await client.getStringDetails('Checkout', 'fallback', {});
      assert.deepEqual([noKey.value, noKey.errorCode], ['fallback', 'TARGETING_KEY_MISSING']);
      const wrong = await client.getNumberDetails('on-flag', 3, { targetingKey: 'u1' });
      assert.deepEqual([wrong.value, wrong.errorCode], [3, 'TYPE_MISMATCH']);
    });

    it('records an exposure when an experiment is evaluated for a user', async () => {
      for (let i = 0; i < 40; i++) await client.getStringValue('Checkout', 'control', { targetingKey: `exposed-${i}` });
      const deadline = Date.now() + 5000;
      let participants = 0;
      while (Date.now() < deadline) {
        const r = (await (await fetch(`${server.url}/api/experiments/Checkout/results`)).json()) as { participants: number };
        participants = r.participants;
        if (participants >= 40) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(participants >= 40, `${participants} participants`);
    });
  });

  describe('@openfeature/ofrep-web-provider (web SDK, bulk)', () => {
    it('evaluates every flag for the context in one bulk call, and follows a context change', async () => {
      await WebOpenFeature.setContext({ targetingKey: 'web-user-1', plan: 'beta' });
      await WebOpenFeature.setProviderAndWait(
        new OFREPWebProvider({ baseUrl: server.url, headers: [['Authorization', FRONTEND_TOKEN]], pollInterval: 0, cacheMode: 'disabled' }),
      );
      const client = WebOpenFeature.getClient();
      assert.equal(client.getBooleanValue('on-flag', false), true);
      assert.equal(client.getBooleanValue('off-flag', true), false);
      assert.equal(client.getBooleanValue('beta-users', false), true);
      const branch = client.getStringDetails('Checkout', 'x');
      assert.ok(['control', 'Enhanced'].includes(branch.value), JSON.stringify(branch));
      assert.equal(client.getBooleanDetails('nope', true).errorCode, 'FLAG_NOT_FOUND');
      const changed = new Promise<void>((resolve) => client.addHandler(ClientProviderEvents.ContextChanged, () => resolve()));
      await WebOpenFeature.setContext({ targetingKey: 'web-user-1', plan: 'free' });
      await changed;
      assert.equal(client.getBooleanValue('beta-users', true), false);
    });
  });

  describe('the protocol over plain fetch', () => {
    it('bulk: ETag, 304 on If-None-Match, a new ETag when the answer changes', async () => {
      const first = await post('', { context: { targetingKey: 'u1' } });
      assert.equal(first.status, 200);
      const body = (await first.json()) as { flags: { key: string }[] };
      assert.deepEqual(body.flags.map((f) => f.key).sort(), [
        'Checkout',
        'beta-users',
        'half',
        'limit',
        'off-flag',
        'on-flag',
        'prod-only',
        'theme',
      ]);
      const etag = first.headers.get('etag')!;
      const again = await post('', { context: { targetingKey: 'u1' } }, { authorization: CLIENT_TOKEN, 'if-none-match': etag });
      assert.equal(again.status, 304);
      const other = await post(
        '',
        { context: { targetingKey: 'u1', plan: 'beta' } },
        { authorization: CLIENT_TOKEN, 'if-none-match': etag },
      );
      assert.equal(other.status, 200);
      assert.notEqual(other.headers.get('etag'), etag);
    });

    it('bulk: a flag that cannot be evaluated is a failure entry, not a failed request', async () => {
      const body = (await (await post('', { context: {} })).json()) as { flags: { key: string; errorCode?: string; value?: unknown }[] };
      assert.equal(body.flags.find((f) => f.key === 'Checkout')!.errorCode, 'TARGETING_KEY_MISSING');
      assert.equal(body.flags.find((f) => f.key === 'on-flag')!.value, true);
    });

    it('single: the spec error shapes and statuses', async () => {
      const notFound = await post('/nope', { context: { targetingKey: 'u' } });
      assert.equal(notFound.status, 404);
      assert.deepEqual(await notFound.json(), { key: 'nope', errorCode: 'FLAG_NOT_FOUND', errorDetails: 'no flag or experiment "nope"' });
      const parse = await post('/on-flag', '{"context": ');
      assert.equal(parse.status, 400);
      assert.equal(((await parse.json()) as { errorCode: string }).errorCode, 'PARSE_ERROR');
      const invalid = await post('/on-flag', { context: 'not an object' });
      assert.equal(invalid.status, 400);
      assert.deepEqual(await invalid.json(), {
        key: 'on-flag',
        errorCode: 'INVALID_CONTEXT',
        errorDetails: 'context must be an object, got string',
      });
      const noKey = await post('/half', { context: {} });
      assert.equal(noKey.status, 400);
      assert.equal(((await noKey.json()) as { errorCode: string }).errorCode, 'TARGETING_KEY_MISSING');
    });

    it('auth: 401 without or with an unknown token, X-API-Key accepted', async () => {
      assert.equal((await post('/on-flag', {}, {})).status, 401);
      assert.equal((await post('/on-flag', {}, { authorization: 'Bearer wrong-token' })).status, 401);
      assert.equal((await post('/on-flag', {}, { 'x-api-key': CLIENT_TOKEN })).status, 200);
    });

    it('frontend tokens: CORS for listed origins only, scoped to their app', async () => {
      const ok = await post('/on-flag', {}, { authorization: FRONTEND_TOKEN, origin: 'https://shop.example' });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://shop.example');
      const evil = await post('/on-flag', {}, { authorization: FRONTEND_TOKEN, origin: 'https://evil.example' });
      assert.equal(evil.status, 403);
      assert.equal(evil.headers.get('access-control-allow-origin'), null);
      const otherApp = await post('/on-flag', { context: { appName: 'admin' } }, { authorization: FRONTEND_TOKEN });
      assert.equal(otherApp.status, 403);
      const preflight = await fetch(`${server.url}/ofrep/v1/evaluate/flags`, {
        method: 'OPTIONS',
        headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
      const badPreflight = await fetch(`${server.url}/ofrep/v1/evaluate/flags`, {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(badPreflight.status, 403);
      assert.equal(badPreflight.headers.get('access-control-allow-origin'), null);
    });
  });
});
