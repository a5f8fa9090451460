// A deploy's states, the events that move it, and the actions the engine performs.
import type { GateResult, InconclusivePolicy } from '../judge/types.js';

/** A deploy's statuses, in the order a deploy goes through them (the API documents them so). */
export const DEPLOY_STATUSES = [
  'queued',
  'testing',
  'building',
  'rolling_out',
  'baking',
  'watching',
  /** The gate or the watch ended inconclusive under the `hold` policy: waiting for a captain. */
  'held',
  'live',
  'rolling_back',
  'reverting',
  'failed',
  'aborted',
] as const;
export type DeployStatus = (typeof DEPLOY_STATUSES)[number];

/** How a finished deploy ended. */
export const OUTCOMES = ['live', 'rolled_back', 'reverted', 'aborted', 'tests_failed', 'build_failed', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Where a held rollout waits: at a step's gate, or in the watch after 100%. */
export const HOLD_PHASES = ['gate', 'watch'] as const;

export type FailureStage = 'tests' | 'build' | 'deploy' | 'gate' | 'watch' | 'abort' | 'crash';

export interface Failure {
  stage: FailureStage;
  reason: string;
  /** The rollout step where it happened (-1 before rollout). */
  step: number;
  evidence?: GateResult;
  /** The gate or watch ended inconclusive and the policy rolled back: no proof against the code, so no revert. */
  inconclusive?: boolean;
  /** For failed tests in a batch: the commit that broke them. */
  culprit?: string;
  actor?: string;
}

export interface DeployState {
  status: DeployStatus;
  /** Current rollout step (-1 before the rollout starts). */
  step: number;
  /** Number of rollout steps in the plan (the last one is the whole fleet, judged by the watch). */
  steps: number;
  /** Server ids on the new build at each step (cumulative), fixed when the deploy starts. */
  plan: string[][];
  /** When the first server took the new build: the watch compares with the fleet before this. */
  rolloutStartedAt?: number;
  /** When the current stage or step began (ms). */
  since: number;
  failure?: Failure;
  outcome?: Outcome;
  /** Set by a captain's promote: the current bake ends as a pass at the next look. */
  promoted?: boolean;
  /** Last gate's verdict at the current step, for display. */
  lastGate?: { decision: string; explanation: string };
  /** Passed the gate with a warning (too little data and policy pass). */
  warnings: string[];
  /** Set while status is `held`: where the rollout waits for a captain, and why. */
  hold?: { phase: (typeof HOLD_PHASES)[number]; reason: string; since: number };
}

export interface RegressionPolicy {
  rollback: boolean;
  revert: boolean;
  block: boolean;
}

export type DeployEvent =
  | { type: 'start'; hasTests: boolean }
  | { type: 'tests_passed' }
  | { type: 'tests_failed'; reason: string; culprit?: string }
  | { type: 'built'; sameAsLive: boolean }
  | { type: 'build_failed'; reason: string }
  | { type: 'step_deployed'; step: number; gated: boolean }
  | { type: 'step_failed'; step: number; reason: string }
  | { type: 'gate'; step: number; result: GateResult; policy: InconclusivePolicy; paused: boolean }
  | { type: 'watch'; result: GateResult; policy: InconclusivePolicy }
  | { type: 'rolled_back' }
  | { type: 'reverted'; sha: string }
  /** `details`: the full text behind the one-line reason (git's output), for the log and the API. */
  | { type: 'revert_failed'; reason: string; details?: unknown }
  /** Nothing of the change may be reverted (every commit is immune's own revert). */
  | { type: 'revert_skipped'; reason: string }
  | { type: 'abort'; reason: string; actor: string }
  | { type: 'promote'; actor: string }
  /** A captain resumes a held rollout: bake (or watch) again at the same step, from now. */
  | { type: 'resume'; actor: string };

export type Action =
  | { type: 'run_tests' }
  | { type: 'build' }
  /** Activate the new build on the servers of step `step` (cumulative), the rest stay on the previous build. */
  | { type: 'deploy_step'; step: number }
  | { type: 'judge_step'; step: number }
  | { type: 'watch' }
  /** Every server back to the previous build. */
  | { type: 'rollback' }
  /** Revert the change's commits (or just the culprit) in git. */
  | { type: 'revert'; shas: 'change' | string[] }
  /** Record the change's tree as known-bad (a gate or the watch found a regression). */
  | { type: 'remember_bad' }
  | { type: 'block'; reason: string }
  | { type: 'mark_live' }
  | {
      type: 'notify';
      kind: 'deploy_live' | 'deploy_failed' | 'reverted' | 'blocked' | 'tests_failed' | 'held';
      title: string;
      body: string;
    }
  | { type: 'set_status'; context: 'tests' | 'canary' | 'deploy'; state: 'pending' | 'success' | 'failure' | 'error'; description: string };

export interface Transition {
  state: DeployState;
  actions: Action[];
}
