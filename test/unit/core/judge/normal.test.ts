import assert from 'node:assert/strict';
import { normalCdf, normalQuantile, normalSf } from '../../../../src/core/judge/normal.js';
import { close, REF } from './reference.js';

describe('core/judge/normal', () => {
  it('matches 50-digit CDF values, tails included', () => {
    for (const [x, p] of REF.normalCdf as [number, number][])
      assert.ok(close(normalCdf(x), p, 1e-12), `cdf(${x}) = ${normalCdf(x)}, want ${p}`);
  });
  it('keeps relative precision in the upper tail', () => {
    for (const [x, p] of REF.normalSf as [number, number][])
      assert.ok(close(normalSf(x), p, 1e-12), `sf(${x}) = ${normalSf(x)}, want ${p}`);
  });
  it('inverts the CDF', () => {
    for (const [p, z] of REF.normalQuantile as [number, number][])
      assert.ok(close(normalQuantile(p), z, 1e-10, 1e-15), `q(${p}) = ${normalQuantile(p)}, want ${z}`);
    assert.equal(normalQuantile(0), -Infinity);
    assert.equal(normalQuantile(1), Infinity);
    assert.ok(Number.isNaN(normalQuantile(1.5)));
  });
});
