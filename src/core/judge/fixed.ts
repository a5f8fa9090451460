// `immune judge`: one fixed-sample judgment of all metrics at alpha (Holm across metrics), with
// the gate's three outcomes: fail when the data shows a regression beyond tolerance, pass only
// when it rules one out, inconclusive otherwise.
import { analyzeMetric } from './analyze.js';
import type { JudgeInput, JudgeOutput } from './types.js';
import { judgeAnalyses } from './verdicts.js';

/** fail if any metric regressed beyond tolerance; else pass if every metric ruled one out; else inconclusive. */
export function judgeFixed(input: JudgeInput): JudgeOutput {
  const analyses = input.metrics.map((m) => analyzeMetric(m));
  const { evidence, failed, short, open } = judgeAnalyses(analyses, { alpha: input.alpha, look: 1, looks: 1, mayPass: true });
  const verdict = failed.length > 0 ? 'fail' : short.length > 0 || open.length > 0 || analyses.length === 0 ? 'inconclusive' : 'pass';
  return { verdict, metrics: evidence };
}
