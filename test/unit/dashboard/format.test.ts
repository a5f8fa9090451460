// The dashboard mirrors the evidence's words (src/core/judge/evidence.ts) in plain browser JS:
// both must give the same string for the same number, or the page and the CLI would disagree.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as core from '../../../src/core/judge/evidence.js';
import type { ValueUnit } from '../../../src/core/judge/types.js';
import * as dash from '../../../src/dashboard/format.js';

const UNITS: ValueUnit[] = ['fraction', 'seconds', 'milliseconds', 'bytes', 'cores', 'count', 'none'];
const value = fc.oneof(
  fc.double(),
  fc.double({ min: -2, max: 20, noNaN: true }),
  fc.constantFrom(0, -0, 1, -1, 9, 999, 1e-7, 0.0082, 0.412, 1.25e8, 5.3e8, Infinity, -Infinity, NaN, Number.MAX_VALUE),
);

describe('dashboard/format mirrors core/judge/evidence', () => {
  it('formats values, changes, intervals and p-values to the same strings', () => {
    fc.assert(
      fc.property(
        value,
        value,
        fc.constantFrom(...UNITS),
        fc.constantFrom<'ratio' | 'continuous' | 'count'>('ratio', 'continuous', 'count'),
        fc.constantFrom(undefined, 2000, 60_000),
        (x, y, unit, kind, intervalMs) => {
          assert.equal(dash.formatValue(x, { kind, unit, intervalMs }), core.formatValue(x, { kind, unit, intervalMs }));
          assert.equal(dash.formatValue(x, { kind }), core.formatValue(x, { kind }));
          assert.equal(dash.formatChange(x), core.formatChange(x));
          assert.equal(dash.formatInterval(x, y), core.formatInterval(x, y));
          assert.equal(dash.formatP(x), core.formatP(x));
          assert.equal(dash.plain(x), core.plain(x));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('labels verdicts the same way: no data, baking, pass, fail', () => {
    const verdicts = ['pass', 'fail', 'inconclusive'];
    for (const verdict of verdicts)
      for (const samples of [
        { canary: 0, baseline: 0 },
        { canary: 3, baseline: 0 },
        { canary: 0, baseline: 30 },
        { canary: 3, baseline: 30 },
      ])
        for (const decision of [undefined, 'continue', 'pass', 'fail', 'inconclusive'])
          for (const shortage of [undefined, 'needs 3+ servers'])
            assert.equal(
              dash.verdictLabel({ verdict, samples, shortage }, decision),
              core.verdictLabel({ verdict, samples, shortage }, decision),
              `${verdict} ${JSON.stringify(samples)} ${decision} ${shortage}`,
            );
  });

  it('reads the examples a captain sees the same way', () => {
    assert.equal(dash.formatValue(1.25e8, { unit: 'bytes' }), '125 MB');
    assert.equal(dash.formatChange(5.3e8), 'more than ×1,000');
    assert.equal(dash.formatInterval(0.046, Number.MAX_VALUE), 'at least +4.6%');
    assert.equal(dash.tone('no data'), 'warn');
  });
});
