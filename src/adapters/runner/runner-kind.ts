// What differs between kinds of test suite (mocha, node:test, one opaque command): how the suite is
// listed, how one shard's process is started and read, and what its exit means. The run itself
// (listing, lanes, re-runs) is the same for every kind; it asks these questions and nothing else.
import type { EstimatedTest, SuiteTest } from '../../core/tests/shard-plan.js';
import type { TestCaseResult } from '../../ports.js';
import type { ShardJob } from './run-types.js';
import type { ExecResult, Workspace } from './workspace.js';

export interface ShardCommand {
  cmd: string[];
  /** Reads a line of output; true when it was a reporter event (kept out of the output tail). */
  onLine?: (line: string) => boolean;
  /** Kill the shard when no test finished for this long (undefined: only the shard timeout). */
  idleMs?: number;
}

export interface RunnerKind {
  readonly name: 'mocha' | 'node-test' | 'command';
  /** Units run in long-lived runners that list the suite and take units over stdin (mocha). */
  readonly warm: boolean;
  /** A test can be run again by its id (file and full title) without listing the suite. */
  readonly byName: boolean;
  /** Tests are planned, estimated and counted by file (node:test reports tests, but runs files). */
  readonly perFile: boolean;
  /** The suite is one command: nothing in it can be selected or split. */
  readonly opaque: boolean;
  /** The suite's tests, or why it cannot be listed. */
  discover(ws: Workspace, signal: AbortSignal): Promise<{ tests: SuiteTest[] } | { error: string }>;
  /** The process one shard runs, and how its output becomes results (`push`). */
  shardCommand(job: ShardJob, ws: Workspace, tmp: string, push: (r: TestCaseResult) => void): Promise<ShardCommand>;
  /**
   * After the shard's process ended: add the results its exit implies (`push` counts, `results.push`
   * does not) and return the planned tests it never reached, to run again.
   */
  afterExit(
    exit: { job: ShardJob; exec: ExecResult; cmd: string[]; why: string | undefined; seen: Set<string> },
    push: (r: TestCaseResult) => void,
    results: TestCaseResult[],
  ): EstimatedTest[];
}
