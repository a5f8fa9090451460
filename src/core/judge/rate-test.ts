// Rate comparison for ratio metrics (events per request) and count metrics (events per
// server-interval), without pretending requests are independent trials: the conditional
// binomial score test of Poisson rates, with its variance scaled by the overdispersion the
// baseline servers show (quasi-Poisson), estimated afresh at every look.
import { logMeanExp } from './msprt.js';

/** Events and exposure (requests for a ratio, intervals for a count) in one cell. */
export interface RateCell {
  x: number;
  n: number;
}

export interface RateTotals {
  x: number;
  n: number;
}

/** Totals and the number of cells over rows of cells (one row per server), read in place. */
export function rowTotals(rows: readonly (readonly RateCell[])[]): RateTotals & { cells: number } {
  let x = 0;
  let n = 0;
  let cells = 0;
  for (const row of rows) {
    cells += row.length;
    for (const c of row) {
      x += c.x;
      n += c.n;
    }
  }
  return { x, n, cells };
}

export function totals(cells: readonly RateCell[]): RateTotals {
  let x = 0;
  let n = 0;
  for (const c of cells) {
    x += c.x;
    n += c.n;
  }
  return { x, n };
}

/**
 * Pearson dispersion of cells around their pooled rate: 1 for Poisson noise, larger when
 * servers and intervals vary more than Poisson. Never below 1 (underdispersion is not trusted).
 */
export function pearsonDispersion(cells: readonly RateCell[] | readonly (readonly RateCell[])[]): number {
  // Rows of cells (one per server) or one flat list: read in place, without copying a large fleet's cells.
  const rows = (cells.length > 0 && Array.isArray(cells[0]) ? cells : [cells]) as readonly (readonly RateCell[])[];
  let used = 0;
  let x = 0;
  let n = 0;
  for (const row of rows)
    for (const c of row)
      if (c.n > 0) {
        used++;
        x += c.x;
        n += c.n;
      }
  if (used < 2 || x <= 0) return 1;
  const rate = x / n;
  let chi2 = 0;
  for (const row of rows)
    for (const c of row)
      if (c.n > 0) {
        const mu = c.n * rate;
        chi2 += ((c.x - mu) * (c.x - mu)) / mu;
      }
  return Math.max(1, chi2 / (used - 1));
}

export interface RateScore {
  /** One-step estimate of log(rate ratio) - log(rho0). */
  est: number;
  /** Its variance (Infinity when there are no events at all). */
  v: number;
  /** Score z = est / sqrt(v). */
  z: number;
}

/**
 * Score statistic for H0: canary rate / baseline rate = rho0, conditional on the total number
 * of events (given X events, the canary's share is binomial with p = rho0 Nc / (rho0 Nc + Nb)).
 */
export function rateScore(canary: RateTotals, baseline: RateTotals, rho0: number, dispersion: number): RateScore {
  const X = canary.x + baseline.x;
  if (!(X > 0) || !(canary.n > 0) || !(baseline.n > 0)) return { est: 0, v: Infinity, z: 0 };
  const p0 = (rho0 * canary.n) / (rho0 * canary.n + baseline.n);
  const score = canary.x - X * p0;
  const info = X * p0 * (1 - p0);
  const v = dispersion / info;
  const est = score / info;
  return { est, v, z: est / Math.sqrt(v) };
}

/**
 * Rate ratio estimate with half an event of prior split in proportion to exposure (so that no
 * events on either side reads as "no change", not 0/0), and the variance of its logarithm.
 */
export function rateRatio(canary: RateTotals, baseline: RateTotals, dispersion: number): { logRatio: number; v: number } {
  const w = canary.n / (canary.n + baseline.n);
  const xc = canary.x + 0.5 * w;
  const xb = baseline.x + 0.5 * (1 - w);
  return { logRatio: Math.log(xc / canary.n) - Math.log(xb / baseline.n), v: dispersion * (1 / xc + 1 / xb) };
}

/**
 * log of the discrete-mixture likelihood ratio for "the canary's rate is rho0 e^d times the
 * baseline's" (d over `grid`, equal weights; negative d for decrease-bad metrics) against rho0,
 * conditional on the events seen in each interval: per interval the canary's share of events is
 * binomial with p = rho Nc / (rho Nc + Nb). Event counts are divided by `dispersion` (quasi-
 * likelihood), so overdispersed or server-heterogeneous data counts as less evidence.
 * Exact for Poisson events given the exposures; a supermartingale for any rho on the good side of rho0.
 */
export function logRateMixtureLr(
  intervals: readonly { canary: RateTotals; baseline: RateTotals }[],
  rho0: number,
  grid: readonly number[],
  dispersion: number,
): number {
  const terms = grid.map((d) => {
    const rho = rho0 * Math.exp(d);
    let sum = 0;
    for (const { canary, baseline } of intervals) {
      if (!(canary.n > 0) || !(baseline.n > 0) || canary.x + baseline.x <= 0) continue;
      const p0 = (rho0 * canary.n) / (rho0 * canary.n + baseline.n);
      const p1 = (rho * canary.n) / (rho * canary.n + baseline.n);
      sum += canary.x * Math.log(p1 / p0) + baseline.x * Math.log((1 - p1) / (1 - p0));
    }
    return sum / dispersion;
  });
  return logMeanExp(terms);
}
