import assert from 'node:assert/strict';
import { judgeGate } from '../../../../src/core/judge/index.js';
import { gate, grid, series, wobble } from './build.js';

const latency = (canaryFactor: number, intervals = 10) =>
  series(
    'latency_p99',
    'continuous',
    grid(7, intervals, (s, t) => 0.2 * (1 + 0.03 * wobble(s, t))),
    grid(1, intervals, (s, t) => canaryFactor * 0.2 * (1 + 0.03 * wobble(s + 9, t))),
  );
const errors = (canaryPerInterval: (t: number) => number, intervals = 10, baselinePer = 0) =>
  series(
    'checkout_error_rate',
    'ratio',
    grid(7, intervals, () => [baselinePer, 30] as [number, number]),
    grid(1, intervals, (_, t) => [canaryPerInterval(t), 30] as [number, number]),
    { critical: true },
  );

describe('core/judge/gate', () => {
  it('fails at once when a canary server stops answering, whatever the bake', () => {
    const r = judgeGate(gate([latency(1)], { elapsedMs: 2000, unresponsive: ['web-3'] }));
    assert.equal(r.decision, 'fail');
    assert.match(r.explanation, /web-3 stopped answering/);
  });

  it('keeps baking before min bake when nothing is wrong, and passes at min bake', () => {
    assert.equal(judgeGate(gate([latency(1)], { elapsedMs: 10_000 })).decision, 'continue');
    const r = judgeGate(gate([latency(1)], { elapsedMs: 15_000 }));
    assert.equal(r.decision, 'pass');
    assert.ok(r.metrics.every((m) => m.verdict === 'pass'));
  });

  it('fails a clear latency regression before min bake, with evidence', () => {
    const r = judgeGate(gate([latency(1.6)], { elapsedMs: 8000 }));
    assert.equal(r.decision, 'fail');
    const m = r.metrics.find((e) => e.name === 'latency_p99')!;
    assert.equal(m.verdict, 'fail');
    assert.ok(m.effect > 0.4 && m.effect < 0.8, `effect ${m.effect}`);
    assert.ok(m.ci[0] > 0.1 && m.ci[1] >= m.effect, `ci ${m.ci}`);
    assert.ok(m.pValue <= 0.01);
    assert.deepEqual(m.samples, { baseline: 70, canary: 10 });
    assert.match(
      m.explanation,
      /^latency_p99 \+\d+% \([\d.]+ → [\d.]+; CI \+\d+% to \+\d+%\), p[=<][\d.]+: regression beyond 10% tolerance$/,
    );
  });

  it('with one baseline server (a two-server fleet at 50%), judges latency with its intervals as the unit: passes a steady canary, fails a slow one', () => {
    const one = (factor: number) =>
      series(
        'latency_p99',
        'continuous',
        grid(1, 10, (s, t) => 0.2 * (1 + 0.03 * wobble(s, t))),
        grid(1, 10, (s, t) => factor * 0.2 * (1 + 0.03 * wobble(s + 9, t))),
      );
    const same = judgeGate(gate([one(1)]));
    assert.equal(same.decision, 'pass', same.explanation);
    const slow = judgeGate(gate([one(1.5)]));
    assert.equal(slow.decision, 'fail', slow.explanation);
    assert.match(slow.explanation, /latency_p99 \+\d+%/);
  });

  it('does not fail a change smaller than tolerance', () => {
    const r = judgeGate(gate([latency(1.05, 40)], { elapsedMs: 80_000, maxBakeMs: 120_000 }));
    assert.equal(r.decision, 'pass');
  });

  it('passes when baseline and canary both have zero errors (no 0/0 alarm)', () => {
    const r = judgeGate(gate([errors(() => 0)]));
    assert.equal(r.decision, 'pass');
    assert.equal(r.metrics[0].effect, 0);
  });

  it('fails the demo bad commit: a few checkout 500s on one canary while baseline has none', () => {
    // One failed checkout every other 2 s interval on the canary, none on 7 baseline servers.
    let failedAt: number | undefined;
    for (let look = 1; look <= 15 && failedAt === undefined; look++) {
      const r = judgeGate(gate([errors((t) => (t % 2 === 1 ? 1 : 0), look)], { elapsedMs: look * 2000, minBakeMs: 30_000 }));
      if (r.decision === 'fail') {
        failedAt = look * 2000;
        // No errors at all on the baseline: the explanation says what was seen, not an unbounded relative change.
        assert.match(
          r.explanation,
          /checkout_error_rate 0% → \d\.\d+% \(\d+ of \d+ on the canary vs 0 of [\d,]+ on the baseline: at least \+0\.\d+ pp\), p=/,
        );
      } else assert.equal(r.decision, 'continue');
    }
    assert.ok(failedAt !== undefined && failedAt <= 20_000, `failed at ${failedAt}`);
  });

  it('a metric with more weight gets more of the alpha: among six metrics it fails sooner, and the others never fail', () => {
    const quiet = (i: number) =>
      series(
        `quiet_${i}`,
        'continuous',
        grid(7, 30, (s, t) => 1 + 0.05 * wobble(s, t, i + 2)),
        grid(1, 30, (s, t) => 1 + 0.05 * wobble(s + 9, t, i + 2)),
      );
    const firstFail = (weight: number) => {
      for (let look = 1; look <= 30; look++) {
        // Errors at 1.8x the baseline's rate on the canary.
        const errs = series(
          'error_rate',
          'ratio',
          grid(7, look, (s, t) => [5 + Math.round(2 * wobble(s, t)), 500] as [number, number]),
          grid(1, look, (s, t) => [9 + Math.round(2 * wobble(s + 3, t)), 500] as [number, number]),
          { weight },
        );
        const r = judgeGate(
          gate([errs, ...[0, 1, 2, 3, 4].map(quiet)], { elapsedMs: look * 5000, minBakeMs: 300_000, maxBakeMs: 600_000 }),
        );
        if (r.decision === 'fail') {
          assert.deepEqual(
            r.metrics.filter((m) => m.verdict === 'fail').map((m) => m.name),
            ['error_rate'],
          );
          return look;
        }
      }
      return Infinity;
    };
    const plain = firstFail(1);
    const heavy = firstFail(5);
    assert.ok(Number.isFinite(plain), 'caught at weight 1 too');
    // Looks are discrete and a Pocock-type boundary is nearly flat: more alpha fails no later (often sooner).
    assert.ok(heavy <= plain, `weight 5 failed at look ${heavy}, weight 1 at look ${plain}`);
  });

  it('waits for data after min bake, then answers per policy at max bake', () => {
    const empty = series('signups', 'count', [[], [], []], [[]]);
    assert.equal(judgeGate(gate([empty], { elapsedMs: 30_000 })).decision, 'continue');
    const hold = judgeGate(gate([empty], { elapsedMs: 60_000, onInconclusive: 'hold' }));
    assert.equal(hold.decision, 'inconclusive');
    assert.equal(hold.metrics[0].verdict, 'inconclusive');
    assert.equal(judgeGate(gate([empty], { elapsedMs: 60_000, onInconclusive: 'rollback' })).decision, 'inconclusive');
    const pass = judgeGate(gate([empty], { elapsedMs: 60_000, onInconclusive: 'pass' }));
    assert.equal(pass.decision, 'pass');
    assert.match(pass.warning ?? '', /without enough data/);
  });

  it('fails at max bake when a critical metric never had enough data', () => {
    const sparse = series('checkout_error_rate', 'ratio', [[[0, 1]], [[0, 1]], [[0, 1]]], [[[0, 1]]], { critical: true });
    const r = judgeGate(gate([sparse], { elapsedMs: 60_000, onInconclusive: 'pass' }));
    assert.equal(r.decision, 'fail');
    assert.match(r.explanation, /critical metric checkout_error_rate/);
  });

  it('is inconclusive, not a pass, with no metrics at all', () => {
    assert.equal(judgeGate(gate([], { elapsedMs: 60_000 })).decision, 'inconclusive');
  });

  it('flags a canary whose memory climbs (trend) before its level is beyond tolerance', () => {
    const n = 24;
    const mem = series(
      'memory',
      'continuous',
      grid(7, n, (s, t) => 300e6 * (1 + 0.002 * wobble(s, t))),
      grid(1, n, (s, t) => 300e6 * (1 + 0.004 * t) * (1 + 0.002 * wobble(s + 3, t))),
    );
    const r = judgeGate(gate([mem], { elapsedMs: n * 5000, minBakeMs: 300_000, maxBakeMs: 300_000 }));
    assert.equal(r.decision, 'fail');
    assert.ok(r.metrics.some((m) => m.name === 'memory trend' && m.verdict === 'fail'));
  });

  it('does not mistake a freshly restarted canary warming up for a leak', () => {
    // Memory climbs 8% in the first intervals after the restart, then flattens (below the 10% tolerance).
    const n = 20;
    const mem = series(
      'memory',
      'continuous',
      grid(7, n, (s, t) => 300e6 * (1 + 0.002 * wobble(s, t))),
      grid(1, n, (s, t) => 300e6 * (1 + 0.08 * (1 - Math.exp(-t / 3))) * (1 + 0.002 * wobble(s + 9, t))),
    );
    const r = judgeGate(gate([mem], { elapsedMs: n * 2000, minBakeMs: 60_000, maxBakeMs: 120_000 }));
    assert.equal(r.decision, 'continue', r.explanation);
    assert.equal(r.metrics.find((m) => m.name === 'memory trend')?.verdict, 'pass');
  });

  it("catches a leak on a lean canary through each server's own past, where servers' memory differs far beyond tolerance", () => {
    // Seven baseline servers between 0.8x and 1.4x of 300 MB, the canary at 0.7x, leaking 0.5% an
    // interval. Against the baseline's level the lean canary looks fine for minutes; against its own
    // past it has grown 10% already and is on its way past tolerance by max bake.
    const n = 24;
    const size = (s: number) => [1.0, 0.8, 1.4, 1.2, 0.9, 1.3, 1.1, 0.7][s]!;
    const past = (rows: number, offset: number) =>
      grid(rows, 24, (s, t) => 300e6 * size(s + offset) * (1 + 0.002 * wobble(s + offset, t + 50)));
    const mem = (leak: number, withPast: boolean) =>
      series(
        'memory',
        'continuous',
        grid(7, n, (s, t) => 300e6 * size(s) * (1 + 0.002 * wobble(s, t))),
        grid(1, n, (s, t) => 300e6 * size(7) * (1 + leak * t) * (1 + 0.002 * wobble(s + 9, t))),
        withPast ? { before: { baseline: past(7, 0), canary: past(1, 7) } } : {},
      );
    const look = { elapsedMs: n * 5000, minBakeMs: 60_000, maxBakeMs: 300_000 };
    const trendOf = (leak: number, withPast: boolean) =>
      judgeGate(gate([mem(leak, withPast)], look)).metrics.find((m) => m.name === 'memory trend')!;
    assert.notEqual(trendOf(0.005, false).verdict, 'fail', 'the spread between servers hides it without their own past');
    assert.equal(trendOf(0.005, true).verdict, 'fail', trendOf(0.005, true).explanation);
    assert.equal(trendOf(0, true).verdict, 'pass', 'an identical canary never fails');
  });

  it('does not take GC sawtooth for a leak: 3x the tolerance, any period and phase, at every look, with or without own past', () => {
    // Each server's heap climbs 30% and drops, with its own phase: a window on a rising stretch of
    // one canary is steep, and must not read as a leak.
    const failed: string[] = [];
    for (const period of [8, 20, 45])
      for (let seed = 0; seed < 8; seed++)
        for (const n of [12, 30, 60])
          for (const withPast of [false, true]) {
            const phase = (s: number) => ((s * 7919 + seed * 104729) % 1000) / 1000;
            const saw = (s: number, t: number) => 300e6 * (1 + 0.3 * ((t / period + phase(s)) % 1)) * (1 + 0.002 * wobble(s, t));
            const past = (rows: number, off: number) => grid(rows, 60, (s, t) => saw(s + off, t - 60));
            const mem = series(
              'memory',
              'continuous',
              grid(7, n, saw),
              grid(1, n, (s, t) => saw(s + 7, t)),
              withPast ? { before: { baseline: past(7, 0), canary: past(1, 7) } } : {},
            );
            const r = judgeGate(gate([mem], { elapsedMs: n * 5000, minBakeMs: 60_000, maxBakeMs: 300_000 }));
            for (const m of r.metrics)
              if (m.verdict === 'fail') failed.push(`period ${period}, seed ${seed}, ${n} intervals: ${m.explanation}`);
          }
    assert.deepEqual(failed, []);
  });

  describe('a fresh baseline (age-dependent metrics)', () => {
    // Seven baseline servers minutes old, one of them restarted with the canary (row 6: the fresh baseline).
    const n = 6;
    const mem = (canary: number, freshServer: number, aged = 100e6) => {
      const base = grid(7, n, (s, t) => (s === 6 ? freshServer : aged * (1 + 0.02 * wobble(s, 0))) * (1 + 0.002 * wobble(s, t)));
      return series(
        'memory',
        'continuous',
        base,
        grid(1, n, (s, t) => canary * (1 + 0.002 * wobble(s + 9, t))),
        {
          tolerance: 0.25,
          unit: 'bytes',
          fresh: [6],
        },
      );
    };
    const verdict = (m: ReturnType<typeof mem>) =>
      judgeGate(gate([m], { elapsedMs: 37_000, minBakeMs: 30_000, maxBakeMs: 60_000 })).metrics[0]!;

    it("does not fail a canary for one fresh server's start-up state (the demo: 80 MB before its SDK loaded, the canary 103 MB, the fleet 100 MB)", () => {
      const m = verdict(mem(103e6, 80e6));
      assert.notEqual(m.verdict, 'fail', m.explanation);
      assert.equal(m.verdict, 'pass', `ruled out against the older servers: ${m.explanation}`);
      assert.equal(m.against, 'older');
      assert.match(m.explanation, /\(100 MB → 103 MB; against the older baseline servers; CI /);
    });

    it('does not fail a young canary that the fresh baseline matches (CPU twice the aged servers)', () => {
      const m = verdict(mem(200e6, 200e6));
      assert.notEqual(m.verdict, 'fail', m.explanation);
      assert.match(m.explanation, /against the fresh baseline/);
    });

    it('fails a regression that shows against both', () => {
      const m = verdict(mem(170e6, 100e6));
      assert.equal(m.verdict, 'fail', m.explanation);
    });
  });
});
