// The frontend API from a real browser: headless Chromium loads a page from an app origin, the
// page runs the real unleash-proxy-client (its ESM build) against our server on another origin.
// From an origin the frontend token lists, the preflight and the request pass and the toggles
// arrive; from an origin it does not list, the browser itself refuses the response (CORS).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.js';
import { removeDir, startServer, tempDir, writeFiles, type TestServer } from './experiments-fixture.js';

const require = createRequire(import.meta.url);
// Its ESM build sits beside the CommonJS main (build/index.cjs); package.json is not exported.
const SDK = readFileSync(join(dirname(require.resolve('unleash-proxy-client')), 'main.esm.js'), 'utf8');
const TOKEN = 'frontend-browser-token-1';

/** An app origin: a page that starts unleash-proxy-client against the server in its ?flags= and reports what it saw. */
async function appOrigin(): Promise<{ app: FastifyInstance; url: string }> {
  const app = Fastify({ logger: false });
  app.get('/sdk.js', (_req, reply) => reply.type('text/javascript').send(SDK));
  app.get('/', (_req, reply) =>
    reply.type('text/html').send(`<!doctype html><script type="module">
import { UnleashClient, InMemoryStorageProvider } from '/sdk.js';
const flags = new URLSearchParams(location.search).get('flags');
const client = new UnleashClient({ url: flags + '/api/frontend', clientKey: ${JSON.stringify(TOKEN)}, appName: 'shop', refreshInterval: 0, disableMetrics: true, storageProvider: new InMemoryStorageProvider(), context: { userId: 'u1' } });
client.on('ready', () => { window.result = { ready: true, on: client.isEnabled('on-flag'), off: client.isEnabled('off-flag'), toggles: client.getAllToggles().map((t) => t.name).sort() }; });
client.on('error', (e) => { window.result = { error: String(e && (e.error || e.type || e)) }; });
client.start();
</script>`),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  return { app, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
}

describe('Unleash frontend API from Chromium (CORS)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: TestServer;
  let browser: Browser;
  const apps: FastifyInstance[] = [];
  let allowed: string;
  let other: string;
  before(async () => {
    dir = tempDir();
    writeFiles(dir, { 'flags.yaml': 'flags:\n  - name: on-flag\n  - name: off-flag\n    enabled: false\n' });
    const good = await appOrigin();
    const bad = await appOrigin();
    apps.push(good.app, bad.app);
    allowed = good.url;
    other = bad.url;
    server = await startServer(dir, {
      frontendTokens: [{ name: 'web', token: TOKEN, app: 'shop', environment: 'default', origins: [allowed] }],
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await Promise.all(apps.map((a) => a.close()));
    await server?.close();
    removeDir(dir);
  });

  const run = async (origin: string): Promise<Record<string, unknown>> => {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin}/?flags=${encodeURIComponent(server.url)}`);
      await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 15_000 });
      return (await page.evaluate(() => (window as unknown as { result: Record<string, unknown> }).result)) as Record<string, unknown>;
    } finally {
      await page.close();
    }
  };

  it('serves the toggles to a page on a listed origin', async () => {
    assert.deepEqual(await run(allowed), { ready: true, on: true, off: false, toggles: ['on-flag'] });
  });

  it('is refused by the browser on an origin the token does not list', async () => {
    const r = await run(other);
    assert.equal(r.ready, undefined, JSON.stringify(r));
    // A network-level failure (the browser withheld the response), not an HTTP status the page could read.
    assert.match(String(r.error), /Failed to fetch/, JSON.stringify(r));
  });
});
