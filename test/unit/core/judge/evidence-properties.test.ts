// No human string the judge produces contains Infinity, NaN, ∞ or exponent notation: checked with
// fast-check over extreme inputs (zero baselines, zero canaries, huge ratios, tiny rates, empty
// sides), through the judge itself, the summary table, and the dashboard's own number words.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatChange, formatDifference, formatInterval, formatP, formatValue } from '../../../../src/core/format/words.js';
import { evidenceTable, UNREADABLE } from '../../../../src/core/judge/evidence.js';
import { judgeFixed, judgeGate } from '../../../../src/core/judge/index.js';
import type { MetricSeries, Sample, ValueUnit } from '../../../../src/core/judge/types.js';
import * as dash from '../../../../src/dashboard/format.js';
import { gate } from './build.js';

const UNITS: ValueUnit[] = ['fraction', 'seconds', 'milliseconds', 'bytes', 'cores', 'count', 'none'];

/** Ratio rows whose rate spans 0, 1e-7 and 1, exposures from 1 to 1e7 (some servers may see no events at all). */
const ratioRows = (minServers: number) =>
  fc.array(
    fc.array(
      fc
        .tuple(fc.constantFrom(0, 1e-7, 1e-4, 0.01, 0.5, 1), fc.constantFrom(1, 20, 1000, 1e5, 1e7))
        .map(([r, n]) => [Math.round(r * n), n] as [number, number]),
      { minLength: 0, maxLength: 8 },
    ),
    { minLength: minServers, maxLength: 5 },
  );
const continuousRows = (minServers: number) =>
  fc.array(fc.array(fc.constantFrom(0, 1e-12, 0.002, 0.4, 1.25e8, 3e12), { minLength: 0, maxLength: 8 }), {
    minLength: minServers,
    maxLength: 5,
  });
const countRows = (minServers: number) =>
  fc.array(fc.array(fc.constantFrom(0, 0, 1, 7, 1e6), { minLength: 0, maxLength: 8 }), { minLength: minServers, maxLength: 5 });

const metrics = fc
  .tuple(
    ratioRows(0),
    ratioRows(0),
    continuousRows(0),
    continuousRows(0),
    countRows(0),
    countRows(0),
    fc.constantFrom<ValueUnit>(...UNITS),
    fc.constantFrom<'increase' | 'decrease'>('increase', 'decrease'),
    fc.constantFrom(0.01, 0.1, 0.5),
    ratioRows(0),
    ratioRows(0),
  )
  .map(([rb, rc, cb, cc, nb, nc, unit, bad, tolerance, pb, pc]): MetricSeries[] => [
    { name: 'error_rate', kind: 'ratio', bad, tolerance, baseline: rb as Sample[][], canary: rc as Sample[][] },
    { name: 'latency_p99', kind: 'continuous', unit, bad, tolerance, baseline: cb, canary: cc },
    { name: 'signups', kind: 'count', intervalMs: 2000, bad, tolerance, baseline: nb, canary: nc },
    // A count judged per request: [events, exposure] cells, read "per request".
    {
      name: 'checkouts',
      kind: 'count',
      exposure: 'request',
      intervalMs: 2000,
      bad,
      tolerance,
      baseline: pb as Sample[][],
      canary: pc as Sample[][],
    },
  ]);

function assertReadable(text: string, where: string): void {
  assert.ok(!UNREADABLE.test(text), `${where}: "${text}"`);
}

describe('core/judge/evidence properties', () => {
  it('no explanation, table cell or gate line contains Infinity, NaN, ∞ or e+ (fixed and sequential, extreme inputs)', () => {
    fc.assert(
      fc.property(metrics, (ms) => {
        const fixed = judgeFixed({ alpha: 0.01, metrics: ms });
        for (const m of fixed.metrics) assertReadable(m.explanation, 'judge');
        const g = judgeGate(gate(ms));
        assertReadable(g.explanation, 'gate');
        const table = evidenceTable([
          { step: 0, elapsedMs: 20_000, decision: g.decision, explanation: g.explanation, metrics: JSON.parse(JSON.stringify(g.metrics)) },
        ]);
        for (const r of table.rows)
          for (const text of [r.label, r.estimate, r.interval, r.samples, r.explanation]) assertReadable(text, `table ${r.metric}`);
      }),
      { numRuns: 300 },
    );
  });

  it('no formatted number contains them either, in the core and in the dashboard', () => {
    const any = fc.oneof(fc.double(), fc.constantFrom(Infinity, -Infinity, NaN, Number.MAX_VALUE, -Number.MAX_VALUE, 5.3e8, 1e-300, -0));
    fc.assert(
      fc.property(any, any, fc.constantFrom<ValueUnit>(...UNITS), (x, y, unit) => {
        const u = { kind: 'continuous' as const, unit, intervalMs: 2000 };
        for (const text of [
          formatValue(x, u),
          formatValue(x, { kind: 'count', exposure: 'request' }),
          formatDifference(x, u),
          formatChange(x),
          formatInterval(x, y),
          formatP(x),
          dash.pct(x),
          dash.pct(x, 1, false),
          dash.num(x),
        ])
          assertReadable(text, `format(${x}, ${y}, ${unit})`);
      }),
      { numRuns: 2000 },
    );
  });
});
