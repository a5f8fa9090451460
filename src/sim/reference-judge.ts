// The yardstick: a Kayenta-style judge. One look at the end of a fixed window; per metric a
// two-sided Mann-Whitney test at 98% confidence on per-server-interval values plus an effect-size
// gate (the mean moved beyond tolerance in the bad direction); no correction for many metrics.
import { mannWhitney } from '../core/judge/mann-whitney.js';
import { normalSf } from '../core/judge/normal.js';
import { tSf } from '../core/judge/student-t.js';
import type { MetricSeries, Sample } from '../core/judge/types.js';

function cellValues(m: MetricSeries, rows: (Sample | null)[][]): number[] {
  const out: number[] = [];
  for (const row of rows)
    for (const s of row) {
      // Ratios, and counts per exposure, as rates per server-interval.
      if (Array.isArray(s)) {
        if (s[1] > 0) out.push(s[0] / s[1]);
      } else if (m.kind !== 'ratio' && typeof s === 'number' && Number.isFinite(s)) out.push(s);
    }
  return out;
}

export interface ReferenceResult {
  verdict: 'pass' | 'fail';
  failed: string[];
}

export function referenceJudge(metrics: MetricSeries[], confidence = 0.98): ReferenceResult {
  const failed: string[] = [];
  for (const m of metrics) {
    const c = cellValues(m, m.canary);
    const b = cellValues(m, m.baseline);
    if (c.length < 2 || b.length < 2) continue;
    const mw = mannWhitney(c, b);
    if (!(mw.variance > 0)) continue;
    const z = Math.abs(mw.u - (mw.m * mw.n) / 2) / Math.sqrt(mw.variance);
    const p = 2 * normalSf(z);
    const mc = c.reduce((t, x) => t + x, 0) / c.length;
    const mb = b.reduce((t, x) => t + x, 0) / b.length;
    const change = mb !== 0 ? mc / mb - 1 : mc > 0 ? Infinity : 0;
    const beyond = m.bad === 'increase' ? change > m.tolerance : change < -m.tolerance;
    if (p < 1 - confidence && beyond) failed.push(m.name);
  }
  return { verdict: failed.length ? 'fail' : 'pass', failed };
}

/**
 * The other yardstick: a per-server t-test. Each server's level over the window on the log scale
 * (log of its rate with half an event added, or the mean of its logs), then the pooled
 * two-sample t-test of canary servers against baseline servers (df = servers - 2), one-sided in
 * the bad direction, Bonferroni across metrics. `against`: "tolerance" tests the hypothesis the
 * gate's fail tests (no regression beyond tolerance); "zero" tests no change and also asks the
 * estimate to be beyond tolerance (the Kayenta-style decision on a per-server test).
 */
export function perServerTJudge(
  metrics: MetricSeries[],
  alpha: number,
  against: 'tolerance' | 'zero',
): ReferenceResult & { estimates: Record<string, number> } {
  const failed: string[] = [];
  const estimates: Record<string, number> = {};
  const level = (m: MetricSeries, row: (Sample | null)[]): number => {
    if (m.kind === 'continuous') {
      const v = row.filter((s): s is number => typeof s === 'number' && s > 0).map(Math.log);
      return v.length ? v.reduce((t, x) => t + x, 0) / v.length : NaN;
    }
    let x = 0;
    let n = 0;
    for (const s of row) {
      if (Array.isArray(s)) {
        x += s[0];
        n += s[1];
      } else if (typeof s === 'number') {
        x += s;
        n += 1;
      }
    }
    return n > 0 ? Math.log((x + 0.5) / n) : NaN;
  };
  for (const m of metrics) {
    const c = m.canary.map((r) => level(m, r)).filter(Number.isFinite);
    const b = m.baseline.map((r) => level(m, r)).filter(Number.isFinite);
    if (c.length < 1 || b.length < 2 || c.length + b.length < 3) continue;
    const mean = (xs: number[]) => xs.reduce((t, x) => t + x, 0) / xs.length;
    const mc = mean(c);
    const mb = mean(b);
    const ss = c.reduce((t, x) => t + (x - mc) ** 2, 0) + b.reduce((t, x) => t + (x - mb) ** 2, 0);
    const df = c.length + b.length - 2;
    const se = Math.sqrt((ss / df) * (1 / c.length + 1 / b.length));
    const orient = m.bad === 'increase' ? 1 : -1;
    const g = orient * (mc - mb);
    const bound = m.bad === 'increase' ? Math.log1p(m.tolerance) : -Math.log(1 - m.tolerance);
    estimates[m.name] = Math.exp(orient * g) - 1;
    if (!(se > 0)) continue;
    const p = tSf((against === 'tolerance' ? g - bound : g) / se, df);
    if (p < alpha / metrics.length && (against === 'tolerance' || g > bound)) failed.push(m.name);
  }
  return { verdict: failed.length ? 'fail' : 'pass', failed, estimates };
}
