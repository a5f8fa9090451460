// Sample ratio mismatch checks: on participants (one count per user: Pearson's chi-square), and on
// the evaluation counts standard Unleash SDKs post (not users: one user evaluated fifty times
// counts fifty). Evaluations are over-dispersed, so their check is quasi-likelihood: the dispersion
// is estimated from how the branch shares vary between the SDKs' posts (each post one bucket) and
// the chi-square is divided by it, an F test. A branch under-served in every post still shows; a
// user who reloads a page does not.
import { incompleteBeta } from '../judge/beta.js';
import { chiSquareGoodnessOfFit } from './stats.js';
import type { EvaluationTally } from './types.js';

/** SRM: a p-value below this marks the readout invalid. */
export const SRM_ALPHA = 0.001;
/** Posts needed before evaluation counts are tested (the dispersion needs several). */
export const MIN_EVALUATION_BUCKETS = 5;

/** What an SRM check counted: participants (users), SDK evaluations, or nothing yet. */
export const SRM_BASES = ['participants', 'evaluations', 'none'] as const;
export type SrmBasis = (typeof SRM_BASES)[number];

export interface SrmCheck {
  /** What was counted: participants (users), SDK evaluations, or nothing yet. */
  basis: SrmBasis;
  /** Observed and expected counts per branch, in the phase's branch order. */
  counts: { branch: string; observed: number; expected: number }[];
  statistic: number;
  /** null when nothing was tested (basis none, or too few posts). */
  pValue: number | null;
  mismatch: boolean;
  /** Evaluations: the estimated over-dispersion (1 = like independent users) and the posts behind it. */
  dispersion?: number;
  buckets?: number;
  /** One line a person reads, e.g. "SRM: 4,980 / 5,020 participants against 50% / 50%: p=0.69, OK". */
  summary: string;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const share = (w: number): string => `${+(w * 100).toFixed(1)}%`;

function describe(basis: string, counts: SrmCheck['counts'], weights: number[], p: number | null, mismatch: boolean, extra = ''): string {
  const head = `SRM: ${counts.map((c) => fmt(c.observed)).join(' / ')} ${basis} against ${weights.map(share).join(' / ')}`;
  if (p === null) return `${head}: not tested${extra}`;
  const ps = p < 0.0001 ? p.toExponential(1) : p.toFixed(4);
  return `${head}: p=${ps}${extra}, ${mismatch ? 'MISMATCH (the readout is invalid: exposures lost or assignment broken)' : 'OK'}`;
}

/** Pearson's test of participants per branch against the weights (shares summing to 1). */
export function participantSrm(branches: string[], observed: number[], weights: number[]): SrmCheck {
  const n = observed.reduce((s, o) => s + o, 0);
  const counts = branches.map((branch, i) => ({ branch, observed: observed[i] ?? 0, expected: n * (weights[i] ?? 0) }));
  if (n === 0)
    return { basis: 'none', counts, statistic: 0, pValue: null, mismatch: false, summary: 'SRM: not tested (no participants yet)' };
  const t = chiSquareGoodnessOfFit(observed, weights);
  const mismatch = t.pValue < SRM_ALPHA;
  return {
    basis: 'participants',
    counts,
    statistic: t.statistic,
    pValue: t.pValue,
    mismatch,
    summary: describe('participants', counts, weights, t.pValue, mismatch),
  };
}

/** P(F > f) for F with d1 and d2 degrees of freedom. */
export function fSf(f: number, d1: number, d2: number): number {
  if (!(f > 0)) return 1;
  if (f === Infinity) return 0;
  return incompleteBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2);
}

/**
 * Quasi-likelihood test of evaluation counts against the weights. Within one SDK instance with B
 * posts, branch totals O_k (N in all) and S_k = sum over posts of o_bk^2 / n_b, the heterogeneity
 * of shares between its posts is sum_k S_k / phat_k - N on (B-1)(k-1) degrees of freedom (phat_k =
 * O_k / N, the instance's own shares): its mean is the dispersion phi that repeat evaluations of
 * the same users cause. Pooled over instances (so that an instance serving other weights than the
 * rest shows as a mismatch, not as noise), phi (at least 1) divides the goodness-of-fit chi-square
 * of all totals over (k-1): an F test with (k-1, sum (B-1)(k-1)) degrees of freedom.
 */
export function evaluationSrm(branches: string[], weights: number[], e: EvaluationTally): SrmCheck {
  const instances = Object.values(e.instances);
  const observed = branches.map((b) => instances.reduce((s, i) => s + (i.branches[b]?.count ?? 0), 0));
  const n = observed.reduce((s, o) => s + o, 0);
  const buckets = instances.reduce((s, i) => s + i.buckets, 0);
  const counts = branches.map((branch, i) => ({ branch, observed: observed[i]!, expected: n * (weights[i] ?? 0) }));
  const k = branches.length;
  if (n === 0)
    return { basis: 'none', counts, statistic: 0, pValue: null, mismatch: false, buckets, summary: 'SRM: not tested (no evaluations yet)' };
  let heterogeneity = 0;
  let repeats = 0;
  for (const inst of instances) {
    const own = branches.map((b) => inst.branches[b]?.count ?? 0);
    const ni = own.reduce((s, o) => s + o, 0);
    if (inst.buckets < 2 || !(ni > 0)) continue;
    repeats += inst.buckets - 1;
    heterogeneity -= ni;
    branches.forEach((b, j) => {
      if (own[j]! > 0) heterogeneity += (inst.branches[b]?.sq ?? 0) / (own[j]! / ni);
    });
  }
  if (repeats + 1 < MIN_EVALUATION_BUCKETS || k < 2) {
    const extra = ` (${buckets} SDK post${buckets === 1 ? '' : 's'}; ${MIN_EVALUATION_BUCKETS} from the same instances needed to allow for repeat evaluations)`;
    return {
      basis: 'evaluations',
      counts,
      statistic: 0,
      pValue: null,
      mismatch: false,
      buckets,
      summary: describe('evaluations', counts, weights, null, false, extra),
    };
  }
  const df2 = repeats * (k - 1);
  const dispersion = Math.max(1, heterogeneity / df2);
  const chi = chiSquareGoodnessOfFit(observed, weights).statistic;
  const statistic = chi / (k - 1) / dispersion;
  const pValue = fSf(statistic, k - 1, df2);
  const mismatch = pValue < SRM_ALPHA;
  const extra = `, dispersion ${dispersion.toFixed(1)} over ${buckets} posts of ${instances.length} SDK instance${instances.length === 1 ? '' : 's'}`;
  return {
    basis: 'evaluations',
    counts,
    statistic,
    pValue,
    mismatch,
    dispersion,
    buckets,
    summary: describe('evaluations', counts, weights, pValue, mismatch, extra),
  };
}
