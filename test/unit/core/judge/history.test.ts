import assert from 'node:assert/strict';
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
