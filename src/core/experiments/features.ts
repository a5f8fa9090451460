// Experiments and flags compiled into the Unleash client API's features document. An experiment
// is a flexibleRollout strategy: `rollout` is the share taking part, the strategy variants are
// control plus branches with weights out of 1000 in a fixed order, and `groupId` is the phase's,
// so assignment is stable within a phase and re-randomised only when a new phase starts.
import { branchWeights, type ExperimentConfig, type FlagConfig, type SegmentConfig } from '../config/experiment.js';
import type { ExperimentClosing, ExperimentPhase } from './types.js';

export interface UnleashVariant {
  name: string;
  weight: number;
  weightType?: string;
  stickiness?: string;
  payload?: { type: string; value: string };
  overrides?: { contextName: string; values: string[] }[];
}

export interface UnleashStrategy {
  name: string;
  title?: string;
  disabled?: boolean;
  parameters: Record<string, string>;
  constraints: unknown[];
  segments?: number[];
  variants?: UnleashVariant[];
}

export interface UnleashFeature {
  name: string;
  type: string;
  description?: string;
  enabled: boolean;
  project: string;
  stale: boolean;
  impressionData: boolean;
  strategies: UnleashStrategy[];
  variants: UnleashVariant[];
  dependencies?: { feature: string; enabled?: boolean; variants?: string[] }[];
}

export interface FeaturesDocument {
  version: 2;
  features: UnleashFeature[];
  segments?: { id: number; name?: string; constraints: unknown[] }[];
  query: Record<string, string>;
}

/** The fingerprint of what assigns users: branches and weights in order, and the stickiness field. */
export function experimentFingerprint(e: Pick<ExperimentConfig, 'branches' | 'control' | 'stickiness'>): string {
  return `${branchWeights(e)
    .map((b) => `${b.name}:${b.weight}`)
    .join(',')}|${e.stickiness}`;
}

/** The groupId of a phase: stable for the phase, different for every phase. */
export function phaseGroupId(experiment: string, phase: number): string {
  return `${experiment}.phase${phase}`;
}

/**
 * What the store must record so the served experiment matches its file: nothing, or a new phase
 * (the first one, or the next when branches, weights or stickiness changed). A closed experiment
 * keeps its last phase: closing is final.
 */
export function nextPhase(
  e: ExperimentConfig,
  current: ExperimentPhase | undefined,
  closed: boolean,
  now: number,
): ExperimentPhase | undefined {
  const fingerprint = experimentFingerprint(e);
  if (current && (current.fingerprint === fingerprint || closed)) return undefined;
  const phase = (current?.phase ?? 0) + 1;
  return { experiment: e.name, phase, groupId: phaseGroupId(e.name, phase), fingerprint, weights: branchWeights(e), startedAt: now };
}

/** One experiment as an Unleash feature; a closed one sends everybody to the chosen branch. */
export function experimentFeature(e: ExperimentConfig, phase: ExperimentPhase, closing?: ExperimentClosing): UnleashFeature {
  const variants: UnleashVariant[] = closing
    ? [{ name: closing.branch, weight: 1000, weightType: 'fix', stickiness: e.stickiness }]
    : phase.weights.map((b) => ({ name: b.name, weight: b.weight, weightType: 'fix', stickiness: e.stickiness }));
  const rollout = closing ? 100 : Math.round(e.initial_rollout * 100);
  return {
    name: e.name,
    type: 'experiment',
    description: e.description,
    enabled: true,
    project: 'default',
    stale: closing !== undefined,
    // Standard SDKs emit impression events only for features that ask: they are how exposures reach the readout.
    impressionData: closing === undefined,
    strategies: [
      {
        name: 'flexibleRollout',
        constraints: [],
        parameters: { rollout: String(rollout), stickiness: e.stickiness, groupId: phase.groupId },
        variants,
      },
    ],
    variants: [],
  };
}

/** A plain flag as an Unleash feature: on/off, a gradual rollout, or its own strategies. */
export function flagFeature(f: FlagConfig): UnleashFeature {
  let strategies: UnleashStrategy[];
  if (f.strategies) strategies = f.strategies.map((s) => ({ ...s }));
  else if (f.rollout !== undefined) {
    strategies = [
      {
        name: 'flexibleRollout',
        constraints: f.constraints,
        parameters: { rollout: String(Math.round(f.rollout * 100)), stickiness: f.stickiness, groupId: f.name },
      },
    ];
  } else strategies = [{ name: 'default', constraints: f.constraints, parameters: {} }];
  return {
    name: f.name,
    type: f.enabled ? 'release' : 'kill-switch',
    description: f.description,
    enabled: f.enabled,
    project: 'default',
    stale: false,
    impressionData: f.impressionData,
    strategies,
    variants: f.variants,
    ...(f.dependencies ? { dependencies: f.dependencies } : {}),
  };
}

/** The whole document served at GET /api/client/features, features sorted by name for a stable ETag. */
export function featuresDocument(features: UnleashFeature[], segments: SegmentConfig[]): FeaturesDocument {
  const sorted = [...features].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { version: 2, features: sorted, ...(segments.length ? { segments } : {}), query: {} };
}
