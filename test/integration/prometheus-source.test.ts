// The Prometheus metrics source against a real Prometheus scraping real demo shop processes (found
// through the file_sd file immune writes): the demo regression (~5% of checkouts fail) is caught by
// judgeGate through Prometheus' data while a good release passes; no data and errors are never a pass.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { metricsConfig, type MetricsConfig } from '../../src/core/config/metrics.js';
import { judgeGate } from '../../src/core/judge/index.js';
import type { MetricSeries, Sample } from '../../src/core/judge/types.js';
import { writeFileSd } from '../../src/adapters/metrics/file-sd.js';
import { createPrometheusSource, planQueries, renderQuery } from '../../src/adapters/metrics/prometheus.js';
import { badChange, goodChange, SHOP_TEMPLATE_DIR } from '../../src/demo/shop-changes.js';
import { startTraffic, type Traffic } from '../../src/demo/traffic.js';
import type { Server, ServerSample } from '../../src/ports.js';
import { PROMETHEUS, startPrometheus, type Prometheus } from '../helpers/prometheus.js';
import { freePort } from '../helpers/sshd-server.js';

const log = pino({ level: 'silent' });

const DEFINITIONS = [
  {
    name: 'error_rate',
    kind: 'ratio',
    numerator: 'shop_http_requests_total{code=~"5.."}',
    denominator: 'shop_http_requests_total',
    bad: 'increase',
    tolerance: '10%',
    critical: true,
  },
  {
    name: 'checkout_error_rate',
    kind: 'ratio',
    numerator: 'shop_http_requests_total{route="/checkout",code=~"5.."}',
    denominator: 'shop_http_requests_total{route="/checkout"}',
    bad: 'increase',
    tolerance: '10%',
    critical: true,
  },
  {
    name: 'latency_p90',
    kind: 'continuous',
    histogram: 'shop_http_request_duration_seconds',
    quantile: 0.9,
    bad: 'increase',
    tolerance: '50%',
  },
  { name: 'checkouts', kind: 'count', counter: 'shop_checkouts_total', bad: 'decrease', tolerance: '30%', group: 'business' },
  { name: 'memory', kind: 'continuous', gauge: 'process_resident_memory_bytes', bad: 'increase', tolerance: '50%' },
  {
    name: 'requests_rate',
    kind: 'continuous',
    query: 'sum by (instance) (rate(shop_http_requests_total{instance=~"{{instances}}"}[{{interval}}]))',
    bad: 'decrease',
    tolerance: '50%',
  },
];

describe('Prometheus metrics source (real Prometheus scraping demo shops)', function () {
  this.timeout(90_000);
  let tmp: string;
  let prom: Prometheus | undefined;
  const shops: ChildProcess[] = [];
  let traffic: Traffic | undefined;
  const groups: Record<'baseline' | 'bad' | 'good', Server[]> = { baseline: [], bad: [], good: [] };
  let config: MetricsConfig;

  function shopCopy(name: string, files: Record<string, string>): string {
    const dir = join(tmp, name);
    cpSync(SHOP_TEMPLATE_DIR, dir, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
    return dir;
  }

  async function startShop(dir: string, id: string): Promise<Server> {
    const port = await freePort('127.0.0.1');
    const child = spawn(process.execPath, ['server.js'], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: '127.0.0.1',
        SERVER_ID: id,
        RELEASE_ID: dir.split('/').pop(),
        NODE_PATH: resolve('node_modules'),
      },
      stdio: 'ignore',
    });
    shops.push(child);
    const until = Date.now() + 10_000;
    while (
      !(await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) }).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`shop ${id} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { id, host: '127.0.0.1', port, labels: { role: id.replace(/\d+$/, '') } };
  }

  before(async function () {
    if (!PROMETHEUS) throw new Error('prometheus is not installed (Debian package prometheus)');
    tmp = mkdtempSync(join(tmpdir(), 'immune-prom-'));
    const base = shopCopy('rel-base', {});
    const bad = shopCopy('rel-bad', badChange().files);
    const good = shopCopy('rel-good', goodChange(1).files);
    const starts: Promise<Server>[] = [];
    for (let i = 1; i <= 2; i++) {
      starts.push(startShop(base, `baseline${i}`), startShop(bad, `bad${i}`), startShop(good, `good${i}`));
    }
    for (const s of await Promise.all(starts)) groups[s.labels.role as 'baseline' | 'bad' | 'good'].push(s);
    const all = [...groups.baseline, ...groups.bad, ...groups.good];
    const fileSd = join(tmp, 'targets', 'fleet.json');
    await writeFileSd(fileSd, all);
    prom = await startPrometheus({ dir: join(tmp, 'prom'), fileSd, scrapeInterval: '1s' });
    config = metricsConfig.parse({
      source: 'prometheus',
      prometheus: { url: prom.url, file_sd: fileSd },
      timeout: '3s',
      definitions: DEFINITIONS,
    });
    traffic = startTraffic({ targets: () => all, rpsPerServer: 40, durationMs: 60_000, seed: 7, checkoutRate: 1, log });
    await prom.waitForTargets(
      all.map((s) => `127.0.0.1:${s.port}`),
      15_000,
    );
  });

  after(async function () {
    await traffic?.stop();
    for (const c of shops) c.kill('SIGKILL');
    await prom?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('writes a file_sd target file naming each server and its labels', function () {
    const groupsOnDisk = JSON.parse(readFileSync(join(tmp, 'targets', 'fleet.json'), 'utf8')) as {
      targets: string[];
      labels: Record<string, string>;
    }[];
    assert.equal(groupsOnDisk.length, 6);
    assert.deepEqual(groupsOnDisk[0], {
      targets: [`127.0.0.1:${groups.baseline[0]!.port}`],
      labels: { role: 'baseline', server: 'baseline1' },
    });
  });

  it('catches the checkout regression through Prometheus and passes the good release', async function () {
    const source = createPrometheusSource(config, { log });
    const intervalMs = 3000;
    const servers = [...groups.baseline, ...groups.bad, ...groups.good];
    const data = new Map<string, Map<string, Sample[]>>();
    let started = Date.now();
    let badResult: ReturnType<typeof judgeGate> | undefined;
    let goodResult: ReturnType<typeof judgeGate> | undefined;
    const series = (canary: Server[]): MetricSeries[] =>
      config.definitions.map((d) => ({
        name: d.name,
        kind: d.kind,
        bad: d.bad,
        tolerance: d.tolerance,
        critical: d.critical,
        baseline: groups.baseline.map((s) => data.get(d.name)?.get(s.id) ?? []),
        canary: canary.map((s) => data.get(d.name)?.get(s.id) ?? []),
      }));
    let samples: ServerSample[] = [];
    // Start with full windows: Prometheus found the targets at slightly different times.
    await new Promise((r) => setTimeout(r, intervalMs + 1000));
    started = Date.now();
    while (Date.now() - started < 50_000) {
      await new Promise((r) => setTimeout(r, intervalMs));
      samples = await source.sample(servers, intervalMs);
      for (const s of samples) {
        assert.equal(s.ok, true, `${s.server}: ${s.error}`);
        for (const [name, v] of Object.entries(s.values)) {
          if (v === null) continue;
          const perServer = data.get(name) ?? new Map<string, Sample[]>();
          data.set(name, perServer);
          perServer.set(s.server, [...(perServer.get(s.server) ?? []), v]);
        }
      }
      const gate = (canary: Server[]) =>
        judgeGate({
          alpha: 0.01,
          metrics: series(canary),
          elapsedMs: Date.now() - started,
          minBakeMs: 12_000,
          maxBakeMs: 45_000,
          onInconclusive: 'rollback',
          unresponsive: [],
        });
      if (!badResult || badResult.decision === 'continue') badResult = gate(groups.bad);
      if (!goodResult || goodResult.decision === 'continue') goodResult = gate(groups.good);
      if (badResult.decision !== 'continue' && goodResult.decision !== 'continue') break;
    }
    if (process.env.PROM_TEST_DEBUG)
      console.log(
        JSON.stringify([...data.get('checkout_error_rate')!].map(([k, v]) => [k, v])),
        JSON.stringify(badResult?.metrics.map((m) => m.explanation)),
      );
    assert.equal(badResult?.decision, 'fail', badResult?.explanation);
    assert.match(badResult!.explanation, /checkout_error_rate|error_rate/);
    assert.equal(goodResult?.decision, 'pass', goodResult?.explanation);
    // Every kind of definition produced numbers: ratio pairs, a quantile, counts, a gauge and a user query.
    const last = samples.find((s) => s.server === 'bad1')!;
    assert.ok(Array.isArray(last.values.checkout_error_rate) && (last.values.checkout_error_rate as number[])[1]! > 0);
    for (const name of ['latency_p90', 'checkouts', 'memory', 'requests_rate']) assert.equal(typeof last.values[name], 'number', name);
    console.log(`      bad release failed after ${Math.round((Date.now() - started) / 1000)}s: ${badResult!.explanation}`);
  });

  it('reads the past with range queries: one sample per interval, like live samples', async function () {
    const source = createPrometheusSource(config, { log });
    const end = Date.now();
    const steps = await source.history([...groups.baseline, ...groups.bad], end - 9000, end, 3000);
    assert.equal(steps.length, 4);
    for (const step of steps) {
      assert.deepEqual(
        step.map((s) => s.server),
        ['baseline1', 'baseline2', 'bad1', 'bad2'],
      );
      for (const s of step) {
        assert.equal(s.ok, true, s.error);
        assert.equal(typeof s.values.checkouts, 'number');
        assert.ok(Array.isArray(s.values.error_rate));
      }
    }
    // The bad release's errors show in the history too.
    const errors = steps.flatMap((st) =>
      st.filter((s) => s.server.startsWith('bad')).map((s) => (s.values.error_rate as [number, number])[0]),
    );
    assert.ok(
      errors.some((e) => e > 0),
      JSON.stringify(errors),
    );
  });

  it('returns null values (never a pass) for series that do not exist and for NaN', async function () {
    const cfg = metricsConfig.parse({
      source: 'prometheus',
      prometheus: { url: prom!.url },
      definitions: [
        { name: 'ghost', kind: 'count', counter: 'no_such_metric_total', bad: 'decrease' },
        { name: 'nan', kind: 'continuous', query: 'sum by (instance) (up{instance=~"{{instances}}"}) / 0 * 0', bad: 'increase' },
        { name: 'bad_query', kind: 'continuous', query: 'sum by (instance) (rate(up[{{interval}}])', bad: 'increase' },
      ],
    });
    const samples = await createPrometheusSource(cfg, { log }).sample(groups.baseline, 3000);
    for (const s of samples) {
      assert.deepEqual(s.values, { ghost: null, nan: null, bad_query: null });
      assert.equal(s.ok, true);
      assert.match(s.error ?? '', /bad_query: bad_data/);
    }
    const gate = judgeGate({
      alpha: 0.01,
      metrics: [{ name: 'ghost', kind: 'count', bad: 'decrease', tolerance: 0.1, baseline: [[]], canary: [[]] }],
      elapsedMs: 60_000,
      minBakeMs: 10_000,
      maxBakeMs: 60_000,
      onInconclusive: 'rollback',
      unresponsive: [],
    });
    assert.notEqual(gate.decision, 'pass');
  });

  it('marks every server not ok when Prometheus cannot be reached, and a target that is down', async function () {
    const port = await freePort('127.0.0.1');
    const cfg = { ...config, prometheus: { ...config.prometheus!, url: `http://127.0.0.1:${port}` } };
    const samples = await createPrometheusSource(cfg, { log }).sample(groups.good, 3000);
    for (const s of samples) {
      assert.equal(s.ok, false);
      assert.match(s.error ?? '', /prometheus unreachable: .*127\.0\.0\.1/);
      assert.ok(Object.values(s.values).every((v) => v === null));
    }
    // Stop one shop: Prometheus reports up == 0 for it within a few scrapes.
    const victim = groups.good[1]!;
    shops[shops.length - 1]!.kill('SIGKILL');
    const source = createPrometheusSource(config, { log });
    const until = Date.now() + 15_000;
    let mine: ServerSample | undefined;
    do {
      await new Promise((r) => setTimeout(r, 500));
      mine = (await source.sample([victim], 3000))[0];
    } while (mine?.ok !== false && Date.now() < until);
    assert.equal(mine?.ok, false);
    assert.match(mine!.error ?? '', /cannot scrape 127\.0\.0\.1:\d+ \(up == 0\)/);
  });
});

describe('Prometheus queries', function () {
  it('restricts each selector to the servers asked about and groups by instance', function () {
    const [ratio, hist, gauge, own] = planQueries(
      metricsConfig.parse({
        source: 'prometheus',
        prometheus: { url: 'http://127.0.0.1:9090' },
        definitions: [DEFINITIONS[1], DEFINITIONS[2], DEFINITIONS[4], DEFINITIONS[5]],
      }).definitions,
      'instance',
    );
    const r = (q: string) => renderQuery(q, ['127.0.0.1:7101', '127.0.0.1:7102'], 30_000);
    assert.ok(ratio?.kind === 'ratio');
    assert.equal(
      r(ratio.numerator),
      'sum by (instance) (increase(shop_http_requests_total{route="/checkout",code=~"5..",instance=~"127\\\\.0\\\\.0\\\\.1:7101|127\\\\.0\\\\.0\\\\.1:7102"}[30s]))',
    );
    assert.ok(hist?.kind === 'continuous' && gauge?.kind === 'continuous' && own?.kind === 'continuous');
    assert.match(
      r(hist.query),
      /^histogram_quantile\(0\.9, sum by \(le, instance\) \(rate\(shop_http_request_duration_seconds_bucket\{instance=~"[^"]+"\}\[30s\]\)\)\)$/,
    );
    assert.match(r(gauge.query), /^avg by \(instance\) \(avg_over_time\(process_resident_memory_bytes\{instance=~"[^"]+"\}\[30s\]\)\)$/);
    assert.equal(
      r(own.query),
      'sum by (instance) (rate(shop_http_requests_total{instance=~"127\\\\.0\\\\.0\\\\.1:7101|127\\\\.0\\\\.0\\\\.1:7102"}[30s]))',
    );
  });

  it('rejects a selector that does not parse, naming the definition', function () {
    const cfg = metricsConfig.parse({
      source: 'prometheus',
      prometheus: { url: 'http://127.0.0.1:9090' },
      definitions: [{ name: 'x', kind: 'count', counter: 'a{b=', bad: 'increase' }],
    });
    assert.throws(() => createPrometheusSource(cfg, { log }), /metrics\.definitions\.0\.counter: metric x: /);
  });
});
