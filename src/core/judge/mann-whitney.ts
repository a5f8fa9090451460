// The Mann-Whitney (Wilcoxon rank-sum) test and the Hodges-Lehmann shift with its rank-inversion
// interval. Ranks make the test indifferent to scale and to the long tails latency has.
import { normalSf } from './normal.js';

export interface MannWhitney {
  /** Pairs (x, y) with x > y, ties counting one half. */
  u: number;
  m: number;
  n: number;
  /** Variance of U under H0, corrected for ties. */
  variance: number;
  /** U/(m n) - 1/2: how much more often x beats y than chance (0 = no difference). */
  effect: number;
}

/** U statistic of `x` against `y`, with the tie-corrected null variance. */
export function mannWhitney(x: readonly number[], y: readonly number[]): MannWhitney {
  const m = x.length;
  const n = y.length;
  const all = new Array<{ v: number; g: 0 | 1 }>(m + n);
  for (let i = 0; i < m; i++) all[i] = { v: x[i], g: 0 };
  for (let j = 0; j < n; j++) all[m + j] = { v: y[j], g: 1 };
  all.sort((a, b) => a.v - b.v);
  const N = m + n;
  let rankSumX = 0;
  let tieTerm = 0;
  for (let i = 0; i < N; ) {
    let j = i;
    while (j + 1 < N && all[j + 1].v === all[i].v) j++;
    const t = j - i + 1;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].g === 0) rankSumX += rank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  const u = rankSumX - (m * (m + 1)) / 2;
  const variance = N > 1 ? ((m * n) / 12) * (N + 1 - tieTerm / (N * (N - 1))) : 0;
  return { u, m, n, variance, effect: m * n > 0 ? u / (m * n) - 0.5 : 0 };
}

/** One-sided p-value that x tends to exceed y (normal approximation with continuity correction). */
export function mannWhitneyGreaterP(mw: MannWhitney): number {
  if (!(mw.variance > 0)) return 1;
  const z = (mw.u - (mw.m * mw.n) / 2 - 0.5) / Math.sqrt(mw.variance);
  return normalSf(z);
}

/** How many pairwise differences x_i - y_j are below d (x and y sorted ascending). */
function countBelow(xs: readonly number[], ys: readonly number[], d: number): number {
  // For each x_i, count y_j > x_i - d; x ascending makes the threshold ascend too.
  let count = 0;
  let j = 0;
  const n = ys.length;
  for (const x of xs) {
    while (j < n && ys[j] <= x - d) j++;
    count += n - j;
  }
  return count;
}

/** The k-th smallest (0-based) pairwise difference x_i - y_j, by bisection on the value. */
export function kthDifference(xs: readonly number[], ys: readonly number[], k: number): number {
  let lo = xs[0] - ys[ys.length - 1];
  let hi = xs[xs.length - 1] - ys[0];
  if (k <= 0) return lo;
  if (k >= xs.length * ys.length - 1) return hi;
  for (let iter = 0; iter < 100 && hi - lo > 1e-12 * Math.max(1, Math.abs(lo), Math.abs(hi)); iter++) {
    const mid = (lo + hi) / 2;
    // countBelow(mid) = pairs with diff < mid
    if (countBelow(xs, ys, mid) <= k) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Hodges-Lehmann shift of x against y (median of pairwise differences) and the interval from
 * inverting the rank test at critical value `z` (normal approximation).
 */
export function hodgesLehmann(x: readonly number[], y: readonly number[], z: number): { shift: number; lo: number; hi: number } {
  const xs = [...x].sort((a, b) => a - b);
  const ys = [...y].sort((a, b) => a - b);
  const mn = xs.length * ys.length;
  if (mn === 0) return { shift: NaN, lo: -Infinity, hi: Infinity };
  const mid = (mn - 1) / 2;
  const shift = (kthDifference(xs, ys, Math.floor(mid)) + kthDifference(xs, ys, Math.ceil(mid))) / 2;
  const sd = Math.sqrt((mn * (xs.length + ys.length + 1)) / 12);
  const k = Math.floor(mn / 2 - z * sd);
  if (!Number.isFinite(k) || k < 0) return { shift, lo: -Infinity, hi: Infinity };
  return { shift, lo: kthDifference(xs, ys, k), hi: kthDifference(xs, ys, mn - 1 - k) };
}
