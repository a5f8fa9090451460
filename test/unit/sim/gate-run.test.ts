import assert from 'node:assert/strict';
import { runGate, type GateRunOptions } from '../../../src/sim/gate-run.js';
import { createRandom } from '../../../src/sim/random.js';
import { referenceJudge } from '../../../src/sim/reference-judge.js';
import { gaussianKl, poissonKl, sprtSeconds, waldNats } from '../../../src/sim/sprt-bound.js';

const base: GateRunOptions = { fleet: { servers: 10, rps: 100, outlierProbability: 0 }, canaries: 1, intervalMs: 5000, minBakeMs: 30_000, maxBakeMs: 120_000, alpha: 0.01, gateOptions: { decisionsOnly: true } };

describe('sim/gate-run', () => {
  it('passes unchanged builds at min bake', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = runGate(base, createRandom(seed));
      assert.equal(r.decision, 'pass', `seed ${seed}: ${r.failed}`);
      assert.equal(r.atMs, 30_000);
    }
  });

  it('fails a five-fold error rate within seconds, naming error_rate', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const r = runGate({ ...base, regression: { errorFactor: 5 } }, createRandom(seed));
      assert.equal(r.decision, 'fail');
      assert.ok(r.atMs <= 20_000, `seed ${seed}: ${r.atMs}`);
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

  it('the reference judge fails a clear shift and passes identical data', () => {
    const m = { name: 'lat', kind: 'continuous' as const, bad: 'increase' as const, tolerance: 0.1 };
    const b = [[1, 1.1, 0.9, 1, 1.05], [1, 0.95, 1.02, 0.98, 1]];
    assert.equal(referenceJudge([{ ...m, baseline: b, canary: [[2, 2.1, 1.9, 2, 2.2, 1.95]] }]).verdict, 'fail');
    assert.equal(referenceJudge([{ ...m, baseline: b, canary: b }]).verdict, 'pass');
  });

  it('computes the oracle SPRT time from Wald and KL', () => {
    assert.ok(Math.abs(waldNats(0.01, 0.05) - (0.95 * Math.log(95) + 0.05 * Math.log(0.05 / 0.99))) < 1e-12);
    assert.ok(Math.abs(poissonKl(2, 1) - (2 * Math.log(2) - 1)) < 1e-12);
    assert.equal(gaussianKl(1, 0, 0.5), 1);
    assert.equal(sprtSeconds(waldNats(0.01, 0.05), 5000, 0.01, 0.05), 5);
  });
});
