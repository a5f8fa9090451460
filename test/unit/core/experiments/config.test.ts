import assert from 'node:assert/strict';
import { branchWeights, parseExperimentFile } from '../../../../src/core/config/experiment.js';
import { ConfigError } from '../../../../src/core/errors.js';

function issues(text: string): string[] {
  try {
    parseExperimentFile(text, 'experiments/x.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('core/config/experiment', () => {
  it('reads the IMVU example with percent weights, the rest going to control', () => {
    const f = parseExperimentFile(
      'name: GDCEurope2011\ninitial_rollout: 0%\nbranches:\n  Enhanced: 50%\ngoals: [checkout]\nguardrails: [error_rate]\n',
      'g.yaml',
    );
    assert.equal(f.kind, 'experiment');
    if (f.kind !== 'experiment') return;
    assert.equal(f.experiment.initial_rollout, 0);
    assert.deepEqual(f.experiment.goals, [{ name: 'checkout', good: 'increase' }]);
    assert.deepEqual(f.experiment.guardrails, [{ name: 'error_rate', bad: 'increase' }]);
    assert.deepEqual(branchWeights(f.experiment), [
      { name: 'control', weight: 500 },
      { name: 'Enhanced', weight: 500 },
    ]);
  });

  it('keeps branch order from the file and gives control the remainder out of 1000', () => {
    const f = parseExperimentFile('name: X\nbranches: {Zeta: 0.333, Alpha: 33.3%, Mid: 0.2}\ngoals: [c]\n', 'x.yaml');
    if (f.kind !== 'experiment') return assert.fail('not an experiment');
    const w = branchWeights(f.experiment);
    assert.deepEqual(
      w.map((b) => b.name),
      ['control', 'Zeta', 'Alpha', 'Mid'],
    );
    assert.deepEqual(
      w.map((b) => b.weight),
      [134, 333, 333, 200],
    );
    assert.equal(
      w.reduce((s, b) => s + b.weight, 0),
      1000,
    );
  });

  it('names file:line:col and the field for every problem', () => {
    assert.deepEqual(issues('name: X\nbranches: {A: 60%, B: 50%}\ngoals: [c]\n'), [
      'experiments/x.yaml:2:11 branches: branch weights add up to 110%, more than 100%',
    ]);
    assert.deepEqual(issues('name: X\nbranches:\n  A: 10%\ngoals: [c]\ntolerance: 1\n'), [
      'experiments/x.yaml:5:1 tolerance: unknown key "tolerance"',
    ]);
    assert.deepEqual(issues('name: X\nbranches: {A: 0.12345}\ngoals: [c]\n'), [
      'experiments/x.yaml:2:15 branches.A: 12.345% is finer than 0.1%',
    ]);
    assert.deepEqual(issues('name: X\nbranches: {A: 10%}\ngoals: [c]\ninitial_rollout: 150%\n'), [
      'experiments/x.yaml:4:18 initial_rollout: "150%" is not a share between 0% and 100%',
    ]);
    assert.deepEqual(issues('name: X\nbranches: {A: 10%}\ngoals: []\n'), ['experiments/x.yaml:3:8 goals: at least one goal']);
    assert.deepEqual(issues('name: X\nbranches: {A: 10%}\ngoals: [c]\nguardrails: [c]\n'), [
      'experiments/x.yaml:4:14 guardrails.0: "c" is listed twice among goals and guardrails',
    ]);
    assert.deepEqual(issues('name: X\nbranches: {}\ngoals: [c]\n'), [
      'experiments/x.yaml:2:11 branches: at least one branch besides control',
    ]);
    assert.deepEqual(issues('name: X\nbranches: {A: 50%, B: 50%}\ngoals: [c]\n'), [
      'experiments/x.yaml:2:11 branches: branch weights add up to 100%: leave a share for control, the baseline every branch is compared with',
    ]);
    assert.match(issues('branches: {A: 10%}\ngoals: [c]\n')[0]!, /^experiments\/x\.yaml:1:1 name: required$/);
    assert.match(issues('name: [\n')[0]!, /^experiments\/x\.yaml:[12]:\d+ /, 'where the parser noticed the unclosed sequence');
  });

  it('reads flags files: on/off, gradual rollout, kill switch, and Unleash strategies', () => {
    const f = parseExperimentFile(
      'flags:\n  - name: new-search\n    rollout: 25%\n  - name: payments\n    enabled: false\n  - name: beta\n    strategies:\n      - name: userWithId\n        parameters: {userIds: "1,2"}\n',
      'flags.yaml',
    );
    if (f.kind !== 'flags') return assert.fail('not flags');
    assert.equal(f.flags.flags.length, 3);
    assert.equal(f.flags.flags[0]!.rollout, 0.25);
    assert.equal(f.flags.flags[1]!.enabled, false);
    assert.deepEqual(issues('flags:\n  - name: a\n  - name: a\n'), ['experiments/x.yaml:3:11 flags.1.name: duplicate flag "a"']);
    assert.deepEqual(issues('flags:\n  - name: a\n    rollout: 10%\n    strategies: []\n'), [
      'experiments/x.yaml:3:14 flags.0.rollout: a flag takes rollout or strategies, not both',
    ]);
  });
});
