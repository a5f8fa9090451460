// The gate at a rollout step, looked at every interval with all data so far. Per metric: fail as
// soon as the data shows a regression beyond tolerance; pass once the data rules one out (from
// min bake on); otherwise keep baking until max bake, where the gate is inconclusive and the
// pipeline's on_inconclusive policy applies. The looks are a group-sequential design over the
// max_bake / interval looks the gate can take (verdicts.ts, spending.ts).
import { analyzeMetric } from './analyze.js';
import type { GateInput, GateResult } from './types.js';
import { analyzeSlopeContrast } from './trend.js';
import { describeUnresponsive, judgeAnalyses, names, secs } from './verdicts.js';

/** Alpha a gate's trend test gets relative to its metric's level test (weighted Holm). */
export const TREND_WEIGHT = 0.25;

export interface GateOptions {
  /** Skip work that only the evidence needs (benchmarks); decisions are unchanged. */
  decisionsOnly?: boolean;
}

/** Looks so far and the most the gate will take, from the data's intervals and the bake times. */
export function looksOf(intervals: number, elapsedMs: number, maxBakeMs: number): { look: number; looks: number } {
  const look = Math.max(1, intervals);
  const perLook = elapsedMs > 0 ? elapsedMs / look : 0;
  const looks = perLook > 0 ? Math.max(look, Math.round(maxBakeMs / perLook)) : look;
  return { look, looks };
}

/**
 * One look at a gate. Decisions:
 * - `fail`: a canary server is unresponsive, or some metric shows a regression beyond tolerance
 *   (at any look); also at max bake when a critical metric still lacks data.
 * - `pass`: from min bake, every metric has a regression beyond tolerance ruled out; or at max bake,
 *   by the pipeline's choice (`pass_within_tolerance`, `pass`), every open metric's estimate is within
 *   tolerance (`pass` also lets a metric with too little data through, with a warning).
 * - `continue`: neither yet, before max bake.
 * - `inconclusive`: at max bake, neither; the engine applies the policy (hold or roll back). Never
 *   a pass while a metric's estimate is beyond tolerance with an interval excluding no change.
 */
export function judgeGate(input: GateInput, _options: GateOptions = {}): GateResult {
  const intervals = Math.max(0, ...input.metrics.flatMap((m) => m.canary.map((r) => r.length)));
  const { look, looks } = looksOf(intervals, input.elapsedMs, input.maxBakeMs);
  const atMax = input.elapsedMs >= input.maxBakeMs;
  const policy = input.onInconclusive;
  // Continuous metrics also get a trend test (a leak shows as a slope long before the level moves).
  const analyses = [
    ...input.metrics.map((m) => analyzeMetric(m)),
    ...input.metrics
      .filter((m) => m.kind === 'continuous')
      .map((m) => ({ ...analyzeSlopeContrast(m, looks), weight: TREND_WEIGHT * (m.weight ?? 1) })),
  ];
  const judged = judgeAnalyses(analyses, {
    alpha: input.alpha,
    look,
    looks,
    mayPass: input.elapsedMs >= input.minBakeMs,
    passWithinTolerance: atMax && (policy === 'pass_within_tolerance' || policy === 'pass'),
  });
  const { evidence, failed } = judged;
  const short = judged.short.filter((a) => !a.supplementary);
  const open = judged.open.filter((a) => !a.supplementary);
  if (input.unresponsive.length > 0) {
    return {
      decision: 'fail',
      metrics: evidence,
      explanation: `canary ${describeUnresponsive(input.unresponsive, input.unresponsiveWhy, '(health check or scrape timeout)')}`,
    };
  }
  if (failed.length > 0) {
    const lines = evidence.filter((e) => e.verdict === 'fail').map((e) => e.explanation);
    return { decision: 'fail', metrics: evidence, explanation: `regression after ${secs(input.elapsedMs)}: ${lines.join('; ')}` };
  }
  if (input.elapsedMs < input.minBakeMs) {
    return {
      decision: 'continue',
      metrics: evidence,
      explanation: `baking ${secs(input.elapsedMs)} of min ${secs(input.minBakeMs)}; no regression so far`,
    };
  }
  const n = input.metrics.length;
  if (n > 0 && short.length === 0 && open.length === 0) {
    const within = atMax && evidence.some((e) => /pipeline's choice/.test(e.explanation));
    return {
      decision: 'pass',
      metrics: evidence,
      explanation: within
        ? `max bake ${secs(input.maxBakeMs)} reached: every metric within tolerance; passing per policy ${policy}`
        : `no regression beyond tolerance in ${n} metric${n > 1 ? 's' : ''}: ruled out after ${secs(input.elapsedMs)}`,
      ...(within
        ? { warning: `passed at max bake with ${names(judged.passed.filter((a) => !a.supplementary))} within tolerance but not ruled out` }
        : {}),
    };
  }
  const lacking = [
    ...(n === 0 ? ['no metrics to judge'] : []),
    ...(short.length ? [`too little data for ${names(short)}`] : []),
    ...(open.length ? [`a regression beyond tolerance not yet ruled out for ${names(open)}`] : []),
  ].join('; ');
  if (!atMax) {
    return { decision: 'continue', metrics: evidence, explanation: `${lacking}; baking up to max bake ${secs(input.maxBakeMs)}` };
  }
  const critical = short.filter((a) => a.spec.critical);
  if (critical.length > 0) {
    return {
      decision: 'fail',
      metrics: evidence,
      explanation: `max bake ${secs(input.maxBakeMs)} reached with too little data for critical metric ${names(critical)}`,
    };
  }
  if (policy === 'pass' && open.length === 0 && n > 0) {
    return {
      decision: 'pass',
      metrics: evidence,
      explanation: `max bake reached: ${lacking}; passing per policy`,
      warning: `passed without enough data: ${lacking}`,
    };
  }
  return {
    decision: 'inconclusive',
    metrics: evidence,
    explanation: `max bake ${secs(input.maxBakeMs)} reached: ${lacking} (policy: ${policy})`,
  };
}
