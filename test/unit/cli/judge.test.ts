// `immune judge` through the real CLI (bin/immune.js), and its input parser directly.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { formatPath, jsonErrorOffset, parseJudgeInput } from '../../../src/core/judge/input.js';

const BIN = new URL('../../../bin/immune.js', import.meta.url).pathname;

const servers = (n: number, intervals: number, f: (s: number, t: number) => unknown) =>
  Array.from({ length: n }, (_, s) => Array.from({ length: intervals }, (_, t) => f(s, t)));
/** `scale` multiplies requests and errors: more traffic, the same rates. */
const errorRate = (canaryErrors: number, scale = 1) => ({
  name: 'error_rate',
  kind: 'ratio',
  bad: 'increase',
  tolerance: 0.1,
  baseline: servers(4, 6, (s, t) => [(5 + ((s + t) % 3) - 1) * scale, 1000 * scale]),
  canary: servers(1, 6, (_, t) => [(canaryErrors + (t % 2)) * scale, 1000 * scale]),
});

describe('cli/judge', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'immune-judge-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string, body: unknown | string, ...flags: string[]) => {
    const file = join(dir, name);
    writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body));
    return execa('node', [BIN, 'judge', '--input', file, ...flags], { reject: false, timeout: 30_000 });
  };

  it('exits 0 with a pass and prints the DESIGN.md JSON', async () => {
    // A pass means the data rules a regression beyond tolerance out: ~3,000 errors on the canary do.
    const r = await run('pass.json', { alpha: 0.01, metrics: [errorRate(4, 100)] }, '--json');
    assert.equal(r.exitCode, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verdict, 'pass');
    const m = out.metrics[0];
    assert.equal(m.name, 'error_rate');
    assert.equal(m.verdict, 'pass');
    assert.equal(typeof m.pValue, 'number');
    assert.equal(typeof m.effect, 'number');
    assert.equal(m.ci.length, 2);
  });

  it('exits 3 when the data neither shows nor rules out a regression beyond tolerance', async () => {
    // 30 errors on the canary against ~30 per baseline server: no regression shown, but +10% is not ruled out either.
    const r = await run('open.json', { alpha: 0.01, metrics: [errorRate(5)] }, '--json');
    assert.equal(r.exitCode, 3, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.verdict, 'inconclusive');
    assert.equal(out.metrics[0].verdict, 'inconclusive');
    assert.ok(out.metrics[0].ci[1] > 0.1, `upper end ${out.metrics[0].ci[1]} beyond tolerance`);
  });

  it('never passes a visible regression: +14% on latency with an interval excluding no change is not a pass', async () => {
    // The case seen: 2 canaries, 18 baselines, 6 intervals, servers ~5% apart; canary +14%.
    const wobble = (s: number, t: number) => Math.sin(1.7 * s + 2.3 * t + 0.5 * s * t);
    const latency = {
      name: 'latency_p99',
      kind: 'continuous',
      baseline: servers(18, 6, (s, t) => 0.25 * Math.exp(0.05 * Math.sin(3.1 * s) + 0.03 * wobble(s, t))),
      canary: servers(2, 6, (s, t) => 1.14 * 0.25 * Math.exp(0.05 * Math.sin(3.1 * (s + 20)) + 0.03 * wobble(s + 20, t))),
    };
    const r = await run('p99.json', { alpha: 0.01, metrics: [latency] }, '--json');
    const m = JSON.parse(r.stdout).metrics[0];
    assert.ok(m.effect > 0.1 && m.ci[0] > 0, `effect ${m.effect}, ci ${m.ci}`);
    assert.notEqual(m.verdict, 'pass');
    assert.notEqual(r.exitCode, 0);
  });

  it('exits 1 on a regression and says which metric, in human form', async () => {
    const r = await run('fail.json', { alpha: 0.01, metrics: [errorRate(30)] });
    assert.equal(r.exitCode, 1, r.stderr);
    assert.match(r.stdout, /^verdict: fail/);
    assert.match(
      r.stdout,
      /fail\s+error_rate\s+\+\d+% \(0\.5% → \d+\.\d+%, \+\d+\.\d+ pp; CI \+\d+% to \+\d+%\), p[<=][\d.]+: regression beyond 10% tolerance$/m,
    );
  });

  it('compares each server with its own past when `before` is given: an always-noisier canary passes, a mismatched history is bad input', async () => {
    // The canary server always answered about 3x the errors of the others, before the deploy too.
    // (x1000 the traffic and a small swing between intervals, so that the data can rule a
    // regression beyond tolerance out: each server's change from its own past is judged with the
    // within-server overdispersion, and a +-20% swing per interval would leave +10% open.)
    const noisy = {
      ...errorRate(15),
      baseline: servers(4, 6, (s, t) => [(50 + ((s * 2 + t) % 3) - 1) * 100, 1_000_000]),
      canary: servers(1, 6, (_, t) => [(150 + (t % 3) - 1) * 100, 1_000_000]),
    };
    const before = {
      baseline: servers(4, 20, (s, t) => [(50 + ((s + t) % 3) - 1) * 100, 1_000_000]),
      canary: servers(1, 20, (_, t) => [(150 + ((t * 2) % 3) - 1) * 100, 1_000_000]),
    };
    const without = await run('noisy.json', { metrics: [noisy] }, '--json');
    assert.equal(without.exitCode, 1, without.stdout);
    const withHistory = await run('noisy-history.json', { metrics: [{ ...noisy, before }] }, '--json');
    assert.equal(withHistory.exitCode, 0, withHistory.stdout);
    const bad = await run('bad-history.json', { metrics: [{ ...noisy, before: { ...before, canary: [] } }] });
    assert.equal(bad.exitCode, 2);
    assert.match(bad.stderr, /metrics\[0\]\.before\.canary: expected one row per canary server \(1\), got 0/);
  });

  it('exits 3 when there is too little data', async () => {
    const r = await run('thin.json', { metrics: [{ name: 'latency', kind: 'continuous', baseline: [[0.2]], canary: [[0.3]] }] }, '--json');
    assert.equal(r.exitCode, 3, r.stderr);
    assert.equal(JSON.parse(r.stdout).verdict, 'inconclusive');
  });

  it('exits 2 naming the bad sample', async () => {
    const bad = errorRate(5);
    (bad.canary[0] as unknown[])[3] = [1, 2, 3];
    const r = await run('bad.json', { alpha: 0.01, metrics: [errorRate(5), bad] });
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /metrics\[1\]\.canary\[0\]\[3\]: expected \[numerator, denominator\]/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  });

  it('exits 2 with file:line:col for broken JSON, and for a missing file', async () => {
    const r = await run('broken.json', '{"metrics": [\n  {"name": }\n]}');
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /broken\.json:2:12: invalid JSON/);
    const missing = await execa('node', [BIN, 'judge', '--input', join(dir, 'nope.json')], { reject: false, timeout: 30_000 });
    assert.equal(missing.exitCode, 2);
    assert.match(missing.stderr, /cannot read .*nope\.json: no such file/);
  });

  describe('input parsing', () => {
    it('names unknown keys, wrong kinds and bad numbers by field', () => {
      const cases: [unknown, RegExp][] = [
        [{ metrics: [], alpa: 0.1 }, /metrics: expected at least one metric[\s\S]*\(root\): Unrecognized key: "alpa"/],
        [{ metrics: [{ ...errorRate(1), kind: 'rate' }] }, /metrics\[0\]\.kind: expected "ratio", "continuous" or "count"/],
        [{ alpha: 2, metrics: [errorRate(1)] }, /alpha: expected alpha < 0.5/],
        [{ metrics: [{ ...errorRate(1), kind: 'continuous' }] }, /metrics\[0\]\.baseline\[0\]\[0\]: expected a number/],
        [
          { metrics: [{ ...errorRate(1), kind: 'count', canary: [['two']] }] },
          /metrics\[0\]\.canary\[0\]\[0\]: expected a count or \[count, exposure\]/,
        ],
        [
          { metrics: [{ ...errorRate(1), kind: 'count', canary: [[[3, 0]]] }] },
          /metrics\[0\]\.canary\[0\]\[0\]: expected a count >= 0 and an exposure > 0/,
        ],
        [{ metrics: [{ ...errorRate(1), tolerance: '10%' }] }, /metrics\[0\]\.tolerance: expected a number/],
        [{ metrics: [{ ...errorRate(1), canary: [] }] }, /metrics\[0\]\.canary: expected at least one server/],
        [
          { metrics: [{ ...errorRate(1), canary: [[[-1, 5]]] }] },
          /metrics\[0\]\.canary\[0\]\[0\]: expected a numerator and denominator >= 0/,
        ],
        // Impossible samples are refused, not judged: more errors than requests, a fraction of an event.
        [
          {
            metrics: [
              {
                ...errorRate(1),
                canary: [
                  [
                    [1, 5],
                    [1, 5],
                    [1, 5],
                    [7, 5],
                  ],
                ],
              },
            ],
          },
          /metrics\[0\]\.canary\[0\]\[3\]: expected a numerator no larger than its denominator, got 7 of 5/,
        ],
        [
          { metrics: [{ ...errorRate(1), baseline: [[[1, 5]], [[0.5, 5]]] }] },
          /metrics\[0\]\.baseline\[1\]\[0\]: expected whole numbers of events and trials, got \[0.5, 5\]/,
        ],
        [
          { metrics: [{ ...errorRate(1), kind: 'count', canary: [[1, 2.5]] }] },
          /metrics\[0\]\.canary\[0\]\[1\]: expected a whole count, got 2.5/,
        ],
        [
          { metrics: [{ ...errorRate(1), kind: 'count', canary: [[[1.5, 100]]] }] },
          /metrics\[0\]\.canary\[0\]\[0\]: expected a whole count, got 1.5/,
        ],
        [{ metrics: [{ ...errorRate(1), kind: 'count', canary: [[-3]] }] }, /metrics\[0\]\.canary\[0\]\[0\]: expected a count >= 0/],
      ];
      for (const [input, re] of cases)
        assert.throws(
          () => parseJudgeInput(JSON.stringify(input), 'in.json'),
          (e: Error) => re.test(e.message) && e.message.startsWith('in.json: '),
          JSON.stringify(input),
        );
    });

    it('accepts defaults and null (missing) samples', () => {
      const parsed = parseJudgeInput(
        JSON.stringify({ metrics: [{ name: 'x', kind: 'count', baseline: [[1, null, 3]], canary: [[2, [4, 100]]] }] }),
        'in.json',
      );
      assert.equal(parsed.alpha, 0.01);
      assert.equal(parsed.metrics[0].bad, 'increase');
      assert.equal(parsed.metrics[0].tolerance, 0.1);
    });

    it('formats paths and finds JSON error offsets', () => {
      assert.equal(formatPath(['metrics', 1, 'canary', 0, 3]), 'metrics[1].canary[0][3]');
      assert.equal(formatPath([]), '(root)');
      assert.equal(jsonErrorOffset('{"a": [1, 2,]}'), 12);
      assert.equal(jsonErrorOffset('{"a": 1} x'), 9);
      assert.equal(jsonErrorOffset('{"a": tru}'), 6);
      assert.equal(jsonErrorOffset('[1, 2]'), -1);
    });
  });
});
