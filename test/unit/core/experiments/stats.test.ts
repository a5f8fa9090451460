import assert from 'node:assert/strict';
import { chiSquareGoodnessOfFit, chiSquareSf, twoSidedAlwaysValidP } from '../../../../src/core/experiments/stats.js';
import { alwaysValidP } from '../../../../src/core/judge/msprt.js';

const close = (a: number, b: number, rel = 1e-6): void => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-300), `${a} vs ${b}`);

describe('core/experiments/stats', () => {
  it('chi-square upper tail matches reference values (R: pchisq(x, k, lower.tail = FALSE))', () => {
    close(chiSquareSf(3.841458820694124, 1), 0.05);
    close(chiSquareSf(10.827566170662733, 1), 0.001);
    close(chiSquareSf(5.991464547107979, 2), 0.05);
    close(chiSquareSf(20, 3), 0.0001697424, 1e-6);
    close(chiSquareSf(0.5, 4), 0.9735009, 1e-6);
    assert.equal(chiSquareSf(0, 2), 1);
  });

  it('goodness of fit: 5000 vs 5400 on 50/50 is a mismatch at 0.001, 5000 vs 5100 is not', () => {
    assert.ok(chiSquareGoodnessOfFit([5000, 5400], [0.5, 0.5]).pValue < 0.001);
    assert.ok(chiSquareGoodnessOfFit([5000, 5100], [0.5, 0.5]).pValue > 0.1);
    assert.equal(chiSquareGoodnessOfFit([0, 0], [0.5, 0.5]).pValue, 1);
  });

  it('the two-sided always-valid p-value is symmetric and never below the one-sided one', () => {
    for (const x of [0.01, 0.05, 0.2]) {
      const v = 0.001;
      close(twoSidedAlwaysValidP(x, v, 0.1), twoSidedAlwaysValidP(-x, v, 0.1), 1e-12);
      assert.ok(twoSidedAlwaysValidP(x, v, 0.1) >= alwaysValidP(x, v, 0.1) - 1e-15);
      assert.ok(twoSidedAlwaysValidP(x, v, 0.1) <= 2 * alwaysValidP(x, v, 0.1) + 1e-15);
    }
    assert.equal(twoSidedAlwaysValidP(0, 0.001, 0.1), 1);
  });
});
