import assert from 'node:assert/strict';
import { dora, median, restoreTimeMs, summarizeDeploy, summarizeLine } from '../../../src/engine/summary.js';
import type { DeployEventRecord, DeployRecord } from '../../../src/ports.js';
import { commit, deploy, deployState } from '../adapters/store/sqlite/fixtures.js';

const DAY = 86_400_000;

describe('summarizeDeploy', () => {
  it("says what let a deploy past a step without the data ruling a regression out (a captain's promote)", () => {
    const warning = 'promoted by captain:ann past an inconclusive gate: gate inconclusive at rollout step 1 of 3: ...';
    const d = deploy('d2', 1000, { status: 'live', outcome: 'live', state: deployState({ status: 'live', warnings: [warning] }) });
    assert.deepEqual(summarizeDeploy(d).warnings, [warning]);
    assert.equal(summarizeDeploy(deploy('d3', 1000, { state: deployState({ warnings: [] }) })).warnings, undefined, 'none: no field');
  });

  it('shows a baking deploy with its step, servers, bake time and last gate', () => {
    const d = deploy('d1', 1000, {
      shas: ['aaa', 'bbb'],
      commits: [commit('aaa', 100), commit('bbb', 200, 'Dev Two')],
      status: 'baking',
      state: deployState({
        status: 'baking',
        step: 1,
        steps: 4,
        since: 5000,
        lastGate: { decision: 'continue', explanation: 'error_rate +2%' },
      }),
      updatedAt: 5000,
    });
    const s = summarizeDeploy(d, { serversOnNew: 2, serversTotal: 8, now: 12_500 });
    assert.deepEqual(s, {
      id: 'd1',
      shas: ['aaa', 'bbb'],
      commits: [
        { sha: 'aaa', author: 'Dev One', email: 'dev.one@example.test', subject: 'change aaa', time: 100 },
        { sha: 'bbb', author: 'Dev Two', email: 'dev.two@example.test', subject: 'change bbb', time: 200 },
      ],
      status: 'baking',
      step: 1,
      steps: 4,
      serversOnNew: 2,
      serversTotal: 8,
      bakeElapsedMs: 7500,
      lastGate: { decision: 'continue', explanation: 'error_rate +2%' },
      createdAt: 1000,
      updatedAt: 5000,
    });
  });

  it('takes servers on the new build from the plan when not told', () => {
    const d = deploy('d1', 1000, { status: 'rolling_out', state: deployState({ status: 'rolling_out', step: 1 }) });
    const s = summarizeDeploy(d);
    assert.equal(s.serversOnNew, 4);
    assert.equal(s.serversTotal, 8);
  });

  it('shows a failed deploy with outcome, reason from the failure, revert and no step before rollout', () => {
    const failed = deploy('d2', 1000, {
      status: 'failed',
      outcome: 'reverted',
      finishedAt: 9000,
      revertSha: 'rev1',
      state: deployState({
        status: 'failed',
        step: 0,
        outcome: 'reverted',
        failure: { stage: 'gate', step: 0, reason: 'checkout_error_rate +400%' },
      }),
    });
    const s = summarizeDeploy(failed, { now: 20_000 });
    assert.equal(s.outcome, 'reverted');
    assert.equal(s.reason, 'checkout_error_rate +400%');
    assert.equal(s.revertSha, 'rev1');
    assert.equal(s.finishedAt, 9000);
    assert.equal(s.bakeElapsedMs, undefined);
    assert.equal(s.step, 0);
    assert.equal(s.serversOnNew, undefined);
    assert.equal(s.serversTotal, 8);
    assert.equal(summarizeDeploy(deploy('d3', 1)).step, undefined);
    // A record's own reason wins over the state's.
    assert.equal(summarizeDeploy({ ...failed, reason: 'aborted by captain' }).reason, 'aborted by captain');
  });

  it('copes with a malformed stored state', () => {
    // A record from the store whose state is not an object (JSON from an older or damaged database).
    const s = summarizeDeploy({ ...deploy('d4', 1), state: null as unknown as DeployRecord['state'] });
    assert.equal(s.steps, 0);
    assert.equal(s.step, undefined);
  });
});

describe('summarizeLine', () => {
  it('shows a blocked line with what is live, the deploy in flight and the queue', () => {
    const line = {
      pipeline: 'local',
      blocked: true,
      blockReason: 'error_rate +400%',
      blockedBy: 'engine',
      blockedAt: 50,
      blockedDeploy: 'd1',
      paused: false,
      live: { sha: 'abc', artifact: { id: 'art1', sha: 'abc', path: '/x.tgz', bytes: 3 }, deploy: 'd0' },
      lastSeen: 'abc',
      queue: ['q1'],
      version: 4,
    };
    const d = deploy('d2', 10, { status: 'baking', state: deployState({ status: 'baking', step: 0, since: 40 }) });
    const s = summarizeLine(line, d, [commit('q1', 5)], { now: 100 });
    assert.deepEqual(
      { ...s, inFlight: undefined },
      {
        pipeline: 'local',
        blocked: true,
        blockReason: 'error_rate +400%',
        blockedBy: 'engine',
        blockedAt: 50,
        blockedDeploy: 'd1',
        paused: false,
        live: { sha: 'abc', artifact: { id: 'art1' }, deploy: 'd0' },
        inFlight: undefined,
        queue: [commit('q1', 5)],
      },
    );
    assert.equal(s.inFlight?.id, 'd2');
    assert.equal(s.inFlight?.bakeElapsedMs, 60);
    assert.equal(s.inFlight?.serversOnNew, 1);
  });

  it('shows an idle new line', () => {
    assert.deepEqual(summarizeLine({ pipeline: 'p', blocked: false, paused: false, queue: [], version: 0 }, undefined, []), {
      pipeline: 'p',
      blocked: false,
      paused: false,
      live: null,
      inFlight: null,
      queue: [],
    });
  });
});

describe('dora', () => {
  const now = 30 * DAY;
  const ev = (time: number, type: string, status: string): DeployEventRecord => ({ deployId: 'x', time, type, status });

  it('median and restore time helpers', () => {
    assert.equal(median([]), null);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(restoreTimeMs([ev(1, 'start', 'testing'), ev(10, 'gate', 'rolling_back'), ev(25, 'rolled_back', 'reverting')]), 15);
    assert.equal(restoreTimeMs([ev(1, 'start', 'testing')]), null);
    assert.equal(restoreTimeMs([ev(10, 'gate', 'rolling_back')]), null);
  });

  it('computes frequency, lead time, change failure rate and time to restore over the period', () => {
    const liveState = deployState({ status: 'live', step: 2, outcome: 'live' });
    const t = now - DAY;
    const deploys = [
      // live, commits 1h and 3h before going live
      deploy('a', t - 100, {
        status: 'live',
        outcome: 'live',
        finishedAt: t,
        commits: [commit('a1', t - 3_600_000), commit('a2', t - 3 * 3_600_000)],
        state: liveState,
      }),
      // live, commit 2h before
      deploy('b', t, {
        status: 'live',
        outcome: 'live',
        finishedAt: t + 1000,
        commits: [commit('b1', t + 1000 - 2 * 3_600_000)],
        state: liveState,
      }),
      // reverted after reaching servers
      deploy('c', t, {
        status: 'failed',
        outcome: 'reverted',
        finishedAt: t + 2000,
        state: deployState({ status: 'failed', step: 0, outcome: 'reverted' }),
      }),
      // rolled back after reaching servers
      deploy('d', t, {
        status: 'failed',
        outcome: 'rolled_back',
        finishedAt: t + 3000,
        state: deployState({ status: 'failed', step: 1, outcome: 'rolled_back' }),
      }),
      // tests failed: never reached servers
      deploy('e', t, {
        status: 'failed',
        outcome: 'tests_failed',
        finishedAt: t + 4000,
        state: deployState({ status: 'failed', step: -1, outcome: 'tests_failed' }),
      }),
      // aborted mid rollout: reached servers, not a failure
      deploy('f', t, {
        status: 'aborted',
        outcome: 'aborted',
        finishedAt: t + 5000,
        state: deployState({ status: 'aborted', step: 0, outcome: 'aborted' }),
      }),
      // outside the period, and one still running
      deploy('old', 0, { status: 'live', outcome: 'live', finishedAt: now - 8 * DAY, state: liveState }),
      deploy('running', t, { status: 'baking', state: deployState({ status: 'baking', step: 0 }) }),
    ];
    const events = new Map<string, DeployEventRecord[]>([
      ['c', [ev(t, 'gate', 'rolling_back'), ev(t + 4000, 'rolled_back', 'reverting')]],
      ['d', [ev(t, 'gate', 'rolling_back'), ev(t + 10_000, 'rolled_back', 'failed')]],
    ]);
    const r = dora(deploys, 7, now, events);
    assert.equal(r.deploys, 6);
    assert.equal(r.live, 2);
    assert.equal(r.deployFrequencyPerDay, 2 / 7);
    assert.equal(r.leadTimeMs, 2 * 3_600_000);
    assert.equal(r.reachedServers, 5);
    assert.equal(r.failedChanges, 2);
    assert.equal(r.changeFailureRate, 2 / 5);
    assert.equal(r.timeToRestoreMs, 7000);
    assert.equal(r.from, now - 7 * DAY);
    assert.equal(dora(deploys, 7, now).timeToRestoreMs, null);
  });

  it('answers nulls, not NaN, when nothing happened', () => {
    const r = dora([], 30, now);
    assert.deepEqual([r.deploys, r.deployFrequencyPerDay, r.leadTimeMs, r.changeFailureRate, r.timeToRestoreMs], [0, 0, null, null, null]);
  });
});
