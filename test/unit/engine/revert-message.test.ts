// The revert commit's message carries the gate's evidence in the same words as the summary
// table, the CLI and the page: counts and a bound for a baseline without events, units, no ∞.
import assert from 'node:assert/strict';
import { evidenceTable, UNREADABLE } from '../../../src/core/judge/evidence.js';
import { judgeGate } from '../../../src/core/judge/index.js';
import { revertMessage } from '../../../src/engine/revert-message.js';
import { deploy, deployState } from '../adapters/store/sqlite/fixtures.js';
import { gate, grid } from '../core/judge/build.js';

describe('engine/revert-message', () => {
  it('states the failing evidence as the summary table does, with a link to the deploy page', () => {
    const result = judgeGate(
      gate([
        {
          name: 'checkout_error_rate',
          kind: 'ratio',
          bad: 'increase',
          tolerance: 0.1,
          baseline: grid(7, 10, () => [0, 200] as [number, number]),
          canary: grid(1, 10, () => [1, 200] as [number, number]),
        },
        {
          name: 'latency_p99',
          kind: 'continuous',
          unit: 'seconds',
          bad: 'increase',
          tolerance: 0.2,
          baseline: grid(7, 10, (s, t) => 0.2 + 0.001 * ((s + t) % 3)),
          canary: grid(1, 10, () => 0.2),
        },
      ]),
    );
    assert.equal(result.decision, 'fail');
    const state = deployState({
      status: 'reverting',
      step: 0,
      failure: { stage: 'gate', step: 0, reason: result.explanation, evidence: result },
    });
    const d = deploy('d-7', 0, { state });
    const msg = revertMessage(d, state, { shas: d.shas, publicUrl: 'http://127.0.0.1:7070' });
    const table = evidenceTable([
      {
        step: 0,
        elapsedMs: 20_000,
        decision: result.decision,
        explanation: result.explanation,
        metrics: JSON.parse(JSON.stringify(result.metrics)),
      },
    ]);
    const failing = table.rows.filter((r) => r.label === 'fail');
    assert.deepEqual(
      failing.map((r) => r.metric),
      ['checkout_error_rate'],
    );
    assert.ok(msg.includes(`  ${failing[0]!.explanation}\n`), msg);
    assert.match(
      msg,
      /checkout_error_rate 0% → 0\.5% \(10 of 2,000 on the canary vs 0 of 14,000 on the baseline: at least \+0\.\d+ pp\), p[=<]/,
    );
    assert.match(msg, /the gate at rollout step 1 of 3 \(1 of 8 servers\) failed/);
    assert.match(msg, /Details: http:\/\/127\.0\.0\.1:7070\/#\/deploys\/d-7/);
    assert.ok(!UNREADABLE.test(msg), msg);
  });
});
