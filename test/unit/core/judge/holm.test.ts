import assert from 'node:assert/strict';
import { holmAdjust } from '../../../../src/core/judge/holm.js';
import { close, REF } from './reference.js';

describe('core/judge/holm', () => {
  it('matches closed testing, plain and weighted', () => {
    for (const c of REF.holm) {
      const got = holmAdjust(c.p, c.weights);
      got.forEach((g, i) => assert.ok(close(g, c.adjusted[i], 1e-12), `${g} vs ${c.adjusted[i]}`));
    }
  });
  it('treats NaN as no evidence', () => {
    assert.deepEqual(holmAdjust([NaN, 0.01]), [1, 0.02]);
  });
});
