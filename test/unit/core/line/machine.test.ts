import assert from 'node:assert/strict';
import {
  initialState,
  next,
  resumeActions,
  resumedState,
  IllegalTransition,
  type MachineContext,
} from '../../../../src/core/line/machine.js';
import type { Action, DeployEvent, DeployState } from '../../../../src/core/line/types.js';
import type { GateResult } from '../../../../src/core/judge/types.js';

const ctx: MachineContext = { now: 1000, policy: { rollback: true, revert: true, block: true }, change: 'abc1234 change (Dev)' };
const gate = (decision: GateResult['decision'], warning?: string): GateResult => ({
  decision,
  metrics: [],
  explanation: `gate ${decision}`,
  warning,
});
const failing = (): GateResult => ({
  decision: 'fail',
  explanation: 'error_rate +400%',
  metrics: [
    {
      name: 'error_rate',
      verdict: 'fail',
      pValue: 0.0001,
      effect: 4,
      ci: [2, 6],
      samples: { baseline: 100, canary: 20 },
      explanation: 'error_rate +400%',
    },
  ],
});
const held = (phase: 'gate' | 'watch', step: number): DeployState =>
  at('held', step, { hold: { phase, reason: `${phase} inconclusive`, since: 0 } });
const at = (status: DeployState['status'], step = -1, extra: Partial<DeployState> = {}): DeployState => ({
  ...initialState([['s1'], ['s1', 's2'], ['s1', 's2', 's3']], 0),
  status,
  step,
  ...extra,
});
const types = (a: Action[]) => a.map((x) => x.type);

/** [from, event, expected status, expected action types (in order), outcome?] */
const table: Array<[DeployState, DeployEvent, DeployState['status'], string[], string?]> = [
  [at('queued'), { type: 'start', hasTests: true }, 'testing', ['set_status', 'run_tests']],
  [at('queued'), { type: 'start', hasTests: false }, 'building', ['build']],
  [at('testing'), { type: 'tests_passed' }, 'building', ['set_status', 'build']],
  [at('testing'), { type: 'tests_failed', reason: '2 tests failed' }, 'failed', ['set_status', 'notify'], 'tests_failed'],
  [at('testing'), { type: 'tests_failed', reason: '1 failed', culprit: 'bad1' }, 'reverting', ['set_status', 'notify', 'revert']],
  [at('building'), { type: 'built', sameAsLive: false }, 'rolling_out', ['set_status', 'deploy_step']],
  [at('building'), { type: 'built', sameAsLive: true }, 'live', ['mark_live'], 'live'],
  [at('building'), { type: 'build_failed', reason: 'exit 1' }, 'failed', ['notify'], 'build_failed'],
  [at('rolling_out', 0), { type: 'step_deployed', step: 0, gated: true }, 'baking', ['judge_step']],
  [at('rolling_out', 2), { type: 'step_deployed', step: 2, gated: false }, 'watching', ['watch']],
  [at('rolling_out', 1), { type: 'step_failed', step: 1, reason: 's3 unhealthy' }, 'rolling_back', ['rollback', 'set_status']],
  [at('baking', 0), { type: 'gate', step: 0, result: gate('continue'), policy: 'rollback', paused: false }, 'baking', ['judge_step']],
  [at('baking', 0), { type: 'gate', step: 0, result: gate('pass'), policy: 'rollback', paused: false }, 'rolling_out', ['deploy_step']],
  [at('baking', 0), { type: 'gate', step: 0, result: gate('pass'), policy: 'rollback', paused: true }, 'baking', ['judge_step']],
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: gate('fail'), policy: 'rollback', paused: false },
    'rolling_back',
    ['rollback', 'set_status'],
  ],
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: gate('inconclusive'), policy: 'rollback', paused: false },
    'rolling_back',
    ['rollback', 'set_status'],
  ],
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: gate('inconclusive'), policy: 'hold', paused: false },
    'held',
    ['set_status', 'notify'],
  ],
  [
    at('baking', 0, { promoted: true }),
    { type: 'gate', step: 0, result: gate('inconclusive'), policy: 'hold', paused: false },
    'rolling_out',
    ['deploy_step'],
  ],
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: failing(), policy: 'hold', paused: false },
    'rolling_back',
    ['remember_bad', 'rollback', 'set_status'],
  ],
  [held('gate', 0), { type: 'promote', actor: 'cap' }, 'rolling_out', ['deploy_step']],
  [held('gate', 0), { type: 'resume', actor: 'cap' }, 'baking', ['judge_step']],
  [held('gate', 0), { type: 'abort', reason: 'no', actor: 'cap' }, 'rolling_back', ['rollback', 'set_status']],
  [held('watch', 2), { type: 'promote', actor: 'cap' }, 'live', ['mark_live', 'set_status', 'set_status', 'notify'], 'live'],
  [held('watch', 2), { type: 'resume', actor: 'cap' }, 'watching', ['watch']],
  [held('watch', 2), { type: 'abort', reason: 'no', actor: 'cap' }, 'rolling_back', ['rollback', 'set_status']],
  // The gate itself passes what a pass policy allows; an inconclusive gate under it (a metric beyond tolerance) holds.
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: gate('inconclusive'), policy: 'pass', paused: false },
    'held',
    ['set_status', 'notify'],
  ],
  [
    at('baking', 0),
    { type: 'gate', step: 0, result: gate('inconclusive'), policy: 'pass_within_tolerance', paused: false },
    'held',
    ['set_status', 'notify'],
  ],
  [
    at('baking', 0, { promoted: true }),
    { type: 'gate', step: 0, result: gate('continue'), policy: 'rollback', paused: false },
    'rolling_out',
    ['deploy_step'],
  ],
  [at('baking', 0), { type: 'promote', actor: 'cap' }, 'baking', []],
  [at('watching', 2), { type: 'watch', result: gate('continue'), policy: 'hold' }, 'watching', ['watch']],
  [
    at('watching', 2),
    { type: 'watch', result: gate('pass'), policy: 'hold' },
    'live',
    ['mark_live', 'set_status', 'set_status', 'notify'],
    'live',
  ],
  [at('watching', 2), { type: 'watch', result: gate('fail'), policy: 'pass' }, 'rolling_back', ['rollback', 'set_status']],
  [at('watching', 2), { type: 'watch', result: failing(), policy: 'pass' }, 'rolling_back', ['remember_bad', 'rollback', 'set_status']],
  // An inconclusive watch follows on_inconclusive (it used to go live whatever the policy).
  [at('watching', 2), { type: 'watch', result: gate('inconclusive'), policy: 'rollback' }, 'rolling_back', ['rollback', 'set_status']],
  [at('watching', 2), { type: 'watch', result: gate('inconclusive'), policy: 'hold' }, 'held', ['set_status', 'notify']],
  // The watch passes what a pass policy allows itself; inconclusive under it means a metric beyond tolerance: hold.
  [at('watching', 2), { type: 'watch', result: gate('inconclusive'), policy: 'pass' }, 'held', ['set_status', 'notify']],
  [
    at('watching', 2),
    { type: 'watch', result: gate('pass', 'too little data for error_rate'), policy: 'pass' },
    'live',
    ['mark_live', 'set_status', 'set_status', 'notify'],
    'live',
  ],
  [
    at('rolling_back', 0, { failure: { stage: 'gate', step: 0, reason: 'error_rate +400%' } }),
    { type: 'rolled_back' },
    'reverting',
    ['revert'],
  ],
  [at('rolling_back', 0, { failure: { stage: 'abort', step: 0, reason: 'aborted' } }), { type: 'rolled_back' }, 'aborted', [], 'aborted'],
  // Rolled back by the policy on an inconclusive end: no proof against the code, so blocked but not reverted.
  [
    at('rolling_back', 0, { failure: { stage: 'watch', step: 2, reason: 'too little data', inconclusive: true } }),
    { type: 'rolled_back' },
    'failed',
    ['block', 'notify'],
    'rolled_back',
  ],
  [
    at('rolling_back', 1, { failure: { stage: 'deploy', step: 1, reason: 's3 down' } }),
    { type: 'rolled_back' },
    'failed',
    ['notify'],
    'failed',
  ],
  [
    at('reverting', 0, { failure: { stage: 'gate', step: 0, reason: 'error_rate +400%' } }),
    { type: 'reverted', sha: 'rev1' },
    'failed',
    ['block', 'notify'],
    'reverted',
  ],
  [
    at('reverting', 0, { failure: { stage: 'gate', step: 0, reason: 'x' } }),
    { type: 'revert_failed', reason: 'conflict' },
    'failed',
    ['block', 'notify'],
    'rolled_back',
  ],
  [
    at('reverting', 0, { failure: { stage: 'gate', step: 0, reason: 'x' } }),
    { type: 'revert_skipped', reason: "34d0cdd7 is immune's own revert" },
    'failed',
    ['block', 'notify'],
    'rolled_back',
  ],
  [
    at('reverting', -1, { failure: { stage: 'tests', step: -1, reason: 'x', culprit: 'bad1' } }),
    { type: 'reverted', sha: 'rev1' },
    'failed',
    ['notify'],
    'tests_failed',
  ],
  [at('testing'), { type: 'abort', reason: 'no', actor: 'cap' }, 'aborted', [], 'aborted'],
  [at('baking', 1), { type: 'abort', reason: 'no', actor: 'cap' }, 'rolling_back', ['rollback', 'set_status']],
  [at('watching', 2), { type: 'abort', reason: 'no', actor: 'cap' }, 'rolling_back', ['rollback', 'set_status']],
];

describe('deploy state machine', () => {
  for (const [from, event, status, actions, outcome] of table) {
    const label = `${from.status}${from.step >= 0 ? `[${from.step}]` : ''} --${event.type}${'result' in event ? `:${event.result.decision}` : ''}${'policy' in event ? `/${event.policy}` : ''}--> ${status}`;
    it(label, () => {
      const t = next(from, event, ctx);
      assert.equal(t.state.status, status);
      assert.deepEqual(types(t.actions), actions);
      if (outcome) assert.equal(t.state.outcome, outcome);
    });
  }

  it('a gate pass moves to the next step and keeps the warning', () => {
    const t = next(
      at('baking', 0),
      { type: 'gate', step: 0, result: gate('pass', 'too little traffic'), policy: 'pass', paused: false },
      ctx,
    );
    assert.equal(t.state.step, 1);
    assert.deepEqual(t.state.warnings, ['too little traffic']);
    assert.deepEqual(t.actions, [{ type: 'deploy_step', step: 1 }]);
  });

  it('a gate failure keeps its evidence and blocks with the reason after the revert', () => {
    const result = gate('fail');
    let t = next(at('baking', 0), { type: 'gate', step: 0, result, policy: 'rollback', paused: false }, ctx);
    assert.equal(t.state.failure?.evidence, result);
    t = next(t.state, { type: 'rolled_back' }, ctx);
    t = next(t.state, { type: 'reverted', sha: 'rev1' }, ctx);
    const block = t.actions.find((a) => a.type === 'block');
    assert.ok(block && block.type === 'block' && block.reason.includes('gate fail'));
  });

  it('without rollback policy a regression reverts and blocks directly', () => {
    const t = next(
      at('baking', 0),
      { type: 'gate', step: 0, result: gate('fail'), policy: 'rollback', paused: false },
      { ...ctx, policy: { rollback: false, revert: true, block: true } },
    );
    assert.equal(t.state.status, 'reverting');
  });

  it('without revert and block the deploy ends rolled back', () => {
    let t = next(
      at('baking', 0),
      { type: 'gate', step: 0, result: gate('fail'), policy: 'rollback', paused: false },
      { ...ctx, policy: { rollback: true, revert: false, block: false } },
    );
    t = next(t.state, { type: 'rolled_back' }, { ...ctx, policy: { rollback: true, revert: false, block: false } });
    assert.equal(t.state.outcome, 'rolled_back');
    assert.deepEqual(types(t.actions), ['notify']);
  });

  it('a watch passed under the pass policy goes live with its warning; a hold keeps the evidence and says how to go on', () => {
    const live = next(at('watching', 2), { type: 'watch', result: gate('pass', 'too little data for error_rate'), policy: 'pass' }, ctx);
    assert.deepEqual(live.state.warnings, ['too little data for error_rate']);
    const h = next(at('baking', 1), { type: 'gate', step: 1, result: gate('inconclusive'), policy: 'hold', paused: false }, ctx);
    assert.equal(h.state.hold?.phase, 'gate');
    assert.match(h.state.hold?.reason ?? '', /gate inconclusive at rollout step 2 of 3: gate inconclusive/);
    const notify = h.actions.find((a) => a.type === 'notify');
    assert.ok(notify?.type === 'notify' && notify.kind === 'held' && /resume|promote|abort/.test(notify.body));
    const promoted = next(h.state, { type: 'promote', actor: 'cap' }, ctx);
    assert.equal(promoted.state.step, 2);
    assert.match(promoted.state.warnings.join(), /promoted by cap/);
    assert.equal(promoted.state.hold, undefined);
    assert.throws(
      () => next(h.state, { type: 'gate', step: 1, result: gate('pass'), policy: 'hold', paused: false }, ctx),
      IllegalTransition,
    );
  });

  it('refuses events that make no sense in a state', () => {
    assert.throws(() => next(at('queued'), { type: 'tests_passed' }, ctx), IllegalTransition);
    assert.throws(
      () => next(at('baking', 1), { type: 'gate', step: 0, result: gate('pass'), policy: 'rollback', paused: false }, ctx),
      IllegalTransition,
    );
    assert.throws(() => next(at('live', 2, { outcome: 'live' }), { type: 'abort', reason: 'x', actor: 'y' }, ctx), IllegalTransition);
    assert.throws(() => next(at('rolling_back', 0), { type: 'abort', reason: 'x', actor: 'y' }, ctx), IllegalTransition);
  });

  describe('crash resume: every persisted state leads to a known build', () => {
    const cases: Array<[DeployState, string[], DeployState['status']]> = [
      [at('queued'), [], 'queued'],
      [at('testing'), ['run_tests'], 'testing'],
      [at('building'), ['build'], 'building'],
      [at('rolling_out', 1), ['deploy_step'], 'rolling_out'],
      [at('baking', 1), ['deploy_step'], 'rolling_out'],
      [at('watching', 2), ['deploy_step'], 'rolling_out'],
      [at('rolling_back', 1, { failure: { stage: 'gate', step: 1, reason: 'x' } }), ['rollback'], 'rolling_back'],
      [at('reverting', 1, { failure: { stage: 'gate', step: 1, reason: 'x' } }), ['revert'], 'reverting'],
      [
        at('rolling_back', 1, { failure: { stage: 'gate', step: 1, reason: 'x', evidence: failing() } }),
        ['remember_bad', 'rollback'],
        'rolling_back',
      ],
      [
        at('reverting', 1, { failure: { stage: 'gate', step: 1, reason: 'x', evidence: failing() } }),
        ['remember_bad', 'revert'],
        'reverting',
      ],
      [held('gate', 1), [], 'held'],
      [at('live', 2), [], 'live'],
      [at('failed', 1), [], 'failed'],
    ];
    for (const [s, actions, status] of cases) {
      it(`${s.status}${s.step >= 0 ? `[${s.step}]` : ''} resumes with [${actions.join(', ')}]`, () => {
        assert.deepEqual(types(resumeActions(s)), actions);
        const r = resumedState(s, 5);
        assert.equal(r.status, status);
        assert.equal(r.step, s.step);
        // The resumed state accepts the result of the action it is given.
        const a = resumeActions(s).find((x) => x.type !== 'remember_bad');
        if (a?.type === 'deploy_step')
          assert.equal(next(r, { type: 'step_deployed', step: s.step, gated: true }, ctx).state.status, 'baking');
        if (a?.type === 'rollback') assert.equal(next(r, { type: 'rolled_back' }, ctx).state.status, 'reverting');
      });
    }
  });
});
