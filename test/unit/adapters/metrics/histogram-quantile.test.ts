import assert from 'node:assert/strict';
import { histogramQuantile } from '../../../../src/adapters/metrics/histogram-quantile.js';

describe('adapters/metrics/histogram-quantile', () => {
  // Values checked by hand against PromQL's histogram_quantile rules.
  const buckets = [
    { le: 0.1, count: 10 },
    { le: 0.5, count: 60 },
    { le: 1, count: 90 },
    { le: Infinity, count: 100 },
  ];

  it('interpolates linearly inside the bucket holding the rank', () => {
    // rank 50 is 40 of the 50 observations in (0.1, 0.5]
    assert.ok(Math.abs(histogramQuantile(0.5, buckets)! - (0.1 + 0.4 * (40 / 50))) < 1e-12);
    // rank 5 in the first bucket, which starts at 0
    assert.ok(Math.abs(histogramQuantile(0.05, buckets)! - 0.05) < 1e-12);
    // rank 75: 15 of 30 in (0.5, 1]
    assert.ok(Math.abs(histogramQuantile(0.75, buckets)! - 0.75) < 1e-12);
  });

  it('answers the highest finite bound when the rank falls in +Inf', () => {
    assert.equal(histogramQuantile(0.95, buckets), 1);
  });

  it('does not depend on bucket order', () => {
    assert.equal(histogramQuantile(0.5, [...buckets].reverse()), histogramQuantile(0.5, buckets));
  });

  it('is null without observations, without +Inf, or for q outside (0,1)', () => {
    assert.equal(
      histogramQuantile(
        0.5,
        buckets.map((b) => ({ ...b, count: 0 })),
      ),
      null,
    );
    assert.equal(histogramQuantile(0.5, buckets.slice(0, 3)), null);
    assert.equal(histogramQuantile(1, buckets), null);
    assert.equal(histogramQuantile(0, buckets), null);
  });

  it('tolerates cumulative counts that dip (summed from slightly skewed scrapes)', () => {
    const q = histogramQuantile(0.5, [
      { le: 0.1, count: 10 },
      { le: 0.5, count: 9 },
      { le: Infinity, count: 20 },
    ]);
    assert.equal(q, 0.1);
  });
});
