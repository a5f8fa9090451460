// One shard: a process of its own on a slot's workspace, its results as they are reported, and
// what its exit means (a hung test, a crash that named no test, tests it never reached).
import type { TestsConfig } from '../../core/config/tests.js';
import type { TestCaseResult } from '../../ports.js';
import type { RunnerKind } from './runner-kind.js';
import { lastLines, shardEnv, STARTUP_GRACE_MS, type ShardJob, type ShardOutcome, type Slot } from './run-types.js';
import type { ExecResult, Workspace } from './workspace.js';

export async function runShard(
  kind: RunnerKind,
  config: TestsConfig,
  job: ShardJob,
  slot: Slot,
  ws: Workspace,
  signal: AbortSignal,
  onResult: (r: TestCaseResult) => void,
): Promise<ShardOutcome> {
  const tmp = await ws.tempDir();
  const env = shardEnv(tmp, slot.portBase, job.id);
  const results: TestCaseResult[] = [];
  const push = (r: TestCaseResult) => {
    results.push(r);
    onResult(r);
  };
  const { cmd, onLine, idleMs } = await kind.shardCommand(job, ws, tmp, push);
  const exec = await ws.exec(cmd, { env, timeoutMs: config.timeout, idleMs, startupMs: STARTUP_GRACE_MS, signal, onLine });
  const why = killedWhy(config, exec);
  const notRun = kind.afterExit({ job, exec, cmd, why, seen: new Set(results.map((r) => r.id)) }, push, results);
  // A runner that failed without naming a failed test (crash, load error, hook) still fails the shard.
  const anyFailed = results.some((r) => r.state === 'failed');
  if (!anyFailed && exec.killed !== 'aborted' && (exec.killed || exec.exitCode !== 0))
    push(runnerFailure(job, why ?? `runner exited ${exec.exitCode ?? '?'} without a failed test`, exec));
  return { job, slot, results, exec, notRun };
}

/** Why immune killed a runner, for the failure it causes. */
export function killedWhy(config: TestsConfig, exec: ExecResult): string | undefined {
  if (exec.killed === 'idle')
    return `killed: no test finished within ${Math.round((config.test_timeout + 2_000) / 1000)}s (test_timeout ${config.test_timeout / 1000}s)`;
  if (exec.killed === 'timeout') return `killed: shard timeout ${config.timeout / 1000}s`;
  return undefined;
}

/** A failure that is not a test of its own: the runner crashed, was killed, or could not load its files. */
export function runnerFailure(job: ShardJob, why: string, exec: ExecResult | undefined): TestCaseResult {
  const file = job.files[0] ?? '';
  return {
    id: `${file}::(shard ${job.id})`,
    file,
    title: `(runner for ${job.files.join(', ') || 'command'})`,
    state: 'failed',
    durationMs: exec?.durationMs ?? 0,
    error: exec ? `${why}\n${lastLines(exec.tail)}` : why,
  };
}
