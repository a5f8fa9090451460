// The dashboard in real headless Chromium against the fixture API: every view, live updates over
// SSE, and the controls with tokens of each role.
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, openPage, screenshot, startFixtureServer, type FixtureServer } from '../helpers/browser.js';

describe('dashboard (fixture API, headless Chromium)', function () {
  this.timeout(60_000);
  let srv: FixtureServer;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  const useToken = async (token: string) => {
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
  };
  const rendered = async () => Number(await page.getAttribute('#view', 'data-rendered-at'));
  const go = async (hash: string) => {
    const before = await rendered().catch(() => 0);
    await page.evaluate((h) => (location.hash = h), hash);
    await page.waitForFunction((b) => Number(document.querySelector('#view')?.getAttribute('data-rendered-at') ?? 0) > b, before);
  };

  before(async () => {
    srv = await startFixtureServer();
    browser = await launchBrowser();
    page = await openPage(browser, errors);
    page.on('dialog', (d) => {
      errors.push(`unexpected browser dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(`${srv.url}/#/`);
    await page.waitForSelector('#view[data-view=line]');
  });
  after(async () => {
    await browser?.close();
    await srv?.close();
  });
  afterEach(function () {
    assert.deepEqual(errors.splice(0), [], `page errors in "${this.currentTest?.title}"`);
  });

  it('shows the blocked banner with reason, reverted commit and who can unblock; commit text stays text', async () => {
    const banner = page.locator('#blocked-banner');
    await banner.waitFor();
    const text = await banner.innerText();
    assert.match(text, /Line blocked/);
    assert.match(text, /deploy d-0042 regressed error_rate at step 2 and was reverted/);
    assert.match(text, /Reverted: badc0ffe Cache cart totals <script>alert\(1\)<\/script> — Bob Builder/);
    assert.match(text, /revert commit feedface/);
    assert.match(text, /Who can unblock: a release captain or an admin/);
    assert.equal(await page.locator('#view script').count(), 0);
    assert.equal(await page.textContent('#pipeline'), 'shop');
    await screenshot(page, 'line-blocked');
  });

  it('shows each notification target, a dead letter in red ("slack: 3 failed, last 503")', async () => {
    const slack = page.locator('#notifications-card li[data-target=slack]');
    await slack.waitFor();
    const text = (await slack.textContent()) ?? '';
    assert.match(text, /^slack \(slack\) 3 failed, last 503 Service Unavailable · 2 min ago · 12 delivered$/);
    assert.equal(await slack.getAttribute('class'), 'error');
    assert.match(
      (await page.locator('#notifications-card li[data-target=pager]').textContent()) ?? '',
      /^pager \(pager\) ok · 2 delivered$/,
    );
    assert.match((await page.locator('#notifications-card').textContent()) ?? '', /immune notify retry/);
  });

  it('shows live, in flight (step, servers on the new build, bake time) and the queue', async () => {
    const inflight = await page.locator('#inflight-card').innerText();
    assert.match(inflight, /d-0043/);
    assert.match(inflight, /baking/);
    assert.match(inflight, /1 of 3/);
    assert.match(inflight, /1 of 8/);
    assert.match(await page.locator('#inflight-card .bake').innerText(), /^\d+ s$/);
    // The current step's gate at a glance: one small effect chart per metric, with its verdict.
    assert.deepEqual(
      await page.locator('#inflight-card .glance-metric').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.metric)),
      ['error_rate', 'latency_p50', 'checkouts'],
    );
    assert.equal(await page.locator('#inflight-card .glance-metric svg path.band').count(), 3);
    assert.match(await page.locator('#live-card').innerText(), /a1b2c3d4[\s\S]*art-5e1f[\s\S]*d-0041/);
    assert.match(await page.locator('#queue-card').innerText(), /Queue \(1\)[\s\S]*Tidy the footer/);
  });

  it('follows a deploy through its steps live, without a reload', async () => {
    await page.waitForSelector('#live.on');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const inFlight = srv.data.line.inFlight!;
    for (const [step, servers] of [
      [1, 4],
      [2, 8],
    ] as const) {
      Object.assign(inFlight, { step, serversOnNew: servers, status: 'rolling_out' });
      srv.push({
        type: 'deploy',
        pipeline: 'shop',
        deploy: 'd-0043',
        status: 'rolling_out',
        step,
        servers,
        of: 8,
        message: `step ${step + 1}`,
      });
      await page.waitForFunction((s) => document.querySelector('#inflight-card .step')?.textContent?.includes(`${s + 1} of 3`), step);
      assert.match(await page.locator('#inflight-card dd.servers').innerText(), new RegExp(`${servers} of 8`));
      assert.match(await page.locator('#inflight-card').innerText(), /rolling out/);
    }
    // Tests of the next change run while a deploy is in flight: their progress shows in the queue.
    srv.push({
      type: 'tests',
      pipeline: 'shop',
      deploy: 'next:dd00aa11',
      shardsDone: 2,
      shardsTotal: 4,
      passed: 50,
      failed: 1,
      etaMs: 12_000,
    });
    await page.waitForSelector('#queue-card .tests-ahead');
    assert.equal(
      await page.locator('#queue-card .tests-ahead').innerText(),
      'tests ahead for dd00aa11: 2/4 shards, 50 passed, 1 failed, ~12 s left',
    );
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42);
  });

  it('refuses a viewer token to unblock with the 403 message, and asks for a reason', async () => {
    await useToken('viewer-token-123');
    await page.waitForFunction(() => document.querySelector('#whoami')?.textContent === 'token:vera (viewer)');
    await page.click('#blocked-banner [data-control=unblock]');
    await page.waitForSelector('#confirm[open]');
    await page.click('#confirm-ok');
    assert.match(await page.innerText('#confirm-error'), /A reason is required/);
    await page.fill('#confirm-reason', 'root cause fixed in 1234abc');
    await page.click('#confirm-ok');
    await page.waitForSelector('#confirm-error:not([hidden])');
    await page.waitForFunction(() => /403/.test(document.querySelector('#confirm-error')?.textContent ?? ''));
    assert.equal(
      await page.innerText('#confirm-error'),
      '403 IMMUNE_FORBIDDEN: POST /api/line/unblock needs role captain or admin; token:vera has role viewer',
    );
    await screenshot(page, 'unblock-refused');
    await page.click('#confirm-cancel');
    assert.equal(srv.data.line.blocked, true);
    assert.equal(await page.locator('#blocked-banner').count(), 1);
  });

  it('unblocks with a captain token and records who and why in the audit log', async () => {
    await useToken('captain-token-789');
    await page.waitForFunction(() => document.querySelector('#whoami')?.textContent === 'token:cora (captain)');
    await page.waitForSelector('#live.on');
    await page.click('#blocked-banner [data-control=unblock]');
    await page.fill('#confirm-reason', 'root cause fixed in 1234abc');
    await page.click('#confirm-ok');
    await page.waitForSelector('#blocked-banner', { state: 'detached' });
    assert.equal(srv.data.line.blocked, false);
    await page.waitForFunction(() =>
      /token:cora\s+unblock\s+line:shop\s+root cause fixed in 1234abc/.test(
        (document.querySelector('#audit-card') as HTMLElement | null)?.innerText ?? '',
      ),
    );
    assert.equal(srv.data.audit.at(-1)?.actor, 'token:cora');
    await screenshot(page, 'line-unblocked');
  });

  it("shows a deploy's commits, tests and every step's gate as charts with verdicts", async () => {
    await go('#/deploys/d-0042');
    const view = page.locator('.deploy-view');
    assert.match(await view.locator('.deploy-head').innerText(), /d-0042[\s\S]*failed[\s\S]*reverted[\s\S]*Reverted by commit feedface/);
    assert.match(await page.locator('#commits-card').innerText(), /Bob Builder/);
    assert.equal(await page.locator('#tests-card svg.bars rect.bar').count(), 4);
    assert.match(
      await page.locator('#tests-card').innerText(),
      /Flaky \(passed on re-run\) \(1\)[\s\S]*cart totals round half up[\s\S]*Slowest \(1\)/,
    );
    assert.equal(await page.locator('.gate-step').count(), 2);
    assert.equal(await page.locator('figure.metric').count(), 6);
    const failing = page.locator('.gate-step[data-step="1"] figure.metric.fail');
    assert.equal(await failing.count(), 1);
    assert.equal(await failing.getAttribute('data-metric'), 'error_rate');
    // Two lines (canary, baseline) and a band per chart.
    assert.equal(await failing.locator('path.line').count(), 2);
    assert.equal(await failing.locator('path.band').count(), 1);
    assert.match(await failing.innerText(), /regression/);
    assert.match(await page.locator('.gate-step[data-step="1"] > .explanation').innerText(), /error_rate \+412%/);
    await screenshot(page, 'deploy-gates');
  });

  it('shows history with outcomes, durations and DORA figures for a chosen period', async () => {
    await go('#/history');
    assert.match(await page.locator('#dora').innerText(), /0\.3\/day[\s\S]*Deploy frequency[\s\S]*19 min(?! \d)[\s\S]*50%[\s\S]*42 s/);
    assert.equal(await page.locator('#deploys-card tbody tr').count(), 3);
    assert.match(await page.locator('tr[data-deploy=d-0042]').innerText(), /reverted[\s\S]*8 min(?! \d)/);
    assert.equal(await page.locator('svg.strip rect.bar').count(), 3);
    assert.match(await page.locator('#history-audit').innerText(), /unblock/);
    await page.click('a[data-days="30"]');
    await page.waitForSelector('a.chip.on[data-days="30"]');
    assert.match(await page.locator('[data-figure="Deploy frequency"]').innerText(), /in 30 days/);
    await screenshot(page, 'history');
  });

  it('shows experiments with lift intervals and SRM, and closes one with a chosen branch', async () => {
    await go('#/experiments');
    const exp = page.locator('[data-experiment=checkout-button]');
    const text = await exp.innerText();
    assert.match(text, /desired result[\s\S]*winner: Enhanced/);
    assert.match(text, /Started .*; running for 3 d\./);
    assert.match(text, /SRM: 2,001 \/ 2,011 participants against 50% \/ 50%: p=0\.5200, OK/);
    assert.match(text, /evaluations against 50% \/ 50%: not tested/);
    assert.match(
      text,
      /Fed by exposures from immune-sdk 3,000, unleash-impressions 1,015; conversions from immune-sdk 800, openfeature 40; SDK evaluations \(unleash-metrics\): control 9,120, Enhanced 9,340\./,
    );
    // Raw numerator/denominator, and a tiny guardrail rate that stays readable.
    assert.match(text, /Enhanced: \+12\.0% .* 450\/2,011 = 22\.40% vs control 400\/2,001 = 19\.99%/);
    assert.match(text, /1\/2,011 = 0\.050%/);
    assert.equal(await exp.locator('[data-history=checkout] svg path.line').count(), 1);
    assert.match(
      await page.locator('#guarded-card').innerText(),
      /new-checkout\s+OFF, blocked[\s\S]*1% → 10% → 50% → 100%, owner alice@example.com[\s\S]*error \+133%[\s\S]*immune flags unblock new-checkout/,
    );
    assert.equal(await exp.locator('figure[data-goal] svg.intervals line.interval').count(), 2);
    await screenshot(page, 'experiments');
    await useToken('engineer-token-456');
    await page.click('[data-close=checkout-button]');
    await page.selectOption('#close-branch', 'Enhanced');
    await page.fill('#confirm-reason', 'checkout +12%, guardrails fine');
    await page.click('#confirm-ok');
    await page.waitForFunction(() =>
      /closed → Enhanced/.test(document.querySelector('[data-experiment=checkout-button]')?.textContent ?? ''),
    );
    const { closing } = srv.data.experiments[0] as { closing: { branch: string; actor: string; reason: string } };
    assert.deepEqual([closing.branch, closing.actor, closing.reason], ['Enhanced', 'token:erin', 'checkout +12%, guardrails fine']);
    assert.match(await page.locator('#flags-card').innerText(), /new-footer\s+on\s+rollout 25%/);
  });

  it('serves the API docs as OpenAPI JSON and as a page', async () => {
    const doc = (await (await fetch(`${srv.url}/api/docs`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { 'x-immune-role': string }>>;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.equal(doc.paths['/api/line/unblock']?.post?.['x-immune-role'], 'captain');
    await page.goto(`${srv.url}/api/docs.html`);
    assert.match(await page.locator('main').innerText(), /POST\s+\/api\/line\/unblock\s+captain/);
    await screenshot(page, 'api-docs');
  });
});
