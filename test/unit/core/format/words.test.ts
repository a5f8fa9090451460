// The lengths of time core's words give the CLI and the dashboard alike (formatDuration); the
// evidence's words are checked in test/unit/core/judge/evidence*.test.ts.
import assert from 'node:assert/strict';
import { formatDuration } from '../../../../src/core/format/words.js';

describe('core/format/words', () => {
  it('says a length of time in its largest unit and the next, rounded down', () => {
    const cases: [number, string][] = [
      [0, '0 ms'],
      [450, '450 ms'],
      [999.9, '999 ms'],
      [1000, '1 s'],
      [12_000, '12 s'],
      [59_999, '59 s'],
      [60_000, '1 min'],
      [185_000, '3 min 5 s'],
      [3_599_999, '59 min 59 s'],
      [3_600_000, '1 h'],
      [2 * 3_600_000 + 600_000, '2 h 10 min'],
      [86_399_999, '23 h 59 min'],
      [86_400_000, '1 d'],
      [76 * 3_600_000, '3 d 4 h'],
      [72 * 3_600_000 + 59 * 60_000, '3 d'],
    ];
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  });

  it('keeps the largest unit only when asked (times ago)', () => {
    assert.equal(formatDuration(185_000, { parts: 1 }), '3 min');
    assert.equal(formatDuration(76 * 3_600_000, { parts: 1 }), '3 d');
    assert.equal(formatDuration(450, { parts: 1 }), '450 ms');
  });

  it("says what is not a length of time with the caller's word for none", () => {
    for (const x of [-1, NaN, Infinity, null, undefined]) {
      assert.equal(formatDuration(x), 'n/a', String(x));
      assert.equal(formatDuration(x, { none: '-' }), '-', String(x));
    }
  });
});
