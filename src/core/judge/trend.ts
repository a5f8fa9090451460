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
  return valuesOf(m, m[side]);
}

function valuesOf(m: MetricSeries, rows: MetricSeries['baseline']): number[][] {
  if (m.kind === 'continuous') return numericCells(rows);
  return rateCells(m.kind, rows).map((row) => row.map((c) => c.x / c.n));
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
  // Each side's fitted rows, with the server's own level before the deploy when it has one.
  const fit = (side: 'baseline' | 'canary') => {
    const before = m.before ? valuesOf(m, m.before[side]) : [];
    return values(m, side)
      .map((r, i) => ({
        r: r.slice(Math.max(Math.floor(r.length / 2), Math.min(WARMUP_CELLS, r.length - MIN_TREND_CELLS))),
        own: (before[i]?.length ?? 0) >= MIN_TREND_CELLS ? mean(before[i]!) : undefined,
      }))
      .filter((x) => x.r.length >= MIN_TREND_CELLS);
  };
  const baseFit = fit('baseline');
  const canFit = fit('canary');
  const base = baseFit.map((x) => x.r);
  const can = canFit.map((x) => x.r);
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
  // The excess slope over the whole horizon (is it fast enough to be beyond tolerance by then?), and
  // over what is left of it (where the level now is headed by max bake).
  const excess = mean(cs.map((x) => x.b)) - mean(bs.map((x) => x.b));
  const perServer = Math.max(variance(bs.map((x) => x.b)), mean([...bs, ...cs].map((x) => x.se * x.se)));
  const rate = (over: number) => ({ g: (sign * over * excess) / level, v: perServer * (1 / C + 1 / B) * (over / level) ** 2 });
  const { g: slopeExcess, v: vSlope } = rate(horizon);
  const still = rate(ahead);
  // The canary's level relative to the baseline's over the same window, per server (the server is the
  // unit); when every server has its own past, each server's level less that past, so that servers
  // that always differed (one with twice the memory) do not hide a leak in their spread.
  const ownPast = [...baseFit, ...canFit].every((x) => x.own !== undefined);
  const lb = baseFit.map((x) => mean(x.r) - (ownPast ? x.own! : 0));
  const lc = canFit.map((x) => mean(x.r) - (ownPast ? x.own! : 0));
  const levelGap = (sign * (mean(lc) - mean(lb))) / level;
  const vLevel = (variance(lb) * (1 / C + 1 / B)) / (level * level);
  const projected = levelGap + still.g;
  const df = Math.max(1, B + C - 2);
  const zSlope = (slopeExcess - m.tolerance) / Math.sqrt(vSlope);
  const zProjected = (projected - m.tolerance) / Math.sqrt(still.v + vLevel);
  // Report the weaker of the two: that is the one the verdict rests on.
  return zSlope <= zProjected
    ? trendAnalysis(m, slopeExcess, vSlope, df, true, lacking, samples)
    : trendAnalysis(m, projected, still.v + vLevel, df, true, lacking, samples);
}
