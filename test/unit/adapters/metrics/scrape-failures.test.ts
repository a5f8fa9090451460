// What a failed scrape says (issue 18 item 11): no answer, a timeout, an HTTP status and a body
// that is not Prometheus text are different failures, and the gate's explanation carries the reason.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createScrapeSource } from '../../../../src/adapters/metrics/scrape.js';
import { expositionProblem, parseExposition } from '../../../../src/adapters/metrics/exposition.js';
import { metricsConfig } from '../../../../src/core/config/metrics.js';
import { judgeGate } from '../../../../src/core/judge/index.js';
import { splitUnresponsive, type Tick } from '../../../../src/core/rollout/samples.js';
import type { Server } from '../../../../src/ports.js';

const config = metricsConfig.parse({
  timeout: '300ms',
  definitions: [{ name: 'error_rate', kind: 'ratio', bad: 'increase', numerator: 'req{code=~"5.."}', denominator: 'req' }],
});

describe('adapters/metrics/scrape: what a failed scrape says (loopback server)', () => {
  let server: http.Server;
  let port: number;
  const answers: Record<string, (res: http.ServerResponse) => void> = {
    good: (res) => res.end('# TYPE req counter\nreq{code="200"} 10\nreq{code="500"} 0\n'),
    garbage: (res) => res.end('<html><body>Welcome to nginx!</body></html>\n'),
    json: (res) => res.end('{"status":"ok"}'),
    status: (res) => {
      res.statusCode = 503;
      res.end('busy');
    },
    hang: () => undefined,
  };
  let mode = 'good';
  before(async () => {
    server = http.createServer((_req, res) => answers[mode]!(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  async function scrape(m: string): Promise<{ ok: boolean; error?: string }> {
    mode = m;
    const src = createScrapeSource(config, { log: pino({ level: 'silent' }) });
    const s: Server = { id: 'web-2', host: '127.0.0.1', port, labels: {} };
    const [r] = await src.sample([s], 1000);
    return r!;
  }

  it('says "answered 200 but /metrics is not Prometheus text" with the first problem, for an HTML page or JSON', async () => {
    const html = await scrape('garbage');
    assert.equal(html.ok, false);
    assert.match(html.error!, /answered 200 but \/metrics is not Prometheus text: line 1: "<html><body>Welcome to nginx!/);
    const json = await scrape('json');
    assert.equal(json.ok, false);
    assert.match(json.error!, /answered 200 but \/metrics is not Prometheus text: line 1: "\{\\"status\\":\\"ok\\"\}"/);
    assert.equal((await scrape('good')).ok, true);
  });

  it('tells an HTTP status, a timeout and no answer apart', async () => {
    assert.match((await scrape('status')).error!, /answered HTTP 503/);
    assert.match((await scrape('hang')).error!, /no answer within 300ms/);
    const src = createScrapeSource(config, { log: pino({ level: 'silent' }) });
    const [closed] = await src.sample([{ id: 'x', host: '127.0.0.1', port: 1, labels: {} }], 1000);
    assert.match(closed!.error!, /127\.0\.0\.1:1\/metrics: no answer \(/);
  });

  it('the gate explanation carries the reason, not "stopped answering"', async () => {
    const error = (await scrape('garbage')).error!;
    const ticks: Tick[] = [1, 2, 3].map((t) => ({ time: t * 1000, samples: [{ server: 'web-2', ok: false, error, values: {} }] }));
    const down = splitUnresponsive(ticks, { onNew: ['web-2'], others: [], from: 0 });
    const r = judgeGate({
      alpha: 0.05,
      metrics: [],
      elapsedMs: 3000,
      minBakeMs: 30_000,
      maxBakeMs: 60_000,
      onInconclusive: 'rollback',
      unresponsive: down.blamed,
      unresponsiveWhy: down.reasons,
    });
    assert.equal(r.decision, 'fail');
    assert.match(r.explanation, /canary server web-2 failed its scrapes: .*answered 200 but \/metrics is not Prometheus text: line 1/);
    assert.doesNotMatch(r.explanation, /stopped answering/);
  });

  it('expositionProblem accepts the text format (labels, timestamps, NaN, +Inf, comments)', () => {
    assert.equal(
      expositionProblem('# HELP a b\n# TYPE a counter\na{x="1 2",le="+Inf"} 3 1700000000\nb NaN\nc +Inf\nd -1.5e3\n\n# EOF\n'),
      undefined,
    );
    assert.match(expositionProblem('a 1\nb one\n')!, /^line 2: "b one"/);
  });

  it('reads NaN and infinities in any case, as Prometheus does (prom-client writes "Nan" for an empty event-loop histogram)', () => {
    assert.equal(expositionProblem('nodejs_eventloop_lag_mean_seconds Nan\na nan\nb +inf\nc -Inf\nd Infinity\n'), undefined);
    const values = parseExposition('a Nan\nb +inf\nc -INF\nd 2\n').map((x) => x.value);
    assert.ok(Number.isNaN(values[0]));
    assert.deepEqual(values.slice(1), [Infinity, -Infinity, 2]);
  });
});

describe('core/rollout/samples splitUnresponsive (issue 18 item 10)', () => {
  const tick = (time: number, ok: Record<string, boolean>): Tick => ({
    time,
    samples: Object.entries(ok).map(([server, v]) => ({ server, ok: v, error: v ? undefined : 'no answer within 2000ms', values: {} })),
  });

  it('in a gate, blames only the canaries; a baseline server that stopped answering is an incident', () => {
    const ticks = [
      tick(1000, { c1: true, b1: true, b2: false }),
      tick(2000, { c1: true, b1: true, b2: false }),
      tick(3000, { c1: false, b1: true, b2: false }),
      tick(4000, { c1: false, b1: true, b2: false }),
    ];
    const r = splitUnresponsive(ticks, { onNew: ['c1'], others: ['b1', 'b2'], from: 0 });
    assert.deepEqual(r.blamed, ['c1']);
    assert.deepEqual(r.incidents, ['b2']);
    assert.equal(r.reasons.b2, 'no answer within 2000ms');
    assert.deepEqual(splitUnresponsive(ticks.slice(0, 2), { onNew: ['c1'], others: ['b1', 'b2'], from: 0 }).blamed, []);
  });

  it('in the watch, blames a server that answered on the new build then stopped, not one down since before the watch', () => {
    const ticks = [
      tick(1000, { s1: true, s2: false }),
      tick(2000, { s1: true, s2: false }),
      tick(3000, { s1: false, s2: false }),
      tick(4000, { s1: false, s2: false }),
    ];
    const r = splitUnresponsive(ticks, { onNew: ['s1', 's2'], others: [], from: 500, watch: true });
    assert.deepEqual(r.blamed, ['s1']);
    assert.deepEqual(r.incidents, ['s2']);
  });
});
