// Always-valid inference: the mixture sequential probability ratio test (mSPRT, Robbins 1970;
// Johari et al. 2017) for an approximately Gaussian estimate, one-sided, and the matching
// confidence sequence. Looking at the data after every interval keeps the false-alarm rate at
// alpha because 1/Lambda is a p-value valid at every look at once (Ville's inequality).
import { normalCdf } from './normal.js';

/** log P(Z <= x) without underflow in the far lower tail. */
export function logNormalCdf(x: number): number {
  if (x > -30) return Math.log(normalCdf(x));
  // Mills ratio asymptotics: P(Z <= x) ~ phi(x)/|x| (1 - 1/x^2 + 3/x^4)
  const x2 = x * x;
  return -0.5 * x2 - 0.5 * Math.log(2 * Math.PI) - Math.log(-x) + Math.log(1 - 1 / x2 + 3 / (x2 * x2));
}

/**
 * log of the one-sided mixture likelihood ratio for H0: theta <= 0 against theta > 0, given an
 * estimate `est` ~ N(theta, v) and a half-normal mixing prior of scale `tau` on theta > 0:
 *   Lambda = 2 sqrt(v/(v+tau^2)) exp(tau^2 est^2 / (2 v (v+tau^2))) Phi(est tau / sqrt(v (v+tau^2))).
 * Under any theta <= 0 it is a nonnegative supermartingale in information time.
 */
export function logMixtureLr(est: number, v: number, tau: number): number {
  if (!(v > 0) || !Number.isFinite(v) || !Number.isFinite(est)) return 0;
  const t2 = tau * tau;
  const s = v + t2;
  return Math.LN2 + 0.5 * Math.log(v / s) + (t2 * est * est) / (2 * v * s) + logNormalCdf((est * tau) / Math.sqrt(v * s));
}

/** Always-valid p-value of H0: theta <= 0 at this look: min(1, 1/Lambda). */
export function alwaysValidP(est: number, v: number, tau: number): number {
  return Math.min(1, Math.exp(-logMixtureLr(est, v, tau)));
}

/**
 * Half-width of the two-sided (1 - alpha) confidence sequence around `est` (normal mixture):
 * every theta with |est - theta| below it is still plausible at every look.
 */
export function csRadius(v: number, tau: number, alpha: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return Infinity;
  const t2 = tau * tau;
  return Math.sqrt(((v * (v + t2)) / t2) * (2 * Math.log(1 / alpha) + Math.log((v + t2) / v)));
}

/** `count` log-spaced effects from `smallest` to `largest`: the discrete mixtures below spread their weight over them (a log-uniform prior). */
export function effectGrid(smallest: number, largest: number, count: number): number[] {
  if (count <= 1) return [smallest];
  return Array.from({ length: count }, (_, i) => smallest * (largest / smallest) ** (i / (count - 1)));
}

/** log of the mean of exp(terms), without overflow. */
export function logMeanExp(terms: readonly number[]): number {
  const top = Math.max(...terms);
  if (!Number.isFinite(top)) return top;
  let s = 0;
  for (const t of terms) s += Math.exp(t - top);
  return top + Math.log(s / terms.length);
}

/**
 * log of a discrete mixture of Gaussian likelihood ratios, est ~ N(theta, v), theta in `grid`
 * (all > 0) against theta = 0, equal weights. A mixture of SPRTs: within a factor of the grid's
 * spacing of the best SPRT for any effect in range, at a cost of log(grid size) in evidence.
 */
export function logGaussianGridLr(est: number, v: number, grid: readonly number[]): number {
  if (!(v > 0) || !Number.isFinite(v) || !Number.isFinite(est)) return 0;
  return logMeanExp(grid.map((t) => (t * est - (t * t) / 2) / v));
}
