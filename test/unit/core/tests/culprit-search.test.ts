import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyVerdict,
  culpritIndex,
  nextProbes,
  obsoleteProbes,
  searchDone,
  startSearch,
} from '../../../../src/core/tests/culprit-search.js';

/** Drive the search in rounds of `k` parallel probes against a known first-bad index. */
function run(n: number, culprit: number, k: number): { found: number | undefined; runs: number; rounds: number } {
  let s = startSearch(n);
  let rounds = 0;
  while (!searchDone(s)) {
    const probes = nextProbes(s, k);
    assert.ok(probes.length > 0);
    rounds++;
    for (const p of probes) s = applyVerdict(s, p, p >= culprit ? 'bad' : 'good');
  }
  return { found: culpritIndex(s), runs: s.runs, rounds };
}

describe('core/tests/culprit-search', () => {
  it('finds the first bad commit in ceil(log_(k+1) n) rounds for every batch size, culprit and parallelism k', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.nat(), fc.integer({ min: 1, max: 8 }), (n, c, k) => {
        const culprit = c % n;
        const r = run(n, culprit, k);
        assert.equal(r.found, culprit);
        assert.ok(r.rounds <= Math.ceil(Math.log(n) / Math.log(k + 1) - 1e-9), `rounds ${r.rounds} n ${n} k ${k}`);
      }),
    );
  });

  it('is plain bisection with one worker: ceil(log2 n) runs at most', () => {
    for (const n of [2, 4, 8, 16, 13]) for (let c = 0; c < n; c++) assert.ok(run(n, c, 1).runs <= Math.ceil(Math.log2(n)));
  });

  it('needs no run for a single commit, and splits around running probes', () => {
    assert.deepEqual(nextProbes(startSearch(1), 4), []);
    assert.deepEqual(nextProbes(startSearch(16), 3), [3, 7, 11]);
    assert.deepEqual(nextProbes(startSearch(9), 2), [2, 5]);
    assert.deepEqual(nextProbes(startSearch(16), 1, [7]), [3]);
  });

  it('ignores late verdicts outside the open range and names obsolete probes', () => {
    let s = startSearch(16);
    s = applyVerdict(s, 7, 'bad');
    assert.deepEqual([s.lo, s.hi], [-1, 7]);
    s = applyVerdict(s, 11, 'good');
    assert.deepEqual([s.lo, s.hi, s.runs], [-1, 7, 2]);
    assert.deepEqual(obsoleteProbes(s, [3, 11, 7]), [11, 7]);
  });
});
