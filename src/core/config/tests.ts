// How a change's tests run: the suite, its runner, workers, timeouts and flake policy.
import { z } from 'zod';
import { command, duration, fraction } from './types.js';

export const sshWorker = z
  .object({
    host: z.string(),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().default('ci'),
    key: z.string(),
    known_hosts: z.string().default('~/.ssh/known_hosts'),
    /** Directory on the worker where checkouts are made. */
    dir: z.string().default('/tmp/immune-worker'),
    slots: z.number().int().min(1).max(64).default(1),
  })
  .strict();

export const testsConfig = z
  .object({
    /** mocha and node-test are discovered and sharded per test; command runs as one opaque shard. */
    runner: z.enum(['mocha', 'node-test', 'command']).default('command'),
    /** For runner command: what to run in the checkout (exit 0 = pass). */
    command: command.optional(),
    /** Commands run in the checkout before tests (e.g. npm ci). */
    setup: z.array(command).default([]),
    /** Test files (globs relative to the checkout) for mocha and node-test. */
    files: z.array(z.string()).default(['test/**/*.test.js']),
    workers: z.number().int().min(1).max(256).default(2),
    ssh_workers: z.array(sshWorker).default([]),
    timeout: duration.prefault('10m'),
    test_timeout: duration.prefault('60s'),
    fail_fast: z.boolean().default(true),
    /** Re-runs of a failing test before calling it failed. */
    retries: z.number().int().min(0).max(5).default(1),
    /** Flaky tests above this rate are quarantined (reported, not blocking) when quarantine is on. */
    flaky_rate: fraction.prefault(0.05),
    quarantine: z.boolean().default(false),
  })
  .strict()
  .refine((t) => t.runner !== 'command' || t.command !== undefined, { message: 'runner command needs a command', path: ['command'] });
export type TestsConfig = z.infer<typeof testsConfig>;
export type SshWorkerConfig = z.infer<typeof sshWorker>;
