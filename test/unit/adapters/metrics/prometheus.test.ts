// The Prometheus source's reading of API answers, with a fake fetch that answers like Prometheus:
// missing numerators are zero, NaN and empty results are null, 4xx is one metric's failure,
// 5xx and network errors make every server not ok; file_sd groups.
import assert from 'node:assert/strict';
import pino from 'pino';
import { metricsConfig } from '../../../../src/core/config/metrics.js';
import { fileSdGroups } from '../../../../src/adapters/metrics/file-sd.js';
import { createPrometheusSource, renderQuery } from '../../../../src/adapters/metrics/prometheus.js';
import type { Server } from '../../../../src/ports.js';

const log = pino({ level: 'silent' });
const servers: Server[] = [
  { id: 'a', host: '10.0.0.1', port: 8080, labels: { zone: 'z1' } },
  { id: 'b', host: '10.0.0.2', port: 8080, labels: { 'app.zone': 'z2', __x: 'y' } },
];
const config = metricsConfig.parse({
  source: 'prometheus',
  prometheus: { url: 'http://prom.test:9090/' },
  definitions: [
    { name: 'errors', kind: 'ratio', numerator: 'req_total{code="500"}', denominator: 'req_total', bad: 'increase' },
    { name: 'p99', kind: 'continuous', histogram: 'lat_seconds', quantile: 0.99, bad: 'increase' },
    { name: 'orders', kind: 'count', counter: 'orders_total', bad: 'decrease' },
  ],
});

type Answer = { status?: number; body: unknown } | Error;
const vector = (rows: [string, string][]) => ({
  status: 'success',
  data: { resultType: 'vector', result: rows.map(([instance, v]) => ({ metric: { instance }, value: [1700000000, v] })) },
});

function fakeFetch(answer: (query: string, path: string) => Answer) {
  const seen: { path: string; query: string }[] = [];
  const f = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const path = new URL(String(input)).pathname;
    const query = new URLSearchParams(String(init?.body)).get('query') ?? '';
    seen.push({ path, query });
    const a = answer(query, path);
    if (a instanceof Error) throw a;
    return new Response(JSON.stringify(a.body), { status: a.status ?? 200, headers: { 'content-type': 'application/json' } });
  };
  return { fetch: f as typeof fetch, seen };
}

describe('Prometheus source answers', function () {
  it('reads vectors per instance; no numerator series is zero; NaN and empty are null', async function () {
    const { fetch, seen } = fakeFetch((q) => {
      if (q.startsWith('up'))
        return {
          body: vector([
            ['10.0.0.1:8080', '1'],
            ['10.0.0.2:8080', '1'],
          ]),
        };
      if (q.includes('code="500"')) return { body: vector([['10.0.0.1:8080', '3']]) };
      if (q.includes('increase(req_total'))
        return {
          body: vector([
            ['10.0.0.1:8080', '100'],
            ['10.0.0.2:8080', '80'],
          ]),
        };
      if (q.startsWith('histogram_quantile'))
        return {
          body: vector([
            ['10.0.0.1:8080', '0.25'],
            ['10.0.0.2:8080', 'NaN'],
          ]),
        };
      return { body: vector([]) };
    });
    const samples = await createPrometheusSource(config, { log, fetch }).sample(servers, 10_000);
    assert.deepEqual(samples, [
      { server: 'a', ok: true, values: { errors: [3, 100], p99: 0.25, orders: null } },
      { server: 'b', ok: true, values: { errors: [0, 80], p99: null, orders: null } },
    ]);
    assert.ok(seen.every((s) => s.path === '/api/v1/query'));
    assert.ok(
      seen.some(
        (s) =>
          s.query ===
          'sum by (instance) (increase(req_total{code="500",instance=~"10\\\\.0\\\\.0\\\\.1:8080|10\\\\.0\\\\.0\\\\.2:8080"}[10s]))',
      ),
    );
  });

  it('a bad query (4xx) nulls that metric only; Prometheus errors (5xx, refused) make every server not ok', async function () {
    const badQuery = fakeFetch((q) =>
      q.startsWith('time()')
        ? {
            body: vector([
              ['10.0.0.1:8080', '600'],
              ['10.0.0.2:8080', '600'],
            ]),
          }
        : q.startsWith('histogram_quantile')
          ? { status: 400, body: { status: 'error', errorType: 'bad_data', error: 'parse error' } }
          : {
              body: vector([
                ['10.0.0.1:8080', '1'],
                ['10.0.0.2:8080', '1'],
              ]),
            },
    );
    const [a] = await createPrometheusSource(config, { log, fetch: badQuery.fetch }).sample(servers, 10_000);
    assert.equal(a!.ok, true);
    assert.equal(a!.values.p99, null);
    assert.deepEqual(a!.values.errors, [1, 1]);
    assert.equal(a!.error, 'p99: bad_data: parse error');

    for (const answer of [
      { status: 503, body: { status: 'error', errorType: 'timeout', error: 'query timed out' } },
      new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }),
    ]) {
      const down = fakeFetch(() => answer);
      const out = await createPrometheusSource(config, { log, fetch: down.fetch }).sample(servers, 10_000);
      for (const s of out) {
        assert.equal(s.ok, false);
        assert.match(s.error!, /^prometheus unreachable: .*(timed out|ECONNREFUSED)/);
        assert.deepEqual(s.values, { errors: null, p99: null, orders: null });
      }
    }
  });

  it('a target Prometheus cannot scrape (up == 0) is not ok; one it does not know is noted', async function () {
    const { fetch } = fakeFetch((q) => (q.startsWith('up') ? { body: vector([['10.0.0.1:8080', '0']]) } : { body: vector([]) }));
    const [a, b] = await createPrometheusSource(config, { log, fetch }).sample(servers, 10_000);
    assert.deepEqual([a!.ok, a!.error], [false, 'prometheus cannot scrape 10.0.0.1:8080 (up == 0)']);
    assert.equal(b!.ok, true);
    assert.match(b!.error!, /10\.0\.0\.2:8080 is not a target of http:\/\/prom\.test:9090\//);
  });

  it('a server (re)started within the interval, or missing scrapes in it, reports no values for it', async function () {
    const { fetch, seen } = fakeFetch((q) => {
      if (q.startsWith('time()'))
        return {
          body: vector([
            ['10.0.0.1:8080', '1.5'],
            ['10.0.0.2:8080', '600'],
          ]),
        };
      if (q.startsWith('min by'))
        return {
          body: vector([
            ['10.0.0.1:8080', '1'],
            ['10.0.0.2:8080', '0'],
          ]),
        };
      return {
        body: vector([
          ['10.0.0.1:8080', '1'],
          ['10.0.0.2:8080', '1'],
        ]),
      };
    });
    const [a, b] = await createPrometheusSource(config, { log, fetch }).sample(servers, 10_000);
    assert.deepEqual(a, {
      server: 'a',
      ok: true,
      values: { errors: null, p99: null, orders: null },
      error: 'partial interval, not reported: 10.0.0.1:8080 (re)started 1.5s ago, within this 10s interval',
    });
    assert.deepEqual(b, {
      server: 'b',
      ok: true,
      values: { errors: null, p99: null, orders: null },
      error: 'partial interval, not reported: 10.0.0.2:8080 missed scrapes within this 10s interval',
    });
    assert.ok(
      seen.some(
        (s) =>
          s.query ===
          'time() - max by (instance) (process_start_time_seconds{instance=~"10\\\\.0\\\\.0\\\\.1:8080|10\\\\.0\\\\.0\\\\.2:8080"})',
      ),
    );
  });

  it('history() asks query_range and places each point at its interval', async function () {
    const start = 1_700_000_000_000;
    const { fetch, seen } = fakeFetch((q) => ({
      body: q.startsWith('time()')
        ? { status: 'success', data: { resultType: 'matrix', result: [] } }
        : {
            status: 'success',
            data: {
              resultType: 'matrix',
              result: [
                {
                  metric: { instance: '10.0.0.1:8080' },
                  values: [
                    [start / 1000, q.startsWith('up') ? '1' : '5'],
                    [start / 1000 + 20, q.startsWith('up') ? '1' : '7'],
                  ],
                },
              ],
            },
          },
    }));
    const steps = await createPrometheusSource(config, { log, fetch }).history(servers.slice(0, 1), start, start + 20_000, 10_000);
    assert.equal(steps.length, 3);
    assert.deepEqual(
      steps.map((st) => st[0]!.values.orders),
      [5, null, 7],
    );
    assert.ok(seen.every((s) => s.path === '/api/v1/query_range'));
  });

  it('fills {{instances}} and {{interval}} in a user query, escaping for a PromQL string', function () {
    assert.equal(
      renderQuery('rate(x{instance=~"{{instances}}"}[{{interval}}])', ['h:1', 'a.b:2'], 2500),
      'rate(x{instance=~"h:1|a\\\\.b:2"}[3s])',
    );
  });

  it('file_sd groups carry the address, the server id and clean label names', function () {
    assert.deepEqual(fileSdGroups(servers), [
      { targets: ['10.0.0.1:8080'], labels: { zone: 'z1', server: 'a' } },
      { targets: ['10.0.0.2:8080'], labels: { app_zone: 'z2', label__x: 'y', server: 'b' } },
    ]);
  });
});
