import assert from 'node:assert/strict';
import { immuneTrailer, isImmuneRevert, revertable } from '../../../../src/core/line/reverts.js';
import { findKnownBad, knownBadReason, rememberBad, type KnownBadTree } from '../../../../src/core/line/known-bad.js';

const revert = { sha: 'r1', message: 'Revert "Checkout: loyalty"\n\nimmune rolled back deploy d-1.\n\nImmune-Deploy: d-1' };
const fix = { sha: 'f1', message: 'Fix checkout' };

describe('what immune may revert', () => {
  it('reads the Immune-Deploy trailer from the last paragraph only', () => {
    assert.equal(immuneTrailer(revert.message), 'd-1');
    assert.equal(immuneTrailer('Fix\n\nImmune-Deploy: d-2\n\nSigned-off-by: A <a@b>'), undefined, 'a trailer block is the last paragraph');
    assert.equal(immuneTrailer('Fix\n\nSigned-off-by: A <a@b>\nImmune-Deploy: d-3\n'), 'd-3');
    assert.equal(immuneTrailer('Mentions Immune-Deploy: d-4 in the text'), undefined, 'message text is not a trailer');
  });

  it('recognises a revert by the trailer or by the line’s record, never by its subject', () => {
    assert.equal(isImmuneRevert(revert, new Set()), true);
    assert.equal(
      isImmuneRevert({ sha: 'x', message: 'Revert "something"' }, new Set()),
      false,
      'a person’s revert is a change like any other',
    );
    assert.equal(isImmuneRevert({ sha: 'x', message: 'squashed' }, new Set(['x'])), true);
  });

  it('a batch [revert + new commits] reverts only the new commits; a lone revert reverts nothing', () => {
    assert.deepEqual(revertable([revert, fix], ['r1', 'f1'], new Set()), { revert: ['f1'], kept: ['r1'] });
    assert.deepEqual(revertable([revert], ['r1'], new Set()), { revert: [], kept: ['r1'] });
    assert.deepEqual(revertable([fix], ['f1'], new Set()), { revert: ['f1'], kept: [] });
  });
});

describe('known-bad trees', () => {
  const k = (tree: string, at: number, step = 0): KnownBadTree => ({
    tree,
    sha: 'f324de3a99',
    deploy: 'd-7',
    step,
    metrics: ['error_rate'],
    reason: 'error_rate +400%',
    at,
  });
  it('keeps one entry per tree (the latest failure) and says why in one sentence', () => {
    const list = rememberBad(rememberBad(rememberBad(undefined, k('t1', 1)), k('t2', 2)), k('t1', 3));
    assert.deepEqual(
      list.map((x) => [x.tree, x.at]),
      [
        ['t2', 2],
        ['t1', 3],
      ],
    );
    assert.equal(findKnownBad(list, 't1')?.at, 3);
    assert.equal(findKnownBad(list, 't9'), undefined);
    assert.equal(knownBadReason(k('t1', 1)), 'this tree is identical to f324de3a, which failed at step 1 on error_rate (deploy d-7)');
    assert.equal(
      knownBadReason(k('t1', 1, -1)),
      'this tree is identical to f324de3a, which failed in the watch after 100% on error_rate (deploy d-7)',
    );
  });
});
