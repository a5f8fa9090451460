import assert from 'node:assert/strict';
import { ownPastContrast, withinDispersion } from '../../../../src/core/judge/own-past.js';
import type { RateCell } from '../../../../src/core/judge/rate-test.js';

/** A server's cells: `k` intervals of x events in n requests each. */
const row = (k: number, x: number, n = 1000): RateCell[] => Array.from({ length: k }, () => ({ x, n }));

describe('own past (difference-in-differences, DerSimonian-Laird)', () => {
  it('matches reference values computed independently (Python, from the formulas) when servers change differently', () => {
    // Baseline A: 20/2000 now, 30/3000 before (no change); B: 40/2000, 60/3000 (none); C: 60/2000,
    // 30/3000 (x3); canary: 40/2000, 30/3000 (x2). Cells within a server are equal: phi = 1.
    // Reference (Python, straight from the formulas): tau2 = 0.375497644734652,
    // diff = 0.32039858166209323, se = 0.7603934788066952, df = 2.653155217438588.
    const r = ownPastContrast(
      { baseline: [row(2, 10), row(2, 20), row(2, 30)], canary: [row(2, 20)] },
      { baseline: [row(3, 10), row(3, 20), row(3, 10)], canary: [row(3, 10)] },
      2,
    )!;
    assert.ok(Math.abs(r.tau2 - 0.375497644734652) < 1e-12, `tau2 ${r.tau2}`);
    assert.ok(Math.abs(r.diff - 0.32039858166209323) < 1e-12, `diff ${r.diff}`);
    assert.ok(Math.abs(r.se - 0.7603934788066952) < 1e-12, `se ${r.se}`);
    assert.ok(Math.abs(r.df - 2.653155217438588) < 1e-9, `df ${r.df}`);
  });

  it("cancels each server's own propensity without shrinking it: an outlier canary as it always was reads as no change", () => {
    // The canary always answers 3x the fleet's errors; the baseline servers differ too.
    const r = ownPastContrast(
      { baseline: [row(4, 10), row(4, 12), row(4, 8), row(4, 11)], canary: [row(4, 30)] },
      { baseline: [row(6, 10), row(6, 12), row(6, 8), row(6, 11)], canary: [row(6, 30)] },
      3,
    )!;
    assert.ok(Math.abs(r.diff) < 1e-12);
    assert.equal(r.tau2, 0);
    assert.equal(r.df, Infinity);
    // Known variance: phi (1/x_now + 1/x_before) per server, inverse-variance means per side.
    const v = (now: number, before: number) => 1 / now + 1 / before;
    const wb = [v(40, 60), v(48, 72), v(32, 48), v(44, 66)].reduce((a, x) => a + 1 / x, 0);
    assert.ok(Math.abs(r.se - Math.sqrt(1 / wb + v(120, 180))) < 1e-12);
  });

  it('reads a fleet-wide change (a campaign, the time of day) as no change', () => {
    const r = ownPastContrast(
      { baseline: [row(4, 20), row(4, 24), row(4, 16)], canary: [row(4, 22)] },
      { baseline: [row(6, 10), row(6, 12), row(6, 8)], canary: [row(6, 11)] },
      3,
    )!;
    assert.ok(Math.abs(r.diff) < 1e-12);
  });

  it('leaves the judgement to the pooled test when a canary server or the baseline lacks events', () => {
    const few = { baseline: [row(4, 10), row(4, 10), row(4, 10)], canary: [row(4, 1)] };
    assert.equal(ownPastContrast(few, { baseline: few.baseline, canary: [row(6, 10)] }, 3), undefined);
    const noPast = { baseline: [row(6, 10), row(6, 10), row(6, 10)], canary: [[]] };
    assert.equal(ownPastContrast({ baseline: few.baseline, canary: [row(4, 10)] }, noPast, 3), undefined);
    const two = { baseline: [row(4, 10), row(4, 10)], canary: [row(4, 10)] };
    assert.equal(ownPastContrast(two, two, 3), undefined);
  });

  it("within-server dispersion: Pearson chi-square of each cell around its own server's rate, never below 1", () => {
    // Server 1: 5 and 15 events in 1000 each (rate 0.01): chi2 = (5-10)^2/10 + (15-10)^2/10 = 5, 1 df.
    // Server 2: 40 and 40 in 2000 each: 0. Total 5 / 2 df = 2.5.
    assert.equal(
      withinDispersion([
        [
          { x: 5, n: 1000 },
          { x: 15, n: 1000 },
        ],
        row(2, 40, 2000),
      ]),
      2.5,
    );
    assert.equal(withinDispersion([row(3, 10)]), 1);
  });
});
