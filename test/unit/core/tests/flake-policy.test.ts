import assert from 'node:assert/strict';
import { flakeDecisions, retriesFor, retryVerdict } from '../../../../src/core/tests/flake-policy.js';

describe('core/tests/flake-policy', () => {
  it('calls a failure that passes on re-run flaky and one that never passes failed', () => {
    assert.equal(retryVerdict(['passed']), 'passed');
    assert.equal(retryVerdict(['failed', 'passed']), 'flaky');
    assert.equal(retryVerdict(['failed', 'failed', 'passed']), 'flaky');
    assert.equal(retryVerdict(['failed', 'failed']), 'failed');
    assert.equal(retryVerdict(['failed']), 'failed');
  });

  it('reports or quarantines tests over the flaky rate and releases recovered ones', () => {
    const stats = [
      { id: 'often', runs: 20, flakes: 4, quarantined: false },
      { id: 'rare', runs: 100, flakes: 1, quarantined: false },
      { id: 'new', runs: 2, flakes: 2, quarantined: false },
      { id: 'recovered', runs: 100, flakes: 1, quarantined: true },
      { id: 'still', runs: 20, flakes: 10, quarantined: true },
    ];
    assert.deepEqual(
      flakeDecisions(stats, { flakyRate: 0.05, quarantine: false }).map((d) => [d.id, d.action]),
      [
        ['often', 'report'],
        ['recovered', 'release'],
      ],
    );
    assert.deepEqual(
      flakeDecisions(stats, { flakyRate: 0.05, quarantine: true }).map((d) => [d.id, d.action]),
      [
        ['often', 'quarantine'],
        ['recovered', 'release'],
      ],
    );
  });

  it('gives quarantined tests more re-runs', () => {
    assert.equal(retriesFor(false, 1), 1);
    assert.equal(retriesFor(true, 1), 3);
  });
});
