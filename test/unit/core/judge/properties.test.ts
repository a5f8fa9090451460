// Invariants of the judge, checked on random inputs with fast-check.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { analyzeMetric } from '../../../../src/core/judge/analyze.js';
import { judgeFixed, judgeGate } from '../../../../src/core/judge/index.js';
import { mannWhitney } from '../../../../src/core/judge/mann-whitney.js';
import type { MetricSeries, Sample } from '../../../../src/core/judge/types.js';
import { gate } from './build.js';

const value = fc.double({ min: 0.01, max: 1000, noNaN: true, noDefaultInfinity: true });
const rows = (min: number) => fc.array(fc.array(value, { minLength: 3, maxLength: 12 }), { minLength: min, maxLength: 6 });
const ratioRows = (min: number) =>
  fc.array(
    fc.array(
      fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 50, max: 2000 })).map(([x, n]) => [Math.min(x, n), n] as [number, number]),
      { minLength: 3, maxLength: 12 },
    ),
    { minLength: min, maxLength: 6 },
  );
const countRows = (min: number) => fc.array(fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 3, maxLength: 12 }), { minLength: min, maxLength: 6 });

const metric = (kind: MetricSeries['kind'], baseline: Sample[][], canary: Sample[][], bad: 'increase' | 'decrease' = 'increase'): MetricSeries => ({
  name: 'm',
  kind,
  bad,
  tolerance: 0.1,
  baseline,
  canary,
});

describe('core/judge properties', () => {
  it('swapping canary and baseline flips the direction of the effect', () => {
    fc.assert(
      fc.property(rows(1), rows(1), (a, b) => {
        assert.ok(Math.abs(mannWhitney(a.flat(), b.flat()).effect + mannWhitney(b.flat(), a.flat()).effect) < 1e-12);
        const ab = analyzeMetric(metric('continuous', b, a), { sequential: false, alpha: 0.01 }).effect;
        const ba = analyzeMetric(metric('continuous', a, b), { sequential: false, alpha: 0.01 }).effect;
        assert.ok(Math.sign(ab) === -Math.sign(ba) || (Math.abs(ab) < 1e-9 && Math.abs(ba) < 1e-9), `${ab} vs ${ba}`);
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(ratioRows(1), ratioRows(1), (a, b) => {
        const ab = analyzeMetric(metric('ratio', b, a), { sequential: false, alpha: 0.01 }).effect;
        const ba = analyzeMetric(metric('ratio', a, b), { sequential: false, alpha: 0.01 }).effect;
        // Rate ratios invert exactly: (1 + ab) (1 + ba) = 1.
        assert.ok(Math.abs((1 + ab) * (1 + ba) - 1) < 1e-9, `${ab} vs ${ba}`);
      }),
      { numRuns: 150 },
    );
  });

  it('scaling every value does not change the rank test', () => {
    fc.assert(
      // Powers of two scale floating-point numbers exactly, so ties and order are kept bit for bit.
      fc.property(rows(3), rows(1), fc.integer({ min: -20, max: 20 }).map((j) => 2 ** j), fc.boolean(), (b, c, k, seq) => {
        const mode = seq ? ({ sequential: true, alpha: 0.01 } as const) : ({ sequential: false, alpha: 0.01 } as const);
        const one = analyzeMetric(metric('continuous', b, c), mode);
        const scaled = analyzeMetric(
          metric(
            'continuous',
            b.map((r) => r.map((x) => x * k)),
            c.map((r) => r.map((x) => x * k)),
          ),
          mode,
        );
        assert.ok(Math.abs(one.p - scaled.p) <= 1e-9 * Math.max(1, one.p), `p ${one.p} vs ${scaled.p}`);
        assert.ok(Math.abs(one.effect - scaled.effect) <= 1e-6 * Math.max(1, Math.abs(one.effect)), `effect ${one.effect} vs ${scaled.effect}`);
      }),
      { numRuns: 150 },
    );
  });

  it('a canary identical to the baseline never fails, at any look or in a fixed judgment', () => {
    fc.assert(
      fc.property(rows(3), ratioRows(3), countRows(3), fc.constantFrom<'increase' | 'decrease'>('increase', 'decrease'), fc.integer({ min: 1, max: 120 }), (cont, ratio, count, bad, secs) => {
        const metrics = [metric('continuous', cont, cont, bad), metric('ratio', ratio, ratio, bad), metric('count', count, count, bad)];
        const g = judgeGate(gate(metrics, { elapsedMs: secs * 1000 }));
        assert.notEqual(g.decision, 'fail', g.explanation);
        assert.notEqual(judgeFixed({ alpha: 0.05, metrics }).verdict, 'fail');
      }),
      { numRuns: 150 },
    );
  });

  it('with each server\'s own past: a canary identical to the baseline, before and after, never fails', () => {
    fc.assert(
      fc.property(rows(3), rows(1), ratioRows(3), ratioRows(1), fc.integer({ min: 1, max: 120 }), (cont, contPast, ratio, ratioPast, secs) => {
        const past = <T,>(now: T[][], pool: T[][]) => now.map((_, i) => pool[i % pool.length]);
        const withPast = <T extends Sample>(m: MetricSeries, pool: T[][]): MetricSeries => ({ ...m, before: { baseline: past(m.baseline, pool), canary: past(m.canary, pool) } });
        const metrics = [withPast(metric('continuous', cont, cont), contPast), withPast(metric('ratio', ratio, ratio), ratioPast)];
        assert.notEqual(judgeGate(gate(metrics, { elapsedMs: secs * 1000 })).decision, 'fail');
        assert.notEqual(judgeFixed({ alpha: 0.05, metrics }).verdict, 'fail');
      }),
      { numRuns: 100 },
    );
  });

  it('a bigger regression never looks less significant (ratio metrics)', () => {
    fc.assert(
      fc.property(ratioRows(3), fc.integer({ min: 1, max: 20 }), (base, extra) => {
        const canary = [base[0]];
        const worse = [base[0].map(([x, n]) => [Math.min(n, x + extra), n] as [number, number])];
        const p1 = analyzeMetric(metric('ratio', base, canary), { sequential: true, alpha: 0.01 }).p;
        const p2 = analyzeMetric(metric('ratio', base, worse), { sequential: true, alpha: 0.01 }).p;
        assert.ok(p2 <= p1 + 1e-12, `${p2} > ${p1}`);
      }),
      { numRuns: 100 },
    );
  });
});
