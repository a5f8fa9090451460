// Trends: is a metric drifting in the bad direction fast enough to move it beyond tolerance
// within the horizon (a leak, a query slowing as a table grows)? Judged on per-server
// least-squares slopes, so each server counts once however many intervals it has, and compared
// either with the same servers before (the watch) or with the baseline servers (the gate).
import type { MetricAnalysis } from './analyze.js';
import { alwaysValidP } from './msprt.js';
import { mean, numericCells, rateCells } from './series.js';
import type { MetricSeries } from './types.js';

/** Mixing-prior scale for the projected relative drift. */
export const TREND_TAU = 0.2;
/** Samples a server needs before its slope counts. */
export const MIN_TREND_CELLS = 4;

/**
 * The later half of a series since the deploy. A freshly restarted process warms up (memory and
 * CPU climb, then flatten): that curve is steep early and flat later, a leak is steep throughout,
 * so only the later half is fitted.
 */
export function laterHalf<T>(xs: readonly T[]): T[] {
  return xs.slice(Math.floor(xs.length / 2));
}

function values(m: MetricSeries, side: 'baseline' | 'canary'): number[][] {
  if (m.kind === 'continuous') return numericCells(m[side]);
  return rateCells(m.kind, m[side]).map((row) => row.map((c) => c.x / c.n));
}

/** Least-squares slope of ys against 0..n-1, and its standard error. */
export function slope(ys: readonly number[]): { b: number; se: number } {
  const n = ys.length;
  if (n < 3) return { b: 0, se: Infinity };
  const xm = (n - 1) / 2;
  const ym = mean(ys);
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (i - xm) * (i - xm);
    sxy += (i - xm) * (ys[i] - ym);
  }
  const b = sxy / sxx;
  let sse = 0;
  for (let i = 0; i < n; i++) {
    const r = ys[i] - ym - b * (i - xm);
    sse += r * r;
  }
  return { b, se: Math.sqrt(sse / (n - 2) / sxx) };
}

function variance(xs: readonly number[]): number {
  if (xs.length < 2) return Infinity;
  const m = mean(xs);
  return xs.reduce((t, x) => t + (x - m) * (x - m), 0) / (xs.length - 1);
}

function trendAnalysis(m: MetricSeries, dm: number, v: number, enough: boolean, shortage: string, samples: { baseline: number; canary: number }): MetricAnalysis {
  const sign = m.bad === 'increase' ? 1 : -1;
  const est = dm - m.tolerance;
  const sd = Math.sqrt(v);
  const lo = sign * dm - 3 * sd;
  const hi = sign * dm + 3 * sd;
  return {
    spec: { ...m, name: `${m.name} trend` },
    // A trend test never holds a pass back: it can only add evidence of a regression.
    enough: true,
    supplementary: true,
    shortage: enough ? undefined : shortage,
    p: enough && Number.isFinite(v) ? alwaysValidP(est, v, TREND_TAU) : 1,
    est,
    v,
    effect: sign * dm,
    ci: [Math.min(lo, hi), Math.max(lo, hi)],
    baselineEstimate: 0,
    canaryEstimate: sign * dm,
    samples,
    unit: 'median',
  };
}

/** Watch: drift since the deploy minus drift before it, per server, projected over `horizon` intervals, relative to the pre-deploy level. */
export function analyzeTrend(m: MetricSeries, horizon: number): MetricAnalysis {
  const pre = values(m, 'baseline');
  const post = values(m, 'canary').map(laterHalf);
  const sign = m.bad === 'increase' ? 1 : -1;
  const d: number[] = [];
  const se2: number[] = [];
  const n = Math.min(pre.length, post.length);
  for (let s = 0; s < n; s++) {
    if (post[s].length < MIN_TREND_CELLS) continue;
    const level = Math.abs(mean(pre[s].length ? pre[s] : post[s])) || 1;
    const sp = slope(post[s]);
    const sb = pre[s].length >= MIN_TREND_CELLS ? slope(pre[s]) : { b: 0, se: 0 };
    d.push((sign * (sp.b - sb.b) * horizon) / level);
    se2.push(((sp.se * sp.se + sb.se * sb.se) * horizon * horizon) / (level * level));
  }
  const S = d.length;
  const v = S >= 3 ? Math.max(variance(d), mean(se2)) / S : Infinity;
  return trendAnalysis(m, S ? mean(d) : 0, v, S >= 3, `needs 3+ servers with ${MIN_TREND_CELLS}+ samples since the deploy (has ${S})`, {
    baseline: pre.flat().length,
    canary: post.flat().length,
  });
}

/** Gate: canary servers' slopes against baseline servers' slopes, projected over `horizon` intervals, relative to the baseline level. */
export function analyzeSlopeContrast(m: MetricSeries, horizon: number): MetricAnalysis {
  const sign = m.bad === 'increase' ? 1 : -1;
  const base = values(m, 'baseline')
    .map(laterHalf)
    .filter((r) => r.length >= MIN_TREND_CELLS);
  const can = values(m, 'canary')
    .map(laterHalf)
    .filter((r) => r.length >= MIN_TREND_CELLS);
  const level = Math.abs(mean(base.flat())) || 1;
  const scale = (sign * horizon) / level;
  const bs = base.map((r) => slope(r));
  const cs = can.map((r) => slope(r));
  const B = bs.length;
  const C = cs.length;
  const enough = B >= 3 && C >= 1;
  const dm = enough ? scale * (mean(cs.map((x) => x.b)) - mean(bs.map((x) => x.b))) : 0;
  const perServer = enough ? Math.max(variance(bs.map((x) => x.b)), mean([...bs, ...cs].map((x) => x.se * x.se))) : Infinity;
  const v = perServer * (1 / Math.max(C, 1) + 1 / Math.max(B, 1)) * scale * scale;
  return trendAnalysis(m, dm, v, enough, `needs 3+ baseline and 1+ canary servers with ${MIN_TREND_CELLS}+ samples`, {
    baseline: base.flat().length,
    canary: can.flat().length,
  });
}
