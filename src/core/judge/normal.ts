// The standard normal distribution to full double precision, tails included: p-values of 1e-12
// must stay accurate because Holm divides alpha by the number of metrics.

const SQRT_2PI = Math.sqrt(2 * Math.PI);

/** Density of N(0, 1). */
export function normalPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / SQRT_2PI;
}

/** Upper tail P(Z > x) for x >= 3 by the Laplace continued fraction (Lentz's method). */
function upperTailCf(x: number): number {
  // Q(x) = phi(x) / (x + 1/(x + 2/(x + 3/(x + ...))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 500; k++) {
    d = x + k * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + k / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return normalPdf(x) / f;
}

/** P(Z <= x) - 1/2 for |x| < 3 by Marsaglia's Taylor series (2004). */
function centralSeries(x: number): number {
  let term = x;
  let sum = x;
  const x2 = x * x;
  for (let k = 3; k < 400; k += 2) {
    term *= x2 / k;
    const next = sum + term;
    if (next === sum) break;
    sum = next;
  }
  return sum * normalPdf(x);
}

/** P(Z <= x). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 3) return 1 - upperTailCf(x);
  if (x <= -3) return upperTailCf(-x);
  return 0.5 + centralSeries(x);
}

/** P(Z > x), accurate in the far upper tail. */
export function normalSf(x: number): number {
  return normalCdf(-x);
}

/** The p-quantile of N(0, 1): Abramowitz-Stegun 26.2.23 as a start, then Newton steps on the exact CDF. */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    return NaN;
  }
  const lower = p < 0.5;
  const q = lower ? p : 1 - p;
  const t = Math.sqrt(-2 * Math.log(q));
  let x = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
  // Solve P(Z > x) = q (upper tail keeps relative precision for small q).
  for (let i = 0; i < 8; i++) {
    const err = normalSf(x) - q;
    const step = err / normalPdf(x);
    x += step;
    if (Math.abs(step) < 1e-14 * Math.max(1, Math.abs(x))) break;
  }
  return lower ? -x : x;
}
