// The dashboard end to end in headless Chromium, on the demo's real parts: the shop in a real git
// repository, real processes on loopback with traffic, the engine and `immune serve`'s server.
// The page follows a good deploy through its steps live, shows the blocked banner after the bad
// commit, refuses a viewer token to unblock and lets a captain token unblock.
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { badChange, goodChange, shopTemplateFiles } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import { launchBrowser, openPage, screenshot } from '../helpers/browser.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';
import { freePortRange, localPipelineYaml, waitFor } from '../helpers/line.js';

const VIEWER = 'demo-viewer-token-1';
const CAPTAIN = 'demo-captain-token-1';
const LONG = { timeout: 150_000, polling: 250 };

describe('dashboard end to end (demo parts, headless Chromium)', function () {
  this.timeout(200_000);
  let origin: TestOrigin;
  let dir: string;
  let rt: Runtime;
  let traffic: Traffic;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

  const liveSha = () => page.locator('#live-card code').first().getAttribute('title');
  const waitLive = (sha: string) =>
    page.waitForFunction((s) => document.querySelector('#live-card code')?.getAttribute('title') === s, sha, LONG);
  const useToken = async (token: string, who: string) => {
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
    await page.waitForFunction((w) => document.querySelector('#whoami')?.textContent === w, who);
  };

  before(async () => {
    origin = await createOrigin(shopTemplateFiles());
    dir = await mkdtemp(join(tmpdir(), 'immune-dash-'));
    const basePort = await freePortRange(4);
    const httpPort = basePort + 3;
    const file = join(dir, 'pipeline.yaml');
    // Judged on the error rates only: this test is about the page, and a busy test machine makes
    // latency noisy enough to fail a good deploy now and then (the judge's own tests cover that).
    const yaml = localPipelineYaml({ repo: origin.url, dir, basePort, servers: 3, tests: false, minBake: '10s' });
    const pipeline = yaml.split('\n').filter((l) => !/name: (latency_p99|checkouts),/.test(l));
    assert.equal(pipeline.length, yaml.split('\n').length - 2, 'the test pipeline dropped latency_p99 and checkouts');
    await writeFile(file, pipeline.join('\n'));
    const tokensFile = join(dir, 'tokens.yaml');
    await writeFile(
      tokensFile,
      `tokens:\n  - { name: vera, role: viewer, token: ${VIEWER} }\n  - { name: cora, role: captain, token: ${CAPTAIN} }\n`,
    );
    await mkdir(join(dir, 'experiments'));
    rt = await createRuntime({
      pipelineFile: file,
      dataDir: join(dir, 'state'),
      log,
      http: { port: httpPort, host: '127.0.0.1', tokensFile, clientTokens: [], experimentsDir: join(dir, 'experiments') },
    });
    await rt.start();
    traffic = startTraffic({ targets: () => rt.fleet.servers(), rpsPerServer: 60, checkoutRate: 0.5, durationMs: 190_000, log, seed: 11 });
    browser = await launchBrowser();
    page = await openPage(browser, errors);
    await page.goto(`${rt.url}/#/`);
    await page.waitForSelector('#view[data-view=line]');
  });

  after(async () => {
    await browser?.close();
    await traffic?.stop();
    await rt?.close({ stopFleet: true });
    await origin?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    assert.deepEqual(errors.splice(0), [], `page errors in "${this.currentTest?.title}"`);
  });

  it('loads with the line running and shows the first build live', async () => {
    const tip = (await origin.dev.revparse(['HEAD'])).trim();
    await waitLive(tip);
    assert.equal(await liveSha(), tip);
    assert.equal(await page.textContent('#pipeline'), 'shop');
    await page.waitForSelector('#live.on');
  });

  it('shows a good deploy moving through its steps live, without a reload', async () => {
    // Record every in-flight state the page shows, as the server pushes events.
    // A string, not a function: the test's TypeScript transform would add helpers the page lacks.
    await page.evaluate(`(() => {
      window.seen = [];
      window.marker = 7;
      const note = () => {
        const el = document.querySelector('#inflight-card .inflight');
        if (!el) return;
        const s = el.dataset.status + ' ' + el.querySelector('dd.step')?.textContent?.trim() + ' ' + el.querySelector('dd.servers')?.textContent?.trim();
        if (window.seen.at(-1) !== s) window.seen.push(s);
      };
      new MutationObserver(note).observe(document.querySelector('#view'), { childList: true, subtree: true });
    })()`);
    const c = goodChange(1);
    const sha = await origin.commit(c.message, c.files, 'Grace Hopper <grace@shop.example>');
    await page.waitForFunction(() => /baking/.test(document.querySelector('#inflight-card')?.textContent ?? ''), undefined, LONG);
    await screenshot(page, 'demo-in-flight');
    await waitLive(sha);
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const steps = new Set(seen.map((s) => /(\d+) of (\d+)/.exec(s)?.[0]).filter(Boolean));
    assert.ok(steps.size >= 2, `saw several steps: ${seen.join(' | ')}`);
    assert.ok(
      seen.some((s) => s.startsWith('baking')),
      `saw a bake: ${seen.join(' | ')}`,
    );
    assert.ok(
      seen.some((s) => /of 3$/.test(s)),
      `saw servers on the new build: ${seen.join(' | ')}`,
    );
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 7, 'the page did not reload');
  });

  let badDeploy: string;

  it('shows the blocked banner after the bad commit, with the reverted commit and its evidence', async () => {
    // The demo's bad change made blatant (about half the checkouts fail, not 5%), so catching it
    // does not depend on how busy the test machine is; the judge's own tests measure its power.
    const c = badChange();
    const code = c.files['lib/checkout.js']!;
    assert.ok(code.includes('hash(user) % 20'), 'the demo bad change still indexes tiers with % 20');
    const sha = await origin.commit(
      c.message,
      { 'lib/checkout.js': code.replace('hash(user) % 20', 'hash(user) % 38') },
      'Linus Torvalds <linus@shop.example>',
    );
    const d = await waitFor(
      async () => (await rt.store.line.listDeploys('shop', { limit: 20 })).find((x) => x.shas.includes(sha) && x.outcome),
      150_000,
      'the bad deploy to finish',
    );
    assert.equal(d.outcome, 'reverted', `the bad commit was caught: ${d.reason}`);
    await page.waitForSelector('#blocked-banner', { timeout: 20_000 });
    const text = await page.locator('#blocked-banner').innerText();
    assert.match(text, /Line blocked/);
    assert.match(text, new RegExp(`Reverted: ${sha.slice(0, 8)} ${c.message.split('\n')[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(text, /revert commit [0-9a-f]{8}/);
    assert.match(text, /Who can unblock/);
    await screenshot(page, 'demo-blocked');
    badDeploy = (await page.locator('#blocked-banner a[href^="#/deploys/"]').getAttribute('href'))!.replace('#/deploys/', '');
    await page.evaluate((id) => (location.hash = `#/deploys/${id}`), badDeploy);
    await page.waitForSelector('.deploy-view figure.metric.fail');
    assert.equal(await page.locator('.deploy-view figure.metric').count(), 2, 'one chart per metric: error_rate, checkout_error_rate');
    assert.match(await page.locator('.deploy-head').innerText(), /reverted/);
    await screenshot(page, 'demo-deploy-gates');
    await page.evaluate(() => (location.hash = '#/'));
    await page.waitForSelector('#blocked-banner');
  });

  it('refuses a viewer token to unblock, and unblocks with a captain token', async () => {
    await useToken(VIEWER, 'token:vera (viewer)');
    await page.click('#blocked-banner [data-control=unblock]');
    await page.fill('#confirm-reason', 'error_rate regression understood; fix coming');
    await page.click('#confirm-ok');
    await page.waitForFunction(() => /403/.test(document.querySelector('#confirm-error')?.textContent ?? ''));
    assert.match(await page.innerText('#confirm-error'), /needs role captain or admin; token:vera has role viewer/);
    await page.click('#confirm-cancel');
    assert.equal((await rt.engine.status()).blocked, true);

    await useToken(CAPTAIN, 'token:cora (captain)');
    await page.click('#blocked-banner [data-control=unblock]');
    await page.fill('#confirm-reason', 'error_rate regression understood; fix coming');
    await page.click('#confirm-ok');
    await page.waitForSelector('#blocked-banner', { state: 'detached', timeout: 15_000 });
    assert.equal((await rt.engine.status()).blocked, false);
    const audit = await rt.store.audit.list({ limit: 10 });
    assert.ok(
      audit.some((a) => a.action === 'unblock' && a.actor === 'token:cora' && a.reason === 'error_rate regression understood; fix coming'),
      JSON.stringify(audit),
    );
    await page.waitForFunction(() =>
      /token:cora\s+unblock/.test((document.querySelector('#audit-card') as HTMLElement | null)?.innerText ?? ''),
    );
    await screenshot(page, 'demo-unblocked');
    await page.evaluate(() => (location.hash = '#/history'));
    await page.waitForSelector('#dora');
    await screenshot(page, 'demo-history');
  });
});
