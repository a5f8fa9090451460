// The vocabulary one test run shares between its parts (listing, lanes, settling, shards): worker
// slots, shard jobs and their outcomes, what the run has found so far, and small helpers on test ids.
import { tmpdir } from 'node:os';
import { posix } from 'node:path';
import type { EstimatedTest, SuiteTest } from '../../core/tests/shard-plan.js';
import type { Selection } from '../../core/tests/work-queue.js';
import type { TestCaseResult, TestReport } from '../../ports.js';
import { isHookTitle } from './mocha.js';
import type { ExecResult, Worker } from './workspace.js';

export interface Slot {
  index: number;
  worker: Worker;
  /** PORT_BASE for shards on this slot: distinct per slot so concurrent shards never share ports. */
  portBase: number;
}

/** What one shard process runs. */
export interface ShardJob {
  id: number;
  tests: EstimatedTest[];
  /** Files to hand the runner (node:test and mocha). */
  files: string[];
  /** mocha: which tests of the files to run (default: `tests` by name). */
  select?: Selection;
  /** `tests` are what history expects, not a listing of this checkout. */
  fromHistory?: boolean;
  estimateMs: number;
  /** Avoid this worker (and slot) — re-runs go elsewhere when there is elsewhere. */
  avoid?: { worker: string; slot: number };
}

export interface ShardOutcome {
  job: ShardJob;
  slot: Slot;
  results: TestCaseResult[];
  exec: ExecResult;
  /** Planned tests never reported because the shard was killed after a hang. */
  notRun: EstimatedTest[];
}

/**
 * The suite as listed: its tests, or only its spec files (the tests come from history), a listing
 * error (a file that does not load), the run stopped, or list it the old way.
 */
export type Listing = { tests: SuiteTest[] } | { files: string[] } | { error: string } | { failed: unknown } | 'fallback';

/** What a run has found so far: one final result per test, and what the report will say. */
export class RunResults {
  readonly final = new Map<string, TestCaseResult>();
  /** Tests history expected that a whole run of their file did not report: not in the suite any more. */
  readonly gone = new Set<string>();
  readonly confirmed: TestCaseResult[] = [];
  readonly flaky: TestCaseResult[] = [];
  readonly shards: TestReport['shards'] = [];
  readonly loadSamples = new Map<string, number[]>();
  stoppedEarly = false;
  /** The run's tests are history's (only the spec files were listed). */
  fromHistory = false;

  addLoads(loads: { file: string; ms: number }[]): void {
    for (const l of loads) this.loadSamples.set(l.file, [...(this.loadSamples.get(l.file) ?? []), l.ms]);
  }

  meanLoads(): { file: string; ms: number }[] {
    return [...this.loadSamples].map(([file, ms]) => ({ file, ms: ms.reduce((a, b) => a + b, 0) / ms.length }));
  }
}

export const PORT_BASE = 20_000;
export const PORTS_PER_SLOT = 100;
export const STARTUP_GRACE_MS = 15_000;

export function shardEnv(tmp: string, portBase: number, shard: number): Record<string, string> {
  // IMMUNE_TOOL_TMPDIR: where a warm runner's compiler keeps its cache (local workers; SSH workers use their own default).
  return {
    ...(process.env as Record<string, string>),
    TMPDIR: tmp,
    TMP: tmp,
    TEMP: tmp,
    PORT_BASE: String(portBase),
    IMMUNE_SHARD: String(shard),
    IMMUNE_TOOL_TMPDIR: tmpdir(),
    CI: 'true',
  };
}

export function shardSummary(o: ShardOutcome): TestReport['shards'][number] {
  return {
    id: o.job.id,
    worker: `${o.slot.worker.name}#${o.slot.index}`,
    tests: o.results.length,
    durationMs: o.exec.durationMs,
    ok: o.results.every((r) => r.state !== 'failed') && !o.exec.killed,
  };
}

/** A test mocha can run again by its full title: not a hook failure, not a runner's failure of its own. */
export function isNamedTest(t: { title: string }): boolean {
  return !t.title.startsWith('(') && !isHookTitle(t.title.replace(/^.*?(?="(before|after) (all|each)" hook)/, ''));
}

export function fileOf(id: string): string {
  const at = id.indexOf('::');
  return at < 0 ? id : id.slice(0, at);
}

export function filesOf(tests: { file: string }[]): string[] {
  return [...new Set(tests.map((t) => t.file))];
}

export function sum(tests: { estimateMs: number }[]): number {
  return tests.reduce((s, t) => s + t.estimateMs, 0);
}

export function rel(dir: string, file: string): string {
  return file.startsWith('/') ? posix.relative(dir, file) : file;
}

export function dedupe(tests: SuiteTest[]): SuiteTest[] {
  return [...new Map(tests.map((t) => [t.id, t])).values()];
}

export function lastLines(s: string, n = 20): string {
  return s.trim().split('\n').slice(-n).join('\n');
}

export function trimError(s: string): string {
  return s.split('\n').slice(0, 12).join('\n').slice(0, 4000);
}
