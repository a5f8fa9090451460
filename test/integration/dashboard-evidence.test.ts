// The deploy page's summary table matches the API, in headless Chromium against the real server:
// the real SQLite store holds gate looks made by the real judge (a good deploy through three steps
// and the watch; a bad one caught at the first step with no errors on the baseline, beside a
// metric without canary data), GET /api/deploys/:id builds the table, the page shows it first
// and its charts on demand, labelled "no data" where there is none, with units on the axes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { openSqliteStore } from '../../src/adapters/store/sqlite/index.js';
import { systemClock } from '../../src/adapters/clock/system.js';
import { UNREADABLE, type EvidenceTable } from '../../src/core/judge/evidence.js';
import { judgeGate, judgeWatch } from '../../src/core/judge/index.js';
import type { MetricSeries, Sample } from '../../src/core/judge/types.js';
import { EventBus } from '../../src/engine/events.js';
import { ExperimentRegistry } from '../../src/engine/experiments.js';
import type { GateLookRecord, Store } from '../../src/ports.js';
import { buildServer } from '../../src/server/app.js';
import { createAuth } from '../../src/server/auth.js';
import type { ServerContext } from '../../src/server/context.js';
import { launchBrowser, openPage, screenshot } from '../helpers/browser.js';
import { deploy, deployState } from '../unit/adapters/store/sqlite/fixtures.js';
import { gate, grid, wobble } from '../unit/core/judge/build.js';

const INTERVAL = 2000;
const FLEET = 8;

/** The demo's metrics with their units, `t` intervals on `servers` servers; `bad` puts errors on the canary only. */
function metricsAt(t: number, canary: number, servers: number, bad: boolean): MetricSeries[] {
  const rows = <T extends Sample>(n: number, off: number, f: (s: number, i: number) => T) => grid(n, t, (s, i) => f(s + off, i));
  const base = servers - canary;
  const m = (
    name: string,
    kind: MetricSeries['kind'],
    f: (s: number, i: number, c: boolean) => Sample,
    extra: Partial<MetricSeries> = {},
  ): MetricSeries => ({
    name,
    kind,
    bad: 'increase',
    tolerance: 0.2,
    baseline: rows(base, canary, (s, i) => f(s, i, false)),
    canary: rows(canary, 0, (s, i) => f(s, i, true)),
    ...extra,
  });
  return [
    // A good build's few errors cannot rule out +20%; within a 50% tolerance its estimate passes at max bake (pass_within_tolerance).
    m('error_rate', 'ratio', (s, i, c) => (bad ? [c ? 3 : 0, 150] : [Math.round(1 + wobble(s, i)), 150]), bad ? {} : { tolerance: 0.5 }),
    m('latency_p99', 'continuous', (s, i) => 0.2 + 0.01 * wobble(s, i), { unit: 'seconds' }),
    m('memory', 'continuous', (s, i) => 1.25e8 + 1e6 * wobble(s, i, 2), { unit: 'bytes' }),
    m('cpu', 'continuous', (s, i) => 0.05 + 0.004 * wobble(s, i, 3), { unit: 'cores', tolerance: 0.5 }),
    m('signups', 'count', (s, i) => 3 + Math.round(2 * wobble(s, i, 4)), { bad: 'decrease', intervalMs: INTERVAL }),
    // A metric the canary does not report at all: "no data", never pass.
    ...(bad
      ? [{ ...m('queue_depth', 'continuous', (s, i) => 10 + wobble(s, i)), canary: rows(canary, 0, () => null as unknown as Sample) }]
      : []),
  ];
}

function gateLooks(deployId: string, t0: number, step: number, canary: number, bad: boolean): GateLookRecord[] {
  const out: GateLookRecord[] = [];
  for (let t = 1; t <= 15; t++) {
    const r = judgeGate(
      gate(metricsAt(t, canary, FLEET, bad), {
        elapsedMs: t * INTERVAL,
        minBakeMs: 10_000,
        maxBakeMs: 30_000,
        onInconclusive: bad ? 'hold' : 'pass_within_tolerance',
      }),
    );
    out.push({
      deployId,
      step,
      time: t0 + t * INTERVAL,
      elapsedMs: t * INTERVAL,
      decision: r.decision,
      explanation: r.explanation,
      metrics: r.metrics,
    });
    if (r.decision !== 'continue') break;
  }
  return out;
}

function watchLooks(deployId: string, t0: number): GateLookRecord[] {
  const out: GateLookRecord[] = [];
  for (let t = 2; t <= 8; t += 2) {
    const now = metricsAt(t, FLEET, FLEET, false);
    const before = metricsAt(8, FLEET, FLEET, false);
    const metrics = now.map((m, k) => ({ ...m, baseline: before[k]!.canary, canary: m.canary }));
    const r = judgeWatch({
      alpha: 0.01,
      metrics,
      elapsedMs: t * INTERVAL,
      durationMs: 16_000,
      unresponsive: [],
      onInconclusive: 'pass_within_tolerance',
    });
    out.push({
      deployId,
      step: -1,
      time: t0 + t * INTERVAL,
      elapsedMs: t * INTERVAL,
      decision: r.decision,
      explanation: r.explanation,
      metrics: r.metrics,
    });
  }
  return out;
}

describe('dashboard: the deploy summary table matches the API (real server, headless Chromium)', function () {
  this.timeout(60_000);
  let dir: string;
  let store: Store;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const now = Date.now();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'immune-evidence-'));
    store = openSqliteStore(join(dir, 'state.db'));
    const events = new EventBus();
    const log = pino({ level: 'silent' });
    const ctx: ServerContext = {
      store,
      log,
      events,
      auth: createAuth({ tokens: [], openRead: true }),
      line: undefined,
      pipelineName: undefined,
      experiments: new ExperimentRegistry({ dir, store, events, log, clock: systemClock }),
      clientTokens: [],
      publicUrl: '',
    };
    const t0 = now - 600_000;
    await store.line.createDeploy(
      deploy('good', t0, {
        status: 'live',
        outcome: 'live',
        finishedAt: now - 300_000,
        state: deployState({ status: 'live', step: 2, outcome: 'live' }),
      }),
    );
    for (const l of [
      ...gateLooks('good', t0, 0, 1, false),
      ...gateLooks('good', t0 + 60_000, 1, 4, false),
      ...gateLooks('good', t0 + 120_000, 2, 6, false),
      ...watchLooks('good', t0 + 180_000),
    ])
      await store.line.appendGateLook(l);
    await store.line.createDeploy(
      deploy('bad', now - 200_000, {
        status: 'failed',
        outcome: 'reverted',
        finishedAt: now - 100_000,
        state: deployState({ status: 'failed', step: 0, outcome: 'reverted' }),
      }),
    );
    for (const l of gateLooks('bad', now - 200_000, 0, 1, true)) await store.line.appendGateLook(l);
    app = await buildServer(ctx, { logger: false });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchBrowser();
    page = await openPage(browser, errors);
  });

  after(async () => {
    await browser?.close();
    await app?.close();
    store?.close?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(function () {
    assert.deepEqual(errors.splice(0), [], `page errors in "${this.currentTest?.title}"`);
  });

  async function open(id: string): Promise<EvidenceTable> {
    const body = (await (await fetch(`${url}/api/deploys/${id}`)).json()) as { summary: EvidenceTable };
    await page.goto(`${url}/#/deploys/${id}`);
    await page.waitForSelector(`.deploy-view[data-deploy="${id}"] table.summary`);
    return body.summary;
  }

  /** Every cell of the page's table, as the page shows it. */
  async function pageCells() {
    return page.$$eval('table.summary td[data-step]', (tds) =>
      tds.map((td) => ({
        step: Number(td.getAttribute('data-step')),
        metric: td.getAttribute('data-metric'),
        label: (td.querySelector('.verdict') as HTMLElement | null)?.innerText.trim(),
        estimate: (td.querySelector('.estimate') as HTMLElement | null)?.innerText.trim(),
        interval: (td.querySelector('.interval') as HTMLElement | null)?.innerText.trim(),
        samples: (td.querySelector('.samples') as HTMLElement | null)?.innerText.trim(),
        title: td.getAttribute('title'),
      })),
    );
  }

  for (const id of ['good', 'bad']) {
    it(`shows the ${id} deploy's summary cell for cell as GET /api/deploys/${id} answers it`, async () => {
      const summary = await open(id);
      assert.ok(summary.rows.length >= summary.metrics.length, 'the API answered rows');
      const cells = await pageCells();
      assert.equal(cells.length, summary.steps.length * summary.metrics.length, 'one cell per metric and step');
      for (const r of summary.rows) {
        const c = cells.find((x) => x.step === r.step && x.metric === r.metric);
        assert.ok(c, `a cell for ${r.metric} at step ${r.step}`);
        assert.deepEqual(
          { label: c.label, estimate: c.estimate, interval: c.interval, samples: c.samples, title: c.title },
          { label: r.label, estimate: r.estimate || 'no data', interval: r.interval, samples: r.samples, title: r.explanation },
          `${r.metric} at step ${r.step}`,
        );
      }
      const heads = await page.$$eval('table.summary thead th[data-step]', (ths) => ths.map((th) => (th as HTMLElement).innerText));
      assert.deepEqual(
        heads.map((h) => h.split('\n')[0]),
        summary.steps.map((s) => `${s.name} ${s.decision === 'continue' ? 'continue' : s.decision}`),
      );
      // Nothing on the page, charts' tick labels included, reads as Infinity, NaN, ∞ or an exponent.
      const text = await page.$eval('#view', (v) =>
        [
          (v as HTMLElement).innerText,
          ...Array.from(v.querySelectorAll('svg text, [title]')).map((e) => e.textContent + ' ' + (e.getAttribute('title') ?? '')),
        ].join('\n'),
      );
      assert.ok(
        !UNREADABLE.test(text),
        `unreadable: ${text.match(UNREADABLE)?.[0]} in ${text.slice(Math.max(0, text.search(UNREADABLE) - 80), text.search(UNREADABLE) + 40)}`,
      );
    });
  }

  it('opens the good deploy on its summary, with the charts folded away and units on their axes', async () => {
    const summary = await open('good');
    assert.deepEqual(
      summary.steps.map((s) => [s.name, s.decision]),
      [
        ['step 1 of 3 (1 of 8 servers)', 'pass'],
        ['step 2 of 3 (4 of 8 servers)', 'pass'],
        ['step 3 of 3 (8 of 8 servers)', 'pass'],
        ['watch', 'pass'],
      ],
    );
    const top = (sel: string) => page.$eval(sel, (e) => e.getBoundingClientRect().top);
    assert.ok((await top('#summary-card')) < (await top('#gates-card')), 'the summary comes before the charts');
    assert.equal(await page.locator('details.gate-step[open]').count(), 0, 'a good deploy opens with every chart folded');
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    console.log(`      good deploy page: ${height} px with charts folded (${summary.rows.length} cells)`);
    await screenshot(page, 'evidence-good');
    await page.click('details.gate-step[data-step="0"] > summary');
    const ticks = async (metric: string) =>
      page.$$eval(`details.gate-step[data-step="0"] figure[data-metric="${metric}"] svg text.tick`, (ts) =>
        ts.map((t) => t.textContent ?? ''),
      );
    assert.ok(
      (await ticks('latency_p99')).some((t) => / ms$/.test(t)),
      'latency axis in ms',
    );
    assert.ok(
      (await ticks('memory')).some((t) => / MB$/.test(t)),
      'memory axis in MB',
    );
    assert.ok(
      (await ticks('cpu')).some((t) => /% CPU$/.test(t)),
      'cpu axis in % CPU',
    );
    assert.ok(
      (await ticks('error_rate')).some((t) => /%$/.test(t)),
      'error rate axis in %',
    );
  });

  it('shows the bad deploy caught at step 1 with the counts and a bound, and a metric without canary data as no data', async () => {
    const summary = await open('bad');
    assert.deepEqual(
      summary.steps.map((s) => s.decision),
      ['fail'],
    );
    const err = summary.rows.find((r) => r.metric === 'error_rate')!;
    assert.equal(err.label, 'fail');
    assert.match(err.samples, /^\d[\d,]* of [\d,]+ on the canary vs 0 of [\d,]+ on the baseline$/);
    assert.match(err.interval, /^at least \+\d[\d.]* pp$/);
    const none = summary.rows.find((r) => r.metric === 'queue_depth')!;
    assert.equal(none.label, 'no data');
    // The failed step is open; the chart of the metric without data says so instead of drawing nothing.
    const fig = page.locator('details.gate-step[data-step="0"][open] figure[data-metric="queue_depth"]');
    assert.match(await fig.innerText(), /no data/);
    assert.equal(await fig.locator('svg').count(), 0);
    assert.equal(await page.locator('td[data-step="0"][data-metric="queue_depth"] .verdict').innerText(), 'no data');
    await screenshot(page, 'evidence-bad');
  });
});
