import assert from 'node:assert/strict';
import pino from 'pino';
import { metricsConfig } from '../../../../src/core/config/metrics.js';
import { createScrapeSource } from '../../../../src/adapters/metrics/scrape.js';
import { parseExposition } from '../../../../src/adapters/metrics/exposition.js';
import { InputError } from '../../../../src/core/errors.js';
import type { Server } from '../../../../src/ports.js';

const log = pino({ level: 'silent' });

const config = metricsConfig.parse({
  definitions: [
    {
      name: 'error_rate',
      kind: 'ratio',
      bad: 'increase',
      numerator: 'http_requests_total{code=~"5.."}',
      denominator: 'http_requests_total',
    },
    { name: 'checkouts', kind: 'count', bad: 'decrease', counter: 'checkouts_total' },
    { name: 'memory', kind: 'continuous', bad: 'increase', gauge: 'resident_memory_bytes' },
    { name: 'cpu', kind: 'continuous', bad: 'increase', rate: 'cpu_seconds_total' },
    { name: 'p90', kind: 'continuous', bad: 'increase', histogram: 'latency_seconds{route="/"}', quantile: 0.9 },
  ],
});

interface State {
  ok: number;
  err: number;
  checkouts: number;
  cpu: number;
  mem: number;
  buckets: [number, number, number];
  started: number;
  other: number;
}

function exposition(s: State): string {
  return `# TYPE http_requests_total counter
http_requests_total{route="/",code="200"} ${s.ok}
http_requests_total{route="/",code="500"} ${s.err}
# TYPE checkouts_total counter
checkouts_total ${s.checkouts}
# TYPE cpu_seconds_total counter
cpu_seconds_total ${s.cpu}
# TYPE resident_memory_bytes gauge
resident_memory_bytes ${s.mem}
# TYPE process_start_time_seconds gauge
process_start_time_seconds ${s.started}
# TYPE latency_seconds histogram
latency_seconds_bucket{le="0.1",route="/"} ${s.buckets[0]}
latency_seconds_bucket{le="1",route="/"} ${s.buckets[1]}
latency_seconds_bucket{le="+Inf",route="/"} ${s.buckets[2]}
latency_seconds_sum{route="/"} 1
latency_seconds_count{route="/"} ${s.buckets[2]}
latency_seconds_bucket{le="0.1",route="/other"} ${s.other}
latency_seconds_bucket{le="1",route="/other"} ${s.other}
latency_seconds_bucket{le="+Inf",route="/other"} ${s.other}
latency_seconds_sum{route="/other"} 1
latency_seconds_count{route="/other"} ${s.other}
`;
}

describe('adapters/metrics/scrape (unit, fake fetch)', () => {
  const servers: Server[] = [
    { id: 'a', host: '127.0.0.1', port: 1, labels: {} },
    { id: 'b', host: '127.0.0.1', port: 2, labels: {} },
  ];
  let states: Record<string, State | 'down'>;
  let clock: number;
  const fakeFetch = (async (url: string | URL) => {
    const port = new URL(String(url)).port;
    const st = states[port === '1' ? 'a' : 'b'];
    if (st === 'down') throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
    return new Response(exposition(st), { status: 200 });
  }) as typeof fetch;

  beforeEach(() => {
    clock = 1_000_000;
    const base: State = { ok: 100, err: 0, checkouts: 10, cpu: 5, mem: 1000, buckets: [0, 0, 0], started: 1, other: 0 };
    states = { a: { ...base }, b: { ...base } };
  });

  it('primes on the first call, then reports increases per server', async () => {
    const src = createScrapeSource(config, { log, fetch: fakeFetch, now: () => clock });
    const first = await src.sample(servers, 1000);
    assert.deepEqual(first[0].values, { error_rate: null, checkouts: null, memory: 1000, cpu: null, p90: null });
    states.a = { ...(states.a as State), ok: 190, err: 10, checkouts: 13, cpu: 7, mem: 1500, buckets: [50, 90, 100], other: 1000 };
    clock += 4000;
    const [a, b] = await src.sample(servers, 1000);
    assert.equal(a.ok, true);
    assert.deepEqual(a.values.error_rate, [10, 100]);
    assert.equal(a.values.checkouts, 3);
    assert.equal(a.values.memory, 1500);
    assert.equal(a.values.cpu, 0.5); // 2 cpu-seconds over 4 s
    // rank 90 of 100: bucket (0.1, 1] holds 40 and the rank is 40 into it: its top, 1; /other is not selected.
    assert.equal(a.values.p90, 1);
    assert.deepEqual(b.values.error_rate, [0, 0]);
    assert.equal(b.values.checkouts, 0);
    assert.equal(b.values.p90, null);
  });

  it('handles a counter reset and a process restart', async () => {
    const src = createScrapeSource(config, { log, fetch: fakeFetch, now: () => clock });
    await src.sample(servers, 1000);
    // a: one counter went down (reset): its value is the increase.
    states.a = { ...(states.a as State), checkouts: 4 };
    // b: restarted (new start time): this interval is partial, so it primes; the next one counts.
    states.b = { ...(states.b as State), started: 2, ok: 150, checkouts: 12 };
    clock += 1000;
    const [a, b] = await src.sample(servers, 1000);
    assert.equal(a.values.checkouts, 4);
    assert.deepEqual(a.values.error_rate, [0, 0]);
    assert.equal(b.values.checkouts, null, 'a partial interval after a restart would read as a drop');
    assert.equal(b.values.error_rate, null);
    states.b = { ...(states.b as State), ok: 250, checkouts: 20 };
    clock += 1000;
    const [, b2] = await src.sample(servers, 1000);
    assert.equal(b2.values.checkouts, 8);
    assert.deepEqual(b2.values.error_rate, [0, 100]);
  });

  it('reports a server that does not answer as ok:false and primes again after it', async () => {
    const src = createScrapeSource(config, { log, fetch: fakeFetch, now: () => clock });
    await src.sample(servers, 1000);
    states.b = 'down';
    const [a, b] = await src.sample(servers, 1000);
    assert.equal(a.ok, true);
    assert.equal(b.ok, false);
    assert.match(b.error!, /127\.0\.0\.1:2\/metrics: no answer \(connect ECONNREFUSED\)/);
    assert.equal(b.values.error_rate, null);
    states.b = { ok: 500, err: 5, checkouts: 50, cpu: 9, mem: 1, buckets: [0, 0, 0], started: 1, other: 0 };
    const [, again] = await src.sample(servers, 1000);
    assert.equal(again.ok, true);
    assert.equal(again.values.error_rate, null, 'an increase over the gap is not one interval: prime again');
  });

  it('rejects a bad selector naming the metric and field', () => {
    const bad = metricsConfig.parse({ definitions: [{ name: 'x', kind: 'count', bad: 'decrease', counter: 'a{b=}' }] });
    assert.throws(
      () => createScrapeSource(bad, { log }),
      (e: unknown) => e instanceof InputError && /metrics\.definitions\.0\.counter: metric x: "a\{b=\}": col 5/.test(e.message),
    );
  });

  it('rejects a histogram selector without a metric name', () => {
    const bad = metricsConfig.parse({
      definitions: [{ name: 'h', kind: 'continuous', bad: 'increase', histogram: '{route="/"}', quantile: 0.5 }],
    });
    assert.throws(() => createScrapeSource(bad, { log }), /metrics\.definitions\.0\.histogram: metric h: name the histogram/);
  });

  it('flattens histograms and summaries into their series', () => {
    const series = parseExposition(exposition({ ok: 1, err: 0, checkouts: 0, cpu: 0, mem: 0, buckets: [1, 2, 3], started: 1, other: 0 }));
    const names = new Set(series.map((s) => s.name));
    for (const n of ['latency_seconds_bucket', 'latency_seconds_sum', 'latency_seconds_count', 'http_requests_total'])
      assert.ok(names.has(n), n);
    const inf = series.find((s) => s.name === 'latency_seconds_bucket' && s.labels.le === '+Inf' && s.labels.route === '/');
    assert.equal(inf?.value, 3);
  });
});

describe('adapters/metrics/exposition', () => {
  it('keeps the last sample when the text has no final newline', () => {
    const series = parseExposition('# TYPE a counter\na 1\nb{x="y"} 2');
    assert.deepEqual(
      series.map((s) => [s.name, s.labels, s.value]),
      [
        ['a', {}, 1],
        ['b', { x: 'y' }, 2],
      ],
    );
  });

  it('keeps summary quantiles as labelled series', () => {
    const series = parseExposition('# TYPE rpc summary\nrpc{quantile="0.5",m="get"} 3\nrpc_sum{m="get"} 10\nrpc_count{m="get"} 4\n');
    assert.deepEqual(series.find((s) => s.name === 'rpc')?.labels, { quantile: '0.5', m: 'get' });
    assert.equal(series.find((s) => s.name === 'rpc_count')?.value, 4);
  });
});
