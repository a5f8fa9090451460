// Group-sequential boundaries with alpha spending (Lan & DeMets 1983). A gate looks at most
// max_bake / interval times, so instead of a test valid for infinitely many looks it spends its
// alpha over the looks it will really take: at information fraction t it may have spent at most
// alpha(t), and the boundary at each look is the z that spends exactly the increment, given the
// looks before (recursive numerical integration of the Brownian path, Armitage, McPherson & Rowe
// 1969; Jennison & Turnbull 2000, ch. 19). One-sided: only the "regression" tail is tested.
import { normalQuantile, normalSf } from './normal.js';

export type SpendingKind = 'pocock' | 'obrien-fleming';

/**
 * Alpha spent by information fraction t (0 < t <= 1):
 * - `pocock`: alpha ln(1 + (e - 1) t), nearly flat boundaries: early looks can decide (Lan-DeMets Pocock type);
 * - `obrien-fleming`: 2 - 2 Phi(z_{1-alpha/2} / sqrt t), very strict early, close to the fixed test at the end.
 */
export function spent(kind: SpendingKind, alpha: number, t: number): number {
  if (!(t > 0)) return 0;
  const u = Math.min(1, t);
  if (kind === 'pocock') return alpha * Math.log(1 + (Math.E - 1) * u);
  return 2 * normalSf(-normalQuantile(alpha / 2) / Math.sqrt(u));
}

/** Lattice spacing as a share of the smallest look-to-look standard deviation. */
const STEP_SHARE = 1 / 8;
/** Paths below this many standard deviations (z scale) are dropped: their mass is < 1e-15. */
const LOWER_Z = -7;
/** Stands for "no alpha left to spend at this look". */
export const NO_BOUNDARY = 40;

/**
 * Upper boundaries z_1..z_K (z scale) for looks at increasing information fractions `fractions`
 * (the last is normally 1): under no effect, P(Z_j >= z_j for some j <= k) = spent(alpha, t_k) for every k.
 */
export function boundaries(kind: SpendingKind, alpha: number, fractions: readonly number[]): number[] {
  const K = fractions.length;
  if (K === 0) return [];
  const out: number[] = [];
  // The path S_k = Z_k sqrt(t_k) is Brownian motion in t. Keep its sub-density (paths not yet
  // stopped) on the lattice s = i h, trapezoid weights, truncated at the boundary.
  let minStep = fractions[0];
  for (let k = 1; k < K; k++) minStep = Math.min(minStep, fractions[k] - fractions[k - 1]);
  const h = Math.sqrt(Math.max(minStep, 1e-6)) * STEP_SHARE;
  let lo = 0; // lattice index of the first point
  let dens: Float64Array = new Float64Array(0); // sub-density at lattice points lo..lo+len-1, times trapezoid weight
  let prevT = 0;
  let prevSpent = 0;
  for (let k = 0; k < K; k++) {
    const t = fractions[k];
    const dt = t - prevT;
    const sd = Math.sqrt(dt);
    const want = spent(kind, alpha, t) - prevSpent;
    let z: number;
    if (!(dt > 0) || !(want > 1e-15)) z = NO_BOUNDARY;
    else if (k === 0) z = -normalQuantile(want);
    else {
      // P(stopped now) = sum over surviving paths of P(u + N(0, dt) >= z sqrt t). Only paths
      // within 9 standard deviations of the boundary may or may not cross; those further below
      // never do (< 1e-19), those above always do.
      const span = (c: number) => {
        const top = c * Math.sqrt(t);
        return {
          top,
          from: Math.max(0, Math.floor((top - 9 * sd) / h) - lo),
          to: Math.min(dens.length - 1, Math.ceil((top + 9 * sd) / h) - lo),
        };
      };
      const cross = (c: number) => {
        const { top, from, to } = span(c);
        let p = 0;
        for (let j = Math.max(0, to + 1); j < dens.length; j++) p += dens[j];
        for (let j = from; j <= to; j++) p += dens[j] * normalSf((top - (lo + j) * h) / sd);
        return p;
      };
      const slope = (c: number) => {
        const { top, from, to } = span(c);
        let d = 0;
        for (let j = from; j <= to; j++) {
          const x = (top - (lo + j) * h) / sd;
          d += dens[j] * Math.exp(-0.5 * x * x);
        }
        return (-d * Math.sqrt(t)) / (sd * Math.sqrt(2 * Math.PI));
      };
      // Newton from the previous boundary, kept inside a bracket (the crossing probability falls in c).
      let a = -2;
      let b = NO_BOUNDARY;
      if (cross(b) > want) z = b;
      else {
        z = Math.min(Math.max(out[k - 1] ?? 3, a + 1e-6), 12);
        for (let i = 0; i < 60; i++) {
          const f = cross(z) - want;
          if (f > 0) a = z;
          else b = z;
          if (Math.abs(f) < 1e-14 * Math.max(want, 1e-300) || b - a < 1e-10) break;
          const d = slope(z);
          let nz = d < 0 ? z - f / d : NaN;
          if (!(nz > a && nz < b)) nz = (a + b) / 2;
          if (Math.abs(nz - z) < 1e-11) {
            z = nz;
            break;
          }
          z = nz;
        }
      }
    }
    out.push(z);
    if (k === K - 1) break;
    // The sub-density of the paths still going at this look, on the lattice below z sqrt t.
    // Paths above 8 standard deviations carry no mass worth tracking (the boundary may be "none").
    const top = Math.min(z, 8) * Math.sqrt(t);
    const newLo = Math.floor((LOWER_Z * Math.sqrt(t)) / h);
    const newHi = Math.floor(top / h);
    const next = new Float64Array(Math.max(0, newHi - newLo + 1));
    if (k === 0) {
      for (let i = 0; i < next.length; i++) {
        const s = (newLo + i) * h;
        next[i] = (Math.exp(-(s * s) / (2 * t)) / Math.sqrt(2 * Math.PI * t)) * h;
      }
    } else {
      // Convolution with the N(0, dt) kernel; the kernel depends only on the lattice offset.
      const reach = Math.ceil((9 * sd) / h);
      const kernel = new Float64Array(2 * reach + 1);
      for (let d = -reach; d <= reach; d++) kernel[d + reach] = (Math.exp(-((d * h) ** 2) / (2 * dt)) / Math.sqrt(2 * Math.PI * dt)) * h;
      for (let i = 0; i < next.length; i++) {
        const si = newLo + i;
        let v = 0;
        const jFrom = Math.max(0, si - reach - lo);
        const jTo = Math.min(dens.length - 1, si + reach - lo);
        for (let j = jFrom; j <= jTo; j++) v += dens[j] * kernel[si - (lo + j) + reach];
        next[i] = v;
      }
    }
    // Trapezoid: the end points carry half weight; the last cell is cut at the boundary.
    if (next.length > 0) {
      next[0] *= 0.5;
      const frac = top / h - newHi;
      next[next.length - 1] *= 0.5 + frac;
    }
    dens = next;
    lo = newLo;
    prevT = t;
    prevSpent += want > 0 ? want : 0;
  }
  return out;
}

const cache = new Map<string, number[]>();

/**
 * Boundaries for `looks` equally spaced looks (information fraction k / looks), memoized: a gate
 * asks for the same design at every look.
 */
export function equalLookBoundaries(kind: SpendingKind, alpha: number, looks: number): number[] {
  const K = Math.max(1, Math.round(looks));
  const key = `${kind}:${alpha}:${K}`;
  let b = cache.get(key);
  if (!b) {
    b = boundaries(
      kind,
      alpha,
      Array.from({ length: K }, (_, k) => (k + 1) / K),
    );
    if (cache.size > 256) cache.clear();
    cache.set(key, b);
  }
  return b;
}
