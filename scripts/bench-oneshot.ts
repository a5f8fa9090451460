// The one-shot fleet-like suite, for `npm run bench:detection`
// (scripts/bench-detection.ts calls these). One-shot: 2 canaries of 20 servers, 6 intervals,
// servers that differ a lot, heavy tails, no own history, alpha 0.01 over 4 metrics; immune's
// `immune judge` (judgeFixed) against a per-server t-test on log means (Bonferroni; against
// the tolerance and against no change) and a Kayenta-style pooled Mann-Whitney + effect test,
// all on the same data.
import { judgeFixed } from '../src/core/judge/fixed.js';
import { visibleRegression } from '../src/core/judge/verdicts.js';
import { ONESHOT_METRICS, oneShotDeploy, type OneShotChange } from '../src/sim/oneshot.js';
import { createRandom } from '../src/sim/random.js';
import { perServerTJudge, referenceJudge } from '../src/sim/reference-judge.js';

export interface OneShotScenario {
  id: string;
  label: string;
  change?: OneShotChange;
  outlier?: boolean;
  /** Harmless: failing it is a false alarm. */
  harmless: boolean;
  /** The metric that regressed (power counts a fail of any metric; this one is named). */
  metric?: string;
}

export const ONESHOT_SCENARIOS: OneShotScenario[] = [
  { id: 'null', label: 'no change', harmless: true },
  {
    id: 'within',
    label: 'within tolerance',
    change: { errorFactor: 1.05, latencyFactor: 1.04, checkoutFactor: 0.97, signupFactor: 0.97 },
    harmless: true,
  },
  { id: 'outlier', label: 'outlier server', outlier: true, harmless: true },
  { id: 'error-x2', label: 'error rate x2', change: { errorFactor: 2 }, harmless: false, metric: 'error_rate' },
  { id: 'p99+20%', label: 'p99 latency +20%', change: { latencyFactor: 1.2 }, harmless: false, metric: 'latency_p99' },
  { id: 'checkouts-30%', label: 'checkouts -30%', change: { checkoutFactor: 0.7 }, harmless: false, metric: 'checkouts' },
  { id: 'signups-40%', label: 'signups -40% (count)', change: { signupFactor: 0.6 }, harmless: false, metric: 'signups' },
];

export interface OneShotRow {
  id: string;
  label: string;
  harmless: boolean;
  runs: number;
  immune: { fail: number; inconclusive: number; pass: number; visiblePasses: number };
  tTolerance: number;
  tZero: number;
  kayenta: number;
}

export function runOneShot(runs: { harmless: number; regressions: number }, alpha = 0.01, seed0 = 900_000): OneShotRow[] {
  return ONESHOT_SCENARIOS.map((sc, k) => {
    const n = sc.harmless ? runs.harmless : runs.regressions;
    const row: OneShotRow = {
      id: sc.id,
      label: sc.label,
      harmless: sc.harmless,
      runs: n,
      immune: { fail: 0, inconclusive: 0, pass: 0, visiblePasses: 0 },
      tTolerance: 0,
      tZero: 0,
      kayenta: 0,
    };
    for (let i = 0; i < n; i++) {
      const metrics = oneShotDeploy(
        { servers: 20, canaries: 2, intervals: 6, change: sc.change, outlier: sc.outlier },
        createRandom(seed0 + k * 100_000 + i),
      );
      const out = judgeFixed({ alpha, metrics });
      row.immune[out.verdict]++;
      out.metrics.forEach((e, j) => {
        if (e.verdict === 'pass' && visibleRegression(e, { spec: metrics[j] })) row.immune.visiblePasses++;
      });
      if (perServerTJudge(metrics, alpha, 'tolerance').verdict === 'fail') row.tTolerance++;
      if (perServerTJudge(metrics, alpha, 'zero').verdict === 'fail') row.tZero++;
      if (referenceJudge(metrics).verdict === 'fail') row.kayenta++;
    }
    return row;
  });
}

const pc = (k: number, n: number) => `${((100 * k) / Math.max(1, n)).toFixed(1)}%`.padStart(7);

export function printOneShot(rows: OneShotRow[], alpha: number): string {
  const out: string[] = [];
  out.push(
    `one-shot fleet-like suite: 2 canaries / 18 baselines, 6 intervals, server spread errors 20-40%, latency 5-10%, traffic 30%; heavy tails; no own history; alpha ${alpha} over ${ONESHOT_METRICS.length} metrics`,
  );
  out.push(
    'share of deploys failed (harmless rows: false alarms; regression rows: power). immune: fail / inconclusive (held under the shipped policy) / pass',
  );
  out.push(
    [
      'scenario'.padEnd(22),
      'runs'.padStart(5),
      'immune fail'.padStart(12),
      'held'.padStart(7),
      'pass'.padStart(7),
      't vs tol'.padStart(9),
      't vs 0+eff'.padStart(11),
      'Kayenta'.padStart(8),
      'vis.pass'.padStart(9),
    ].join(' '),
  );
  for (const r of rows) {
    out.push(
      [
        r.label.padEnd(22),
        String(r.runs).padStart(5),
        pc(r.immune.fail, r.runs).padStart(12),
        pc(r.immune.inconclusive, r.runs),
        pc(r.immune.pass, r.runs),
        pc(r.tTolerance, r.runs).padStart(9),
        pc(r.tZero, r.runs).padStart(11),
        pc(r.kayenta, r.runs).padStart(8),
        String(r.immune.visiblePasses).padStart(9),
      ].join(' '),
    );
  }
  return out.join('\n');
}
