// The pipeline file: one line from a branch to production. Declared once; the type comes from the schema.
import { z } from 'zod';
import type { InconclusivePolicy } from '../judge/types.js';
import { githubConfig } from './codehost.js';
import { fleetConfig } from './fleet.js';
import { metricsConfig } from './metrics.js';
import { notifyConfig } from './notify.js';
import { testsConfig } from './tests.js';
import { command, duration, fraction } from './types.js';

/** What a gate or the watch does when max bake ends undecided (core/judge's InconclusivePolicy explains each). */
export const INCONCLUSIVE_POLICIES = ['hold', 'rollback', 'pass_within_tolerance', 'pass'] as const satisfies readonly InconclusivePolicy[];

export const rolloutStep = z
  .object({
    /** A number of servers, or a share of the fleet; exactly one. */
    servers: z.number().int().min(1).optional(),
    percent: fraction.optional(),
    min_bake: duration.optional(),
    max_bake: duration.optional(),
  })
  .strict()
  .refine((s) => (s.servers === undefined) !== (s.percent === undefined), { message: 'a step takes exactly one of servers or percent' });

export const pipelineConfig = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/i, 'letters, digits, - and _'),
    repo: z
      .object({
        /** A local path or URL of the repository to deploy from. */
        url: z.string(),
        branch: z.string().default('main'),
        remote: z.string().default('origin'),
        /** Where reverts are pushed when not to `url` (git's pushurl), e.g. the bare repository behind a working checkout. */
        push_url: z.string().optional(),
        /** Where the orchestrator keeps its clone and checkouts. */
        workdir: z.string().default('.immune/work'),
        poll_interval: duration.prefault('2s'),
      })
      .strict(),
    /** Commits waiting when a deploy starts are taken together, up to this many. */
    max_batch: z.number().int().min(1).max(100).default(4),
    tests: testsConfig.optional(),
    build: z
      .object({
        /** Commands run in the checkout; then `output` is packaged as the artifact. */
        commands: z.array(command).default([]),
        output: z.string().default('.'),
        exclude: z.array(z.string()).default(['.git', 'node_modules/.cache']),
        timeout: duration.prefault('10m'),
      })
      .strict()
      .default({ commands: [], output: '.', exclude: ['.git', 'node_modules/.cache'], timeout: 600_000 }),
    fleet: fleetConfig,
    metrics: metricsConfig,
    rollout: z
      .object({
        steps: z.array(rolloutStep).min(1),
        /** How often the gate samples and judges. */
        interval: duration.prefault('5s'),
        min_bake: duration.prefault('60s'),
        max_bake: duration.prefault('5m'),
        /** Deploy-wide false-alarm rate across all metrics and looks. */
        alpha: z.number().gt(0).lt(0.5).default(0.01),
        on_inconclusive: z.enum(INCONCLUSIVE_POLICIES).default('hold'),
        /** Each server's own past before the rollout that the gate also compares it with (0s = off). */
        history: duration.prefault('5m'),
        /** Spread canaries over these labels (e.g. [region, zone]). */
        spread: z.array(z.string()).default([]),
        /**
         * Restart as many baseline servers as canaries on the previous build at each step; a metric
         * with a `warmup` (one that depends on a process's age) must then show a regression against
         * them and against the older baseline servers to fail.
         */
        fresh_baseline: z.boolean().default(true),
      })
      .strict(),
    watch: z
      .object({
        duration: duration.prefault('5m'),
        /** Pre-deploy window the whole fleet is compared with. */
        window: duration.prefault('5m'),
        enabled: z.boolean().default(true),
      })
      .strict()
      .default({ duration: 300_000, window: 300_000, enabled: true }),
    on_regression: z
      .object({
        rollback: z.boolean().default(true),
        revert: z.boolean().default(true),
        block: z.boolean().default(true),
        /** Targets (names under notify.targets) that hear every regression, besides notify.routes. */
        notify: z.array(z.string()).default(['console']),
      })
      .strict()
      .default({ rollback: true, revert: true, block: true, notify: ['console'] }),
    /** Notification targets and which events go to each (see docs/notifications.md). */
    notify: notifyConfig.optional(),
    github: githubConfig.optional(),
    /** Commands run in the orchestrator's clone after a revert commit, before push (e.g. to sign). */
    hooks: z
      .object({ after_revert: z.array(command).default([]) })
      .strict()
      .optional(),
  })
  .strict();

export type PipelineConfig = z.infer<typeof pipelineConfig>;
export type RolloutStepConfig = z.infer<typeof rolloutStep>;
