// From per-metric analyses to per-metric verdicts, three outcomes:
// - fail: the data shows a regression beyond tolerance. Each metric's z crosses its group-
//   sequential boundary (alpha spent over the looks the gate will take, split across metrics by
//   weighted Holm), so the deploy-wide false-alarm rate stays at alpha over every look and metric.
// - pass: the data rules a regression beyond tolerance out: z is below minus the pass boundary
//   (the same design at PASS_ALPHA: the chance of passing a metric that regressed exactly by its
//   tolerance is at most PASS_ALPHA), or, at max bake by the pipeline's explicit choice, the
//   estimate is within tolerance.
// - otherwise not decided: the gate keeps baking, and at max bake it is inconclusive.
// A metric whose estimate is beyond tolerance with an interval excluding no change is never a pass.
import { toEvidence, type MetricAnalysis } from './analyze.js';
import { normalSf } from './normal.js';
import { equalLookBoundaries, type SpendingKind } from './spending.js';
import { tCritical, tSf } from './student-t.js';
import type { MetricEvidence } from './types.js';

/** Chance of passing a metric whose true change sits exactly at its tolerance (per metric, over all looks). */
export const PASS_ALPHA = 0.05;
/** How the gate spends its alpha over the looks: Pocock-type, so a large regression is caught at the first looks. */
export const FAIL_SPENDING: SpendingKind = 'pocock';
/** How the pass test spends PASS_ALPHA: O'Brien-Fleming-type, strict early (a pass is never hurried) and close to the fixed test at max bake. */
export const PASS_SPENDING: SpendingKind = 'obrien-fleming';

export interface Design {
  alpha: number;
  /** This look (1-based) and the most the gate will take (max bake / interval); 1 and 1 for one-shot judgments. */
  look: number;
  looks: number;
  /** A pass may be given at this look (min bake reached). */
  mayPass: boolean;
  /** At max bake under a pipeline that passes a metric whose estimate is within tolerance. */
  passWithinTolerance?: boolean;
}

export interface Judged {
  evidence: MetricEvidence[];
  failed: MetricAnalysis[];
  passed: MetricAnalysis[];
  /** Not failed and not passed, for want of data. */
  short: MetricAnalysis[];
  /** Not failed and not passed, with enough data: still open. */
  open: MetricAnalysis[];
}

/**
 * The most looks a design spends alpha over. A gate that looks more often (a 1 s interval over a
 * 30 min bake) uses the boundary of the design look its information fraction falls in: looks that
 * close together are nearly the same test (correlation sqrt(k / (k + 1))), so little is lost.
 */
export const MAX_DESIGN_LOOKS = 120;

/** Boundary (z scale) at this look for a one-sided level. */
function boundary(kind: SpendingKind, level: number, d: Design): number {
  const K = Math.max(d.looks, d.look);
  const design = Math.min(K, MAX_DESIGN_LOOKS);
  const at = Math.max(1, Math.floor((d.look * design) / K));
  return equalLookBoundaries(kind, level, design)[at - 1];
}

/** True when the estimate is beyond tolerance in the bad direction and its interval excludes no change. */
export function visibleRegression(e: Pick<MetricEvidence, 'effect' | 'ci'>, a: Pick<MetricAnalysis, 'spec'>): boolean {
  const tol = a.spec.tolerance;
  return a.spec.bad === 'increase' ? e.effect > tol && e.ci[0] > 0 : e.effect < -tol && e.ci[1] < 0;
}

export function judgeAnalyses(analyses: MetricAnalysis[], d: Design): Judged {
  const w = analyses.map((a) => (a.weight !== undefined && a.weight > 0 ? a.weight : 1));
  const nominal = analyses.map((a) => {
    const p = tSf(a.z, a.df);
    return a.exactP !== undefined ? Math.max(p, a.exactP) : p;
  });
  // Weighted Holm over the metrics' sequential tests: a rejected metric hands its alpha on.
  const failed = new Set<number>();
  const levelOf: number[] = analyses.map(() => 0);
  const zOf: number[] = analyses.map(() => Infinity);
  for (;;) {
    const remaining = analyses.reduce((t, _, i) => (failed.has(i) ? t : t + w[i]), 0);
    let added = false;
    analyses.forEach((a, i) => {
      if (failed.has(i)) return;
      const z = boundary(FAIL_SPENDING, (d.alpha * w[i]) / remaining, d);
      zOf[i] = z;
      levelOf[i] = normalSf(z);
      if (a.z >= tCritical(z, a.df) && nominal[i] <= levelOf[i]) {
        failed.add(i);
        added = true;
      }
    });
    if (!added || failed.size === analyses.length) break;
  }
  const passZ = boundary(PASS_SPENDING, PASS_ALPHA, d);
  const out: Judged = { evidence: [], failed: [], passed: [], short: [], open: [] };
  analyses.forEach((a, i) => {
    // The reported p-value is on the scale of alpha: the metric fails when p <= alpha.
    const p = levelOf[i] > 0 ? Math.min(1, (nominal[i] * d.alpha) / levelOf[i]) : 1;
    // The interval shown is the repeated confidence interval at this look (two-sided, at the metric's level).
    const crit = tCritical(zOf[i], a.df);
    if (failed.has(i)) {
      out.failed.push(a);
      out.evidence.push(toEvidence(a, 'fail', p, crit));
      return;
    }
    const tol = `${Math.round(a.spec.tolerance * 1000) / 10}%`;
    let passed = false;
    let why: string | undefined;
    if (a.supplementary) {
      passed = true;
    } else if (a.enough && d.mayPass) {
      if (a.quiet) {
        passed = true;
        why = 'no events on either side';
      } else if (a.z <= -tCritical(passZ, a.df)) {
        passed = true;
        why = `a regression beyond ${tol} ruled out`;
      } else if (d.passWithinTolerance && a.g <= a.bound) {
        passed = true;
        why = `within ${tol} at max bake, passed by the pipeline's choice (not ruled out)`;
      }
    }
    const open = `a regression beyond ${tol} neither shown nor ruled out`;
    const ev = toEvidence(a, passed ? 'pass' : 'inconclusive', p, crit, passed ? why : open);
    // Never a pass for a visible regression, whatever path led here.
    if (passed && !a.supplementary && visibleRegression(ev, a)) passed = false;
    if (passed) {
      out.passed.push(a);
      out.evidence.push(ev);
    } else {
      (a.enough ? out.open : out.short).push(a);
      out.evidence.push(ev.verdict === 'pass' ? toEvidence(a, 'inconclusive', p, crit, open) : ev);
    }
  });
  return out;
}

export function names(list: MetricAnalysis[]): string {
  return list.map((a) => a.spec.name).join(', ');
}

/** Milliseconds as seconds for explanations (one decimal). */
export function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

/** `server s2 stopped answering <fallback>`; with the source's reasons, each server says what happened instead. */
export function describeUnresponsive(servers: string[], why: Record<string, string> | undefined, fallback: string): string {
  const many = servers.length > 1;
  if (!servers.some((id) => why?.[id])) return `server${many ? 's' : ''} ${servers.join(', ')} stopped answering ${fallback}`;
  if (!many) return `server ${servers[0]} failed its scrapes: ${why?.[servers[0]!] ?? 'no answer'}`;
  return `servers failed their scrapes: ${servers.map((id) => `${id}: ${why?.[id] ?? 'no answer'}`).join('; ')}`;
}
