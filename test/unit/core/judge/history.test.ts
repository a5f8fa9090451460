import assert from 'node:assert/strict';
import { analyzeMetric } from '../../../../src/core/judge/analyze.js';
import { judgeGate } from '../../../../src/core/judge/index.js';
import { continuousShifts, rateFactors } from '../../../../src/core/judge/history.js';
import type { MetricSeries, Sample } from '../../../../src/core/judge/types.js';
import { createRandom } from '../../../../src/sim/random.js';
import { gate, grid } from './build.js';
import { close, REF } from './reference.js';

// A fleet of 8 servers where server 0 always answers twice the errors and is 30% slower: the
// outlier. Before the deploy every server runs the good build; `canaryFactor` is what the new
// build does to the canary (server 0 is the canary).
function fleet(seed: number, canaryFactor: number, opts: { history?: boolean; outlier?: number } = {}) {
  const r = createRandom(seed);
  const outlier = opts.outlier ?? 2;
  const errorsOf = (s: number, factor: number): [number, number] => {
    const n = 500;
    return [r.poisson(n * 0.01 * (s === 0 ? outlier : 1) * factor), n];
  };
  const latencyOf = (s: number, factor: number) => 0.25 * (s === 0 ? 1 + (outlier - 1) * 0.3 : 1) * factor * Math.exp(0.05 * r.normal());
  const metric = (name: string, kind: MetricSeries['kind'], f: (s: number, factor: number) => Sample): MetricSeries => {
    const before = { baseline: grid(7, 30, (s) => f(s + 1, 1)), canary: grid(1, 30, () => f(0, 1)) };
    return {
      name,
      kind,
      bad: 'increase',
      tolerance: 0.1,
      baseline: grid(7, 12, (s) => f(s + 1, 1)),
      canary: grid(1, 12, () => f(0, canaryFactor)),
      ...(opts.history ? { before } : {}),
    };
  };
  const errors = metric('error_rate', 'ratio', errorsOf);
  const latency = metric('latency_p99', 'continuous', latencyOf);
  return [errors, latency];
}

const look = (metrics: MetricSeries[]) => judgeGate(gate(metrics, { elapsedMs: 60_000, minBakeMs: 60_000, maxBakeMs: 300_000 }));

describe('core/judge/history (each server against its own past)', () => {
  it('estimates a persistently noisier server from its history, and leaves a homogeneous fleet alone', () => {
    const [errors, latency] = fleet(1, 1, { history: true });
    const f = rateFactors('ratio', errors.before!)!;
    assert.ok(f.canary[0] > 1.6 && f.canary[0] < 2.4, `outlier factor ${f.canary[0]}`);
    assert.ok(
      f.baseline.every((x) => x > 0.7 && x < 1.3),
      `others ${f.baseline}`,
    );
    const shifts = continuousShifts(latency.before!)!;
    assert.ok(shifts.log);
    assert.ok(Math.abs(shifts.canary[0] - Math.log(1.3)) < 0.05, `outlier shift ${shifts.canary[0]}`);

    const [flat] = fleet(2, 1, { history: true, outlier: 1 });
    const g = rateFactors('ratio', flat.before!);
    // No server differs beyond noise: no adjustment at all, or factors indistinguishable from 1.
    assert.ok(g === undefined || [...g.baseline, ...g.canary].every((x) => Math.abs(x - 1) < 0.1), `factors ${JSON.stringify(g)}`);
  });

  it('an outlier server as the canary of an unchanged build fails without history and passes with it', () => {
    let withoutFails = 0;
    let withFails = 0;
    for (let seed = 1; seed <= 20; seed++) {
      if (look(fleet(seed, 1)).decision === 'fail') withoutFails++;
      if (look(fleet(seed, 1, { history: true })).decision === 'fail') withFails++;
    }
    assert.ok(withoutFails >= 15, `without history the outlier canary failed ${withoutFails}/20 good builds`);
    assert.equal(withFails, 0, `with history it failed ${withFails}/20 good builds`);
  });

  it('still fails a real regression on an outlier canary, naming the metrics', () => {
    const r = look(fleet(7, 2, { history: true }));
    assert.equal(r.decision, 'fail');
    const failed = r.metrics.filter((m) => m.verdict === 'fail').map((m) => m.name);
    // One canary against 7 servers at one look: the gate fails, naming what regressed (one metric suffices; Holm then hands the alpha on).
    assert.ok(failed.length > 0 && failed.every((n) => n === 'error_rate' || n === 'latency_p99'), failed.join(', '));
    // Reported levels stay the raw ones: the outlier's own rate, not the adjusted one.
    const e = r.metrics.find((m) => m.name === 'error_rate')!;
    assert.ok(e.canaryEstimate! > 0.03, `canary level ${e.canaryEstimate}`);
  });

  it('matches the reference values (gamma posterior by numerical integration, numpy medians)', () => {
    const r = REF.ownHistory.rates;
    const f = rateFactors('ratio', { baseline: r.rows.slice(1), canary: r.rows.slice(0, 1) })!;
    const got = [...f.canary, ...f.baseline];
    r.factors.forEach((want: number, i: number) => assert.ok(close(got[i], want, 1e-7), `factor ${i}: ${got[i]} vs ${want}`));
    const c = REF.ownHistory.continuous;
    const s = continuousShifts({ baseline: c.rows.slice(0, 3), canary: c.rows.slice(3) })!;
    const shifts = [...s.baseline, ...s.canary];
    c.shifts.forEach((want: number, i: number) => assert.ok(close(shifts[i], want, 1e-9, 1e-12), `shift ${i}: ${shifts[i]} vs ${want}`));
  });

  it('ignores history that is too short or empty', () => {
    const [errors] = fleet(3, 1, { history: true });
    const short = { baseline: errors.before!.baseline.map((r) => r.slice(0, 2)), canary: errors.before!.canary.map((r) => r.slice(0, 2)) };
    assert.equal(rateFactors('ratio', short), undefined);
    assert.equal(rateFactors('ratio', { baseline: [[], [], []], canary: [[]] }), undefined);
    assert.equal(continuousShifts({ baseline: [[null, null]], canary: [[]] }), undefined);
  });
});

// 2 canaries and 18 baselines alike (no server differs beyond noise), 6 intervals now, 30 before.
function homogeneous(seed: number, canaryFactor: number, history: boolean): MetricSeries {
  const r = createRandom(seed);
  const cell = (factor: number): [number, number] => [r.poisson(200 * 0.02 * factor), 200];
  const before = { baseline: grid(18, 30, () => cell(1)), canary: grid(2, 30, () => cell(1)) };
  return {
    name: 'error_rate',
    kind: 'ratio',
    bad: 'increase',
    tolerance: 0.1,
    baseline: grid(18, 6, () => cell(1)),
    canary: grid(2, 6, () => cell(canaryFactor)),
    ...(history ? { before } : {}),
  };
}

describe('core/judge/analyze (rates with history that shows no spread)', () => {
  it('judges the pooled counts with many degrees of freedom, not a t-test on 20 servers', () => {
    const without = analyzeMetric(homogeneous(11, 2, false));
    const withHistory = analyzeMetric(homogeneous(11, 2, true));
    // No history: each server's log rate, a two-sample t on 2 + 18 servers (18 df).
    assert.equal(without.df, 18);
    // History: the servers' own past shows no spread, so the pooled score test stands, its
    // placebo widening estimated from 18 servers (Satterthwaite: far more than 18 df).
    assert.ok(withHistory.df > 100, `df ${withHistory.df}`);
    assert.equal(withHistory.exactP !== undefined, true);
  });

  it('catches error x2 on 2 of 20 servers at one look more often with history than without, and never fails an identical canary', () => {
    const fails = (factor: number, history: boolean) => {
      let n = 0;
      for (let seed = 100; seed < 160; seed++) {
        const r = judgeGate(gate([homogeneous(seed, factor, history)], { elapsedMs: 60_000, minBakeMs: 60_000, maxBakeMs: 60_000 }));
        if (r.decision === 'fail') n++;
      }
      return n;
    };
    const caughtWith = fails(2, true);
    const caughtWithout = fails(2, false);
    // Measured: 56/60 with history, 46/60 without (the t-test's 18 df); the per-server t on the
    // history path too caught 51/60.
    assert.ok(caughtWith >= 53, `history: caught ${caughtWith}/60`);
    assert.ok(caughtWith >= caughtWithout + 5, `history ${caughtWith}/60, none ${caughtWithout}/60`);
    assert.equal(fails(1, true), 0, 'identical canary failed with history');
  });
});
