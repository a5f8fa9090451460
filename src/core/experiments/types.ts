// The experiment vocabulary shared by the core, the store and the server: phases, closings,
// events and the per-branch tallies a readout is computed from.

/** An experiment as the API lists it: serving its branches, defined but at 0% rollout, or closed with a decision. */
export const EXPERIMENT_STATES = ['running', 'off', 'closed'] as const;
export type ExperimentState = (typeof EXPERIMENT_STATES)[number];

/** One randomisation of an experiment: its weights and the Unleash groupId that seeds assignment. */
export interface ExperimentPhase {
  experiment: string;
  /** 1, 2, ... A change of branches or weights starts the next phase. */
  phase: number;
  groupId: string;
  /** Branches and weights in order, e.g. "control:500,Enhanced:500|default". */
  fingerprint: string;
  /** Per-mille weight per branch, control first. */
  weights: { name: string; weight: number }[];
  startedAt: number;
  endedAt?: number;
}

/** An experiment closed with a decision: everyone gets `branch` from `time` on. */
export interface ExperimentClosing {
  experiment: string;
  branch: string;
  reason: string;
  actor: string;
  time: number;
}

/** A user saw a branch (recorded once per user per phase by the SDK; deduplicated again by the store). */
export interface ExposureEvent {
  experiment: string;
  phase: number;
  branch: string;
  userId: string;
  time: number;
  /** What reported it (immune-sdk, openfeature, unleash-impressions, api, ...); default "api". */
  source?: string;
}

/** A user reached a goal (or tripped a guardrail); `id` makes retried deliveries idempotent. */
export interface ConversionEvent {
  id?: string;
  userId: string;
  goal: string;
  value?: number;
  time: number;
  /** What reported it; default "api". */
  source?: string;
}

/**
 * Evaluation counts an SDK reported for an experiment's branches (Unleash metrics posts): not
 * users, since one user may be evaluated many times, but enough for a sample ratio check that
 * allows for that (see srm.ts). One bucket is one post of one SDK instance.
 */
export interface EvaluationBucket {
  experiment: string;
  phase: number;
  source: string;
  /** The SDK instance that posted it (appName/instanceId): dispersion is estimated within each instance. */
  instance: string;
  /** Evaluations per branch in this bucket. */
  counts: Record<string, number>;
}

/** Per SDK instance and branch, summed over its buckets: the evaluations and the sum of count^2 / bucket size (for the dispersion estimate). */
export interface EvaluationTally {
  instances: Record<string, { buckets: number; branches: Record<string, { count: number; sq: number }> }>;
}

/** Per-branch counts over the deduplicated participants of one phase. */
export interface BranchTally {
  branch: string;
  /** Participants exposed to this branch only. */
  users: number;
  /** Per goal or guardrail: participants who converted at least once (at or after exposure), and the summed values. */
  goals: Record<string, { users: number; value: number }>;
}

export interface PhaseTally {
  branches: BranchTally[];
  /** Users exposed to more than one branch: counted here and left out of every branch. */
  excluded: number;
  /** What fed this phase: new exposures and attributed conversions per source. */
  sources?: { exposures: Record<string, number>; conversions: Record<string, number> };
  /** Evaluation counts per source (Unleash metrics posts), when any SDK reported them. */
  evaluations?: Record<string, EvaluationTally>;
}
