import assert from 'node:assert/strict';
import { binomialUpperTail, incompleteBeta, logGamma } from '../../../../src/core/judge/beta.js';
import { close, REF } from './reference.js';

describe('core/judge/beta', () => {
  it('matches scipy.special.betainc', () => {
    for (const [x, a, b, want] of REF.incompleteBeta as number[][])
      assert.ok(close(incompleteBeta(x, a, b), want, 1e-8, 1e-300), `I_${x}(${a},${b}) = ${incompleteBeta(x, a, b)}, want ${want}`);
  });
  it('matches scipy.stats.binom.sf for binomial upper tails', () => {
    for (const [k, n, p, want] of REF.binomialUpperTail as number[][])
      assert.ok(close(binomialUpperTail(k, n, p), want, 1e-8), `P(Bin(${n},${p}) >= ${k}) = ${binomialUpperTail(k, n, p)}, want ${want}`);
  });
  it('has log Gamma at integers equal to log factorials', () => {
    assert.ok(Math.abs(logGamma(1)) < 1e-9);
    assert.ok(Math.abs(logGamma(11) - Math.log(3628800)) < 1e-8);
  });
});
