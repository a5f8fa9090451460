// The sample ratio checks: participants (Pearson) and SDK evaluation counts (quasi-likelihood,
// dispersion from the spread between each instance's posts). Simulated SDK posts where each user
// is evaluated 1 to 30 times: the naive chi-square on evaluations (the reference) false-alarms
// in 4 runs of 10; ours stays within 2x its alpha and still catches a branch under-served by 10%.
import assert from 'node:assert/strict';
import { chiSquareGoodnessOfFit } from '../../../../src/core/experiments/stats.js';
import { evaluationSrm, fSf, participantSrm, SRM_ALPHA } from '../../../../src/core/experiments/srm.js';
import type { EvaluationTally } from '../../../../src/core/experiments/types.js';
import { createRandom } from '../../../../src/sim/random.js';

const branches = ['control', 'Enhanced'];
const weights = [0.5, 0.5];

/** `instances` SDK instances posting `posts` buckets each; per post `users` users, each evaluated 1..30 times; Enhanced users kept with probability `keep`. */
function simulate(seed: number, o: { instances: number; posts: number; users: number; keep: number }): EvaluationTally {
  const r = createRandom(seed);
  const tally: EvaluationTally = { instances: {} };
  for (let i = 0; i < o.instances; i++) {
    const inst = (tally.instances[`app/${i}`] = { buckets: 0, branches: {} as Record<string, { count: number; sq: number }> });
    for (let p = 0; p < o.posts; p++) {
      const counts = [0, 0];
      for (let u = 0; u < o.users; u++) {
        const b = r.next() < 0.5 ? 0 : 1;
        if (b === 1 && r.next() > o.keep) continue;
        counts[b]! += 1 + Math.floor(r.next() ** 3 * 30);
      }
      const n = counts[0]! + counts[1]!;
      inst.buckets++;
      branches.forEach((name, j) => {
        const c = (inst.branches[name] ??= { count: 0, sq: 0 });
        c.count += counts[j]!;
        c.sq += (counts[j]! * counts[j]!) / n;
      });
    }
  }
  return tally;
}

const totals = (t: EvaluationTally): number[] =>
  branches.map((b) => Object.values(t.instances).reduce((s, i) => s + (i.branches[b]?.count ?? 0), 0));

describe('sample ratio checks', () => {
  it('F tail matches known values', () => {
    // F(1, 10) at 4.965 is the 5% point; F(1, 20) at 8.096 the 1% point.
    assert.ok(Math.abs(fSf(4.965, 1, 10) - 0.05) < 1e-3);
    assert.ok(Math.abs(fSf(8.096, 1, 20) - 0.01) < 1e-3);
    assert.equal(fSf(0, 1, 10), 1);
  });

  it('participants: not tested without any, OK at 50/50, mismatch when a branch loses 10%', () => {
    const none = participantSrm(branches, [0, 0], weights);
    assert.equal(none.basis, 'none');
    assert.equal(none.pValue, null);
    assert.match(none.summary, /not tested/);
    assert.equal(participantSrm(branches, [5010, 4990], weights).mismatch, false);
    const bad = participantSrm(branches, [5000, 4500], weights);
    assert.equal(bad.mismatch, true);
    assert.match(bad.summary, /^SRM: 5,000 \/ 4,500 participants against 50% \/ 50%: p=.*MISMATCH/);
  });

  it('evaluations: about alpha of false alarms where the naive chi-square on evaluations alarms in 4 runs of 10 (400 A/A runs)', () => {
    let ours = 0;
    let naive = 0;
    const runs = 400;
    for (let s = 0; s < runs; s++) {
      const t = simulate(1000 + s, { instances: 3, posts: 6, users: 300, keep: 1 });
      if (evaluationSrm(branches, weights, t).mismatch) ours++;
      if (chiSquareGoodnessOfFit(totals(t), weights).pValue < SRM_ALPHA) naive++;
    }
    process.stdout.write(`      A/A at alpha ${SRM_ALPHA}: ours ${ours}/${runs}, naive chi-square on evaluations ${naive}/${runs}\n`);
    // 4,000 runs gave 8 (0.2%); the naive test 1,654 (41%).
    assert.ok(ours <= 4, `ours ${ours}/${runs}`);
    assert.ok(naive > runs / 4, `naive ${naive}/${runs}`);
  });

  it('evaluations: catches a branch under-served by 10% of its users (100 runs)', () => {
    let caught = 0;
    for (let s = 0; s < 100; s++)
      if (evaluationSrm(branches, weights, simulate(5000 + s, { instances: 3, posts: 6, users: 2000, keep: 0.9 })).mismatch) caught++;
    process.stdout.write(`      Enhanced at 90% of its users, 36,000 users: caught ${caught}/100\n`);
    assert.ok(caught >= 80, `caught ${caught}/100`);
  });

  it('evaluations: too few posts is "not tested", never OK', () => {
    const t = simulate(1, { instances: 1, posts: 3, users: 300, keep: 1 });
    const c = evaluationSrm(branches, weights, t);
    assert.equal(c.pValue, null);
    assert.match(c.summary, /not tested \(3 SDK posts; 5 from the same instances needed/);
    assert.doesNotMatch(c.summary, /OK/);
  });
});
