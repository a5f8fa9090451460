// The watch after 100%: the whole fleet since the deploy against its own pre-deploy window.
// Two questions per metric, all corrected together with Holm: did the level move beyond
// tolerance (same tests as the gate), and is the metric drifting in the bad direction faster
// than before the deploy, fast enough to move it beyond tolerance within the watch (trend.ts)?
import { analyzeMetric } from './analyze.js';
import { analyzeTrend } from './trend.js';
import type { GateResult, WatchInput } from './types.js';
import { judgeAnalyses, names, secs } from './verdicts.js';

/** One look at the watch: `fail` at once on a regression or an unresponsive server, `pass` at the end of the watch, else `continue`. */
export function judgeWatch(input: WatchInput): GateResult {
  const mode = { sequential: true as const, alpha: input.alpha };
  const postIntervals = Math.max(1, ...input.metrics.map((m) => Math.max(0, ...m.canary.map((r) => r.length))));
  const horizon = input.elapsedMs > 0 ? Math.max(postIntervals, (postIntervals * input.durationMs) / input.elapsedMs) : postIntervals;
  const analyses = [...input.metrics.map((m) => analyzeMetric(m, mode)), ...input.metrics.map((m) => ({ ...analyzeTrend(m, horizon), weight: m.weight ?? 1 }))];
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
  if (input.metrics.length === 0 || short.length > 0) {
    return { decision: 'inconclusive', metrics: evidence, explanation: `watch ended with too little data for ${input.metrics.length ? names(short) : 'any metric'}` };
  }
  return { decision: 'pass', metrics: evidence, explanation: `watch of ${secs(input.durationMs)} found no slow failure` };
}
