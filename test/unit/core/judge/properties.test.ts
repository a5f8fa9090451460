// Invariants of the judge, checked on random inputs with fast-check.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyzeMetric, relative } from '../../../../src/core/judge/analyze.js';
import { judgeFixed, judgeGate } from '../../../../src/core/judge/index.js';
import { mannWhitney } from '../../../../src/core/judge/mann-whitney.js';
import { toSeries, type Tick } from '../../../../src/core/rollout/samples.js';
import type { InconclusivePolicy, MetricSeries, Sample } from '../../../../src/core/judge/types.js';
import { gate } from './build.js';

const value = fc.double({ min: 0.01, max: 1000, noNaN: true, noDefaultInfinity: true });
const rows = (min: number) => fc.array(fc.array(value, { minLength: 3, maxLength: 12 }), { minLength: min, maxLength: 6 });
const ratioRows = (min: number) =>
  fc.array(
    fc.array(
      fc
        .tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 50, max: 2000 }))
        .map(([x, n]) => [Math.min(x, n), n] as [number, number]),
      { minLength: 3, maxLength: 12 },
    ),
    { minLength: min, maxLength: 6 },
  );
const countRows = (min: number) =>
  fc.array(fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 3, maxLength: 12 }), { minLength: min, maxLength: 6 });

const metric = (
  kind: MetricSeries['kind'],
  baseline: Sample[][],
  canary: Sample[][],
  bad: 'increase' | 'decrease' = 'increase',
): MetricSeries => ({
  name: 'm',
  kind,
  bad,
  tolerance: 0.1,
  baseline,
  canary,
});

describe('core/judge properties', function () {
  this.timeout(180_000);
  it('swapping canary and baseline flips the direction of the effect', () => {
    fc.assert(
      fc.property(rows(1), rows(1), (a, b) => {
        assert.ok(Math.abs(mannWhitney(a.flat(), b.flat()).effect + mannWhitney(b.flat(), a.flat()).effect) < 1e-12);
        const effect = (m: MetricSeries) => {
          const x = analyzeMetric(m);
          return relative(x, x.g);
        };
        const ab = effect(metric('continuous', b, a));
        const ba = effect(metric('continuous', a, b));
        assert.ok(Math.sign(ab) === -Math.sign(ba) || (Math.abs(ab) < 1e-9 && Math.abs(ba) < 1e-9), `${ab} vs ${ba}`);
      }),
      { numRuns: 150 },
    );
    fc.assert(
      // Three servers a side or more, so both directions judge server by server (or both pooled).
      fc.property(ratioRows(3), ratioRows(3), (a, b) => {
        const ra = analyzeMetric(metric('ratio', b, a));
        const rb = analyzeMetric(metric('ratio', a, b));
        const ab = relative(ra, ra.g);
        const ba = relative(rb, rb.g);
        // Rate ratios invert exactly: (1 + ab) (1 + ba) = 1.
        assert.ok(Math.abs((1 + ab) * (1 + ba) - 1) < 1e-9, `${ab} vs ${ba}`);
      }),
      { numRuns: 150 },
    );
  });

  it('scaling every value does not change the test of a continuous metric', () => {
    fc.assert(
      // Powers of two scale floating-point numbers exactly.
      fc.property(
        rows(3),
        rows(1),
        fc.integer({ min: -20, max: 20 }).map((j) => 2 ** j),
        (b, c, k) => {
          const one = analyzeMetric(metric('continuous', b, c));
          const scaled = analyzeMetric(
            metric(
              'continuous',
              b.map((r) => r.map((x) => x * k)),
              c.map((r) => r.map((x) => x * k)),
            ),
          );
          assert.ok(
            Math.abs(one.z - scaled.z) <= 1e-6 * Math.max(1, Math.abs(one.z)) || (!Number.isFinite(one.z) && one.z === scaled.z),
            `z ${one.z} vs ${scaled.z}`,
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a canary identical to the baseline never fails, at any look or in a fixed judgment', () => {
    fc.assert(
      fc.property(
        rows(3),
        ratioRows(3),
        countRows(3),
        fc.constantFrom<'increase' | 'decrease'>('increase', 'decrease'),
        fc.integer({ min: 1, max: 120 }),
        (cont, ratio, count, bad, secs) => {
          const metrics = [metric('continuous', cont, cont, bad), metric('ratio', ratio, ratio, bad), metric('count', count, count, bad)];
          const g = judgeGate(gate(metrics, { elapsedMs: secs * 1000 }));
          assert.notEqual(g.decision, 'fail', g.explanation);
          assert.notEqual(judgeFixed({ alpha: 0.05, metrics }).verdict, 'fail');
        },
      ),
      { numRuns: 150 },
    );
  });

  it("with each server's own past: a canary identical to the baseline, before and after, never fails", () => {
    fc.assert(
      fc.property(
        rows(3),
        rows(1),
        ratioRows(3),
        ratioRows(1),
        fc.integer({ min: 1, max: 120 }),
        (cont, contPast, ratio, ratioPast, secs) => {
          const past = <T>(now: T[][], pool: T[][]) => now.map((_, i) => pool[i % pool.length]);
          const withPast = <T extends Sample>(m: MetricSeries, pool: T[][]): MetricSeries => ({
            ...m,
            before: { baseline: past(m.baseline, pool), canary: past(m.canary, pool) },
          });
          const metrics = [withPast(metric('continuous', cont, cont), contPast), withPast(metric('ratio', ratio, ratio), ratioPast)];
          assert.notEqual(judgeGate(gate(metrics, { elapsedMs: secs * 1000 })).decision, 'fail');
          assert.notEqual(judgeFixed({ alpha: 0.05, metrics }).verdict, 'fail');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a bigger regression never looks less significant (ratio metrics)', () => {
    fc.assert(
      fc.property(ratioRows(3), fc.integer({ min: 1, max: 20 }), (base, extra) => {
        const canary = [base[0]];
        const worse = [base[0].map(([x, n]) => [Math.min(n, x + extra), n] as [number, number])];
        const z1 = analyzeMetric(metric('ratio', base, canary)).z;
        const z2 = analyzeMetric(metric('ratio', base, worse)).z;
        assert.ok(z2 >= z1 - 1e-12, `${z2} < ${z1}`);
      }),
      { numRuns: 100 },
    );
  });

  it('a canary beyond tolerance never passes, under any policy, at any look, nor in a fixed judgment', () => {
    const policies: InconclusivePolicy[] = ['hold', 'rollback', 'pass_within_tolerance', 'pass'];
    fc.assert(
      fc.property(
        rows(3),
        fc.double({ min: 1.12, max: 5, noNaN: true }),
        fc.constantFrom(...policies),
        fc.integer({ min: 1, max: 120 }),
        fc.constantFrom<'increase' | 'decrease'>('increase', 'decrease'),
        (base, factor, policy, secs, bad) => {
          // The canary is the baseline's servers made worse by `factor` (beyond the 10% tolerance), four times over.
          const worse = bad === 'increase' ? factor : 1 / factor;
          const canary = base.map((row) => row.map((x) => x * worse));
          const big = (r: number[][]) => r.map((row) => [...row, ...row, ...row, ...row]);
          const m = metric('continuous', big(base), big(canary), bad);
          const g = judgeGate(gate([m], { elapsedMs: secs * 1000, minBakeMs: 10_000, maxBakeMs: 60_000, onInconclusive: policy }));
          assert.notEqual(g.decision, 'pass', g.explanation);
          assert.notEqual(g.metrics[0].verdict, 'pass', g.metrics[0].explanation);
          assert.notEqual(judgeFixed({ alpha: 0.01, metrics: [m] }).verdict, 'pass');
        },
      ),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(
        ratioRows(3),
        fc.integer({ min: 2, max: 6 }),
        fc.constantFrom(...policies),
        fc.integer({ min: 10, max: 120 }),
        (base, factor, policy, secs) => {
          // Overwhelming data: every server's events x100 and requests x1000; the canary is the same servers with errors x factor (>= x2, tolerance 10%).
          const scaled = base.map((r) => r.map(([x, n]) => [x * 100 + 10, n * 1000] as [number, number]));
          const canary = scaled.map((r) => r.map(([x, n]) => [x * factor, n] as [number, number]));
          const m = metric('ratio', scaled, canary);
          const g = judgeGate(gate([m], { elapsedMs: secs * 1000, minBakeMs: 10_000, maxBakeMs: 60_000, onInconclusive: policy }));
          assert.notEqual(g.decision, 'pass', g.explanation);
          assert.notEqual(judgeFixed({ alpha: 0.01, metrics: [m] }).verdict, 'pass');
        },
      ),
      { numRuns: 100 },
    );
  });

  it('history from another release, or from a warm-up, never changes a verdict', () => {
    // Ticks of 6 servers: before the rollout (t <= 0) servers ran "old" or, for a while, "other";
    // after it, s0 is the canary. Whatever the samples on "other" (or while warming up) say, the verdict is the same.
    const specs = [{ name: 'lat', kind: 'continuous' as const, bad: 'increase' as const, tolerance: 0.1 }];
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.1, max: 1, noNaN: true }), { minLength: 6 * 30, maxLength: 6 * 30 }),
        fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: 6 * 30, maxLength: 6 * 30 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        (values, junk, otherRelease) => {
          const build = (contaminated: boolean): Tick[] =>
            Array.from({ length: 30 }, (_, k) => {
              const time = (k - 20) * 5000;
              return {
                time,
                samples: Array.from({ length: 6 }, (_, s) => {
                  // Server s ran "other" until t = -50 s when otherRelease[s], then "old" again from there (warming up for a minute).
                  const onOther = time <= 0 && otherRelease[s] && time <= -50_000;
                  const since = otherRelease[s] ? -50_000 : -Infinity;
                  const warming = time <= 0 && otherRelease[s] && time > -50_000 && time - since <= 60_000;
                  const v = values[k * 6 + s];
                  const dirty = contaminated && (onOther || warming) ? junk[k * 6 + s] : v;
                  return {
                    server: `s${s}`,
                    ok: true,
                    values: { lat: time > 0 ? v : dirty },
                    release: time > 0 && s === 0 ? 'new' : onOther ? 'other' : 'old',
                    since: onOther ? -Infinity : time > 0 && s === 0 ? 0 : since,
                  };
                }),
              };
            });
          const judge = (ticks: Tick[]) => {
            const series = toSeries(
              specs,
              ticks,
              {
                baseline: { servers: ['s1', 's2', 's3', 's4', 's5'], from: 0, to: 50_000 },
                canary: { servers: ['s0'], from: 0, to: 50_000 },
              },
              { from: -100_000, to: 0, release: 'old' },
            );
            const r = judgeGate(gate(series, { elapsedMs: 50_000, minBakeMs: 20_000, maxBakeMs: 100_000 }));
            return { decision: r.decision, metrics: r.metrics.map((m) => [m.verdict, m.pValue]) };
          };
          assert.deepEqual(judge(build(true)), judge(build(false)));
        },
      ),
      { numRuns: 60 },
    );
  });
});
