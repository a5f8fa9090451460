// One metric, canary against baseline: the test statistic oriented so that "bad" is positive and
// the tolerance is the null boundary, its variance including the spread between servers (from
// "placebo canaries": each baseline server judged against the others), and the evidence a
// person reads. Sequential mode gives always-valid p-values and confidence sequences; fixed mode
// gives the classical ones.
import { fromRankSum, hodgesLehmann, mannWhitney, rankSums } from './mann-whitney.js';
import { csRadius, effectGrid, logGaussianGridLr } from './msprt.js';
import { normalQuantile, normalSf } from './normal.js';
import { binomialUpperTail } from './beta.js';
import { logRateMixtureLr, pearsonDispersion, rateRatio, rateScore, totals, type RateCell, type RateTotals } from './rate-test.js';
import { intervalTotals, mean, median, numericCells, rateCells } from './series.js';
import { applyShifts, continuousShifts, rateFactors } from './history.js';
import { explainMetric } from './evidence.js';
import type { MetricEvidence, MetricKind, MetricSeries } from './types.js';

/**
 * Effects beyond tolerance the sequential tests mix over, log-uniformly: log rate ratios for ratio
 * and count metrics (0.1 to 2, i.e. +10% to x7.4 beyond tolerance, 12 points; a larger effect
 * still shows at the top point, only its evidence is not counted in full), probabilistic-index
 * shifts for continuous ones (0.02 to 0.32). Narrowing the rate grid from +5%..x600 in 8 doubling
 * steps raised the benchmark's power at 60 s for error rate x2 from 95.5% to 97.3%.
 */
export const RATE_GRID = effectGrid(0.1, 2, 12);
export const RANK_GRID = effectGrid(0.02, 0.32, 5);
/** Scale of the normal mixture behind the reported confidence sequences, per kind. */
export const DEFAULT_TAU: Record<MetricKind, number> = { ratio: 0.5, count: 0.15, continuous: 0.15 };

/** Least data a metric needs before its silence can count as a pass. */
export const MIN_CELLS = 3;
export const MIN_RATIO_DENOMINATOR = 20;
/** At most this many baseline servers serve as placebo canaries (each is O(1) after one pooled pass; the cap bounds huge fleets). */
export const MAX_PLACEBOS = 64;

export type Mode =
  | { sequential: true; alpha: number; tau?: Partial<Record<MetricKind, number>>; /** Skip the interval estimates (decisions only: benchmarks). */ decisionsOnly?: boolean }
  | { sequential: false; alpha: number };

export interface MetricAnalysis {
  spec: MetricSeries;
  /** Enough data for a pass to mean something. */
  enough: boolean;
  /** A supplementary test (a trend) that can add evidence of a regression but never holds a pass back. */
  supplementary?: boolean;
  /** Share of alpha relative to a metric's main test (weighted Holm); default 1. */
  weight?: number;
  /** Why not enough, when not. */
  shortage?: string;
  /** Unadjusted p-value of "no regression beyond tolerance". */
  p: number;
  /** Statistic beyond the tolerance boundary (bad direction positive) and its variance. */
  est: number;
  v: number;
  effect: number;
  ci: [number, number];
  baselineEstimate: number;
  canaryEstimate: number;
  samples: { baseline: number; canary: number };
  unit: 'rate' | 'per-interval' | 'median';
  /** Ratio and count metrics: events and exposure on each side, as observed. */
  events?: { baseline: RateTotals; canary: RateTotals };
}

interface Contrast {
  est: number;
  v: number;
}

/**
 * Between-server variance of a one-server contrast, from "placebo canaries": each baseline
 * server (at most MAX_PLACEBOS of them) judged against the other baseline servers. `contrast(i)`
 * gives server i's estimate and its within-server variance.
 */
function placeboVariance(B: number, contrast: (i: number) => Contrast): number {
  if (B < 3) return 0;
  const picks = Math.min(B, MAX_PLACEBOS);
  let excess = 0;
  let counted = 0;
  for (let k = 0; k < picks; k++) {
    const c = contrast(Math.floor((k * B) / picks));
    if (!Number.isFinite(c.v) || !Number.isFinite(c.est)) continue;
    excess += c.est * c.est - c.v;
    counted++;
  }
  if (counted < 2) return 0;
  // E[est^2] = v + sigma^2 (1 + 1/(B-1)) for one server against the B-1 others.
  return Math.max(0, excess / counted) / (1 + 1 / (B - 1));
}

/** One-sided p-value of "rate ratio beyond rho0 in the bad direction" from the conditional binomial, counts divided by `scale`. */
function exactRateP(canary: RateTotals, baseline: RateTotals, rho0: number, increase: boolean, scale: number): number {
  const X = (canary.x + baseline.x) / scale;
  if (!(X > 0) || !(canary.n > 0) || !(baseline.n > 0)) return 1;
  const p0 = (rho0 * canary.n) / (rho0 * canary.n + baseline.n);
  const k = canary.x / scale;
  // A decrease is an excess of baseline events: the same tail with the sides swapped.
  return increase ? binomialUpperTail(k, X, p0) : binomialUpperTail(X - k, X, 1 - p0);
}

function fixedP(est: number, v: number): number {
  if (!Number.isFinite(v) || !(v > 0)) return 1;
  return normalSf(est / Math.sqrt(v));
}

/** Half-width multiplier (in standard errors) of the reported interval. */
function critical(mode: Mode, v: number, tau: number): number {
  if (!mode.sequential) return normalQuantile(1 - mode.alpha / 2);
  if (!Number.isFinite(v) || !(v > 0)) return Infinity;
  return csRadius(v, tau, mode.alpha) / Math.sqrt(v);
}

function tauFor(mode: Mode, kind: MetricKind): number {
  return (mode.sequential ? mode.tau?.[kind] : undefined) ?? DEFAULT_TAU[kind];
}

/** Cells with each server's exposure scaled by its own-history factor. */
function weighted(rows: RateCell[][], factors: readonly number[] | undefined): RateCell[][] {
  return factors ? rows.map((row, i) => row.map((c) => ({ x: c.x, n: c.n * (factors[i] ?? 1) }))) : rows;
}

function analyzeRate(spec: MetricSeries, mode: Mode): MetricAnalysis {
  const rawBase = rateCells(spec.kind, spec.baseline);
  const rawCan = rateCells(spec.kind, spec.canary);
  // With history, "no change" means every server as it was: exposures carry each server's own propensity.
  const own = spec.before ? rateFactors(spec.kind, spec.before) : undefined;
  const base = weighted(rawBase, own?.baseline);
  const can = weighted(rawCan, own?.canary);
  const baseCells = base.flat();
  const canCells = can.flat();
  const tb = totals(baseCells);
  const tc = totals(canCells);
  const levels = { baseline: totals(rawBase.flat()), canary: totals(rawCan.flat()) };
  const dispersion = pearsonDispersion(baseCells);
  const increase = spec.bad === 'increase';
  const rho0 = increase ? 1 + spec.tolerance : Math.max(1e-9, 1 - spec.tolerance);
  const orient = increase ? 1 : -1;
  const score = rateScore(tc, tb, rho0, dispersion);
  const perServer = base.filter((s) => s.length > 0).map(totals);
  const B = perServer.length;
  const sigma2 = placeboVariance(B, (i) => {
    const one = perServer[i];
    const s = rateScore(one, { x: tb.x - one.x, n: tb.n - one.n }, 1, dispersion);
    return { est: orient * s.est, v: s.v };
  });
  const C = can.filter((s) => s.length > 0).length;
  const between = C > 0 && B > 0 ? sigma2 * (1 / C + 1 / B) : 0;
  const est = orient * score.est;
  const v = score.v + between;
  const tau = tauFor(mode, spec.kind);
  const rr = tc.n > 0 && tb.n > 0 ? rateRatio(tc, tb, dispersion) : { logRatio: 0, v: Infinity };
  const half = critical(mode, rr.v + between, tau) * Math.sqrt(rr.v + between);
  let shortage: string | undefined;
  if (canCells.length < MIN_CELLS || baseCells.length < MIN_CELLS) shortage = `needs ${MIN_CELLS}+ samples per side (canary ${canCells.length}, baseline ${baseCells.length})`;
  else if (spec.kind === 'ratio' && (levels.canary.n < MIN_RATIO_DENOMINATOR || levels.baseline.n < MIN_RATIO_DENOMINATOR))
    shortage = `needs ${MIN_RATIO_DENOMINATOR}+ in the denominator per side (canary ${levels.canary.n}, baseline ${levels.baseline.n})`;
  // Fixed sample: the exact conditional binomial tail (events scaled by the dispersion and the
  // between-server inflation), which stays honest at a handful of events.
  const inflation = Number.isFinite(score.v) && score.v > 0 ? v / score.v : 1;
  let p = exactRateP(tc, tb, rho0, increase, dispersion * inflation);
  if (mode.sequential) {
    const baseTotals = intervalTotals(spec.kind, spec.baseline, own?.baseline);
    const per = intervalTotals(spec.kind, spec.canary, own?.canary).map((canary, t) => ({ canary, baseline: baseTotals[t] ?? { x: 0, n: 0 } }));
    const grid = RATE_GRID.map((d) => orient * d);
    p = Math.min(1, Math.exp(-logRateMixtureLr(per, rho0, grid, dispersion * inflation)));
  }
  return {
    spec,
    enough: shortage === undefined,
    shortage,
    p,
    est,
    v,
    effect: Math.exp(rr.logRatio) - 1,
    ci: [Math.exp(rr.logRatio - half) - 1, Math.exp(rr.logRatio + half) - 1],
    baselineEstimate: levels.baseline.n > 0 ? levels.baseline.x / levels.baseline.n : NaN,
    canaryEstimate: levels.canary.n > 0 ? levels.canary.x / levels.canary.n : NaN,
    samples: { baseline: baseCells.length, canary: canCells.length },
    unit: spec.kind === 'ratio' ? 'rate' : 'per-interval',
    events: levels,
  };
}

function mwContrast(x: number[], y: number[]): Contrast {
  const mw = mannWhitney(x, y);
  const mn = mw.m * mw.n;
  return { est: mw.effect, v: mn > 0 && mw.variance > 0 ? mw.variance / (mn * mn) : Infinity };
}

function analyzeContinuous(spec: MetricSeries, mode: Mode): MetricAnalysis {
  // With history, each server's persistent shift is taken out before ranking.
  const own = spec.before ? continuousShifts(spec.before) : undefined;
  const base = numericCells(own ? applyShifts(spec.baseline, own.baseline, own.log) : spec.baseline);
  const can = numericCells(own ? applyShifts(spec.canary, own.canary, own.log) : spec.canary);
  const b = base.flat();
  const c = can.flat();
  const rawB = own ? numericCells(spec.baseline).flat() : b;
  const rawC = own ? numericCells(spec.canary).flat() : c;
  const medB = median(rawB);
  const scale = Math.abs(medB) > 0 ? Math.abs(medB) : Math.abs(mean(b)) > 0 ? Math.abs(mean(b)) : 1;
  const sign = spec.bad === 'increase' ? 1 : -1;
  const margin = spec.tolerance * scale;
  const bo = b.map((x) => sign * x);
  const co = c.map((x) => sign * x - margin);
  const main = b.length && c.length ? mwContrast(co, bo) : { est: 0, v: Infinity };
  const groups = base.filter((s) => s.length > 0).map((row) => row.map((x) => sign * x));
  const B = groups.length;
  const pooled = B >= 3 ? rankSums(groups) : undefined;
  const sigma2 = placeboVariance(B, (i) => {
    const mw = fromRankSum(pooled!.sums[i], pooled!.sizes[i], b.length, pooled!.tieTerm);
    const mn = mw.m * mw.n;
    return { est: mw.effect, v: mn > 0 && mw.variance > 0 ? mw.variance / (mn * mn) : Infinity };
  });
  const C = can.filter((s) => s.length > 0).length;
  const between = C > 0 && B > 0 ? sigma2 * (1 / C + 1 / B) : 0;
  const v = main.v + between;
  const tau = tauFor(mode, 'continuous');
  let effect = NaN;
  let ci: [number, number] = [-Infinity, Infinity];
  if (b.length && c.length && !(mode.sequential && mode.decisionsOnly)) {
    const z = critical(mode, v, tau) * (Number.isFinite(main.v) && main.v > 0 ? Math.sqrt(v / main.v) : 1);
    const hl = hodgesLehmann(c, b, z);
    effect = hl.shift / scale;
    ci = [hl.lo / scale, hl.hi / scale];
  }
  const shortage = c.length < MIN_CELLS || b.length < MIN_CELLS ? `needs ${MIN_CELLS}+ samples per side (canary ${c.length}, baseline ${b.length})` : undefined;
  return {
    spec,
    enough: shortage === undefined,
    shortage,
    p: mode.sequential ? Math.min(1, Math.exp(-logGaussianGridLr(main.est, v, RANK_GRID))) : fixedP(main.est, v),
    est: main.est,
    v,
    effect,
    ci,
    baselineEstimate: medB,
    canaryEstimate: median(rawC),
    samples: { baseline: b.length, canary: c.length },
    unit: 'median',
  };
}

export function analyzeMetric(spec: MetricSeries, mode: Mode): MetricAnalysis {
  const a = spec.kind === 'continuous' ? analyzeContinuous(spec, mode) : analyzeRate(spec, mode);
  return spec.weight !== undefined && spec.weight !== 1 ? { ...a, weight: spec.weight } : a;
}

/** JSON-safe number: infinities and NaN become null-free extremes the schema can carry. */
function finite(x: number): number {
  if (Number.isNaN(x)) return 0;
  if (x === Infinity) return Number.MAX_VALUE;
  if (x === -Infinity) return -Number.MAX_VALUE;
  return x;
}

/** The evidence record for a metric once its verdict and (adjusted) p-value are known. */
export function toEvidence(a: MetricAnalysis, verdict: MetricEvidence['verdict'], pValue: number): MetricEvidence {
  // A trend's "estimates" are its drift, not the metric's levels: leave them out.
  const levels = !a.supplementary;
  const facts = {
    name: a.spec.name,
    verdict,
    pValue,
    effect: a.effect,
    ci: a.ci,
    baselineEstimate: levels ? a.baselineEstimate : undefined,
    canaryEstimate: levels ? a.canaryEstimate : undefined,
    samples: a.samples,
    kind: a.spec.kind,
    bad: a.spec.bad,
    tolerance: a.spec.tolerance,
    unit: a.spec.unit,
    intervalMs: a.spec.intervalMs,
    events: levels ? a.events : undefined,
    trend: a.supplementary,
    shortage: a.shortage,
  };
  const out: MetricEvidence = {
    name: a.spec.name,
    verdict,
    pValue,
    effect: finite(a.effect),
    ci: [finite(a.ci[0]), finite(a.ci[1])],
    samples: a.samples,
    explanation: explainMetric(facts),
    kind: a.spec.kind,
    bad: a.spec.bad,
    tolerance: a.spec.tolerance,
  };
  if (levels && Number.isFinite(a.baselineEstimate)) out.baselineEstimate = a.baselineEstimate;
  if (levels && Number.isFinite(a.canaryEstimate)) out.canaryEstimate = a.canaryEstimate;
  if (a.spec.unit) out.unit = a.spec.unit;
  if (a.spec.intervalMs) out.intervalMs = a.spec.intervalMs;
  if (levels && a.events) out.events = a.events;
  if (a.supplementary) out.trend = true;
  if (a.shortage) out.shortage = a.shortage;
  return out;
}
