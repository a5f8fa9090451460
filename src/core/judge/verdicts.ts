// From per-metric analyses to per-metric verdicts: Holm across metrics at the deploy-wide alpha.
import { toEvidence, type MetricAnalysis } from './analyze.js';
import { holmAdjust } from './holm.js';
import type { MetricEvidence } from './types.js';

export interface Judged {
  evidence: MetricEvidence[];
  failed: MetricAnalysis[];
  short: MetricAnalysis[];
}

/** Holm-adjusted verdicts (weighted by each analysis's share of alpha); reported p-values are the adjusted ones, so a metric fails when p <= alpha. */
export function judgeAnalyses(analyses: MetricAnalysis[], alpha: number): Judged {
  const adjusted = holmAdjust(
    analyses.map((a) => a.p),
    analyses.map((a) => a.weight ?? 1),
  );
  const failed: MetricAnalysis[] = [];
  const short: MetricAnalysis[] = [];
  const evidence = analyses.map((a, i) => {
    const fail = adjusted[i] <= alpha;
    if (fail) failed.push(a);
    else if (!a.enough) short.push(a);
    return toEvidence(a, fail ? 'fail' : a.enough ? 'pass' : 'inconclusive', adjusted[i]);
  });
  return { evidence, failed, short };
}

export function names(list: MetricAnalysis[]): string {
  return list.map((a) => a.spec.name).join(', ');
}

/** Milliseconds as seconds for explanations (one decimal). */
export function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}
