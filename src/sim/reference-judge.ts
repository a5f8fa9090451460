// The yardstick: a Kayenta-style judge. One look at the end of a fixed window; per metric a
// two-sided Mann-Whitney test at 98% confidence on per-server-interval values plus an effect-size
// gate (the mean moved beyond tolerance in the bad direction); no correction for many metrics.
import { mannWhitney } from '../core/judge/mann-whitney.js';
import { normalSf } from '../core/judge/normal.js';
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
