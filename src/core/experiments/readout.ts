// The readout of one experiment phase: each branch against control on every goal (two-sided,
// Holm across goals and branches) and guardrail (one-sided), with always-valid p-values and
// confidence sequences on the relative lift, a sample ratio mismatch check, and the decision in
// IMVU's words.
import type { ExperimentConfig } from '../config/experiment.js';
import { holmAdjust } from '../judge/holm.js';
import { alwaysValidP, csRadius } from '../judge/msprt.js';
import { evaluationSrm, participantSrm, type SrmCheck } from './srm.js';
import { twoSidedAlwaysValidP } from './stats.js';
import type { ExperimentPhase, PhaseTally } from './types.js';

export { SRM_ALPHA } from './srm.js';

/** `not started`: nobody took part yet (no participants and no SDK evaluations); nothing is tested. */
export const DECISIONS = ['not started', 'desired result', 'undesired result', 'no statistical significance', 'invalid'] as const;
export type Decision = (typeof DECISIONS)[number];

/** A goal (what the experiment wants to move) or a guardrail (what it must not harm). */
export const METRIC_ROLES = ['goal', 'guardrail'] as const;
export type MetricRole = (typeof METRIC_ROLES)[number];

/** What a metric's lift means for a branch. */
export const METRIC_OUTCOMES = ['better', 'worse', 'none'] as const;

/** Below this many participants in either branch a comparison is not tested (the normal approximation is poor). */
export const MIN_USERS = 100;
/** Mixture variance of the always-valid test on the log of the rate ratio: tuned for lifts around 10-30%. */
export const TAU = 0.1;

export interface MetricResult {
  name: string;
  kind: MetricRole;
  /** Which way is better (goals) or worse (guardrails). */
  direction: 'increase' | 'decrease';
  controlRate: number;
  rate: number;
  /** Numerator: participants of this branch who converted (at least once). */
  converted: number;
  /** Denominator: the branch's participants. */
  participants: number;
  /** Mean value per participant (sum of tracked values / participants). */
  valuePerUser: number;
  /** Relative lift of the rate against control (0.1 = +10%), NaN (null in JSON) when not computable. */
  lift: number;
  /** Always-valid confidence interval of the lift at the experiment's alpha; NaN (null in JSON) when not tested. */
  ci: [number, number];
  /** Always-valid p-value (two-sided for goals, one-sided towards worse for guardrails). */
  pValue: number;
  /** Holm-adjusted p-value (goals); equal to pValue for guardrails. */
  adjustedP: number;
  outcome: (typeof METRIC_OUTCOMES)[number];
}

export interface BranchResult {
  name: string;
  control: boolean;
  /** Per-mille weight the branch should receive. */
  weight: number;
  participants: number;
  share: number;
  metrics: MetricResult[];
  /** Against control; undefined for control itself. */
  decision?: Exclude<Decision, 'invalid'>;
}

/** The cumulative estimate at one moment of the phase: per branch and metric, the lift and its interval then. */
export interface HistoryPoint {
  time: number;
  participants: number;
  lifts: { branch: string; metric: string; lift: number; ci: [number, number] }[];
}

export interface Readout {
  experiment: string;
  phase: number;
  groupId: string;
  /** When the phase started (ms), when it ended (closing or next phase) if it did, and how long it ran to then or now. */
  startedAt: number;
  endedAt?: number;
  durationMs: number;
  /** The cumulative estimate over time, oldest first (the lift-over-time chart); the last point is now. */
  history: HistoryPoint[];
  alpha: number;
  participants: number;
  excluded: number;
  /** The check the decision rests on: participants when there are any, else SDK evaluation counts. */
  srm: SrmCheck;
  /** Every check made: participants, and the evaluation counts of each source that posted them. */
  srmChecks: (SrmCheck & { source: string })[];
  /** What fed this phase: exposures and attributed conversions per source, SDK evaluations per source and branch. */
  sources: { exposures: Record<string, number>; conversions: Record<string, number>; evaluations: Record<string, Record<string, number>> };
  branches: BranchResult[];
  decision: Decision;
  winner?: string;
  summary: string;
}

/** Evaluations per branch over every SDK instance of a source. */
function evaluationTotals(e: NonNullable<PhaseTally['evaluations']>[string]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const inst of Object.values(e.instances)) for (const [b, c] of Object.entries(inst.branches)) out[b] = (out[b] ?? 0) + c.count;
  return out;
}

type Def = Pick<ExperimentConfig, 'name' | 'goals' | 'guardrails' | 'alpha' | 'control'>;

/** Compare two rates x1/n1 (treatment) and x0/n0 (control) on the log-ratio scale. */
function compareRates(
  x1: number,
  n1: number,
  x0: number,
  n0: number,
  alpha: number,
  side: 0 | 1 | -1,
): { lift: number; ci: [number, number]; p: number } {
  if (n1 < MIN_USERS || n0 < MIN_USERS || x1 + x0 === 0)
    return { lift: n0 && n1 && x0 ? x1 / n1 / (x0 / n0) - 1 : NaN, ci: [NaN, NaN], p: 1 };
  // A half-count correction keeps the log finite when a side has no (or only) conversions.
  const fix = (x: number, n: number): [number, number] => (x === 0 || x === n ? [x + 0.5, n + 1] : [x, n]);
  const [a1, m1] = fix(x1, n1);
  const [a0, m0] = fix(x0, n0);
  const p1 = a1 / m1;
  const p0 = a0 / m0;
  const d = Math.log(p1 / p0);
  const v = (1 - p1) / a1 + (1 - p0) / a0;
  const r = csRadius(v, TAU, alpha);
  const p = side === 0 ? twoSidedAlwaysValidP(d, v, TAU) : alwaysValidP(side * d, v, TAU);
  return { lift: x0 ? x1 / n1 / (x0 / n0) - 1 : Math.exp(d) - 1, ci: [Math.exp(d - r) - 1, Math.exp(d + r) - 1], p };
}

/** Lifts of every non-control branch and metric at the tallies of past moments, then now. */
export function liftHistory(def: Def, phase: ExperimentPhase, points: { time: number; tally: PhaseTally }[]): HistoryPoint[] {
  return points.map(({ time, tally }) => {
    const r = computeReadout(def, phase, tally);
    return {
      time,
      participants: r.participants,
      lifts: r.branches
        .filter((b) => !b.control)
        .flatMap((b) => b.metrics.map((m) => ({ branch: b.name, metric: m.name, lift: m.lift, ci: m.ci }))),
    };
  });
}

export interface ReadoutOptions {
  /** Now (ms): the duration of a running phase. */
  now?: number;
  /** Tallies kept earlier in the phase (oldest first), for the lift over time. */
  snapshots?: { time: number; tally: PhaseTally }[];
  /** When the experiment closed, if it did. */
  closedAt?: number;
}

export function computeReadout(def: Def, phase: ExperimentPhase, tally: PhaseTally, opts: ReadoutOptions = {}): Readout {
  const byName = new Map(tally.branches.map((b) => [b.branch, b]));
  const counts = phase.weights.map((w) => byName.get(w.name)?.users ?? 0);
  const participants = counts.reduce((s, n) => s + n, 0);
  const names = phase.weights.map((w) => w.name);
  const shares = phase.weights.map((w) => w.weight / 1000);
  const srmChecks: Readout['srmChecks'] = [{ ...participantSrm(names, counts, shares), source: 'participants' }];
  for (const [source, e] of Object.entries(tally.evaluations ?? {})) srmChecks.push({ ...evaluationSrm(names, shares, e), source });
  const srm =
    participants > 0
      ? srmChecks[0]!
      : (srmChecks.find((c) => c.basis === 'evaluations' && c.pValue !== null) ??
        srmChecks.find((c) => c.basis === 'evaluations') ??
        srmChecks[0]!);
  const mismatch = srmChecks.some((c) => c.mismatch);
  const sources: Readout['sources'] = {
    exposures: tally.sources?.exposures ?? {},
    conversions: tally.sources?.conversions ?? {},
    evaluations: Object.fromEntries(Object.entries(tally.evaluations ?? {}).map(([src, e]) => [src, evaluationTotals(e)])),
  };
  const control = byName.get(phase.weights[0]!.name);
  const n0 = control?.users ?? 0;

  const branches: BranchResult[] = phase.weights.map((w, i) => {
    const t = byName.get(w.name);
    const n = t?.users ?? 0;
    const isControl = i === 0;
    const metric = (name: string, kind: MetricRole, direction: 'increase' | 'decrease'): MetricResult => {
      const g = t?.goals[name] ?? { users: 0, value: 0 };
      const c = control?.goals[name] ?? { users: 0, value: 0 };
      const towardsWorse = kind === 'guardrail' ? (direction === 'increase' ? 1 : -1) : 0;
      const cmp = isControl
        ? { lift: 0, ci: [0, 0] as [number, number], p: 1 }
        : compareRates(g.users, n, c.users, n0, def.alpha, towardsWorse);
      return {
        name,
        kind,
        direction,
        controlRate: n0 ? c.users / n0 : 0,
        rate: n ? g.users / n : 0,
        converted: g.users,
        participants: n,
        valuePerUser: n ? g.value / n : 0,
        lift: cmp.lift,
        ci: cmp.ci,
        pValue: cmp.p,
        adjustedP: cmp.p,
        outcome: 'none',
      };
    };
    return {
      name: w.name,
      control: isControl,
      weight: w.weight,
      participants: n,
      share: participants ? n / participants : 0,
      metrics: [...def.goals.map((g) => metric(g.name, 'goal', g.good)), ...def.guardrails.map((g) => metric(g.name, 'guardrail', g.bad))],
    };
  });

  // Holm across every goal of every branch; guardrails stay one-sided and uncorrected (stricter on harm).
  const goalResults = branches.filter((b) => !b.control).flatMap((b) => b.metrics.filter((m) => m.kind === 'goal'));
  holmAdjust(goalResults.map((m) => m.pValue)).forEach((p, i) => (goalResults[i]!.adjustedP = p));

  for (const b of branches) {
    if (b.control) continue;
    for (const m of b.metrics) {
      if (m.adjustedP >= def.alpha) continue;
      const up = m.lift > 0;
      m.outcome = m.kind === 'goal' ? (up === (m.direction === 'increase') ? 'better' : 'worse') : 'worse';
    }
    const worse = b.metrics.some((m) => m.outcome === 'worse');
    const better = b.metrics.some((m) => m.kind === 'goal' && m.outcome === 'better');
    b.decision = worse ? 'undesired result' : better ? 'desired result' : 'no statistical significance';
  }

  const treated = branches.filter((b) => !b.control);
  const desired = treated.filter((b) => b.decision === 'desired result');
  let decision: Decision;
  let winner: string | undefined;
  if (mismatch) decision = 'invalid';
  else if (participants === 0) decision = 'not started';
  else if (desired.length) {
    decision = 'desired result';
    const firstGoal = def.goals[0]!.name;
    const lift = (b: BranchResult): number => {
      const m = b.metrics.find((x) => x.name === firstGoal)!;
      return m.direction === 'increase' ? m.lift : -m.lift;
    };
    winner = desired.reduce((best, b) => (lift(b) > lift(best) ? b : best)).name;
  } else if (treated.some((b) => b.decision === 'undesired result')) {
    decision = 'undesired result';
    winner = branches[0]!.name;
  } else decision = 'no statistical significance';

  const endedAt = phase.endedAt ?? opts.closedAt;
  const now = opts.now ?? endedAt ?? phase.startedAt;
  const history = opts.snapshots ? liftHistory(def, phase, [...opts.snapshots, { time: Math.min(now, endedAt ?? now), tally }]) : [];
  return {
    experiment: def.name,
    phase: phase.phase,
    groupId: phase.groupId,
    startedAt: phase.startedAt,
    ...(endedAt === undefined ? {} : { endedAt }),
    durationMs: Math.max(0, (endedAt ?? now) - phase.startedAt),
    history,
    alpha: def.alpha,
    participants,
    excluded: tally.excluded,
    srm: mismatch ? (srmChecks.find((c) => c.mismatch) ?? srm) : srm,
    srmChecks,
    sources,
    branches,
    decision,
    winner,
    summary: summarize(
      def.name,
      phase.phase,
      decision,
      winner,
      branches,
      participants,
      tally.excluded,
      mismatch ? (srmChecks.find((c) => c.mismatch) ?? srm) : srm,
      sources,
    ),
  };
}

const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%` : x > 0 ? '+inf' : 'n/a');

/** One line per metric a person reads, e.g. "checkout +12.0% (CI +4.1%..+20.3%), p=0.0012: better". */
export function describeMetric(m: MetricResult): string {
  const p = m.adjustedP < 0.0001 ? m.adjustedP.toExponential(1) : m.adjustedP.toFixed(4);
  return `${m.name} ${pct(m.lift)} (CI ${pct(m.ci[0])}..${pct(m.ci[1])}), p=${p}: ${m.outcome}`;
}

function summarize(
  name: string,
  phase: number,
  decision: Decision,
  winner: string | undefined,
  branches: BranchResult[],
  n: number,
  excluded: number,
  srm: SrmCheck,
  sources: Readout['sources'],
): string {
  const head = `${name} phase ${phase}: ${decision}`;
  const people = `${n} participants, ${excluded} excluded`;
  if (decision === 'invalid') return `${head}: sample ratio mismatch (${srm.summary}); ${people}`;
  if (decision === 'not started') {
    const evaluated = Object.values(sources.evaluations).reduce((s, e) => s + Object.values(e).reduce((a, b) => a + b, 0), 0);
    return evaluated > 0
      ? `${head}: SDKs reported ${evaluated.toLocaleString('en-US')} evaluations but no participant yet; goals need per-user exposures (immune's SDK, OpenFeature, or forwarded impression events)`
      : `${head}: no participants yet`;
  }
  const main = branches.find((b) => b.name === winner && !b.control) ?? branches.find((b) => !b.control);
  const m = main?.metrics.find((x) => x.outcome !== 'none') ?? main?.metrics[0];
  const pick = winner ? (decision === 'undesired result' ? ` (keep ${winner})` : ` (${winner})`) : '';
  return `${head}${pick}; ${main && m ? `${main.name} ${describeMetric(m)}; ` : ''}${people}`;
}
