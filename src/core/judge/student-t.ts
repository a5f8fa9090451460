// Student's t distribution: the server is the unit of evidence, and with a handful of servers the
// between-server variance is itself estimated from few of them, so tails are t-shaped, not normal.
import { incompleteBeta } from './beta.js';
import { normalQuantile, normalSf } from './normal.js';

/** Above this many degrees of freedom the normal is used (t(1000) and the normal differ by < 0.3% in the z of the tails used here). */
const NORMAL_DF = 1000;

/** P(T >= t) for T ~ t(df); df may be fractional (Satterthwaite), and Infinity means normal. */
export function tSf(t: number, df: number): number {
  if (!(df > 0)) return t > 0 ? 0 : 1;
  if (df >= NORMAL_DF) return normalSf(t);
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}

/** The t with P(T >= t) = tail for T ~ t(df), 0 < tail < 1, by bisection (monotone; relative accuracy ~1e-12). */
export function tUpper(tail: number, df: number): number {
  if (df >= NORMAL_DF) return -normalQuantile(tail);
  if (tail <= 0) return Infinity;
  if (tail >= 1) return -Infinity;
  if (tail > 0.5) return -tUpper(1 - tail, df);
  let lo = 0;
  let hi = Math.max(1, -normalQuantile(tail));
  while (tSf(hi, df) > tail) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (tSf(mid, df) > tail) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * A normal-scale critical value carried to t(df) by matching its tail probability: the usual way
 * group-sequential boundaries (derived for known variance) are applied with an estimated one.
 */
export function tCritical(z: number, df: number): number {
  if (!Number.isFinite(z) || df >= NORMAL_DF) return z;
  return tUpper(normalSf(z), df);
}
