import assert from 'node:assert/strict';
import { createRandom } from '../../../src/sim/random.js';

describe('sim/random', () => {
  it('replays the same sequence for the same seed', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
    assert.notEqual(createRandom(1).next(), createRandom(2).next());
  });

  it('draws Poisson counts with the right mean and variance, small and large', () => {
    const r = createRandom(3);
    for (const mean of [0.3, 4, 250]) {
      const xs = Array.from({ length: 20_000 }, () => r.poisson(mean));
      const m = xs.reduce((t, x) => t + x, 0) / xs.length;
      const v = xs.reduce((t, x) => t + (x - m) ** 2, 0) / (xs.length - 1);
      // Standard error of the mean is sqrt(mean/20000): allow 5 of them.
      assert.ok(Math.abs(m - mean) < 5 * Math.sqrt(mean / 20_000), `mean ${m} for ${mean}`);
      assert.ok(Math.abs(v / mean - 1) < 0.06, `variance ${v} for ${mean}`);
      assert.ok(xs.every((x) => Number.isInteger(x) && x >= 0));
    }
  });

  it('draws unit-mean gamma multipliers with variance 1/shape', () => {
    const r = createRandom(5);
    for (const shape of [0.5, 20]) {
      const xs = Array.from({ length: 20_000 }, () => r.gammaUnit(shape));
      const m = xs.reduce((t, x) => t + x, 0) / xs.length;
      const v = xs.reduce((t, x) => t + (x - m) ** 2, 0) / (xs.length - 1);
      assert.ok(Math.abs(m - 1) < 0.05, `mean ${m}`);
      assert.ok(Math.abs(v * shape - 1) < 0.1, `variance ${v} for shape ${shape}`);
    }
  });
});
