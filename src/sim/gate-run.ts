// One simulated deploy step driven straight through the gate in virtual time: the model makes
// an interval of samples, the gate looks, until it decides. Fast enough for thousands of deploys.
import { judgeGate, type GateOptions } from '../core/judge/gate.js';
import { sampleOf, toSeries, type Tick } from '../core/rollout/samples.js';
import { visibleRegression } from '../core/judge/verdicts.js';
import type { GateResult, InconclusivePolicy, MetricSeries, Sample } from '../core/judge/types.js';
import {
  FleetModel,
  MODEL_DEFAULTS,
  SIM_METRICS,
  type FleetModelOptions,
  type MetricDefinition,
  type Regression,
  type Truth,
} from './model.js';
import { negBinomialLlr, normalLlr, waldUpper } from './sprt-bound.js';
import type { Random } from './random.js';
import { perServerTJudge, referenceJudge } from './reference-judge.js';

export interface GateRunOptions {
  fleet: FleetModelOptions;
  canaries: number;
  regression?: Regression;
  intervalMs: number;
  minBakeMs: number;
  maxBakeMs: number;
  alpha: number;
  metrics?: MetricDefinition[];
  /** Keep looking after a pass, up to max bake (to measure false alarms over the whole horizon). */
  lookPastPass?: boolean;
  /** When to run the reference judge (its fixed window), if at all. */
  referenceAtMs?: number;
  /**
   * When to run the per-server t-test reference (one look each, against the tolerance, one-sided,
   * Bonferroni over the metrics at the gate's alpha: the hypothesis the gate's fail tests).
   */
  tReferenceAtMs?: number[];
  gateOptions?: GateOptions;
  /**
   * Also run the oracle SPRT on the same looks: it knows every server's true rates, which metric
   * regressed and by how much (H1: the regression's factor; H0: the tolerance boundary), and
   * decides "regression" when its log-likelihood ratio reaches Wald's boundary at (alpha, beta).
   */
  oracle?: { metric: 'error_rate' | 'checkouts' | 'latency_p99'; h0: number; h1: number; beta: number };
  /** Intervals of every server's own past (before the deploy, on the good build) handed to the gate; 0 = none. */
  historyIntervals?: number;
  /**
   * With history: with this probability a canary server ran another (bad) release until `agoMs`
   * before the deploy, then went back to the good one (and warmed up). Its samples on the other
   * release are recorded as such, as the sampler does; `unfiltered` hands them to the gate anyway
   * (to show what that contamination does).
   */
  recentRelease?: { probability: number; regression: Regression; agoMs: number; unfiltered?: boolean };
  /** The pipeline's on_inconclusive (default hold). */
  onInconclusive?: InconclusivePolicy;
}

export interface GateRunResult {
  decision: GateResult['decision'];
  /** Virtual ms at which the gate decided (first fail when lookPastPass). */
  atMs: number;
  /** First pass, if any. */
  passAtMs?: number;
  firstFailAtMs?: number;
  failed: string[];
  reference?: { verdict: 'pass' | 'fail'; failed: string[] };
  /** The per-server t-test at each of `tReferenceAtMs`: a single look there. */
  tReference?: { atMs: number; verdict: 'pass' | 'fail'; failed: string[] }[];
  /** When the oracle SPRT reached its boundary (undefined: not by max bake). */
  oracleAtMs?: number;
  outlierInCanary: boolean;
  /** Metric verdicts of "pass" whose estimate was beyond tolerance with an interval excluding no change (must be 0). */
  visiblePasses: number;
  /** A canary server ran another release shortly before the deploy. */
  recentOther: boolean;
}

export function runGate(o: GateRunOptions, rnd: Random): GateRunResult {
  const defs = o.metrics ?? SIM_METRICS;
  const model = new FleetModel(o.fleet, rnd);
  const S = o.fleet.servers;
  const order = Array.from({ length: S }, (_, i) => i);
  for (let i = S - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const canary = new Set(order.slice(0, o.canaries));
  const states = order.map(() => ({ since: 0, regression: undefined as Regression | undefined }));
  for (const i of canary) states[i].regression = o.regression;
  const series: (MetricSeries & { per?: string })[] = defs.map((d) => ({ ...d, baseline: [], canary: [] }));
  const rowOf = new Map<number, { side: 'canary' | 'baseline'; row: number }>();
  let cr = 0;
  let br = 0;
  for (let i = 0; i < S; i++) {
    const side = canary.has(i) ? 'canary' : 'baseline';
    rowOf.set(i, { side, row: side === 'canary' ? cr++ : br++ });
    for (const m of series) m[side].push([]);
  }
  const history = o.historyIntervals ?? 0;
  let recentOther = false;
  if (history > 0) {
    // Every server's past as the sampler records it: a sample per interval with the release it ran and since when.
    const longAgo = -history * o.intervalMs - 3_600_000;
    const rr = o.recentRelease;
    const other = rr && rnd.next() < rr.probability ? order[0] : undefined;
    recentOther = other !== undefined;
    const past: { since: number; regression?: Regression }[] = states.map(() => ({ since: longAgo }));
    if (other !== undefined) past[other] = { since: longAgo, regression: rr!.regression };
    const ticks: Tick[] = [];
    for (let k = history - 1; k >= 0; k--) {
      const time = -k * o.intervalMs;
      if (other !== undefined && past[other].regression && time > -rr!.agoMs) past[other] = { since: -rr!.agoMs };
      const values = model.interval(past, time, o.intervalMs);
      ticks.push({
        time,
        samples: values.map((v, i) => ({
          server: `s${i}`,
          ok: v !== null,
          values: v ?? {},
          release: i === other && past[i].regression ? 'other' : 'old',
          since: past[i].since,
        })),
      });
    }
    const ids = (side: 'canary' | 'baseline') =>
      order
        .filter((i) => (side === 'canary') === canary.has(i))
        .sort((a, b) => rowOf.get(a)!.row - rowOf.get(b)!.row)
        .map((i) => `s${i}`);
    const window = { from: -Infinity, to: 0, release: rr?.unfiltered ? undefined : 'old' };
    const built = toSeries(
      defs,
      ticks,
      { baseline: { servers: ids('baseline'), from: 0, to: 0 }, canary: { servers: ids('canary'), from: 0, to: 0 } },
      window,
    );
    series.forEach((m, j) => (m.before = built[j].before));
  }
  const result: GateRunResult = {
    decision: 'continue',
    atMs: o.maxBakeMs,
    failed: [],
    outlierInCanary: model.outlier !== undefined && canary.has(model.outlier),
    visiblePasses: 0,
    recentOther,
  };
  let judging = true;
  const tAt = o.tReferenceAtMs ?? [];
  const horizon = Math.max(o.maxBakeMs, o.referenceAtMs ?? 0, ...tAt);
  let oracleLlr = 0;
  for (let t = o.intervalMs; t <= horizon; t += o.intervalMs) {
    const truth: (Truth | null)[] = [];
    const samples = model.interval(states, t, o.intervalMs, truth);
    if (o.oracle && result.oracleAtMs === undefined && t <= o.maxBakeMs) {
      for (const i of canary) if (samples[i] && truth[i]) oracleLlr += oracleTerm(o.oracle, samples[i]!, truth[i]!);
      if (oracleLlr >= waldUpper(o.alpha, o.oracle.beta)) result.oracleAtMs = t;
    }
    const unresponsive: string[] = [];
    samples.forEach((values, i) => {
      const { side, row } = rowOf.get(i)!;
      if (!values) {
        if (side === 'canary') unresponsive.push(`server-${i}`);
        return;
      }
      for (const m of series) m[side][row].push(sampleOf(m, values));
    });
    if (t === o.referenceAtMs) result.reference = referenceJudge(series);
    if (tAt.includes(t)) {
      const { verdict, failed } = perServerTJudge(series, o.alpha, 'tolerance');
      (result.tReference ??= []).push({ atMs: t, verdict, failed });
    }
    if (judging && t <= o.maxBakeMs) {
      const r = judgeGate(
        {
          alpha: o.alpha,
          metrics: series,
          elapsedMs: t,
          minBakeMs: o.minBakeMs,
          maxBakeMs: o.maxBakeMs,
          onInconclusive: o.onInconclusive ?? 'hold',
          unresponsive,
        },
        o.gateOptions,
      );
      if (r.decision === 'pass') result.passAtMs ??= t;
      r.metrics.forEach((e, j) => {
        const spec = series[j] ?? { ...series[0], name: e.name };
        if (e.verdict === 'pass' && j < series.length && visibleRegression(e, { spec })) result.visiblePasses++;
      });
      if (r.decision === 'fail') {
        result.firstFailAtMs = t;
        result.failed = unresponsive.length ? ['unresponsive'] : r.metrics.filter((m) => m.verdict === 'fail').map((m) => m.name);
      }
      const stop = r.decision === 'fail' || r.decision === 'inconclusive' || (r.decision === 'pass' && !o.lookPastPass) || t >= o.maxBakeMs;
      if (stop) {
        judging = false;
        result.decision = r.decision === 'fail' ? 'fail' : result.passAtMs !== undefined ? 'pass' : r.decision;
        result.atMs = t;
      }
    }
    const referencesDone =
      (o.referenceAtMs === undefined || result.reference !== undefined) && (result.tReference?.length ?? 0) === tAt.length;
    if (!judging && referencesDone && (!o.oracle || result.oracleAtMs !== undefined)) break;
  }
  if (result.decision === 'continue' && result.passAtMs !== undefined) result.decision = 'pass';
  return result;
}

/** One canary server-interval's contribution to the oracle's log-likelihood ratio. */
function oracleTerm(o: NonNullable<GateRunOptions['oracle']>, values: Record<string, Sample>, truth: Truth): number {
  if (o.metric === 'latency_p99')
    return normalLlr(Math.log(values.latency_p99 as number), truth.logP99 + Math.log(o.h0), truth.logP99 + Math.log(o.h1), truth.logP99Sd);
  if (o.metric === 'checkouts') {
    const m = truth.requests * truth.checkoutRate;
    return negBinomialLlr(values.checkouts as number, m * o.h0, m * o.h1, MODEL_DEFAULTS.noise.checkoutShape);
  }
  const m = truth.requests * truth.errorRate;
  return negBinomialLlr((values.error_rate as [number, number])[0], m * o.h0, m * o.h1, MODEL_DEFAULTS.noise.errorShape);
}
