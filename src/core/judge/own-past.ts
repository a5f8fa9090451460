// Ratio and count metrics against each server's own past, server by server: a
// difference-in-differences with a random effect. Each server's change from its own past is
//   y_i = log(rate now) - log(rate before),   Var(y_i) = phi (1/x_now + 1/x_before) + tau^2,
// where phi is the within-server overdispersion (quasi-Poisson) and tau^2 the spread of changes
// between servers beyond that noise, estimated from the baseline servers (DerSimonian & Laird
// 1986). The canary servers' mean change against the baseline servers' is the effect. A server's
// persistent propensity cancels in its own y_i without being shrunk toward the fleet (an outlier
// server is compared with itself, not with a fleet average), and a change the whole fleet sees (a
// campaign, the time of day) cancels between the sides. With tau^2 = 0 the statistic is normal; a
// spread estimated from B baseline servers gets Satterthwaite's degrees of freedom.
import { totals, type RateCell } from './rate-test.js';

/** Events a server needs now and before for its own change to be judged (fewer: the pooled test). */
export const OWN_PAST_EVENTS = 5;

export interface OwnPastContrast {
  /** Canary mean change minus baseline mean change (log rate ratio). */
  diff: number;
  se: number;
  df: number;
  /** Between-server variance of changes beyond noise. */
  tau2: number;
}

interface Change {
  y: number;
  v: number;
}

/** Within-server Pearson dispersion over rows (each cell around its own row's rate); never below 1. */
export function withinDispersion(rows: readonly (readonly RateCell[])[]): number {
  let chi2 = 0;
  let df = 0;
  for (const row of rows) {
    const t = totals(row);
    const used = row.filter((c) => c.n > 0);
    if (used.length < 2 || !(t.x > 0) || !(t.n > 0)) continue;
    const r = t.x / t.n;
    for (const c of used) chi2 += (c.x - c.n * r) ** 2 / (c.n * r);
    df += used.length - 1;
  }
  return df > 0 ? Math.max(1, chi2 / df) : 1;
}

function changes(
  now: readonly (readonly RateCell[])[],
  before: readonly (readonly RateCell[])[],
  phi: number,
  minCells: number,
): (Change | null)[] {
  return now.map((row, i) => {
    const a = totals(row);
    const past = before[i] ?? [];
    const b = totals(past);
    if (row.length < minCells || past.length < minCells || a.x < OWN_PAST_EVENTS || b.x < OWN_PAST_EVENTS || !(a.n > 0) || !(b.n > 0))
      return null;
    return { y: Math.log(a.x / a.n) - Math.log(b.x / b.n), v: phi * (1 / a.x + 1 / b.x) };
  });
}

function weightedMean(cs: readonly Change[], tau2: number): { m: number; w: number } {
  let w = 0;
  let s = 0;
  for (const c of cs) {
    const wi = 1 / (c.v + tau2);
    w += wi;
    s += wi * c.y;
  }
  return { m: s / w, w };
}

/**
 * The contrast, or undefined when a canary server lacks events now or before, or fewer than three
 * baseline servers have them (the pooled test applies then). Rows are servers, in the same order
 * in `now` and `before` for each side.
 */
export function ownPastContrast(
  now: { baseline: readonly (readonly RateCell[])[]; canary: readonly (readonly RateCell[])[] },
  before: { baseline: readonly (readonly RateCell[])[]; canary: readonly (readonly RateCell[])[] },
  minCells: number,
): OwnPastContrast | undefined {
  const phiNow = withinDispersion(now.baseline);
  const phiBefore = withinDispersion([...before.baseline, ...before.canary]);
  const phi = Math.max(phiNow, phiBefore);
  const base = changes(now.baseline, before.baseline, phi, minCells);
  const can = changes(now.canary, before.canary, phi, minCells);
  const usedCan = can.filter((c): c is Change => c !== null);
  if (usedCan.length === 0 || usedCan.length < can.filter((_, i) => (now.canary[i]?.length ?? 0) > 0).length) return undefined;
  const usedBase = base.filter((c): c is Change => c !== null);
  const B = usedBase.length;
  if (B < 3) return undefined;
  // DerSimonian-Laird: the spread of the baseline servers' changes beyond their noise.
  const fixed = weightedMean(usedBase, 0);
  let q = 0;
  let w2 = 0;
  for (const c of usedBase) {
    q += (c.y - fixed.m) ** 2 / c.v;
    w2 += 1 / (c.v * c.v);
  }
  const tau2 = Math.max(0, (q - (B - 1)) / (fixed.w - w2 / fixed.w));
  const b = weightedMean(usedBase, tau2);
  const c = weightedMean(usedCan, tau2);
  const v = 1 / b.w + 1 / c.w;
  // The share of the variance that comes from tau^2 (estimated from B servers) sets the degrees of freedom.
  const noTau = 1 / weightedMean(usedBase, 0).w + 1 / weightedMean(usedCan, 0).w;
  const share = v > 0 ? Math.max(0, Math.min(1, 1 - noTau / v)) : 0;
  const df = share > 0 ? (B - 1) / (share * share) : Infinity;
  return { diff: c.m - b.m, se: Math.sqrt(v), df, tau2 };
}
