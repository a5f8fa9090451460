// How the gate's evidence reads, in one place: the explanation of a metric's verdict, the rows
// of a deploy's summary table, and every number in them with its unit. The CLI, the revert
// message, the API and the dashboard all show these strings, so a person reads the same words
// everywhere. Rules: no ±∞, NaN, Infinity or exponent in a human string; a huge relative change
// reads as "more than ×1,000" (and the levels say the rest); a baseline without events reads as
// the counts and a one-sided bound; no data reads as "no data", never as pass.
import type { EventCounts, MetricEvidence, MetricKind, ValueUnit } from './types.js';
// Numbers with their units come from ../format/words.js, plain JavaScript the dashboard loads as well.
import type { UnitInfo } from '../format/words.js';
import {
  count,
  defaultUnit,
  formatChange,
  formatDifference,
  formatInterval,
  formatP,
  formatTolerance,
  formatValue,
  isNoData,
  verdictLabel,
} from '../format/words.js';

const fin = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

// ---------------------------------------------------------------------------------------------
// One metric's evidence in words

/**
 * The numbers behind one metric's verdict: a MetricEvidence record before any words (no
 * explanation yet), its kind known and its verdict any stored word.
 */
export interface EvidenceFacts extends UnitInfo, Omit<MetricEvidence, 'verdict' | 'explanation' | 'kind'> {
  verdict: string;
  /** Why a pass passed, or why a metric with enough data is still open ("neither shown nor ruled out"). */
  reason?: string;
}

/** Samples as counted: "6 canary, 54 baseline". */
export function formatSamples(s: { baseline: number; canary: number } | undefined): string {
  return `${count(s?.canary ?? 0)} canary, ${count(s?.baseline ?? 0)} baseline`;
}

/** Events seen on each side, "16 of 1,957 on the canary vs 0 of 14,506 on the baseline" (ratio) or "7 on the canary vs 0 on the baseline" (count). */
function eventsSeen(f: EvidenceFacts, e: EventCounts): string {
  const unit = f.unit ?? defaultUnit(f.kind);
  if (f.kind === 'ratio' || unit === 'fraction')
    return `${count(e.canary.x)} of ${count(e.canary.n)} on the canary vs ${count(e.baseline.x)} of ${count(e.baseline.n)} on the baseline`;
  return `${count(e.canary.x)} on the canary vs ${count(e.baseline.x)} on the baseline`;
}

/** Rates per side from the counts: events per exposure. */
function rates(e: EventCounts): { baseline: number; canary: number } {
  return { baseline: e.baseline.n > 0 ? e.baseline.x / e.baseline.n : NaN, canary: e.canary.n > 0 ? e.canary.x / e.canary.n : NaN };
}

/**
 * With no events on the baseline a relative change has no upper end. What the data does bound
 * is the absolute increase: the canary's observed rate times (1 - 1/r), r the least rate ratio
 * the evidence supports: the lower end of its interval, and for a failed metric at least
 * 1 + tolerance (a fail means the data shows a ratio beyond it). Undefined when neither
 * excludes no change.
 */
export function zeroBaselineBound(f: Pick<EvidenceFacts, 'ci' | 'events' | 'verdict' | 'tolerance'>): number | undefined {
  if (!f.events || f.events.baseline.x !== 0 || !(f.events.canary.x > 0)) return undefined;
  const lo = fin(f.ci?.[0]) ? f.ci[0] : -1;
  const least = Math.max(lo, f.verdict === 'fail' && fin(f.tolerance) ? f.tolerance : -1);
  if (!(least > 0)) return undefined;
  const r = rates(f.events).canary;
  return fin(r) ? r * (1 - 1 / (1 + Math.min(least, 1e12))) : undefined;
}

/** Words for what the estimate and interval say, as the summary table's columns. */
export interface EvidenceWords {
  /** The relative change, "+14%", "projected +66%" for a trend; empty when only levels make sense. */
  change: string;
  /** The levels on each side, "412 ms → 470 ms", "0.41% → 0.82%, +0.41 pp"; empty when not known. */
  levels: string;
  /** Change and levels together: "+14% (412 ms → 470 ms)", "0% → 0.82%", "no data". */
  estimate: string;
  /** "+4.6% to +23%", "at least +0.66 pp", "n/a". */
  interval: string;
  /** "6 canary, 54 baseline", or with events "16 of 1,957 on the canary vs 0 of 14,506 on the baseline". */
  samples: string;
}

function words(change: string, levels: string, interval: string, samples: string): EvidenceWords {
  const estimate = change && levels ? `${change} (${levels})` : change || levels;
  return { change, levels, estimate, interval, samples };
}

export function evidenceWords(f: EvidenceFacts): EvidenceWords {
  const samples = formatSamples(f.samples);
  if (isNoData(f) || (!fin(f.effect) && !f.events)) return words('', '', 'n/a', samples);
  const unit = f.unit ?? defaultUnit(f.kind);
  if (f.trend) return words(`${formatChange(f.effect)} projected`, '', formatInterval(f.ci[0], f.ci[1]), samples);
  if (f.events && f.events.baseline.x === 0) {
    // No events on the baseline: the counts and a one-sided bound, never an unbounded ratio.
    const r = rates(f.events);
    const levels = `${formatValue(r.baseline, f)} → ${formatValue(r.canary, f)}`;
    const seen = eventsSeen(f, f.events);
    if (f.events.canary.x === 0) return words('', `${levels}, no events on either side`, 'n/a', seen);
    const bound = zeroBaselineBound(f);
    return words('', levels, bound !== undefined ? `at least ${formatDifference(bound, f)}` : `could be no change`, seen);
  }
  const b = f.baselineEstimate;
  const c = f.canaryEstimate;
  let levels = '';
  if (fin(b) && fin(c)) {
    levels = `${formatValue(b, f)} → ${formatValue(c, f)}`;
    // For shares, and whenever the relative change is huge, the absolute difference says more.
    if (unit === 'fraction' || unit === 'cores' || (fin(f.effect) && Math.abs(f.effect) >= 9)) levels += `, ${formatDifference(c - b, f)}`;
  }
  const change = fin(f.effect) ? formatChange(f.effect) : 'n/a';
  return words(change, levels, formatInterval(f.ci[0], f.ci[1]), f.events ? eventsSeen(f, f.events) : samples);
}

/** What the verdict means, in words: "regression beyond 10% tolerance", "no regression beyond 10%", "too little data: ...". */
function meaning(f: EvidenceFacts): string {
  const tol = fin(f.tolerance) ? formatTolerance(f.tolerance) : undefined;
  if (f.verdict === 'fail') return tol ? `regression beyond ${tol} tolerance` : 'regression';
  if (f.verdict === 'pass' && isNoData(f)) return 'no data';
  if (f.verdict === 'pass' && f.shortage) return `not tested, too little data: ${f.shortage}`;
  if (f.verdict === 'pass') return f.reason ?? (tol ? `no regression beyond ${tol}` : 'no regression');
  if (f.verdict === 'inconclusive') return f.shortage ? `too little data: ${f.shortage}` : (f.reason ?? 'too little data');
  return String(f.verdict);
}

/**
 * One line a person can read, the same wherever it is shown:
 * "latency_p99 +14% (412 ms → 470 ms; CI +4.6% to +23%), p=0.0031: regression beyond 10% tolerance",
 * "error_rate 0% → 0.82% (16 of 1,957 on the canary vs 0 of 14,506 on the baseline: at least +0.66 pp), p=0.02: regression beyond 10% tolerance",
 * "memory trend: no data (0 canary, 0 baseline)".
 */
export function explainMetric(f: EvidenceFacts): string {
  const w = evidenceWords(f);
  if (!w.estimate) {
    const why = f.verdict === 'inconclusive' || f.verdict === 'fail' ? `: ${meaning(f)}` : '';
    return `${f.name}: no data (${w.samples})${why}`;
  }
  const p = formatP(f.pValue);
  if (!w.change) return `${f.name} ${w.levels} (${w.samples}${w.interval !== 'n/a' ? `: ${w.interval}` : ''}), ${p}: ${meaning(f)}`;
  const against = f.against === 'fresh' ? 'against the fresh baseline' : f.against === 'older' ? 'against the older baseline servers' : '';
  const inner = [w.levels, against, w.interval === 'n/a' ? '' : `CI ${w.interval}`].filter(Boolean).join('; ');
  return `${f.name} ${w.change}${inner ? ` (${inner})` : ''}, ${p}: ${meaning(f)}`;
}

/** An explanation without its leading metric name, for tables that print the name in a column of its own. */
export function withoutName(name: string, explanation: string): string {
  return explanation.startsWith(name) ? explanation.slice(name.length).replace(/^:?\s+/, '') : explanation;
}

/** Words that must never reach a person: infinities, NaN, exponent notation. */
export const UNREADABLE = /Infinity|NaN|∞|\binf\b|\d[eE][+-]?\d/;

// ---------------------------------------------------------------------------------------------
// A deploy's summary table: metric × step, from the last look of each step's gate

/** One gate look as stored (metrics are MetricEvidence records, read defensively). */
export interface LookRecord {
  step: number;
  elapsedMs: number;
  decision: string;
  explanation: string;
  metrics: unknown;
}

export interface StepSummary {
  /** Rollout step index, -1 for the watch. */
  step: number;
  /** "step 1 of 4 (1 of 8 servers)", "watch". */
  name: string;
  /** The last look's decision: pass, fail, inconclusive, continue. */
  decision: string;
  elapsedMs: number;
  looks: number;
  explanation: string;
}

export interface EvidenceRow extends EvidenceWords {
  step: number;
  metric: string;
  /** The judge's verdict for the metric. */
  verdict: string;
  /** What the table shows: fail, pass, no data, baking, inconclusive. */
  label: string;
  explanation: string;
  pValue: number;
  effect: number;
  ci: [number, number];
  n: { canary: number; baseline: number };
}

export interface EvidenceTable {
  steps: StepSummary[];
  /** Metric names in the order the judge reported them. */
  metrics: string[];
  rows: EvidenceRow[];
}

/** A stored metric record as facts, tolerating records written before the facts were kept. */
export function factsOf(m: unknown): EvidenceFacts | undefined {
  if (m === null || typeof m !== 'object') return undefined;
  const r = m as Record<string, unknown>;
  if (typeof r.name !== 'string') return undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : NaN);
  const ci =
    Array.isArray(r.ci) && r.ci.length === 2 ? ([num(r.ci[0]), num(r.ci[1])] as [number, number]) : ([NaN, NaN] as [number, number]);
  const s = (r.samples ?? {}) as Record<string, unknown>;
  const kind: MetricKind = r.kind === 'ratio' || r.kind === 'count' || r.kind === 'continuous' ? r.kind : 'continuous';
  return {
    name: r.name,
    verdict: typeof r.verdict === 'string' ? r.verdict : 'inconclusive',
    pValue: num(r.pValue),
    effect: num(r.effect),
    ci,
    baselineEstimate: typeof r.baselineEstimate === 'number' ? r.baselineEstimate : undefined,
    canaryEstimate: typeof r.canaryEstimate === 'number' ? r.canaryEstimate : undefined,
    samples: { baseline: typeof s.baseline === 'number' ? s.baseline : 0, canary: typeof s.canary === 'number' ? s.canary : 0 },
    kind,
    bad: r.bad === 'decrease' ? 'decrease' : r.bad === 'increase' ? 'increase' : undefined,
    tolerance: typeof r.tolerance === 'number' ? r.tolerance : undefined,
    unit: typeof r.unit === 'string' ? (r.unit as ValueUnit) : undefined,
    intervalMs: typeof r.intervalMs === 'number' ? r.intervalMs : undefined,
    exposure: typeof r.exposure === 'string' ? r.exposure : undefined,
    events: r.events && typeof r.events === 'object' ? (r.events as EventCounts) : undefined,
    trend: r.trend === true || (r.trend === undefined && r.name.endsWith(' trend')),
    shortage: typeof r.shortage === 'string' ? r.shortage : undefined,
    against: r.against === 'fresh' || r.against === 'older' ? r.against : undefined,
  };
}

/** "step 2 of 4 (3 of 8 servers)" or "watch". */
export function stepName(step: number, steps?: number, servers?: { onNew?: number; total?: number }): string {
  if (step < 0) return 'watch';
  const of = steps ? ` of ${steps}` : '';
  const on = servers?.onNew !== undefined && servers.total ? ` (${servers.onNew} of ${servers.total} servers)` : '';
  return `step ${step + 1}${of}${on}`;
}

/**
 * The summary of a deploy's gates: per step its last look's decision, and per metric and step the
 * verdict, estimate, interval and samples at that look. Steps in rollout order, the watch last.
 */
export function evidenceTable(
  looks: readonly LookRecord[],
  opts: { steps?: number; servers?: (step: number) => { onNew?: number; total?: number } } = {},
): EvidenceTable {
  const last = new Map<number, { look: LookRecord; count: number }>();
  for (const l of looks) {
    const prev = last.get(l.step);
    if (!prev || l.elapsedMs >= prev.look.elapsedMs) last.set(l.step, { look: l, count: (prev?.count ?? 0) + 1 });
    else prev.count++;
  }
  const order = [...last.keys()].sort((a, b) => (a < 0 ? Infinity : a) - (b < 0 ? Infinity : b));
  const steps: StepSummary[] = [];
  const rows: EvidenceRow[] = [];
  const metrics: string[] = [];
  for (const step of order) {
    const { look, count: n } = last.get(step)!;
    steps.push({
      step,
      name: stepName(step, opts.steps, opts.servers?.(step)),
      decision: look.decision,
      elapsedMs: look.elapsedMs,
      looks: n,
      explanation: look.explanation,
    });
    for (const m of Array.isArray(look.metrics) ? look.metrics : []) {
      const f = factsOf(m);
      if (!f) continue;
      if (!metrics.includes(f.name)) metrics.push(f.name);
      rows.push({
        step,
        metric: f.name,
        verdict: f.verdict,
        label: verdictLabel(f, look.decision),
        ...evidenceWords(f),
        explanation: explainMetric(f),
        pValue: fin(f.pValue) ? f.pValue : 1,
        effect: fin(f.effect) ? f.effect : 0,
        ci: [fin(f.ci[0]) ? f.ci[0] : -Number.MAX_VALUE, fin(f.ci[1]) ? f.ci[1] : Number.MAX_VALUE],
        n: f.samples,
      });
    }
  }
  return { steps, metrics, rows };
}
