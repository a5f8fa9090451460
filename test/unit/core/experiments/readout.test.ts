// Readouts of simulated experiments with known effects: seeded, so every run draws the same data.
import assert from 'node:assert/strict';
import { experimentConfig } from '../../../../src/core/config/experiment.js';
import { nextPhase } from '../../../../src/core/experiments/features.js';
import { computeReadout, type Decision } from '../../../../src/core/experiments/readout.js';
import type { PhaseTally } from '../../../../src/core/experiments/types.js';
import { createRandom } from '../../../../src/sim/random.js';

const rng = (seed: number): (() => number) => createRandom(seed).next;

function binomial(n: number, p: number, r: () => number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (r() < p) k++;
  return k;
}

const def = experimentConfig.parse({
  name: 'Sim',
  initial_rollout: '100%',
  branches: { Enhanced: '50%' },
  goals: ['checkout'],
  guardrails: ['error_rate'],
});
const phase = nextPhase(def, undefined, false, 0)!;

/** Users per branch and their true conversion and error rates. */
function simulate(r: () => number, n: [number, number], checkout: [number, number], errors: [number, number] = [0.02, 0.02]): PhaseTally {
  return {
    excluded: 0,
    branches: (['control', 'Enhanced'] as const).map((branch, i) => ({
      branch,
      users: n[i]!,
      goals: {
        checkout: { users: binomial(n[i]!, checkout[i]!, r), value: 0 },
        error_rate: { users: binomial(n[i]!, errors[i]!, r), value: 0 },
      },
    })),
  };
}

function decisions(runs: number, seed: number, make: (r: () => number) => PhaseTally): Record<Decision, number> {
  const r = rng(seed);
  const out: Record<Decision, number> = {
    'not started': 0,
    'desired result': 0,
    'undesired result': 0,
    'no statistical significance': 0,
    invalid: 0,
  };
  for (let i = 0; i < runs; i++) out[computeReadout(def, phase, make(r)).decision]++;
  return out;
}

describe('core/experiments/readout', () => {
  it('finds a real +20% lift in checkouts: desired result, the CI covers the truth', () => {
    const r = rng(1);
    const out = computeReadout(def, phase, simulate(r, [20_000, 20_000], [0.1, 0.12]));
    assert.equal(out.decision, 'desired result');
    assert.equal(out.winner, 'Enhanced');
    const m = out.branches[1]!.metrics.find((x) => x.name === 'checkout')!;
    assert.ok(m.ci[0] > 0 && m.ci[0] < 0.2 && m.ci[1] > 0.2, `CI ${m.ci}`);
    assert.equal(m.outcome, 'better');
    assert.match(
      out.summary,
      /^Sim phase 1: desired result \(Enhanced\); Enhanced checkout \+\d+\.\d% \(CI \+\d+\.\d%\.\.\+\d+\.\d%\), p=.*: better; 40000 participants, 0 excluded$/,
    );
  });

  it('finds a -20% drop in checkouts: undesired result', () => {
    const out = computeReadout(def, phase, simulate(rng(2), [20_000, 20_000], [0.1, 0.08]));
    assert.equal(out.decision, 'undesired result');
    assert.equal(out.branches[1]!.decision, 'undesired result');
    assert.match(out.summary, /^Sim phase 1: undesired result \(keep control\); Enhanced checkout -\d+\.\d% .*: worse; 40000 participants/);
  });

  it('a guardrail that gets worse makes it undesired even when the goal improves', () => {
    const out = computeReadout(def, phase, simulate(rng(3), [20_000, 20_000], [0.1, 0.12], [0.02, 0.04]));
    assert.equal(out.branches[1]!.metrics.find((m) => m.name === 'error_rate')!.outcome, 'worse');
    assert.equal(out.branches[1]!.decision, 'undesired result');
    assert.equal(out.decision, 'undesired result');
  });

  it('a guardrail that gets better is not a result (one-sided)', () => {
    const out = computeReadout(def, phase, simulate(rng(4), [20_000, 20_000], [0.1, 0.1], [0.04, 0.02]));
    assert.equal(out.decision, 'no statistical significance');
  });

  it('no effect: no statistical significance in at least 95% of 200 A/A experiments', () => {
    const d = decisions(200, 5, (r) => simulate(r, [5000, 5000], [0.1, 0.1]));
    assert.ok(d['no statistical significance'] >= 190, JSON.stringify(d));
  });

  it('a +15% lift is found in at least 90% of 100 experiments with 30,000 users per branch', () => {
    const d = decisions(100, 6, (r) => simulate(r, [30_000, 30_000], [0.1, 0.115]));
    assert.ok(d['desired result'] >= 90, JSON.stringify(d));
    // Only the unchanged guardrail can misfire, at most at its alpha.
    assert.ok(d['undesired result'] <= 5, JSON.stringify(d));
  });

  it('peeking every 1,000 users up to 20,000 keeps A/A false results under alpha (always-valid p-values)', () => {
    const r = rng(7);
    let falseResults = 0;
    const runs = 200;
    for (let i = 0; i < runs; i++) {
      const conv = [0, 0];
      const err = [0, 0];
      for (let n = 1000; n <= 20_000; n += 1000) {
        for (let b = 0; b < 2; b++) {
          conv[b]! += binomial(1000, 0.1, r);
          err[b]! += binomial(1000, 0.02, r);
        }
        const t: PhaseTally = {
          excluded: 0,
          branches: ['control', 'Enhanced'].map((branch, b) => ({
            branch,
            users: n,
            goals: { checkout: { users: conv[b]!, value: 0 }, error_rate: { users: err[b]!, value: 0 } },
          })),
        };
        if (computeReadout(def, phase, t).decision !== 'no statistical significance') {
          falseResults++;
          break;
        }
      }
    }
    assert.ok(falseResults / runs <= def.alpha, `${falseResults} of ${runs}`);
  });

  it('sample ratio mismatch makes the readout invalid whatever the lift', () => {
    const out = computeReadout(def, phase, simulate(rng(8), [5000, 5400], [0.1, 0.2]));
    assert.equal(out.decision, 'invalid');
    assert.ok(out.srm.mismatch && out.srm.pValue !== null && out.srm.pValue < 0.001);
    assert.match(out.summary, /sample ratio mismatch/);
    assert.equal(computeReadout(def, phase, simulate(rng(8), [5000, 5100], [0.1, 0.1])).srm.mismatch, false);
  });

  it('Holm across goals: three goals with one weak effect each need more evidence than one', () => {
    const three = experimentConfig.parse({ name: 'H', branches: { B: '50%' }, goals: ['g1', 'g2', 'g3'] });
    const p3 = nextPhase(three, undefined, false, 0)!;
    const goals = (x: number) => ({ g1: { users: x, value: 0 }, g2: { users: 1000, value: 0 }, g3: { users: 1000, value: 0 } });
    const t: PhaseTally = {
      excluded: 0,
      branches: [
        { branch: 'control', users: 10_000, goals: goals(1000) },
        { branch: 'B', users: 10_000, goals: goals(1130) },
      ],
    };
    const out = computeReadout(three, p3, t);
    const g1 = out.branches[1]!.metrics[0]!;
    assert.ok(g1.adjustedP > g1.pValue, 'adjusted upwards');
    assert.ok(g1.adjustedP <= 3 * g1.pValue + 1e-12);
  });

  it('reports too few users as no statistical significance, and counts excluded users', () => {
    const out = computeReadout(def, phase, {
      excluded: 7,
      branches: [
        { branch: 'control', users: 40, goals: { checkout: { users: 1, value: 0 }, error_rate: { users: 0, value: 0 } } },
        { branch: 'Enhanced', users: 40, goals: { checkout: { users: 30, value: 0 }, error_rate: { users: 0, value: 0 } } },
      ],
    });
    assert.equal(out.decision, 'no statistical significance');
    assert.equal(out.excluded, 7);
    assert.equal(out.participants, 80);
  });
});
