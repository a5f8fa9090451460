// Experiment and feature flag files (experiments/*.yaml): one schema each, typed from it.
// An experiment file names weighted branches (the rest is control); a flags file (top-level
// `flags:`) holds plain feature flags: on/off, gradual rollout, kill switch, or Unleash strategies.
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { parseYaml, type Parsed } from './load.js';
import { duration, fraction } from './types.js';

const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'use letters, digits, _, . and - (starting with a letter)');

/** A goal: an event name the application sends with track(); `good` says which way is better. */
const goal = z.union([
  name.transform((n) => ({ name: n, good: 'increase' as const })),
  z.object({ name, good: z.enum(['increase', 'decrease']).default('increase') }).strict(),
]);

/** A guardrail: an event name that must not get worse; `bad` says which way is worse. */
const guardrail = z.union([
  name.transform((n) => ({ name: n, bad: 'increase' as const })),
  z.object({ name, bad: z.enum(['increase', 'decrease']).default('increase') }).strict(),
]);

export const experimentConfig = z
  .object({
    name,
    description: z.string().optional(),
    /** Share of users who take part (0 = defined but off); whole percents, as Unleash rolls out by 1%. */
    initial_rollout: fraction.prefault(0),
    /** Weighted branches in order; what is left is control. Resolution 0.1% (Unleash weights out of 1000). */
    branches: z.record(name, fraction),
    /** Name of the control branch. */
    control: name.default('control'),
    goals: z.array(goal).min(1, 'at least one goal'),
    guardrails: z.array(guardrail).default([]),
    /** False-alarm rate of the readout, across goals (Holm) and looks (always-valid p-values). */
    alpha: z.number().gt(0).lt(0.5).default(0.05),
    /** Context field that keeps a user in one branch (default: userId, then sessionId, then random). */
    stickiness: z.string().default('default'),
  })
  .strict();
export type ExperimentConfig = z.infer<typeof experimentConfig>;

// ---- plain flags, in Unleash's own feature format where it goes beyond on/off/rollout ----------

const constraint = z
  .object({
    contextName: z.string().min(1),
    /** IN, NOT_IN, STR_*, NUM_*, DATE_*, SEMVER_*, REGEX, IN_CIDR; an unknown operator never matches. */
    operator: z.string().regex(/^[A-Z_]+$/, 'an Unleash operator such as IN or STR_STARTS_WITH'),
    values: z.array(z.string()).optional(),
    value: z.string().optional(),
    inverted: z.boolean().optional(),
    caseInsensitive: z.boolean().optional(),
  })
  .strict();

const payload = z.object({ type: z.enum(['string', 'json', 'csv', 'number']), value: z.string() }).strict();

const variant = z
  .object({
    name: z.string().min(1),
    weight: z.number().int().min(0).max(1000),
    weightType: z.enum(['variable', 'fix']).optional(),
    stickiness: z.string().optional(),
    payload: payload.optional(),
    overrides: z.array(z.object({ contextName: z.string(), values: z.array(z.string()) }).strict()).optional(),
  })
  .strict();

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

const strategy = z
  .object({
    name: z.string().min(1),
    title: z.string().optional(),
    disabled: z.boolean().optional(),
    parameters: z.record(z.string(), scalar).default({}),
    constraints: z.array(constraint).default([]),
    segments: z.array(z.number().int()).optional(),
    variants: z.array(variant).optional(),
  })
  .strict();

/** A goal or guardrail of a guarded rollout: as in an experiment, with the tolerance the gate allows. */
const guardGoal = z.union([
  name.transform((n) => ({ name: n, good: 'increase' as const, tolerance: undefined as number | undefined })),
  z.object({ name, good: z.enum(['increase', 'decrease']).default('increase'), tolerance: fraction.optional() }).strict(),
]);
const guardGuardrail = z.union([
  name.transform((n) => ({ name: n, bad: 'increase' as const, tolerance: undefined as number | undefined })),
  z.object({ name, bad: z.enum(['increase', 'decrease']).default('increase'), tolerance: fraction.optional() }).strict(),
]);

/**
 * A guarded rollout: the flag's share of users moves through `steps`, each judged by the deploy
 * gate's sequential test, users with the flag on against users with it off, on the goals and
 * guardrails (events the application tracks). A regression turns the flag off and blocks it.
 */
export const guardConfig = z
  .object({
    /** Shares of users, rising, the last usually 100%. */
    steps: z.array(fraction).min(1, 'at least one step'),
    /** How often the gate looks. */
    interval: duration.prefault('30s'),
    /** Least time at a step before it may pass. */
    min_bake: duration.prefault('5m'),
    /** Longest time at a step; then on_inconclusive decides. */
    max_bake: duration.prefault('1h'),
    /** Least users with the flag on before a step may pass (the gate can fail it sooner). */
    min_users: z.number().int().min(1).default(500),
    /** At max bake with too little data: hold (stay at the step until a person acts), off (turn the flag off), or pass. */
    on_inconclusive: z.enum(['hold', 'off', 'pass_within_tolerance', 'pass']).default('hold'),
    alpha: z.number().gt(0).lt(0.5).default(0.05),
    /** A relative change smaller than this is not a regression (per metric: tolerance). */
    tolerance: fraction.prefault(0.1),
    goals: z.array(guardGoal).default([]),
    guardrails: z.array(guardGuardrail).min(1, 'at least one guardrail: the events that must not get worse (errors, latency_slow, ...)'),
  })
  .strict();
export type GuardConfig = z.infer<typeof guardConfig>;

export const flagConfig = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    /** Who hears when a guarded rollout turns the flag off (an email or chat handle). */
    owner: z.string().min(1).optional(),
    /** A guarded rollout (exclusive with `rollout` and `strategies`). */
    guarded: guardConfig.optional(),
    /** false = off for everyone (a kill switch). */
    enabled: z.boolean().default(true),
    /** Gradual rollout to a share of users (whole percents); exclusive with `strategies`. */
    rollout: fraction.optional(),
    stickiness: z.string().default('default'),
    constraints: z.array(constraint).default([]),
    /** Unleash activation strategies, verbatim; none (and no rollout) = on for everyone. */
    strategies: z.array(strategy).optional(),
    variants: z.array(variant).default([]),
    dependencies: z
      .array(z.object({ feature: z.string().min(1), enabled: z.boolean().optional(), variants: z.array(z.string()).optional() }).strict())
      .optional(),
    impressionData: z.boolean().default(false),
  })
  .strict()
  .refine((f) => f.rollout === undefined || f.strategies === undefined, {
    message: 'a flag takes rollout or strategies, not both',
    path: ['rollout'],
  })
  .refine((f) => !f.guarded || f.rollout === undefined, {
    message: 'a guarded flag takes its rollout from guarded.steps: remove rollout',
    path: ['rollout'],
  })
  .refine((f) => !f.guarded || f.strategies === undefined, {
    message: 'a guarded flag is one gradual rollout: remove strategies',
    path: ['strategies'],
  });
export type FlagConfig = z.infer<typeof flagConfig>;

export const segmentConfig = z.object({ id: z.number().int(), name: z.string().optional(), constraints: z.array(constraint) }).strict();
export type SegmentConfig = z.infer<typeof segmentConfig>;

export const flagsFileConfig = z.object({ flags: z.array(flagConfig).default([]), segments: z.array(segmentConfig).default([]) }).strict();
export type FlagsFileConfig = z.infer<typeof flagsFileConfig>;

export type ExperimentFile =
  { kind: 'experiment'; file: string; experiment: ExperimentConfig } | { kind: 'flags'; file: string; flags: FlagsFileConfig };

/** Whole per-mille weights of an experiment, control first, then branches in file order. */
export function branchWeights(e: Pick<ExperimentConfig, 'branches' | 'control'>): { name: string; weight: number }[] {
  const branches = Object.entries(e.branches).map(([n, f]) => ({ name: n, weight: Math.round(f * 1000) }));
  const used = branches.reduce((s, b) => s + b.weight, 0);
  return [{ name: e.control, weight: 1000 - used }, ...branches];
}

/** Parse one file of the experiments directory: an experiment, or flags when it has `flags:` or `segments:`. */
export function parseExperimentFile(text: string, file: string): ExperimentFile {
  if (/^(flags|segments)\s*:/m.test(text)) {
    const parsed = parseYaml(text, file, flagsFileConfig);
    checkFlags(parsed, file);
    return { kind: 'flags', file, flags: parsed.value };
  }
  const parsed = parseYaml(text, file, experimentConfig);
  checkExperiment(parsed, file);
  return { kind: 'experiment', file, experiment: parsed.value };
}

function checkExperiment(parsed: Parsed<ExperimentConfig>, file: string): void {
  const e = parsed.value;
  const issues: ConfigIssue[] = [];
  const at = (path: (string | number)[], message: string): void => {
    issues.push({ file, ...parsed.locate(path), path: path.join('.'), message });
  };
  const names = Object.keys(e.branches);
  if (names.length === 0) at(['branches'], 'at least one branch besides control');
  if (names.includes(e.control)) at(['branches', e.control], `"${e.control}" is the control branch: it gets what the other branches leave`);
  let sum = 0;
  for (const [n, f] of Object.entries(e.branches)) {
    sum += f;
    if (f <= 0) at(['branches', n], 'a branch needs a weight above 0%');
    if (Math.abs(f * 1000 - Math.round(f * 1000)) > 1e-6) at(['branches', n], `${f * 100}% is finer than 0.1%`);
  }
  if (sum > 1 + 1e-9) at(['branches'], `branch weights add up to ${+(sum * 100).toFixed(3)}%, more than 100%`);
  else if (names.length && sum > 1 - 1e-9)
    at(['branches'], `branch weights add up to 100%: leave a share for ${e.control}, the baseline every branch is compared with`);
  if (Math.abs(e.initial_rollout * 100 - Math.round(e.initial_rollout * 100)) > 1e-6)
    at(['initial_rollout'], 'use whole percents (Unleash rolls out by 1%)');
  const seen = new Set<string>();
  [...e.goals.map((g, i) => ['goals', i, g.name] as const), ...e.guardrails.map((g, i) => ['guardrails', i, g.name] as const)].forEach(
    ([key, i, n]) => {
      if (seen.has(n)) at([key, i], `"${n}" is listed twice among goals and guardrails`);
      seen.add(n);
    },
  );
  if (issues.length) throw new ConfigError(issues);
}

const wholePercent = (f: number): boolean => Math.abs(f * 100 - Math.round(f * 100)) <= 1e-6;

function checkFlags(parsed: Parsed<FlagsFileConfig>, file: string): void {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  parsed.value.flags.forEach((f, i) => {
    if (seen.has(f.name))
      issues.push({ file, ...parsed.locate(['flags', i, 'name']), path: `flags.${i}.name`, message: `duplicate flag "${f.name}"` });
    seen.add(f.name);
    const at = (path: (string | number)[], message: string): void => {
      issues.push({ file, ...parsed.locate(['flags', i, ...path]), path: ['flags', i, ...path].join('.'), message });
    };
    if (f.rollout !== undefined && !wholePercent(f.rollout)) at(['rollout'], 'use whole percents (Unleash rolls out by 1%)');
    const g = f.guarded;
    if (g) {
      g.steps.forEach((st, j) => {
        if (!wholePercent(st)) at(['guarded', 'steps', j], 'use whole percents (Unleash rolls out by 1%)');
        else if (st <= 0) at(['guarded', 'steps', j], 'a step needs a share above 0%');
        else if (j > 0 && st <= g.steps[j - 1]!)
          at(['guarded', 'steps', j], `steps must rise: ${+(st * 100).toFixed(0)}% after ${+(g.steps[j - 1]! * 100).toFixed(0)}%`);
      });
      if (g.max_bake < g.min_bake) at(['guarded', 'max_bake'], 'max_bake is shorter than min_bake');
      if (g.interval <= 0) at(['guarded', 'interval'], 'the interval must be above 0');
      const seen = new Set<string>();
      [...g.goals.map((x, j) => ['goals', j, x.name] as const), ...g.guardrails.map((x, j) => ['guardrails', j, x.name] as const)].forEach(
        ([key, j, n]) => {
          if (seen.has(n)) at(['guarded', key, j], `"${n}" is listed twice among goals and guardrails`);
          seen.add(n);
        },
      );
    }
  });
  if (issues.length) throw new ConfigError(issues);
}
