import assert from 'node:assert/strict';
import fc from 'fast-check';
import { freshBaseline, freshRestarts, planRollout, spreadOrder } from '../../../../src/core/rollout/plan.js';

const fleet = (n: number, regions = ['eu', 'us']) =>
  Array.from({ length: n }, (_, i) => ({ id: `s${i + 1}`, labels: { region: regions[i % regions.length]! } }));

describe('rollout plan', () => {
  it('grows 1 server -> 50% -> all, cumulative', () => {
    const plan = planRollout(fleet(8), [{ servers: 1 }, { percent: 0.5 }, { percent: 1 }]);
    assert.deepEqual(
      plan.map((p) => p.length),
      [1, 4, 8],
    );
    assert.deepEqual(plan[1]!.slice(0, 1), plan[0]);
    assert.deepEqual(plan[2]!.slice(0, 4), plan[1]);
  });

  it('always ends with the whole fleet, even when the steps stop short', () => {
    assert.deepEqual(
      planRollout(fleet(8), [{ servers: 1 }, { percent: 0.25 }]).map((p) => p.length),
      [1, 2, 8],
    );
  });

  it('drops steps that would not add servers', () => {
    assert.deepEqual(
      planRollout(fleet(2), [{ servers: 1 }, { percent: 0.1 }, { percent: 0.5 }]).map((p) => p.length),
      [1, 2],
    );
  });

  it('spreads a canary over regions', () => {
    const order = spreadOrder(fleet(6, ['eu', 'eu', 'us']), ['region']);
    assert.deepEqual(new Set(order.slice(0, 2).map((s) => s.labels.region)), new Set(['eu', 'us']));
  });

  it('every plan is cumulative, ends with all servers, and has no duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(
          fc.oneof(
            fc.record({ servers: fc.integer({ min: 1, max: 50 }) }),
            fc.record({ percent: fc.double({ min: 0, max: 1, noNaN: true }) }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        (n, steps) => {
          const plan = planRollout(fleet(n, ['a', 'b', 'c']), steps, ['region']);
          assert.equal(plan.at(-1)!.length, n);
          for (let i = 1; i < plan.length; i++) {
            assert.ok(plan[i]!.length > plan[i - 1]!.length);
            assert.deepEqual(plan[i]!.slice(0, plan[i - 1]!.length), plan[i - 1]);
          }
          assert.equal(new Set(plan.at(-1)).size, n);
        },
      ),
    );
  });

  describe('fresh baseline', () => {
    it('restarts as many baseline servers as canaries, from those that join last', () => {
      const plan = planRollout(fleet(10), [{ servers: 1 }, { percent: 0.3 }, { percent: 1 }]);
      assert.deepEqual(freshBaseline(plan, 0), [plan.at(-1)!.at(-1)]);
      assert.equal(freshBaseline(plan, 1).length, 3);
      assert.deepEqual(freshRestarts(plan, 1), freshBaseline(plan, 1).slice(1));
      assert.deepEqual(freshBaseline(plan, 2), [], 'the whole fleet is on the new build: no baseline');
    });

    it('is never larger than the baseline, never a canary, and restarts each server at most once', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }),
          fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
          (n, shares) => {
            const plan = planRollout(
              fleet(n),
              [...shares].sort((a, b) => a - b).map((percent) => ({ percent })),
            );
            const restarted = new Set<string>();
            plan.forEach((canary, step) => {
              const fresh = freshBaseline(plan, step);
              assert.equal(fresh.length, Math.min(canary.length, n - canary.length));
              for (const id of fresh) assert.ok(!canary.includes(id));
              for (const id of freshRestarts(plan, step)) {
                assert.ok(!restarted.has(id), `${id} restarted twice`);
                restarted.add(id);
              }
              // Every server of the fresh baseline was restarted at this step or an earlier one.
              for (const id of fresh) assert.ok(restarted.has(id));
            });
          },
        ),
      );
    });
  });
});
