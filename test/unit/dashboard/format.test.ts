// The dashboard prints the evidence's words with core's own functions (src/core/format/words.js,
// loaded by the browser as it is), so the page and the CLI cannot disagree; what the page adds
// (pct, num, pValue, tone) is checked here and, for unreadable output, in evidence-properties.
import assert from 'node:assert/strict';
import * as core from '../../../src/core/format/words.js';
import * as dash from '../../../src/dashboard/format.js';

describe('dashboard/format', () => {
  it("uses core's evidence words, not a copy of them", () => {
    for (const name of ['formatValue', 'formatChange', 'formatInterval', 'formatP', 'plain', 'verdictLabel'] as const)
      assert.equal(dash[name], core[name], name);
  });

  it('reads the examples a captain sees the same way', () => {
    assert.equal(dash.formatValue(1.25e8, { unit: 'bytes' }), '125 MB');
    assert.equal(dash.formatChange(5.3e8), 'more than ×1,000');
    assert.equal(dash.formatInterval(0.046, Number.MAX_VALUE), 'at least +4.6%');
    assert.equal(dash.verdictLabel({ verdict: 'pass', samples: { canary: 0, baseline: 30 } }), 'no data');
    assert.equal(dash.tone('no data'), 'warn');
  });

  it("prints lengths of time in core's words, the CLI's too, and a dash for none", () => {
    assert.equal(dash.duration(185_000), core.formatDuration(185_000));
    assert.equal(dash.duration(185_000), '3 min 5 s');
    assert.equal(dash.duration(76 * 3_600_000), '3 d 4 h');
    assert.equal(dash.duration(undefined), '—');
    assert.equal(dash.ago(1_000, 13_000), '12 s ago');
    assert.equal(dash.ago(1_000, 1_000 + 185_000), '3 min ago');
    assert.equal(dash.ago(1_000, 0), 'just now');
  });
});
