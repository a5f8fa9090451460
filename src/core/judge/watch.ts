// The watch after 100%: the whole fleet since the deploy against its own pre-deploy window.
// Two questions per metric, all corrected together with Holm: did the level move beyond
// tolerance (same tests as the gate), and is the metric drifting in the bad direction faster
// than before the deploy, fast enough to move it beyond tolerance within the watch (a leak, a
// query slowing as a table grows)? The trend test works on per-server slopes, so each server
// counts once however many intervals it has.
import { analyzeMetric, type MetricAnalysis } from './analyze.js';
import { alwaysValidP } from './msprt.js';
import { mean, numericCells, rateCells } from './series.js';
import type { GateResult, MetricSeries, WatchInput } from './types.js';
import { judgeAnalyses, names } from './verdicts.js';

/** Mixing-prior scale for the projected relative drift. */
export const TREND_TAU = 0.2;

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

/** Drift since the deploy minus drift before it, projected over the whole watch, relative to the pre-deploy level. */
export function analyzeTrend(m: MetricSeries, horizonIntervals: number): MetricAnalysis {
  const pre = values(m, 'baseline');
  const post = values(m, 'canary');
  const sign = m.bad === 'increase' ? 1 : -1;
  const d: number[] = [];
  const se2: number[] = [];
  const n = Math.min(pre.length, post.length);
  for (let s = 0; s < n; s++) {
    if (post[s].length < 3) continue;
    const level = Math.abs(mean(pre[s].length ? pre[s] : post[s])) || 1;
    const sp = slope(post[s]);
    const sb = pre[s].length >= 3 ? slope(pre[s]) : { b: 0, se: 0 };
    d.push((sign * (sp.b - sb.b) * horizonIntervals) / level);
    se2.push(((sp.se * sp.se + sb.se * sb.se) * horizonIntervals * horizonIntervals) / (level * level));
  }
  const S = d.length;
  const dm = S ? mean(d) : 0;
  const spread = S > 1 ? d.reduce((t, x) => t + (x - dm) * (x - dm), 0) / (S - 1) : Infinity;
  const v = S >= 3 ? Math.max(spread, mean(se2)) / S : Infinity;
  const est = dm - m.tolerance;
  const sd = Math.sqrt(v);
  return {
    spec: { ...m, name: `${m.name} trend` },
    enough: S >= 3,
    shortage: S >= 3 ? undefined : `needs 3+ servers with 3+ samples since the deploy (has ${S})`,
    p: Number.isFinite(v) ? alwaysValidP(est, v, TREND_TAU) : 1,
    est,
    v,
    effect: sign * dm,
    ci: [sign * dm - 3 * sd, sign * dm + 3 * sd].sort((a, b) => a - b) as [number, number],
    baselineEstimate: 0,
    canaryEstimate: sign * dm,
    samples: { baseline: pre.flat().length, canary: post.flat().length },
    unit: 'median',
  };
}

function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** One look at the watch: `fail` at once on a regression or an unresponsive server, `pass` at the end of the watch, else `continue`. */
export function judgeWatch(input: WatchInput): GateResult {
  const mode = { sequential: true as const, alpha: input.alpha };
  const postIntervals = Math.max(1, ...input.metrics.map((m) => Math.max(0, ...m.canary.map((r) => r.length))));
  const horizon = input.elapsedMs > 0 ? Math.max(postIntervals, (postIntervals * input.durationMs) / input.elapsedMs) : postIntervals;
  const analyses = [...input.metrics.map((m) => analyzeMetric(m, mode)), ...input.metrics.map((m) => analyzeTrend(m, horizon))];
  const { evidence, failed, short } = judgeAnalyses(analyses, input.alpha);
  if (input.unresponsive.length > 0) {
    return { decision: 'fail', metrics: evidence, explanation: `server${input.unresponsive.length > 1 ? 's' : ''} ${input.unresponsive.join(', ')} stopped answering during the watch` };
  }
  if (failed.length > 0) {
    return { decision: 'fail', metrics: evidence, explanation: `slow failure after ${secs(input.elapsedMs)} of watch: ${evidence.filter((e) => e.verdict === 'fail').map((e) => e.explanation).join('; ')}` };
  }
  if (input.elapsedMs < input.durationMs) {
    return { decision: 'continue', metrics: evidence, explanation: `watching ${secs(input.elapsedMs)} of ${secs(input.durationMs)}; nothing drifting` };
  }
  const levelShort = short.filter((a) => !a.spec.name.endsWith(' trend'));
  if (input.metrics.length === 0 || levelShort.length > 0) {
    return { decision: 'inconclusive', metrics: evidence, explanation: `watch ended with too little data for ${input.metrics.length ? names(levelShort) : 'any metric'}` };
  }
  return { decision: 'pass', metrics: evidence, explanation: `watch of ${secs(input.durationMs)} found no slow failure` };
}
