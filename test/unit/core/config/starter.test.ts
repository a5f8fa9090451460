import assert from 'node:assert/strict';
import { contractMetrics, inferMetrics, starterPipeline, type AppFacts, type ScrapedFamily } from '../../../../src/core/config/starter.js';
import { parsePipeline } from '../../../../src/core/config/index.js';

const facts = (over: Partial<AppFacts> = {}): AppFacts => ({
  name: 'app',
  repo: { url: '/srv/git/app.git', branch: 'main', comment: 'origin' },
  tests: { runner: 'node-test', files: ['test/**/*.test.js'], setup: [] },
  build: { commands: [] },
  start: ['node', 'server.js'],
  servers: 4,
  basePort: 7201,
  metricsFrom: 'http://127.0.0.1:1/metrics',
  metrics: contractMetrics(),
  candidates: [],
  warnings: [],
  ...over,
});

describe('core/config/starter', () => {
  it('infers error rate, p99 latency, memory and CPU from what an app serves', () => {
    const fams: ScrapedFamily[] = [
      { name: 'shop_http_requests_total', type: 'counter', labels: { route: ['/'], code: ['200', '500'] } },
      { name: 'shop_http_request_duration_seconds', type: 'histogram', labels: { route: ['/'] } },
      { name: 'shop_checkouts_total', type: 'counter', labels: {} },
      { name: 'process_resident_memory_bytes', type: 'gauge', labels: {} },
      { name: 'process_cpu_seconds_total', type: 'counter', labels: {} },
      { name: 'nodejs_eventloop_lag_seconds', type: 'gauge', labels: {} },
    ];
    const { metrics, candidates } = inferMetrics(fams);
    assert.deepEqual(
      metrics.map((m) => m.def),
      [
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
          name: 'latency_p99',
          kind: 'continuous',
          histogram: 'shop_http_request_duration_seconds',
          quantile: 0.99,
          bad: 'increase',
          tolerance: '20%',
          warmup: '30s',
        },
        { name: 'memory', kind: 'continuous', gauge: 'process_resident_memory_bytes', bad: 'increase', tolerance: '25%', warmup: '30s' },
        { name: 'cpu', kind: 'continuous', rate: 'process_cpu_seconds_total', bad: 'increase', tolerance: '50%', warmup: '30s' },
      ],
    );
    assert.deepEqual(
      candidates.map((c) => c.def),
      [
        {
          name: 'shop_checkouts',
          kind: 'count',
          counter: 'shop_checkouts_total',
          bad: 'decrease',
          tolerance: '10%',
          group: 'business',
          per: 'error_rate',
        },
      ],
    );
  });

  it('reads errors from a histogram _count with a status label when there is no counter, and 5xx classes as such', () => {
    const { metrics } = inferMetrics([{ name: 'http_server_duration_seconds', type: 'histogram', labels: { status: ['2xx', '5xx'] } }]);
    assert.equal(metrics[0]!.def.numerator, 'http_server_duration_seconds_count{status=~"5xx"}');
    assert.equal(metrics[0]!.def.denominator, 'http_server_duration_seconds_count');
    assert.equal(metrics[1]!.def.histogram, 'http_server_duration_seconds');
  });

  it('infers nothing from series it does not know', () => {
    assert.deepEqual(inferMetrics([{ name: 'queue_depth', type: 'gauge', labels: {} }]).metrics, []);
  });

  it('writes a pipeline the schema accepts, with on_inconclusive hold, for every shape of app', () => {
    const shapes: AppFacts[] = [
      facts(),
      facts({ tests: undefined, noTests: 'package.json has no test script', servers: 1 }),
      facts({
        tests: { runner: 'command', command: ['npm', 'test'], setup: [['npm', 'ci']] },
        build: { commands: [['npm', 'ci', '--omit=dev']] },
        servers: 2,
        warnings: ['a note'],
      }),
      facts({
        name: 'my-app_2',
        start: ['npm', 'start'],
        candidates: inferMetrics([{ name: 'signups_total', type: 'counter', labels: {} }]).candidates,
      }),
    ];
    for (const f of shapes) {
      const text = starterPipeline(f);
      const p = parsePipeline(text, 'immune.yaml');
      assert.equal(p.rollout.on_inconclusive, 'hold');
      assert.equal(p.fleet.type, 'local');
      assert.equal(p.rollout.steps.at(-1)!.percent, 1);
      assert.equal(p.metrics.definitions.length, 4);
      assert.equal(p.tests?.runner, f.tests?.runner);
      if (f.servers === 1) assert.equal(p.rollout.steps.length, 1);
      for (const w of f.warnings) assert.match(text, new RegExp(`^# NOTE: ${w}$`, 'm'));
    }
  });
});
