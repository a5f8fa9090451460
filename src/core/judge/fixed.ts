// `immune judge`: one fixed-sample judgment of all metrics at alpha (Holm across metrics).
import { analyzeMetric } from './analyze.js';
import type { JudgeInput, JudgeOutput } from './types.js';
import { judgeAnalyses } from './verdicts.js';

/** fail if any metric regressed beyond tolerance; else inconclusive if any lacks data; else pass. */
export function judgeFixed(input: JudgeInput): JudgeOutput {
  const analyses = input.metrics.map((m) => analyzeMetric(m, { sequential: false, alpha: input.alpha }));
  const { evidence, failed, short } = judgeAnalyses(analyses, input.alpha);
  const verdict = failed.length > 0 ? 'fail' : short.length > 0 || analyses.length === 0 ? 'inconclusive' : 'pass';
  return { verdict, metrics: evidence };
}
