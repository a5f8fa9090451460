import assert from 'node:assert/strict';
import { ago, clip, duration, keyValues, shortSha, table } from '../../../src/cli/output.js';

describe('cli output', () => {
  it('aligns table columns and leaves the last one unpadded', () => {
    assert.equal(
      table(
        [
          ['a', 'long value', 'x'],
          ['bbbb', 'v', 'yy'],
        ],
        ['ID', 'WHAT', 'Z'],
      ),
      ['ID    WHAT        Z', 'a     long value  x', 'bbbb  v           yy'].join('\n'),
    );
    assert.equal(table([['only', '']]), 'only');
  });

  it('aligns keys and indents multi-line values', () => {
    assert.equal(
      keyValues([
        ['line', 'local'],
        ['in flight', 'd1\ngate: pass'],
      ]),
      ['line       local', 'in flight  d1', '           gate: pass'].join('\n'),
    );
  });

  it('formats durations at every scale', () => {
    assert.deepEqual([450, 12_000, 185_000, 2 * 3_600_000 + 600_000, 76 * 3_600_000, -1, NaN].map(duration), [
      '450 ms',
      '12 s',
      '3 min 5 s',
      '2 h 10 min',
      '3 d 4 h',
      '-',
      '-',
    ]);
    assert.equal(ago(1000, 61_000), '1 min ago');
    assert.equal(ago(5000, 1000), '0 ms ago');
  });

  it('shortens shas and clips text to one line', () => {
    assert.equal(shortSha('0123456789abcdef'), '01234567');
    assert.equal(clip('a\n  b   c', 10), 'a b c');
    assert.equal(clip('abcdefghijkl', 5), 'abcd…');
  });
});
