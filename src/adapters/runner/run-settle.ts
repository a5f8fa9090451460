// Settling failures: every failed test is run again (elsewhere when there is elsewhere) until it
// passes, which makes it flaky, or runs out of attempts, which confirms it (and, with fail_fast,
// stops the run). The first result per test is the one kept.
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import { retriesFor } from '../../core/tests/flake-policy.js';
import type { EstimatedTest } from '../../core/tests/shard-plan.js';
import type { TestCaseResult } from '../../ports.js';
import type { RunProgress } from './run-progress.js';
import type { RunnerKind } from './runner-kind.js';
import { filesOf, isNamedTest, shardSummary, sum, type RunResults, type ShardJob, type ShardOutcome, type Slot } from './run-types.js';

export interface SettleDeps {
  config: TestsConfig;
  kind: RunnerKind;
  /** Tests the flake policy quarantined: they get the extra re-runs. */
  quarantined: ReadonlySet<string>;
  ctl: AbortController;
  log: Logger;
  progress: RunProgress;
  results: RunResults;
  /** Run a re-run job (a process of its own, on a lane or a slot of its own). */
  rerun(job: ShardJob): Promise<ShardOutcome>;
  nextId(): number;
}

export class Settler {
  /** Settlements in flight; the run is over when these and the lanes are. */
  readonly pending: Promise<void>[] = [];

  constructor(private readonly d: SettleDeps) {}

  /** Results of a shard or batch: kept (first result per test wins), failures re-run. */
  absorb(job: ShardJob, slot: Slot, results: TestCaseResult[]): void {
    for (const r of results) if (!this.d.results.final.has(r.id)) this.d.results.final.set(r.id, r);
    const failures = results.filter((r) => r.state === 'failed');
    if (failures.length) this.pending.push(this.settle(job, slot, failures));
  }

  /** Re-run failed tests until each passes (flaky) or runs out of attempts (confirmed). */
  private async settle(from: ShardJob, slot: Slot, failures: TestCaseResult[]): Promise<void> {
    const { config, ctl, results, progress } = this.d;
    let pending = failures;
    const attempts = new Map(failures.map((f) => [f.id, 0]));
    let avoid = { worker: slot.worker.name, slot: slot.index };
    while (pending.length) {
      const retryable = pending.filter((f) => attempts.get(f.id)! < retriesFor(this.d.quarantined.has(f.id), config.retries));
      for (const f of pending.filter((p) => !retryable.includes(p))) this.confirm(f);
      if (!retryable.length || ctl.signal.aborted) {
        for (const f of retryable) this.confirm(f);
        return;
      }
      for (const f of retryable) attempts.set(f.id, attempts.get(f.id)! + 1);
      const again = await this.d.rerun(this.retryJob(this.d.nextId(), retryable, from, avoid));
      avoid = { worker: again.slot.worker.name, slot: again.slot.index };
      results.shards.push(shardSummary(again));
      const byId = new Map(again.results.map((r) => [r.id, r]));
      const cleanRun = again.exec.exitCode === 0 && !again.exec.killed && again.results.every((r) => r.state !== 'failed');
      const still: TestCaseResult[] = [];
      for (const f of retryable) {
        const r = byId.get(f.id);
        // A failure that is not a test of its own (hook, crash) passes only when the whole re-run is clean.
        const passedNow = r ? r.state === 'passed' : cleanRun;
        if (passedNow) {
          const fl: TestCaseResult = { ...f, state: 'passed', flaky: true, durationMs: r?.durationMs ?? f.durationMs };
          results.final.set(f.id, fl);
          results.flaky.push(fl);
          progress.flaked();
          this.d.log.warn({ test: f.id, worker: again.slot.worker.name }, 'flaky test: failed, then passed on re-run');
        } else still.push(f);
      }
      pending = still;
      progress.report();
    }
  }

  private confirm(f: TestCaseResult): void {
    const { results, ctl } = this.d;
    results.final.set(f.id, f);
    results.confirmed.push(f);
    if (this.d.config.fail_fast && !ctl.signal.aborted) {
      results.stoppedEarly = true;
      this.d.log.info({ test: f.id }, 'confirmed failure: stopping the other shards (fail_fast)');
      ctl.abort(new Error('fail_fast'));
    }
  }

  /** A shard re-running the given failures (mocha: just those tests, or their file for a hook failure). */
  private retryJob(id: number, failures: TestCaseResult[], from: ShardJob, avoid: ShardJob['avoid']): ShardJob {
    const { kind } = this.d;
    if (kind.opaque) return { id, tests: from.tests, files: [], estimateMs: sum(from.tests), avoid };
    const tests: EstimatedTest[] = [];
    let whole = false;
    for (const f of failures) {
      const planned = from.tests.find((t) => t.id === f.id);
      const ofFile = from.tests.filter((t) => t.file === f.file);
      if (planned) tests.push(planned);
      // A test the unit was not known to hold (planned from history, added since): by its name.
      else if (kind.byName && isNamedTest(f))
        tests.push({ id: f.id, file: f.file, title: f.title, estimateMs: f.durationMs, known: false });
      else if (ofFile.length) tests.push(...ofFile);
      else whole = true;
    }
    const uniq = [...new Map(tests.map((t) => [t.id, t])).values()];
    // A hook or the runner failed where no test was known: the unit's files again, whole.
    if (whole || !uniq.length)
      return {
        id,
        tests: from.tests,
        files: [...new Set([...from.files, ...filesOf(uniq)])],
        select: { except: [] },
        fromHistory: from.fromHistory,
        estimateMs: sum(from.tests),
        avoid,
      };
    return { id, tests: uniq, files: filesOf(uniq), estimateMs: sum(uniq), avoid };
  }
}
