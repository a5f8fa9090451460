// The watch after 100%: the whole fleet since the deploy against its own pre-deploy window, each
// server against itself (paired). Two questions per metric, corrected together with Holm: did
// the level move beyond tolerance, and is the metric drifting in the bad direction faster than
// before the deploy, fast enough to move it beyond tolerance within the watch (trend.ts)? The
// looks are a group-sequential design over the watch's duration, like the gate's.
import { analyzeMetric, MIN_CELLS } from './analyze.js';
import { looksOf } from './gate.js';
import { analyzeTrend } from './trend.js';
import type { GateResult, WatchInput } from './types.js';
import { describeUnresponsive, judgeAnalyses, names, secs } from './verdicts.js';

/** One look at the watch: `fail` at once on a regression or an unresponsive server; at the end `pass` when every metric ruled a regression out, else `inconclusive`; before, `continue`. */
export function judgeWatch(input: WatchInput): GateResult {
  const postIntervals = Math.max(0, ...input.metrics.flatMap((m) => m.canary.map((r) => r.length)));
  const { look, looks } = looksOf(postIntervals, input.elapsedMs, input.durationMs);
  const analyses = [
    ...input.metrics.map((m) => analyzeMetric(m, { paired: true })),
    ...input.metrics.map((m) => ({ ...analyzeTrend(m, looks), weight: m.weight ?? 1 })),
  ];
  const atEnd = input.elapsedMs >= input.durationMs;
  const passWithinTolerance = atEnd && (input.onInconclusive === 'pass_within_tolerance' || input.onInconclusive === 'pass');
  const judged = judgeAnalyses(analyses, { alpha: input.alpha, look, looks, mayPass: atEnd, passWithinTolerance });
  const { evidence, failed } = judged;
  const undecided = [...judged.short, ...judged.open].filter((a) => !a.supplementary);
  if (input.unresponsive.length > 0) {
    return {
      decision: 'fail',
      metrics: evidence,
      explanation: describeUnresponsive(input.unresponsive, input.unresponsiveWhy, 'during the watch'),
    };
  }
  // No metric has samples from before the rollout (the previous build had only just started): there is
  // nothing to compare with, as on a first deploy. The gate's canary comparison stands; the watch still
  // looks for a server that stops answering until its end, then passes with a warning.
  const cells = (rows: readonly (readonly unknown[])[]) => rows.flat().filter((x) => x !== null).length;
  const noPast = input.metrics.every((m) => cells(m.baseline) < MIN_CELLS);
  if (input.metrics.length > 0 && noPast && input.metrics.some((m) => cells(m.canary) >= MIN_CELLS)) {
    const why = 'no samples from before the rollout to compare with (the previous build had only just started)';
    return atEnd
      ? { decision: 'pass', metrics: evidence, explanation: `watch ended: ${why}`, warning: `watch had ${why}` }
      : { decision: 'continue', metrics: evidence, explanation: `watching ${secs(input.elapsedMs)} of ${secs(input.durationMs)}: ${why}` };
  }
  if (failed.length > 0) {
    return {
      decision: 'fail',
      metrics: evidence,
      explanation: `slow failure after ${secs(input.elapsedMs)} of watch: ${evidence
        .filter((e) => e.verdict === 'fail')
        .map((e) => e.explanation)
        .join('; ')}`,
    };
  }
  if (input.elapsedMs < input.durationMs) {
    return {
      decision: 'continue',
      metrics: evidence,
      explanation: `watching ${secs(input.elapsedMs)} of ${secs(input.durationMs)}; nothing drifting`,
    };
  }
  if (input.metrics.length === 0 || undecided.length > 0) {
    const short = judged.short.filter((a) => !a.supplementary);
    const open = judged.open.filter((a) => !a.supplementary);
    if (input.onInconclusive === 'pass' && open.length === 0 && input.metrics.length > 0) {
      return {
        decision: 'pass',
        metrics: evidence,
        explanation: `watch ended: too little data for ${names(short)}; passing per policy`,
        warning: `watch passed without enough data for ${names(short)}`,
      };
    }
    const why = [
      ...(input.metrics.length ? [] : ['no metrics']),
      ...(short.length ? [`too little data for ${names(short)}`] : []),
      ...(open.length ? [`a regression beyond tolerance not ruled out for ${names(open)}`] : []),
    ].join('; ');
    return { decision: 'inconclusive', metrics: evidence, explanation: `watch ended with ${why}` };
  }
  return { decision: 'pass', metrics: evidence, explanation: `watch of ${secs(input.durationMs)} found no slow failure` };
}
