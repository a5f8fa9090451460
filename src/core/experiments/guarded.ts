// Guarded flag rollouts as data: the state of one flag's rollout, and one look at its gate. Users
// with the flag on are the canary and users with it off the baseline; every look appends each
// side's new participants and converters and asks the deploy gate (core/judge) for a decision:
// pass moves to the next step, fail turns the flag off and blocks it, max bake without enough data
// follows the flag's on_inconclusive. The engine persists the returned state, then acts.
import type { GuardConfig } from '../config/experiment.js';
import { judgeGate } from '../judge/index.js';
import type { GateResult, MetricSeries, Sample } from '../judge/types.js';
import type { PhaseTally } from './types.js';

/** running: judged at steps[step]; held: at max bake without a decision, waiting for a person; off: turned off and blocked; complete: at the last step. */
export const FLAG_ROLLOUT_STATUSES = ['running', 'held', 'off', 'complete'] as const;
export type FlagRolloutStatus = (typeof FLAG_ROLLOUT_STATUSES)[number];

/** How a guarded flag's step ended. */
export const FLAG_STEP_DECISIONS = ['pass', 'fail', 'inconclusive', 'unblocked'] as const;

/** Cumulative counts of one side at a look: participants and, per metric, participants who converted. */
export interface ArmCounts {
  users: number;
  goals: Record<string, number>;
}

export interface FlagLook {
  time: number;
  on: ArmCounts;
  off: ArmCounts;
}

export interface FlagStepRecord {
  step: number;
  rollout: number;
  startedAt: number;
  endedAt: number;
  decision: (typeof FLAG_STEP_DECISIONS)[number];
  explanation: string;
}

export interface FlagRollout {
  flag: string;
  status: FlagRolloutStatus;
  /** Index in guarded.steps. */
  step: number;
  /** The store phase holding this step's exposures (each step is a phase of its own). */
  phase: number;
  stepStartedAt: number;
  /** Looks at the current step, oldest first. */
  looks: FlagLook[];
  /** The last gate result at this step (evidence for people). */
  last?: { decision: GateResult['decision']; explanation: string; metrics: GateResult['metrics'] };
  /** Steps done. */
  history: FlagStepRecord[];
  /** Why the flag is off or held. */
  reason?: string;
  updatedAt: number;
}

/** What the engine does after a look. */
export type FlagAction = 'none' | 'advance' | 'complete' | 'turn-off' | 'hold';

/** Branch names of a guarded flag's phases. */
export const OFF = 'off';
export const ON = 'on';

/** The share of users the flag is served to in this state. */
export function servedShare(r: FlagRollout | undefined, g: GuardConfig): number {
  if (!r) return 0;
  if (r.status === 'off') return 0;
  if (r.status === 'complete') return Math.max(...g.steps);
  return g.steps[Math.min(r.step, g.steps.length - 1)]!;
}

/** The per-mille weights of a step's phase, control (off) first. */
export function stepWeights(share: number): { name: string; weight: number }[] {
  const on = Math.round(share * 1000);
  return [
    { name: OFF, weight: 1000 - on },
    { name: ON, weight: on },
  ];
}

/** A fresh rollout at its first step. */
export function startRollout(flag: string, phase: number, now: number): FlagRollout {
  return { flag, status: 'running', step: 0, phase, stepStartedAt: now, looks: [], history: [], updatedAt: now };
}

/**
 * Whether passing the current step ends the rollout: it was the last, or the next serves everyone
 * (at 100% nobody is left with the flag off to compare with, so that step is not judged).
 */
export function finishesRollout(r: FlagRollout, g: GuardConfig): boolean {
  return r.step + 1 >= g.steps.length || g.steps[r.step + 1]! >= 1 - 1e-9;
}

/** The next step's state (a new phase), after a pass or a person's go-ahead. */
export function advanceRollout(r: FlagRollout, g: GuardConfig, record: FlagStepRecord, phase: number, now: number): FlagRollout {
  const history = [...r.history, record];
  const { reason: _reason, last: _last, ...rest } = r;
  if (finishesRollout(r, g)) return { ...rest, status: 'complete', step: g.steps.length - 1, history, looks: [], updatedAt: now };
  return { ...rest, status: 'running', step: r.step + 1, phase, stepStartedAt: now, looks: [], history, updatedAt: now };
}

function arm(t: PhaseTally, branch: string, metrics: string[]): ArmCounts {
  const b = t.branches.find((x) => x.branch === branch);
  return { users: b?.users ?? 0, goals: Object.fromEntries(metrics.map((m) => [m, b?.goals[m]?.users ?? 0])) };
}

/** The gate's metric names for a guard: guardrails, then goals. */
export function guardMetrics(g: GuardConfig): string[] {
  return [...g.guardrails.map((m) => m.name), ...g.goals.map((m) => m.name)];
}

/** Per-look increments of one side as ratio samples [new converters, new participants]. */
function increments(looks: FlagLook[], side: 'on' | 'off', metric: string): (Sample | null)[] {
  let users = 0;
  let conv = 0;
  return looks.map((l) => {
    const a = l[side];
    const s: Sample = [Math.max(0, (a.goals[metric] ?? 0) - conv), Math.max(0, a.users - users)];
    users = a.users;
    conv = a.goals[metric] ?? 0;
    return s;
  });
}

/** The judge's input for the looks so far: one row per side, one sample per look. */
export function flagGateSeries(looks: FlagLook[], g: GuardConfig): MetricSeries[] {
  const series = (name: string, bad: 'increase' | 'decrease', tolerance: number | undefined): MetricSeries => ({
    name,
    kind: 'ratio',
    bad,
    tolerance: tolerance ?? g.tolerance,
    baseline: [increments(looks, 'off', name)],
    canary: [increments(looks, 'on', name)],
  });
  return [
    ...g.guardrails.map((m) => series(m.name, m.bad, m.tolerance)),
    // A goal regresses when it moves against its good direction.
    ...g.goals.map((m) => series(m.name, m.good === 'increase' ? 'decrease' : 'increase', m.tolerance)),
  ];
}

/**
 * One look: the phase's tally now, appended to the looks, judged. A rollout that is not running
 * (held, off, complete) is not judged.
 */
export function lookRollout(
  r: FlagRollout,
  g: GuardConfig,
  tally: PhaseTally,
  now: number,
): { state: FlagRollout; action: FlagAction; result?: GateResult } {
  if (r.status !== 'running') return { state: r, action: 'none' };
  const names = guardMetrics(g);
  const looks = [...r.looks, { time: now, on: arm(tally, ON, names), off: arm(tally, OFF, names) }];
  let result = judgeGate({
    alpha: g.alpha,
    metrics: flagGateSeries(looks, g),
    elapsedMs: now - r.stepStartedAt,
    minBakeMs: g.min_bake,
    maxBakeMs: g.max_bake,
    onInconclusive: g.on_inconclusive === 'pass' || g.on_inconclusive === 'pass_within_tolerance' ? g.on_inconclusive : 'hold',
    unresponsive: [],
  });
  const onUsers = looks[looks.length - 1]!.on.users;
  if (result.decision === 'pass' && onUsers < g.min_users) {
    // Too few users have had the flag on for a pass to mean anything: bake on until max bake.
    const waiting = `${onUsers} of min ${g.min_users} users with the flag on`;
    if (now - r.stepStartedAt < g.max_bake) result = { ...result, decision: 'continue', explanation: `${waiting}; no regression so far` };
    else if (g.on_inconclusive !== 'pass' && g.on_inconclusive !== 'pass_within_tolerance')
      result = { ...result, decision: 'inconclusive', explanation: `max bake reached with ${waiting}` };
    else result = { ...result, warning: `passed with ${waiting}` };
  }
  const state: FlagRollout = {
    ...r,
    looks,
    last: { decision: result.decision, explanation: result.explanation, metrics: result.metrics },
    updatedAt: now,
  };
  if (result.decision === 'fail') return { state: { ...state, status: 'off', reason: result.explanation }, action: 'turn-off', result };
  if (result.decision === 'pass') return { state, action: finishesRollout(r, g) ? 'complete' : 'advance', result };
  if (result.decision === 'inconclusive') {
    if (g.on_inconclusive === 'off') return { state: { ...state, status: 'off', reason: result.explanation }, action: 'turn-off', result };
    return { state: { ...state, status: 'held', reason: result.explanation }, action: 'hold', result };
  }
  return { state, action: 'none', result };
}

/** The record of the step a look ended. */
export function stepRecord(
  r: FlagRollout,
  g: GuardConfig,
  decision: FlagStepRecord['decision'],
  explanation: string,
  now: number,
): FlagStepRecord {
  return { step: r.step, rollout: g.steps[r.step] ?? 1, startedAt: r.stepStartedAt, endedAt: now, decision, explanation };
}
