import assert from 'node:assert/strict';
import fc from 'fast-check';
import { experimentConfig, flagConfig } from '../../../../src/core/config/experiment.js';
import { experimentFeature, featuresDocument, flagFeature, nextPhase } from '../../../../src/core/experiments/features.js';

const exp = (over: Record<string, unknown> = {}) =>
  experimentConfig.parse({
    name: 'EnhancedCheckout',
    initial_rollout: '100%',
    branches: { Enhanced: '50%' },
    goals: ['checkout'],
    ...over,
  });

describe('core/experiments/features', () => {
  it('compiles an experiment into a flexibleRollout with control first and weights summing to 1000', () => {
    const e = exp({ branches: { B: '20%', A: '30%' }, initial_rollout: '40%' });
    const phase = nextPhase(e, undefined, false, 1000)!;
    assert.equal(phase.phase, 1);
    const f = experimentFeature(e, phase);
    const s = f.strategies[0]!;
    assert.equal(s.name, 'flexibleRollout');
    assert.deepEqual(s.parameters, { rollout: '40', stickiness: 'default', groupId: 'EnhancedCheckout.phase1' });
    assert.deepEqual(
      s.variants!.map((v) => [v.name, v.weight]),
      [
        ['control', 500],
        ['B', 200],
        ['A', 300],
      ],
    );
    assert.equal(
      s.variants!.reduce((n, v) => n + v.weight, 0),
      1000,
    );
    assert.equal(f.type, 'experiment');
  });

  it('starts a new phase with a new groupId only when branches or weights change', () => {
    const e = exp();
    const p1 = nextPhase(e, undefined, false, 1)!;
    assert.equal(nextPhase(e, p1, false, 2), undefined, 'same definition, same phase');
    assert.equal(
      nextPhase(exp({ initial_rollout: '10%', description: 'x' }), p1, false, 2),
      undefined,
      'a rollout change keeps assignment',
    );
    const p2 = nextPhase(exp({ branches: { Enhanced: '30%' } }), p1, false, 3)!;
    assert.equal(p2.phase, 2);
    assert.notEqual(p2.groupId, p1.groupId);
    assert.deepEqual(p2.weights, [
      { name: 'control', weight: 700 },
      { name: 'Enhanced', weight: 300 },
    ]);
    assert.ok(nextPhase(exp({ branches: { Enhanced: '50%', Other: '10%' } }), p1, false, 3), 'a new branch is a new phase');
    assert.equal(nextPhase(exp({ branches: { Enhanced: '30%' } }), p1, true, 3), undefined, 'a closed experiment keeps its phase');
  });

  it('serves a closed experiment as the chosen branch for everyone', () => {
    const e = exp({ initial_rollout: '10%' });
    const p = nextPhase(e, undefined, false, 1)!;
    const f = experimentFeature(e, p, { experiment: e.name, branch: 'control', reason: 'no win', actor: 'a', time: 5 });
    assert.deepEqual(
      f.strategies[0]!.variants!.map((v) => [v.name, v.weight]),
      [['control', 1000]],
    );
    assert.equal(f.strategies[0]!.parameters.rollout, '100');
  });

  it('compiles flags: gradual rollout, kill switch, default on; the document is sorted by name', () => {
    const roll = flagFeature(flagConfig.parse({ name: 'b-search', rollout: '25%' }));
    assert.deepEqual(roll.strategies[0]!.parameters, { rollout: '25', stickiness: 'default', groupId: 'b-search' });
    const kill = flagFeature(flagConfig.parse({ name: 'a-payments', enabled: false }));
    assert.equal(kill.enabled, false);
    assert.equal(kill.type, 'kill-switch');
    const on = flagFeature(flagConfig.parse({ name: 'c-on' }));
    assert.equal(on.strategies[0]!.name, 'default');
    const doc = featuresDocument([on, roll, kill], []);
    assert.deepEqual(
      doc.features.map((f) => f.name),
      ['a-payments', 'b-search', 'c-on'],
    );
    assert.equal(doc.version, 2);
  });

  it('any valid set of branches compiles to weights of 1000 in file order, control first (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 6 }), (perMille) => {
        fc.pre(perMille.reduce((a, b) => a + b, 0) < 1000);
        const branches = Object.fromEntries(perMille.map((w, i) => [`B${i}`, `${w / 10}%`]));
        const e = exp({ branches });
        const s = experimentFeature(e, nextPhase(e, undefined, false, 0)!).strategies[0]!;
        assert.equal(
          s.variants!.reduce((n, v) => n + v.weight, 0),
          1000,
        );
        assert.deepEqual(
          s.variants!.map((v) => v.name),
          ['control', ...perMille.map((_, i) => `B${i}`)],
        );
        assert.deepEqual(
          s.variants!.slice(1).map((v) => v.weight),
          perMille,
        );
      }),
    );
  });
});
