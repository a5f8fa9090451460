import assert from 'node:assert/strict';
import { judgeFixed } from '../../../../src/core/judge/index.js';
import { grid, series, wobble } from './build.js';

describe('core/judge/fixed (immune judge)', () => {
  const base = grid(4, 6, (s, t) => [5 + Math.round(2 * wobble(s, t)), 1000] as [number, number]);

  it('passes when canary looks like baseline', () => {
    const out = judgeFixed({
      alpha: 0.01,
      metrics: [
        series(
          'error_rate',
          'ratio',
          base,
          grid(1, 6, (s, t) => [5 + Math.round(2 * wobble(s + 7, t)), 1000] as [number, number]),
        ),
      ],
    });
    assert.equal(out.verdict, 'pass');
    assert.equal(out.metrics[0].verdict, 'pass');
    assert.ok(out.metrics[0].ci[0] < 0 && out.metrics[0].ci[1] > 0);
  });

  it('fails a five-fold error rate and says which metric', () => {
    const out = judgeFixed({
      alpha: 0.01,
      metrics: [
        series(
          'latency',
          'continuous',
          grid(4, 6, (s, t) => 1 + 0.01 * wobble(s, t)),
          grid(1, 6, (s, t) => 1 + 0.01 * wobble(s + 5, t)),
        ),
        series(
          'error_rate',
          'ratio',
          base,
          grid(1, 6, () => [25, 1000] as [number, number]),
        ),
      ],
    });
    assert.equal(out.verdict, 'fail');
    assert.deepEqual(
      out.metrics.map((m) => m.verdict),
      ['pass', 'fail'],
    );
    assert.ok(out.metrics[1].effect > 3 && out.metrics[1].effect < 5);
  });

  it('judges a decrease-bad count metric in the right direction', () => {
    const checkouts = (f: number) => grid(1, 8, (s, t) => Math.round(f * (100 + 5 * wobble(s + 4, t))));
    const b = grid(5, 8, (s, t) => Math.round(100 + 5 * wobble(s, t)));
    assert.equal(
      judgeFixed({ alpha: 0.01, metrics: [series('checkouts', 'count', b, checkouts(0.5), { bad: 'decrease' })] }).verdict,
      'fail',
    );
    assert.equal(
      judgeFixed({ alpha: 0.01, metrics: [series('checkouts', 'count', b, checkouts(1.5), { bad: 'decrease' })] }).verdict,
      'pass',
    );
  });

  it('is inconclusive with too few samples and never a silent pass', () => {
    const out = judgeFixed({ alpha: 0.01, metrics: [series('latency', 'continuous', [[1, 2]], [[1]])] });
    assert.equal(out.verdict, 'inconclusive');
    assert.match(out.metrics[0].explanation, /too little data/);
  });

  it('corrects for many metrics (Holm): one borderline metric among ten does not fail', () => {
    // p around 0.005 on its own: fails alone at alpha 0.01, not when nine other metrics share alpha.
    const b = grid(4, 10, (s, t) => 1 + 0.05 * wobble(s, t));
    const c = grid(1, 10, (s, t) => 1.12 + 0.05 * wobble(s + 11, t, 1.3));
    const alone = judgeFixed({ alpha: 0.01, metrics: [series('x', 'continuous', b, c, { tolerance: 0 })] });
    const others = Array.from({ length: 9 }, (_, i) =>
      series(
        `ok${i}`,
        'continuous',
        b,
        grid(1, 10, (s, t) => 1 + 0.05 * wobble(s + i, t, 0.7)),
        { tolerance: 0 },
      ),
    );
    const many = judgeFixed({ alpha: 0.01, metrics: [series('x', 'continuous', b, c, { tolerance: 0 }), ...others] });
    assert.equal(alone.verdict, 'fail', JSON.stringify(alone.metrics[0]));
    assert.ok(many.metrics[0].pValue > alone.metrics[0].pValue);
  });
});
