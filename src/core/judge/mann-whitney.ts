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

/** Rank sums of each group within the pooled sample (mid-ranks for ties), and the tie term sum(t^3 - t). */
export function rankSums(groups: readonly (readonly number[])[]): { sums: number[]; sizes: number[]; tieTerm: number } {
  let N = 0;
  for (const g of groups) N += g.length;
  const sorted = new Float64Array(N);
  let k = 0;
  for (const g of groups) for (const v of g) sorted[k++] = v;
  sorted.sort();
  let tieTerm = 0;
  for (let i = 0; i < N;) {
    let j = i;
    while (j + 1 < N && sorted[j + 1] === sorted[i]) j++;
    const t = j - i + 1;
    if (t > 1) tieTerm += t * t * t - t;
    i = j + 1;
  }
  // A value's mid-rank is the mean of the first and last positions it occupies (1-based).
  const sums = groups.map((g) => {
    let r = 0;
    for (const v of g) r += (lowerBound(sorted, v) + upperBound(sorted, v) + 1) / 2;
    return r;
  });
  return { sums, sizes: groups.map((g) => g.length), tieTerm };
}

/** First index with sorted[i] >= v. */
function lowerBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with sorted[i] > v. */
function upperBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** U and its tie-corrected null variance for a group of size m with rank sum r in a pooled sample of N. */
export function fromRankSum(r: number, m: number, N: number, tieTerm: number): MannWhitney {
  const n = N - m;
  const u = r - (m * (m + 1)) / 2;
  const variance = N > 1 ? ((m * n) / 12) * (N + 1 - tieTerm / (N * (N - 1))) : 0;
  return { u, m, n, variance, effect: m * n > 0 ? u / (m * n) - 0.5 : 0 };
}

/** U statistic of `x` against `y`, with the tie-corrected null variance. */
export function mannWhitney(x: readonly number[], y: readonly number[]): MannWhitney {
  const { sums, tieTerm } = rankSums([x, y]);
  return fromRankSum(sums[0], x.length, x.length + y.length, tieTerm);
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
  // Relative precision only, so the answer does not depend on the data's unit.
  for (let iter = 0; iter < 200 && hi - lo > 1e-13 * Math.max(Math.abs(lo), Math.abs(hi)); iter++) {
    const mid = (lo + hi) / 2;
    if (mid === lo || mid === hi) break;
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
