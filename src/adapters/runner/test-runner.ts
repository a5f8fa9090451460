// The TestRunner: discover the suite, plan shards from history, run them on local and SSH worker
// slots (bounded by p-limit), re-run failures on another worker to tell flakes from real failures,
// stop early on a confirmed failure, and report per-test results, shards and progress. One run is
// a TestRun (test-run.ts); what differs between mocha, node:test and a command is its RunnerKind.
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import type { EstimatedTest, Shard } from '../../core/tests/shard-plan.js';
import type { Checkout, TestHistoryStore, TestProgress, TestRunner, TestRunOptions, TestRunReport } from '../../ports.js';
import { localWorker } from './local-worker.js';
import type { RunnerMemory } from './run-lanes.js';
import { runnerKind } from './runner-kinds.js';
import { SlotPool } from './slots.js';
import { sshWorker } from './ssh-worker.js';
import { TestRun } from './test-run.js';
import type { Worker } from './workspace.js';

export type RunOptions = TestRunOptions;
export type RunReport = TestRunReport & Required<Pick<TestRunReport, 'results'>>;

export interface ShardableRunner extends TestRunner {
  /** Worker slots: how many shards (or culprit probes) can run at once. */
  readonly slots: number;
  run(checkout: Checkout, signal: AbortSignal, progress?: (p: TestProgress) => void, opts?: RunOptions): Promise<RunReport>;
  close(): Promise<void>;
}

export function createTestRunner(opts: {
  config: TestsConfig;
  history: TestHistoryStore;
  log: Logger;
  workers?: Worker[];
  /**
   * Replaces the work queue with a static plan, one runner process per shard (benchmarks compare
   * the static LPT plan and round-robin by file with the queue).
   */
  planner?: (tests: EstimatedTest[], slots: number) => Shard[];
}): ShardableRunner {
  const { config, history, log } = opts;
  const workers = opts.workers ?? [localWorker(config.workers), ...config.ssh_workers.map((w) => sshWorker(w))];
  const pool = new SlotPool(workers);
  /** Node options of the project's mocha config, as the last local runner reported them. */
  const memory: RunnerMemory = {};
  const parts = { config, kind: runnerKind(config), history, log, pool, memory, planner: opts.planner };
  return {
    slots: pool.all.length,
    async run(checkout, signal, progress, runOpts = {}) {
      const stats = await history.stats();
      const report = await new TestRun(parts, checkout, signal, progress, runOpts, stats).execute();
      return { ...report, results: report.results ?? [] };
    },
    async close() {
      await Promise.all(workers.map((w) => w.close?.()));
    },
  };
}
