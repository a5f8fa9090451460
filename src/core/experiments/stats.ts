// Statistics for experiment readouts beyond the judge's: the chi-square tail for the sample ratio
// mismatch check, and a two-sided always-valid p-value built from the judge's one-sided mSPRT.
import { logMixtureLr } from '../judge/msprt.js';

function logGamma(x: number): number {
  const g = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.001208650973866179, -0.000005395239384953];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const gi of g) ser += gi / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Regularized upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let ap = a;
    let sum = 1 / a;
    let del = sum;
    for (let n = 0; n < 1000; n++) {
      del *= x / ++ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(lead));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(lead) * h;
}

/** P(X >= x) for X chi-square with k degrees of freedom. */
export function chiSquareSf(x: number, k: number): number {
  return gammaQ(k / 2, x / 2);
}

/** Pearson's goodness-of-fit test of observed counts against expected shares (summing to 1). */
export function chiSquareGoodnessOfFit(observed: number[], shares: number[]): { statistic: number; pValue: number } {
  const n = observed.reduce((s, o) => s + o, 0);
  let statistic = 0;
  let k = 0;
  observed.forEach((o, i) => {
    const e = n * (shares[i] ?? 0);
    if (e > 0) {
      statistic += ((o - e) * (o - e)) / e;
      k++;
    } else if (o > 0) statistic = Infinity;
  });
  if (n === 0 || k < 2) return { statistic: 0, pValue: 1 };
  return { statistic, pValue: statistic === Infinity ? 0 : chiSquareSf(statistic, k - 1) };
}

/**
 * Two-sided always-valid p-value for an estimate x ~ N(theta, v) against theta = 0: the symmetric
 * normal mixture is the average of the judge's two one-sided half-normal mixtures, so 1/Lambda
 * stays valid at every look and teams may peek at results as often as they like.
 */
export function twoSidedAlwaysValidP(x: number, v: number, tau: number): number {
  if (!(v > 0) || !Number.isFinite(x)) return 1;
  const up = logMixtureLr(x, v, tau);
  const down = logMixtureLr(-x, v, tau);
  const top = Math.max(up, down);
  const logLambda = top + Math.log((Math.exp(up - top) + Math.exp(down - top)) / 2);
  return Math.min(1, Math.exp(-logLambda));
}
