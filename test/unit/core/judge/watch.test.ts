import assert from 'node:assert/strict';
import { judgeWatch } from '../../../../src/core/judge/index.js';
import { slope } from '../../../../src/core/judge/trend.js';
import type { WatchInput } from '../../../../src/core/judge/types.js';
import { grid, series, wobble } from './build.js';

const watch = (over: Partial<WatchInput>): WatchInput => ({
  alpha: 0.01,
  metrics: [],
  elapsedMs: 60_000,
  durationMs: 300_000,
  unresponsive: [],
  ...over,
});

describe('core/judge/watch', () => {
  const pre = grid(8, 30, (s, t) => 200e6 * (1 + 0.003 * wobble(s, t)));

  it('computes least-squares slopes', () => {
    assert.deepEqual(slope([1, 3, 5, 7]).b, 2);
    assert.equal(slope([1, 2]).se, Infinity);
  });

  it('keeps watching a steady fleet, then passes at the end', () => {
    const post = grid(8, 12, (s, t) => 200e6 * (1 + 0.003 * wobble(s + 1, t)));
    assert.equal(judgeWatch(watch({ metrics: [series('memory', 'continuous', pre, post)] })).decision, 'continue');
    assert.equal(judgeWatch(watch({ metrics: [series('memory', 'continuous', pre, post)], elapsedMs: 300_000 })).decision, 'pass');
  });

  it('catches a slow leak long before memory is beyond tolerance', () => {
    // +0.2% per interval: +2.4% after 12 intervals (below the 5% tolerance), on course for +12% over the watch.
    const post = grid(8, 12, (s, t) => 200e6 * (1 + 0.002 * t) * (1 + 0.003 * wobble(s + 1, t)));
    const r = judgeWatch(watch({ metrics: [series('memory', 'continuous', pre, post, { tolerance: 0.05 })], elapsedMs: 60_000 }));
    assert.equal(r.decision, 'fail', r.explanation);
    assert.match(r.explanation, /memory trend/);
  });

  it('judges a count per request when given its exposure: an evening traffic dip is not a checkouts drop, a real drop still is', () => {
    // 8 servers, 500 requests per interval before the deploy, 350 after (evening); 10% check out.
    const requests = (t: number, after: boolean) => (after ? 350 : 500) + Math.round(10 * wobble(t, 1));
    const checkouts = (s: number, t: number, after: boolean, rate = 0.1) =>
      Math.round(requests(t, after) * rate * (1 + 0.05 * wobble(s, t, 3)));
    const counts = series(
      'checkouts',
      'count',
      grid(8, 30, (s, t) => checkouts(s, t, false)),
      grid(8, 12, (s, t) => checkouts(s, t, true)),
      { bad: 'decrease', tolerance: 0.03 },
    );
    const raw = judgeWatch(watch({ metrics: [counts] }));
    assert.equal(raw.decision, 'fail', 'raw counts fall with traffic: the false alarm that per-exposure judging removes');
    const per = (rate: number) =>
      series(
        'checkouts',
        'count',
        grid(8, 30, (s, t) => [checkouts(s, t, false), requests(t, false)] as [number, number]),
        grid(8, 12, (s, t) => [checkouts(s, t, true, rate), requests(t, true)] as [number, number]),
        {
          bad: 'decrease',
          tolerance: 0.03,
        },
      );
    assert.equal(judgeWatch(watch({ metrics: [per(0.1)] })).decision, 'continue');
    const drop = judgeWatch(watch({ metrics: [per(0.07)] }));
    assert.equal(drop.decision, 'fail', drop.explanation);
    assert.match(drop.explanation, /checkouts -\d+%/);
  });

  it('fails when a server stops answering', () => {
    assert.equal(judgeWatch(watch({ unresponsive: ['a'] })).decision, 'fail');
  });

  it('without samples from before the rollout (the previous build had just started), watches for unresponsive servers, then passes with a warning', () => {
    const post = grid(8, 12, (s, t) => 200e6 * (1 + 0.003 * wobble(s + 1, t)));
    const none = grid(8, 0, () => 0);
    const m = [series('memory', 'continuous', none, post)];
    assert.equal(judgeWatch(watch({ metrics: m })).decision, 'continue');
    assert.equal(judgeWatch(watch({ metrics: m, unresponsive: ['a'] })).decision, 'fail');
    const end = judgeWatch(watch({ metrics: m, elapsedMs: 300_000 }));
    assert.equal(end.decision, 'pass');
    assert.match(end.warning ?? '', /no samples from before the rollout/);
  });

  it('is inconclusive at the end without data', () => {
    assert.equal(judgeWatch(watch({ metrics: [series('memory', 'continuous', [[]], [[]])], elapsedMs: 300_000 })).decision, 'inconclusive');
  });
});
