// The gate at a rollout step: looked at every interval with all data so far, it fails as soon as
// a metric shows a regression beyond tolerance (always-valid, Holm across metrics), passes at min
// bake when none does and every metric has enough data, and otherwise keeps baking until max
// bake, where it answers per policy.
import { analyzeMetric, type Mode } from './analyze.js';
import type { GateInput, GateResult, MetricKind } from './types.js';
import { analyzeSlopeContrast } from './trend.js';
import { judgeAnalyses, names, secs } from './verdicts.js';

/** Alpha a gate's trend test gets relative to its metric's level test (weighted Holm). */
export const TREND_WEIGHT = 0.25;

export interface GateOptions {
  /** Mixing-prior scales per kind (advanced; the defaults suit the benchmarked scenarios). */
  tau?: Partial<Record<MetricKind, number>>;
  /** Skip the continuous metrics' interval estimates; decisions are unchanged (benchmarks). */
  decisionsOnly?: boolean;
}

/**
 * One look at a gate. Decisions:
 * - `fail`: a canary server is unresponsive, or some metric regressed beyond tolerance (at any look);
 *   also at max bake when a critical metric still lacks data.
 * - `continue`: before min bake; or after it while some metric lacks data and max bake is not reached.
 * - `pass`: at or after min bake, no metric failed and every metric has enough data; or at max bake
 *   with too little data under policy `pass` (then `warning` says so).
 * - `inconclusive`: at max bake with too little data under policy `hold` or `rollback`; the engine
 *   applies the policy (keep holding, or roll back).
 */
export function judgeGate(input: GateInput, options: GateOptions = {}): GateResult {
  const mode: Mode = { sequential: true, alpha: input.alpha, tau: options.tau, decisionsOnly: options.decisionsOnly };
  // Continuous metrics also get a trend test (a leak shows as a slope long before the level moves).
  const samplesSoFar = Math.max(1, ...input.metrics.flatMap((m) => m.canary.map((r) => r.length)));
  const horizon = input.elapsedMs > 0 ? Math.max(samplesSoFar, (samplesSoFar * input.maxBakeMs) / input.elapsedMs) : samplesSoFar;
  const analyses = [
    ...input.metrics.map((m) => analyzeMetric(m, mode)),
    ...input.metrics.filter((m) => m.kind === 'continuous').map((m) => ({ ...analyzeSlopeContrast(m, horizon), weight: TREND_WEIGHT * (m.weight ?? 1) })),
  ];
  const { evidence, failed, short } = judgeAnalyses(analyses, input.alpha);
  if (input.unresponsive.length > 0) {
    return { decision: 'fail', metrics: evidence, explanation: `canary server${input.unresponsive.length > 1 ? 's' : ''} ${input.unresponsive.join(', ')} stopped answering (health check or scrape timeout)` };
  }
  if (failed.length > 0) {
    const lines = evidence.filter((e) => e.verdict === 'fail').map((e) => e.explanation);
    return { decision: 'fail', metrics: evidence, explanation: `regression after ${secs(input.elapsedMs)}: ${lines.join('; ')}` };
  }
  if (input.elapsedMs < input.minBakeMs) {
    return { decision: 'continue', metrics: evidence, explanation: `baking ${secs(input.elapsedMs)} of min ${secs(input.minBakeMs)}; no regression so far` };
  }
  if (input.metrics.length > 0 && short.length === 0) {
    return { decision: 'pass', metrics: evidence, explanation: `no regression in ${input.metrics.length} metric${input.metrics.length > 1 ? 's' : ''} after ${secs(input.elapsedMs)}` };
  }
  const lacking = input.metrics.length === 0 ? 'no metrics to judge' : `too little data for ${names(short)}`;
  if (input.elapsedMs < input.maxBakeMs) {
    return { decision: 'continue', metrics: evidence, explanation: `${lacking}; waiting up to max bake ${secs(input.maxBakeMs)}` };
  }
  const critical = short.filter((a) => a.spec.critical);
  if (critical.length > 0) {
    return { decision: 'fail', metrics: evidence, explanation: `max bake ${secs(input.maxBakeMs)} reached with too little data for critical metric ${names(critical)}` };
  }
  if (input.onInconclusive === 'pass') {
    return { decision: 'pass', metrics: evidence, explanation: `max bake reached: ${lacking}; passing per policy`, warning: `passed without enough data: ${lacking}` };
  }
  return { decision: 'inconclusive', metrics: evidence, explanation: `max bake ${secs(input.maxBakeMs)} reached: ${lacking} (policy: ${input.onInconclusive})` };
}
