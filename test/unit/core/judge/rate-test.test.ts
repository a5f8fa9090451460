import assert from 'node:assert/strict';
import { logRateMixtureLr, pearsonDispersion, rateRatio, rateScore } from '../../../../src/core/judge/rate-test.js';
import { close, REF } from './reference.js';

describe('core/judge/rate-test', () => {
  it('matches the conditional binomial mixture computed with scipy', () => {
    for (const c of REF.rateMixture) {
      const intervals = c.intervals.map(([cn, bs]: [number, number][]) => ({ canary: { x: cn[0], n: cn[1] }, baseline: { x: bs[0], n: bs[1] } }));
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
});
