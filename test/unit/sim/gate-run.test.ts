import assert from 'node:assert/strict';
import { runGate, type GateRunOptions } from '../../../src/sim/gate-run.js';
import { SIM_METRICS } from '../../../src/sim/model.js';
import { createRandom } from '../../../src/sim/random.js';
import { referenceJudge } from '../../../src/sim/reference-judge.js';
import { gaussianKl, negBinomialLlr, normalLlr, poissonKl, sprtSeconds, waldNats } from '../../../src/sim/sprt-bound.js';

const base: GateRunOptions = {
  fleet: { servers: 10, rps: 100, outlierProbability: 0 },
  canaries: 1,
  intervalMs: 5000,
  minBakeMs: 30_000,
  maxBakeMs: 120_000,
  alpha: 0.01,
  gateOptions: { decisionsOnly: true },
};

describe('sim/gate-run', function () {
  // Hundreds of simulated looks: slow on a loaded machine.
  this.timeout(180_000);
  it('never fails unchanged builds; with one canary and no history they are not ruled out, so the gate holds (or passes by the pipeline choice) at max bake', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = runGate(base, createRandom(seed));
      assert.equal(r.decision, 'inconclusive', `seed ${seed}: ${r.failed}`);
      assert.equal(r.atMs, 120_000);
      assert.notEqual(runGate({ ...base, onInconclusive: 'pass_within_tolerance' }, createRandom(seed)).decision, 'fail');
    }
  });

  it('passes unchanged builds at min bake when the data rules a regression out (a big fleet, own history, one metric)', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const r = runGate(
        {
          ...base,
          fleet: { ...base.fleet, servers: 20, rps: 2000 },
          canaries: 4,
          historyIntervals: 40,
          metrics: SIM_METRICS.filter((m) => m.name === 'latency_p99'),
        },
        createRandom(seed),
      );
      assert.equal(r.decision, 'pass', `seed ${seed}`);
      assert.ok(r.atMs <= 60_000, `passed at ${r.atMs}`);
    }
  });

  it('fails a five-fold error rate within seconds, naming error_rate', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = runGate({ ...base, regression: { errorFactor: 5 } }, createRandom(seed));
      assert.equal(r.decision, 'fail');
      // One canary of ten servers: its level is judged against the servers' spread (t with 8 df), not its request count alone.
      assert.ok(r.atMs <= 30_000, `seed ${seed}: ${r.atMs}`);
      assert.ok(r.failed.includes('error_rate'));
    }
  });

  it('fails a hung canary at the first look after it hangs, and runs the reference at its window', () => {
    const r = runGate({ ...base, regression: { hangAfterMs: 12_000 }, referenceAtMs: 60_000 }, createRandom(3));
    assert.equal(r.decision, 'fail');
    assert.equal(r.atMs, 15_000);
    assert.deepEqual(r.failed, ['unresponsive']);
    assert.ok(r.reference);
  });

  it('runs the per-server t-test reference once at each of its looks, even after the gate has decided', () => {
    const r = runGate({ ...base, regression: { errorFactor: 5 }, tReferenceAtMs: [30_000, 60_000] }, createRandom(4));
    assert.equal(r.decision, 'fail');
    assert.ok(r.atMs <= 30_000);
    assert.deepEqual(
      r.tReference?.map((t) => t.atMs),
      [30_000, 60_000],
    );
    for (const t of r.tReference!) assert.ok(t.verdict === 'fail' && t.failed.includes('error_rate'), JSON.stringify(t));
    const same = runGate({ ...base, tReferenceAtMs: [60_000] }, createRandom(4));
    assert.deepEqual(
      same.tReference?.map((t) => t.verdict),
      ['pass'],
    );
  });

  it('the reference judge fails a clear shift and passes identical data', () => {
    const m = { name: 'lat', kind: 'continuous' as const, bad: 'increase' as const, tolerance: 0.1 };
    const b = [
      [1, 1.1, 0.9, 1, 1.05],
      [1, 0.95, 1.02, 0.98, 1],
    ];
    assert.equal(referenceJudge([{ ...m, baseline: b, canary: [[2, 2.1, 1.9, 2, 2.2, 1.95]] }]).verdict, 'fail');
    assert.equal(referenceJudge([{ ...m, baseline: b, canary: b }]).verdict, 'pass');
  });

  it('runs the oracle SPRT on the same looks: it catches a clear regression within a few looks and stays quiet at the tolerance boundary', () => {
    const oracle = { metric: 'error_rate' as const, h0: 1.1, h1: 2, beta: 0.05 };
    for (let seed = 1; seed <= 5; seed++) {
      const bad = runGate({ ...base, regression: { errorFactor: 2 }, lookPastPass: true, oracle }, createRandom(seed));
      assert.ok(bad.oracleAtMs !== undefined && bad.oracleAtMs <= 60_000, `seed ${seed}: oracle at ${bad.oracleAtMs}`);
      assert.equal(bad.oracleAtMs % 5000, 0, 'decides at a look');
    }
    let quiet = 0;
    for (let seed = 1; seed <= 20; seed++)
      if (runGate({ ...base, regression: { errorFactor: 1.1 }, oracle }, createRandom(seed)).oracleAtMs === undefined) quiet++;
    assert.ok(quiet >= 18, `oracle fired at the boundary in ${20 - quiet}/20`);
    // The likelihood ratios it sums: positive when the observation favours H1.
    assert.ok(negBinomialLlr(20, 10, 20, 20) > 0 && negBinomialLlr(5, 10, 20, 20) < 0);
    assert.ok(Math.abs(normalLlr(1, 0, 2, 1)) < 1e-12 && normalLlr(2, 0, 2, 1) > 0);
  });

  it("hands the gate every server's own past when asked, so an outlier canary does not fail a good build", () => {
    const fleet = { ...base.fleet, outlierProbability: 1 };
    let found = 0;
    let withHistory = 0;
    let without = 0;
    for (let seed = 1; seed <= 120; seed++) {
      // The outlier lands in the one canary in about one seed of ten.
      const a = runGate({ ...base, fleet }, createRandom(seed));
      if (!a.outlierInCanary) continue;
      found++;
      if (a.decision === 'fail') without++;
      if (runGate({ ...base, fleet, historyIntervals: 40 }, createRandom(seed)).decision === 'fail') withHistory++;
    }
    assert.ok(found >= 5, `outlier canaries ${found} (without history ${without} failed)`);
    assert.equal(withHistory, 0);
  });

  it('computes the oracle SPRT time from Wald and KL', () => {
    assert.ok(Math.abs(waldNats(0.01, 0.05) - (0.95 * Math.log(95) + 0.05 * Math.log(0.05 / 0.99))) < 1e-12);
    assert.ok(Math.abs(poissonKl(2, 1) - (2 * Math.log(2) - 1)) < 1e-12);
    assert.equal(gaussianKl(1, 0, 0.5), 1);
    assert.equal(sprtSeconds(waldNats(0.01, 0.05), 5000, 0.01, 0.05), 5);
  });
});
