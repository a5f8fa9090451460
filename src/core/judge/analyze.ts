// One metric, canary against baseline, with the server as the unit of evidence: servers differ
// persistently (one answers more errors, one is slower), so a canary of two servers carries two
// servers' worth of evidence however many requests they serve. Each analysis gives one statistic
// oriented so that "bad" is positive and the tolerance is the null boundary,
//   Z = (bad-direction log effect - log tolerance factor) / its standard error,
// its degrees of freedom (the between-server variance is estimated from the baseline servers),
// and the evidence a person reads. verdicts.ts turns Z into fail / pass / keep baking.
import { binomialUpperTail } from './beta.js';
import { applyShifts, continuousShifts, rateFactors } from './history.js';
import { pearsonDispersion, rateRatio, rateScore, rowTotals, totals, type RateCell, type RateTotals } from './rate-test.js';

const strip = ({ x, n }: RateTotals): RateTotals => ({ x, n });
import { mean, median, numericCells, rateCells } from './series.js';
import { ownPastContrast } from './own-past.js';
import { tSf } from './student-t.js';
import { explainMetric } from './evidence.js';
import type { MetricEvidence, MetricSeries } from './types.js';

/** Least data a metric needs before its verdict can be a pass. */
export const MIN_CELLS = 3;
export const MIN_RATIO_DENOMINATOR = 20;
/** Events per server (on average, each side) from which a rate metric is judged server by server (below: pooled counts, exact at a handful). */
export const PER_SERVER_EVENTS = 5;
/** At most this many baseline servers serve as placebo canaries (each is O(1) after one pooled pass; the cap bounds huge fleets). */
export const MAX_PLACEBOS = 64;

export interface Mode {
  /** The same servers before and after (the watch): judge each server's change, so server differences cancel. */
  paired?: boolean;
}

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
  /** (bad-direction estimate - tolerance boundary) / standard error: > 0 leans to a regression beyond tolerance. */
  z: number;
  /** Degrees of freedom of z (Infinity: normal). */
  df: number;
  /** Bad-direction effect on the log scale (or relative, for metrics that can be <= 0) and its standard error. */
  g: number;
  se: number;
  /** Tolerance boundary on the scale of g. */
  bound: number;
  /** Ratio and count metrics: exact conditional-binomial p of "no regression beyond tolerance" (a guard at a handful of events). */
  exactP?: number;
  /** Nothing happened on either side (no events at all): there is nothing that could have regressed. */
  quiet?: boolean;
  /** How g maps back to a relative change: exp (log scale) or identity (relative scale). */
  scale: 'log' | 'relative';
  baselineEstimate: number;
  canaryEstimate: number;
  samples: { baseline: number; canary: number };
  unit: 'rate' | 'per-interval' | 'median';
  /** Ratio and count metrics: events and exposure on each side, as observed. */
  events?: { baseline: RateTotals; canary: RateTotals };
  /** With a fresh baseline: which baseline servers this analysis is against (MetricSeries.fresh). */
  against?: 'fresh' | 'older';
}

/** Relative change (0.2 = +20%) from a value of g (bad direction positive). */
export function relative(a: Pick<MetricAnalysis, 'spec' | 'scale'>, g: number): number {
  const orient = a.spec.bad === 'increase' ? 1 : -1;
  return a.scale === 'log' ? Math.exp(orient * g) - 1 : orient * g;
}

/** Boundary of g for a tolerance: log(1 + tol) for increase-bad, -log(1 - tol) for decrease-bad (both > 0). */
function logBound(spec: MetricSeries): number {
  return spec.bad === 'increase' ? Math.log1p(spec.tolerance) : -Math.log(Math.max(1e-9, 1 - spec.tolerance));
}

/**
 * Between-server variance of a one-server contrast, from "placebo canaries": each baseline
 * server (at most MAX_PLACEBOS of them) judged against the other baseline servers. `contrast(i)`
 * gives server i's estimate and its within-server variance.
 */
function placeboVariance(B: number, contrast: (i: number) => { est: number; v: number }): number {
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

/** Cells with each server's exposure scaled by its own-history factor. */
function weighted(rows: RateCell[][], factors: readonly number[] | undefined): RateCell[][] {
  return factors ? rows.map((row, i) => row.map((c) => ({ x: c.x, n: c.n * (factors[i] ?? 1) }))) : rows;
}

/**
 * Ratio and count metrics: the conditional score test of Poisson rates at the tolerance boundary
 * (exact for a handful of events, where the guard below also applies), with its variance scaled by
 * the baseline's overdispersion (quasi-Poisson) and widened by the between-server variance the
 * baseline servers show: a canary's own propensity is unknown without its own history.
 */
function analyzeRate(spec: MetricSeries): MetricAnalysis {
  const rawBase = rateCells(spec.kind, spec.baseline);
  const rawCan = rateCells(spec.kind, spec.canary);
  // With history, "no change" means every server as it was: exposures carry each server's own propensity.
  const own = spec.before ? rateFactors(spec.kind, spec.before) : undefined;
  const base = weighted(rawBase, own?.baseline);
  const can = weighted(rawCan, own?.canary);
  // Sums over the rows in place: a 1,000-server fleet's cells are never copied into one list.
  const { cells: baseCount, ...tb } = rowTotals(base);
  const { cells: canCount, ...tc } = rowTotals(can);
  const levels = { baseline: own ? strip(rowTotals(rawBase)) : tb, canary: own ? strip(rowTotals(rawCan)) : tc };
  const dispersion = pearsonDispersion(base);
  const increase = spec.bad === 'increase';
  const rho0 = increase ? 1 + spec.tolerance : Math.max(1e-9, 1 - spec.tolerance);
  const orient = increase ? 1 : -1;
  const score = rateScore(tc, tb, rho0, dispersion);
  const perServer = base.filter((s) => s.length > 0).map(totals);
  const B = perServer.length;
  const sigma2 = placeboVariance(B, (i) => {
    const one = perServer[i];
    const s = rateScore(one, { x: tb.x - one.x, n: tb.n - one.n }, 1, dispersion);
    return { est: s.est, v: s.v };
  });
  const C = can.filter((s) => s.length > 0).length;
  const between = C > 0 && B > 0 ? sigma2 * (1 / C + 1 / B) : 0;
  const v = score.v + between;
  // Satterthwaite: the between-server share of the variance is estimated from B servers.
  const share = Number.isFinite(v) && v > 0 ? between / v : 0;
  const df = share > 0 && B > 1 ? (B - 1) / (share * share) : Infinity;
  const rr = tc.n > 0 && tb.n > 0 ? rateRatio(tc, tb, dispersion) : { logRatio: 0, v: Infinity };
  let shortage: string | undefined;
  if (canCount < MIN_CELLS || baseCount < MIN_CELLS)
    shortage = `needs ${MIN_CELLS}+ samples per side (canary ${canCount}, baseline ${baseCount})`;
  else if (spec.kind === 'ratio' && (levels.canary.n < MIN_RATIO_DENOMINATOR || levels.baseline.n < MIN_RATIO_DENOMINATOR))
    shortage = `needs ${MIN_RATIO_DENOMINATOR}+ in the denominator per side (canary ${levels.canary.n}, baseline ${levels.baseline.n})`;
  const inflation = Number.isFinite(score.v) && score.v > 0 ? v / score.v : 1;
  let z = Number.isFinite(v) && v > 0 ? (orient * score.est) / Math.sqrt(v) : 0;
  let zDf = df;
  let exact: number | undefined = exactRateP(tc, tb, rho0, increase, dispersion * inflation);
  let g = orient * rr.logRatio;
  let se = Math.sqrt(rr.v + between);
  // Without history, with a few events per server and more, the server is the unit: each server's
  // log rate, and a pooled two-sample t-test of canary servers against baseline servers. It stays
  // calibrated when errors come in bursts (one server-interval with 5x the errors), where the pooled
  // counts do not. With history the servers' own past has already said how much they differ: no
  // spread beyond noise leaves the pooled score test, widened by the placebo variance (Satterthwaite
  // df), whose many degrees of freedom catch error x2 where a t-test on 2 + 18 servers would not.
  const perCan = can.filter((r) => r.length > 0).map(totals);
  // Servers that differ beyond noise before the deploy (own factors found), with events on every
  // canary server now and before: each server's change from its own past, unshrunk (own-past.ts).
  const past =
    spec.before && own
      ? ownPastContrast(
          { baseline: rawBase, canary: rawCan },
          { baseline: rateCells(spec.kind, spec.before.baseline), canary: rateCells(spec.kind, spec.before.canary) },
          MIN_CELLS,
        )
      : undefined;
  if (past && past.se > 0) {
    g = orient * past.diff;
    se = past.se;
    z = (g - logBound(spec)) / se;
    zDf = past.df;
    exact = undefined;
  } else if (!spec.before && B >= 3 && perCan.length >= 1 && tc.x >= PER_SERVER_EVENTS * perCan.length && tb.x >= PER_SERVER_EVENTS * B) {
    const logRate = (t: RateTotals) => Math.log((t.x + 0.5) / t.n);
    const yb = perServer.map(logRate);
    const yc = perCan.map(logRate);
    const mb = mean(yb);
    const mc = mean(yc);
    let ss = 0;
    for (const y of yb) ss += (y - mb) ** 2;
    for (const y of yc) ss += (y - mc) ** 2;
    const dfT = yb.length + yc.length - 2;
    const seT = Math.sqrt((ss / dfT) * (1 / yb.length + 1 / yc.length));
    if (seT > 0) {
      g = orient * (mc - mb);
      se = seT;
      z = (g - logBound(spec)) / seT;
      zDf = dfT;
      exact = undefined;
    }
  }
  return {
    spec,
    enough: shortage === undefined,
    shortage,
    z,
    df: zDf,
    g,
    se,
    bound: logBound(spec),
    exactP: exact,
    quiet: tb.x + tc.x === 0 && shortage === undefined,
    scale: 'log',
    baselineEstimate: levels.baseline.n > 0 ? levels.baseline.x / levels.baseline.n : NaN,
    canaryEstimate: levels.canary.n > 0 ? levels.canary.x / levels.canary.n : NaN,
    samples: { baseline: baseCount, canary: canCount },
    unit: spec.kind === 'ratio' ? 'rate' : 'per-interval',
    events: levels,
  };
}

/**
 * Continuous metrics: each server's mean over its intervals (of logs, when every value is
 * positive, as for latency and memory), then a two-sample t-test of canary servers against
 * baseline servers with the pooled between-server variance (df = servers - 2). With history each
 * server's own persistent level is taken out first. Paired (the watch): each server's change.
 */
function analyzeContinuous(spec: MetricSeries, mode: Mode): MetricAnalysis {
  const rawB = numericCells(spec.baseline);
  const rawC = numericCells(spec.canary);
  const log = rawB.some((r) => r.length > 0) && rawB.every((r) => r.every((x) => x > 0)) && rawC.every((r) => r.every((x) => x > 0));
  const own = spec.before ? continuousShifts(spec.before) : undefined;
  const shifted = (rows: (typeof spec)['baseline'], shifts: readonly number[] | undefined) =>
    numericCells(own && shifts ? applyShifts(rows, shifts, own.log) : rows);
  const base = shifted(spec.baseline, own?.baseline);
  const can = shifted(spec.canary, own?.canary);
  const flatB = rawB.flat();
  const medB = median(flatB);
  const meanB = Math.abs(medB) > 0 ? 0 : Math.abs(mean(flatB));
  const level = Math.abs(medB) > 0 ? Math.abs(medB) : meanB > 0 ? meanB : 1;
  const tr = (x: number) => (log ? Math.log(x) : x / level);
  const perServer = (rows: number[][]) =>
    rows.map((r) => {
      let t = 0;
      for (let i = 0; i < r.length; i++) t += tr(r[i]!);
      return r.length ? t / r.length : NaN;
    });
  const yb = perServer(base);
  const yc = perServer(can);
  const orient = spec.bad === 'increase' ? 1 : -1;
  const bound = log ? logBound(spec) : spec.tolerance;
  const b = base.flat().length;
  const c = can.flat().length;
  let diff = 0;
  let se = Infinity;
  let df = Infinity;
  if (mode.paired) {
    const d = yc.map((y, i) => y - yb[i]).filter(Number.isFinite);
    if (d.length >= 2) {
      diff = mean(d);
      se = Math.sqrt(sampleVariance(d) / d.length);
      df = d.length - 1;
    }
  } else {
    const ub = yb.filter(Number.isFinite);
    const uc = yc.filter(Number.isFinite);
    const B = ub.length;
    const C = uc.length;
    if (B >= 1 && C >= 1) diff = mean(uc) - mean(ub);
    if (B >= 2 && C >= 1) {
      const mb = mean(ub);
      const mc = mean(uc);
      let ss = 0;
      for (const y of ub) ss += (y - mb) ** 2;
      for (const y of uc) ss += (y - mc) ** 2;
      const pooled = ss / (B + C - 2);
      se = Math.sqrt(pooled * (1 / B + 1 / C));
      df = B + C - 2;
    } else if (B === 1 && C >= 1) {
      // One baseline server (a two-server fleet at 50%): the between-server spread cannot be
      // estimated, so each server mean's error comes from its own intervals (Welch-Satterthwaite),
      // as in a Kayenta-style comparison. A persistent server-to-server difference reads as a
      // change here; the tolerance absorbs small ones.
      const parts: { v: number; df: number }[] = [];
      for (const [rows, k] of [
        [base, B],
        [can, C],
      ] as const)
        for (const r of rows.filter((x) => x.length > 0)) {
          const xs = r.map(tr);
          parts.push({ v: xs.length >= 2 ? sampleVariance(xs) / xs.length / (k * k) : NaN, df: xs.length - 1 });
        }
      const v = parts.reduce((a, p) => a + p.v, 0);
      if (b >= MIN_CELLS && c >= MIN_CELLS && Number.isFinite(v)) {
        se = Math.sqrt(v);
        df = v > 0 ? v ** 2 / parts.reduce((a, p) => a + p.v ** 2 / p.df, 0) : b + c - 2;
      }
    }
  }
  const g = orient * diff;
  const shortage = c < MIN_CELLS || b < MIN_CELLS ? `needs ${MIN_CELLS}+ samples per side (canary ${c}, baseline ${b})` : undefined;
  return {
    spec,
    enough: shortage === undefined && Number.isFinite(se),
    shortage: shortage ?? (Number.isFinite(se) ? undefined : 'needs 2+ baseline servers and 1+ canary server with samples'),
    z: Number.isFinite(se) && se > 0 ? (g - bound) / se : g > bound && se === 0 ? Infinity : g < bound && se === 0 ? -Infinity : 0,
    df,
    g,
    se,
    bound,
    scale: log ? 'log' : 'relative',
    baselineEstimate: medB,
    canaryEstimate: median(rawC.flat()),
    samples: { baseline: b, canary: c },
    unit: 'median',
  };
}

export function sampleVariance(xs: readonly number[]): number {
  if (xs.length < 2) return Infinity;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return s / (xs.length - 1);
}

export function analyzeMetric(spec: MetricSeries, mode: Mode = {}): MetricAnalysis {
  const one = (s: MetricSeries) => (s.kind === 'continuous' ? analyzeContinuous(s, mode) : analyzeRate(s));
  const fresh = new Set(spec.fresh ?? []);
  const rows = (keep: (i: number) => boolean) => baselineRows(spec, keep);
  const a =
    fresh.size === 0 || mode.paired
      ? one(spec)
      : fresh.size >= spec.baseline.length
        ? { ...one(spec), against: 'fresh' as const }
        : weaker({ ...one(rows((i) => !fresh.has(i))), against: 'older' }, { ...one(rows((i) => fresh.has(i))), against: 'fresh' });
  return spec.weight !== undefined && spec.weight !== 1 ? { ...a, weight: spec.weight } : a;
}

/** The metric against some of its baseline servers (rows `keep` keeps), in their own past too. */
function baselineRows(spec: MetricSeries, keep: (i: number) => boolean): MetricSeries {
  const { fresh: _fresh, before, ...rest } = spec;
  const pick = <T>(rows: T[]) => rows.filter((_, i) => keep(i));
  return {
    ...rest,
    baseline: pick(spec.baseline),
    ...(before ? { before: { baseline: pick(before.baseline), canary: before.canary } } : {}),
  };
}

/**
 * Of the comparison with the older baseline servers and the one with the fresh baseline, the one
 * with less evidence of a regression (the larger nominal p): failing needs both (an
 * intersection-union test, at the level of each), and the weaker is also the one nearer a pass.
 * One without enough data yet wins outright: the metric waits for it.
 */
function weaker(older: MetricAnalysis, fresh: MetricAnalysis): MetricAnalysis {
  if (!fresh.enough) return fresh;
  if (!older.enough) return older;
  const p = (a: MetricAnalysis) => Math.max(tSf(a.z, a.df), a.exactP ?? 0);
  return p(fresh) >= p(older) ? fresh : older;
}

/** JSON-safe number: infinities and NaN become null-free extremes the schema can carry. */
function finite(x: number): number {
  if (Number.isNaN(x)) return 0;
  if (x === Infinity) return Number.MAX_VALUE;
  if (x === -Infinity) return -Number.MAX_VALUE;
  return x;
}

/**
 * The evidence record for a metric once its verdict, (adjusted) p-value and the interval's
 * half-width multiplier are known; `reason` says why a pass passed or an open metric is open.
 */
export function toEvidence(
  a: MetricAnalysis,
  verdict: MetricEvidence['verdict'],
  pValue: number,
  crit: number,
  reason?: string,
): MetricEvidence {
  // A trend's "estimates" are its drift, not the metric's levels: leave them out.
  const levels = !a.supplementary;
  const effect = relative(a, a.g);
  const half = Number.isFinite(a.se) ? crit * a.se : Infinity;
  const ends = [relative(a, a.g - half), relative(a, a.g + half)];
  const ci: [number, number] = [Math.min(...ends), Math.max(...ends)];
  const facts = {
    name: a.spec.name,
    verdict,
    pValue,
    effect,
    ci,
    baselineEstimate: levels ? a.baselineEstimate : undefined,
    canaryEstimate: levels ? a.canaryEstimate : undefined,
    samples: a.samples,
    kind: a.spec.kind,
    bad: a.spec.bad,
    tolerance: a.spec.tolerance,
    unit: a.spec.unit,
    intervalMs: a.spec.intervalMs,
    exposure: a.spec.exposure,
    events: levels ? a.events : undefined,
    trend: a.supplementary,
    shortage: a.shortage,
    against: a.against,
    reason,
  };
  const out: MetricEvidence = {
    name: a.spec.name,
    verdict,
    pValue,
    effect: finite(effect),
    ci: [finite(ci[0]), finite(ci[1])],
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
  if (a.spec.exposure) out.exposure = a.spec.exposure;
  if (levels && a.events) out.events = a.events;
  if (a.supplementary) out.trend = true;
  if (a.shortage) out.shortage = a.shortage;
  if (a.against) out.against = a.against;
  return out;
}
