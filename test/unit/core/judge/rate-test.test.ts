import assert from 'node:assert/strict';
import { logRateMixtureLr, pearsonDispersion, rateRatio, rateScore } from '../../../../src/core/judge/rate-test.js';
import { createRandom } from '../../../../src/sim/random.js';
import { close, REF } from './reference.js';

describe('core/judge/rate-test', () => {
  it('matches the conditional binomial mixture computed with scipy', () => {
    for (const c of REF.rateMixture) {
      const intervals = c.intervals.map(([cn, bs]: [number, number][]) => ({
        canary: { x: cn[0], n: cn[1] },
        baseline: { x: bs[0], n: bs[1] },
      }));
      const got = logRateMixtureLr(intervals, c.rho0, c.grid, c.dispersion);
      assert.ok(close(got, c.logLr, 1e-9, 1e-12), `${got} vs ${c.logLr}`);
    }
  });
  it('matches the score statistic', () => {
    for (const c of REF.rateScore) {
      const s = rateScore({ x: c.canary[0], n: c.canary[1] }, { x: c.baseline[0], n: c.baseline[1] }, c.rho0, c.dispersion);
      assert.ok(close(s.z, c.z, 1e-12), `${s.z} vs ${c.z}`);
    }
  });
  it('matches the Pearson dispersion, floored at 1', () => {
    for (const c of REF.dispersion) assert.ok(close(pearsonDispersion(c.cells.map(([x, n]: number[]) => ({ x, n }))), c.dispersion, 1e-12));
  });
  it('reads no events on either side as no change, not 0/0', () => {
    const r = rateRatio({ x: 0, n: 1000 }, { x: 0, n: 7000 }, 1);
    assert.equal(r.logRatio, 0);
    assert.equal(rateScore({ x: 0, n: 1000 }, { x: 0, n: 7000 }, 1.1, 1).v, Infinity);
  });

  it('keeps the false-alarm rate below alpha when peeking every interval at Poisson data at the tolerance boundary', () => {
    // 1000 deploys, 40 looks each; the canary's rate is exactly rho0 times the baseline's (the worst null).
    const rnd = createRandom(12);
    const alpha = 0.05;
    const rho0 = 1.1;
    const grid = [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4];
    let alarms = 0;
    for (let run = 0; run < 1000; run++) {
      const intervals: { canary: { x: number; n: number }; baseline: { x: number; n: number } }[] = [];
      for (let t = 0; t < 40; t++) {
        const nc = 100 + rnd.int(50);
        const nb = 700 + rnd.int(200);
        intervals.push({ canary: { x: rnd.poisson(0.02 * rho0 * nc), n: nc }, baseline: { x: rnd.poisson(0.02 * nb), n: nb } });
        if (logRateMixtureLr(intervals, rho0, grid, 1) >= Math.log(1 / alpha)) {
          alarms++;
          break;
        }
      }
    }
    assert.ok(alarms / 1000 <= alpha, `false-alarm rate ${alarms / 1000}`);
    // ... and it does have power: a doubled rate is caught in most runs.
    let caught = 0;
    for (let run = 0; run < 200; run++) {
      const intervals: { canary: { x: number; n: number }; baseline: { x: number; n: number } }[] = [];
      for (let t = 0; t < 40; t++) {
        intervals.push({ canary: { x: rnd.poisson(0.02 * 2 * 120), n: 120 }, baseline: { x: rnd.poisson(0.02 * 800), n: 800 } });
        if (logRateMixtureLr(intervals, rho0, grid, 1) >= Math.log(1 / alpha)) {
          caught++;
          break;
        }
      }
    }
    assert.ok(caught / 200 >= 0.9, `power ${caught / 200}`);
  });
});
