// Trends: is a metric drifting in the bad direction fast enough to move it beyond tolerance
// within the horizon (a leak, a query slowing as a table grows)? Judged on per-server
// least-squares slopes, so each server counts once however many intervals it has, and compared
// either with the same servers before (the watch) or with the baseline servers (the gate).
import type { MetricAnalysis } from './analyze.js';
import { mean, numericCells, rateCells } from './series.js';
import type { MetricSeries } from './types.js';

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

function trendAnalysis(
  m: MetricSeries,
  dm: number,
  v: number,
  df: number,
  enough: boolean,
  shortage: string,
  samples: { baseline: number; canary: number },
): MetricAnalysis {
  const sign = m.bad === 'increase' ? 1 : -1;
  const se = Math.sqrt(v);
  return {
    spec: { ...m, name: `${m.name} trend` },
    // A trend test never holds a pass back: it can only add evidence of a regression.
    enough: true,
    supplementary: true,
    shortage: enough ? undefined : shortage,
    z: enough && Number.isFinite(se) && se > 0 ? (dm - m.tolerance) / se : 0,
    df,
    g: dm,
    se,
    bound: m.tolerance,
    scale: 'relative',
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
  return trendAnalysis(
    m,
    S ? mean(d) : 0,
    v,
    Math.max(1, S - 1),
    S >= 3,
    `needs 3+ servers with ${MIN_TREND_CELLS}+ samples since the deploy (has ${S})`,
    {
      baseline: pre.flat().length,
      canary: post.flat().length,
    },
  );
}

/** Intervals after a restart that a trend never fits: a process warming up (caches, JIT, pools) climbs, then flattens. */
export const WARMUP_CELLS = 6;

/**
 * Gate: is the canary drifting away from the baseline, over the same window, fast enough to be
 * beyond tolerance by max bake? Both sides are fitted on the later half of the bake and after the
 * warm-up, and two things must hold (an intersection-union test, valid at the level of each):
 * the canary's slope exceeds the baseline's by more than tolerance over the horizon, and the
 * canary's projected level at max bake (its level now plus that excess slope) is beyond tolerance
 * of the baseline's. A baseline drifting the same way cancels; a canary that sits below the
 * baseline while it warms up is not a leak.
 */
export function analyzeSlopeContrast(m: MetricSeries, horizon: number): MetricAnalysis {
  const sign = m.bad === 'increase' ? 1 : -1;
  const fit = (rows: number[][]) =>
    rows
      .map((r) => r.slice(Math.max(Math.floor(r.length / 2), Math.min(WARMUP_CELLS, r.length - MIN_TREND_CELLS))))
      .filter((r) => r.length >= MIN_TREND_CELLS);
  const base = fit(values(m, 'baseline'));
  const can = fit(values(m, 'canary'));
  const level = Math.abs(mean(base.flat())) || 1;
  const bs = base.map((r) => slope(r));
  const cs = can.map((r) => slope(r));
  const B = bs.length;
  const C = cs.length;
  const enough = B >= 3 && C >= 1;
  const samples = { baseline: base.flat().length, canary: can.flat().length };
  const lacking = `needs 3+ baseline and 1+ canary servers with ${MIN_TREND_CELLS}+ samples after the warm-up`;
  if (!enough) return trendAnalysis(m, 0, Infinity, 1, false, lacking, samples);
  // Intervals from the middle of the fitted window to max bake.
  const width = Math.max(...can.map((r) => r.length));
  const sofar = Math.max(...values(m, 'canary').map((r) => r.length));
  const ahead = Math.max(1, horizon - (sofar - width + (width - 1) / 2));
  const scale = (sign * ahead) / level;
  const slopeExcess = scale * (mean(cs.map((x) => x.b)) - mean(bs.map((x) => x.b)));
  const perServer = Math.max(variance(bs.map((x) => x.b)), mean([...bs, ...cs].map((x) => x.se * x.se)));
  const vSlope = perServer * (1 / C + 1 / B) * scale * scale;
  // The canary's level relative to the baseline's over the same window, per server (the server is the unit).
  const lb = base.map(mean);
  const lc = can.map(mean);
  const levelGap = (sign * (mean(lc) - mean(lb))) / level;
  const vLevel = (variance(lb) * (1 / C + 1 / B)) / (level * level);
  const projected = levelGap + slopeExcess;
  const df = Math.max(1, B + C - 2);
  const zSlope = (slopeExcess - m.tolerance) / Math.sqrt(vSlope);
  const zProjected = (projected - m.tolerance) / Math.sqrt(vSlope + vLevel);
  // Report the weaker of the two: that is the one the verdict rests on.
  return zSlope <= zProjected
    ? trendAnalysis(m, slopeExcess, vSlope, df, true, lacking, samples)
    : trendAnalysis(m, projected, vSlope + vLevel, df, true, lacking, samples);
}
