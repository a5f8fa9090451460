// The lanes of a run: each holds a worker slot while the queue has work and takes the next unit
// whenever it is idle. mocha units run in the lane's warm runner (MochaSession); node:test and
// command units, and mocha when its runner cannot start, run as a process each. Re-runs of failures
// go to the lanes too, on another machine where there is one.
import { tmpdir } from 'node:os';
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import { remainder, type WorkUnit } from '../../core/tests/work-queue.js';
import type { TestCaseResult } from '../../ports.js';
import { MochaSession } from './mocha-session.js';
import type { RunProgress, ShardTrack } from './run-progress.js';
import type { RunnerKind } from './runner-kind.js';
import type { SuiteListing } from './run-listing.js';
import { runnerFailure, runShard, killedWhy } from './run-shard.js';
import {
  lastLines,
  shardEnv,
  shardSummary,
  STARTUP_GRACE_MS,
  sum,
  trimError,
  type RunResults,
  type ShardJob,
  type ShardOutcome,
  type Slot,
} from './run-types.js';
import type { SlotPool } from './slots.js';
import type { ExecResult, Workspace } from './workspace.js';

/** What outlives a run on the runner: the node options the project's mocha config asked for last time. */
export interface RunnerMemory {
  knownNodeArgs?: string[];
}

export interface LaneDeps {
  config: TestsConfig;
  kind: RunnerKind;
  pool: SlotPool;
  memory: RunnerMemory;
  ctl: AbortController;
  log: Logger;
  progress: RunProgress;
  results: RunResults;
  listing: SuiteListing;
  queue: WorkUnit[];
  /** Resolves once the plan is made: true to run it, false when the run stopped while listing. */
  planned: Promise<boolean>;
  /** The plan is static (one process per shard, no warm runners). */
  isStatic: boolean;
  /** The whole run is planned from history (only the spec files are listed). */
  historySuite: boolean;
  workspace(w: Slot['worker']): Promise<Workspace>;
  absorb(job: ShardJob, slot: Slot, results: TestCaseResult[]): void;
  loadMs(file: string): number;
  nextId(): number;
}

type RetryRequest = { job: ShardJob; resolve: (o: ShardOutcome) => void };

export class Lanes {
  private readonly running = new Set<Promise<void>>();
  /** Slots held by this run's lanes. */
  readonly held = new Set<Slot>();
  private starting = 0;
  private readonly retries: RetryRequest[] = [];
  sessionsBroken = false;
  error: unknown;

  constructor(readonly d: LaneDeps) {}

  get size(): number {
    return this.running.size;
  }

  /** Start a lane; `warm`: start its runner before the plan (and help list the suite). */
  start(avoid?: ShardJob['avoid'], role?: 'warm'): void {
    this.starting++;
    const p: Promise<void> = this.d.pool
      .limit(() => {
        this.starting--;
        return new Lane(this, this.d.pool.take(avoid)).work(role);
      })
      .finally(() => {
        this.running.delete(p);
        // A re-run queued while the last lane was leaving still needs one.
        if (this.retries.length && !this.running.size) this.start(this.retries[0]!.job.avoid);
      });
    // A lane that cannot run (a worker that cannot be reached or set up) stops the run and fails it.
    p.catch((err: unknown) => {
      this.error ??= err;
      this.d.ctl.abort(err);
      this.d.listing.listed({ failed: err });
    });
    this.running.add(p);
  }

  /** Until no lane runs (lanes may start more lanes). */
  async settled(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  async all(): Promise<void> {
    await Promise.all([...this.running]);
  }

  /** A re-run of failures: the next lane to finish a unit in the right place runs it; a free slot in the right place gets a lane now. */
  queueRetry(job: ShardJob): Promise<ShardOutcome> {
    return new Promise((resolve) => {
      this.retries.push({ job, resolve });
      const { pool } = this.d;
      const avoid = job.avoid;
      const wanted =
        !this.running.size ||
        (avoid &&
          this.running.size < pool.all.length &&
          pool.free.some((sl) => pool.away(sl, avoid)) &&
          ![...this.held].some((sl) => pool.away(sl, avoid)));
      if (wanted) this.start(avoid);
    });
  }

  pickRetry(slot: Slot): RetryRequest | undefined {
    const { pool } = this.d;
    let i = this.retries.findIndex((r) => !r.job.avoid || pool.away(slot, r.job.avoid));
    // On one machine any slot will do; across machines, wait for a lane elsewhere if there is one.
    if (
      i < 0 &&
      this.retries.length &&
      (!pool.hasOtherWorker || (![...this.held].some((sl) => pool.away(sl, this.retries[0]!.job.avoid!)) && !this.starting))
    )
      i = 0;
    return i < 0 ? undefined : this.retries.splice(i, 1)[0];
  }

  /** A re-run waiting for this slot's machine, if any. */
  retryWaitingFor(slot: Slot): ShardJob['avoid'] | null {
    const waiting = this.retries.find((r) => r.job.avoid && this.d.pool.away(slot, r.job.avoid));
    return waiting ? waiting.job.avoid : null;
  }

  /** What a stopped unit did not reach goes back to the front of the queue (an open unit: everything it did not report or name). */
  requeue(unit: WorkUnit, rest: Pick<WorkUnit, 'tests' | 'select'>): void {
    if (this.d.ctl.signal.aborted || ('only' in rest.select && !rest.select.only.length)) return;
    this.d.queue.unshift({
      id: `${unit.id}+`,
      file: unit.file,
      ...rest,
      estimateMs: sum(rest.tests) + this.d.loadMs(unit.file),
      split: true,
    });
  }

  /** A shard as a process of its own on a slot of its own (static plans, their re-runs); `counted` false: re-runs do not move the counts. */
  runJob(job: ShardJob, counted = true): Promise<ShardOutcome> {
    const { pool, progress, ctl } = this.d;
    // ETA: what the shard's unreported tests are expected to take, counted down since its last result.
    const t: ShardTrack = { estimateMs: job.estimateMs, done: false };
    const estimate = new Map(job.tests.map((x) => [x.id, x.estimateMs]));
    progress.track.push(t);
    return pool.limit(async () => {
      const slot = pool.take(job.avoid);
      t.startedAt = Date.now();
      try {
        return await runShard(this.d.kind, this.d.config, job, slot, await this.d.workspace(slot.worker), ctl.signal, (r) => {
          t.estimateMs = Math.max(0, t.estimateMs - (estimate.get(r.id) ?? 0));
          t.startedAt = Date.now();
          if (counted) progress.count(r);
        });
      } finally {
        pool.release(slot);
        t.done = true;
        progress.report();
      }
    });
  }

  /** A static plan's shard; a shard killed on a hang runs what it never reached as another shard. */
  launch(job: ShardJob): Promise<void> {
    return this.runJob(job).then(async (out) => {
      this.d.results.shards.push(shardSummary(out));
      if (out.notRun.length && !this.d.ctl.signal.aborted) {
        // The shard was killed on a hang: the hung test failed; what it never reached runs now.
        const rest = this.launch({
          id: this.d.nextId(),
          tests: out.notRun,
          files: [...new Set(out.notRun.map((t) => t.file))],
          estimateMs: sum(out.notRun),
        });
        this.d.absorb(out.job, out.slot, out.results);
        await rest;
      } else this.d.absorb(out.job, out.slot, out.results);
    });
  }
}

/** One lane: a slot held while there is work, with its warm runner when the suite has them. */
class Lane {
  private session: { s: MochaSession; id: number; t: ShardTrack } | undefined;
  private readonly d: LaneDeps;

  constructor(
    private readonly lanes: Lanes,
    private readonly slot: Slot,
  ) {
    this.d = lanes.d;
    lanes.held.add(slot);
  }

  async work(role?: 'warm'): Promise<void> {
    const { d, slot } = this;
    try {
      const ws = await d.workspace(slot.worker);
      // Warm runners start before the plan; those on this machine list the suite between them
      // (a part each, a dry run), which leaves them warm for their units.
      if (role && !this.lanes.sessionsBroken) await this.startSession(ws);
      if (role && slot.worker === d.pool.workers[0])
        await d.listing.listOn(
          () => this.session?.s,
          (died) => this.endSession(died),
          d.historySuite,
        );
      if (!(await d.planned)) return;
      await this.takeUnits(ws);
    } finally {
      // The slot counts as this run's until it is free again, so a re-run meant for it waits for it.
      await this.endSession();
      this.lanes.held.delete(slot);
      d.pool.release(slot);
      const waiting = this.lanes.retryWaitingFor(slot);
      if (waiting && !d.ctl.signal.aborted) this.lanes.start(waiting);
    }
  }

  /** Re-runs first, then the queue's next unit, until the queue is empty or the run stops. */
  private async takeUnits(ws: Workspace): Promise<void> {
    const { d, slot } = this;
    for (;;) {
      const retry = this.lanes.pickRetry(slot);
      if (retry) {
        const t = d.progress.newShard(false);
        try {
          retry.resolve(await runShard(d.kind, d.config, retry.job, slot, ws, d.ctl.signal, () => undefined));
        } finally {
          t.done = true;
          d.progress.report();
        }
        continue;
      }
      if (d.ctl.signal.aborted) break;
      const unit = d.queue.shift();
      if (!unit) break;
      d.progress.inFlight.set(unit, Date.now());
      try {
        if (d.kind.warm && !d.isStatic && !this.lanes.sessionsBroken && !this.session) await this.startSession(ws);
        if (d.ctl.signal.aborted) break;
        if (this.session) await this.runBatch(this.session.s, this.session.id, unit);
        else await this.runUnitProcess(unit, ws);
      } finally {
        d.progress.inFlight.delete(unit);
        d.progress.report();
      }
    }
  }

  private async startSession(ws: Workspace): Promise<void> {
    const { d, slot } = this;
    const tmp = await ws.tempDir();
    const id = d.nextId();
    // On this machine node starts with the options the config asked for last time, so the
    // runner need not start node a second time to apply them (it does when they changed).
    const nodeArgs = slot.worker === d.pool.workers[0] && ws.worker === 'local' ? d.memory.knownNodeArgs : undefined;
    const env = shardEnv(tmp, slot.portBase, id);
    const started = await MochaSession.start(ws, tmp, {
      env: nodeArgs?.length
        ? { ...env, TMPDIR: tmpdir(), TMP: tmpdir(), TEMP: tmpdir(), IMMUNE_SHARD_TMPDIR: tmp, IMMUNE_NODE_ARGS: JSON.stringify(nodeArgs) }
        : env,
      signal: d.ctl.signal,
      watch: { timeoutMs: d.config.timeout, idleMs: d.config.test_timeout + 2_000, startupMs: STARTUP_GRACE_MS },
      mocharc: { timeout: d.config.test_timeout },
      nodeArgs,
    });
    if ('session' in started && ws.worker === 'local') d.memory.knownNodeArgs = started.session.nodeArgs;
    if ('session' in started) {
      this.session = { s: started.session, id, t: d.progress.newShard(true) };
      d.log.debug({ slot: slot.index, ms: Date.now() - started.session.started }, 'mocha runner ready');
    } else if (!d.ctl.signal.aborted) {
      this.lanes.sessionsBroken = true;
      d.log.warn(
        {
          worker: slot.worker.name,
          exit: started.failed.exitCode,
          killed: started.failed.killed,
          output: lastLines(started.failed.tail, 5),
        },
        'mocha runner could not start: one process per unit instead',
      );
    }
  }

  private async endSession(died?: ExecResult): Promise<void> {
    if (!this.session) return;
    const { s, id, t } = this.session;
    this.session = undefined;
    const exec = died ?? (await s.close());
    this.d.results.shards.push({
      id,
      worker: `${this.slot.worker.name}#${this.slot.index}`,
      tests: s.tests,
      durationMs: exec.durationMs,
      ok: s.ok && !died,
    });
    t.done = true;
    this.d.progress.report();
  }

  /** One unit in the lane's warm runner; a runner that dies (hang, crash) takes the test it was running with it. */
  private async runBatch(s: MochaSession, shardId: number, unit: WorkUnit): Promise<void> {
    const { d, slot } = this;
    const t0 = Date.now();
    const b = await s.run([unit.file], unit.select, (r) => d.progress.count(r));
    d.log.debug(
      {
        unit: unit.id,
        slot: slot.index,
        ms: Date.now() - t0,
        estimateMs: Math.round(unit.estimateMs),
        loadMs: Math.round(sum(b.loads.map((l) => ({ estimateMs: l.ms })))),
        testMs: sum(b.results.map((r) => ({ estimateMs: r.durationMs }))),
      },
      'batch done',
    );
    d.results.addLoads(b.loads);
    const results = b.results.map((r) => (r.error ? { ...r, error: trimError(r.error) } : r));
    const seen = new Set(results.map((r) => r.id));
    const unreported = unit.tests.filter((t) => !seen.has(t.id));
    const job: ShardJob = { id: shardId, tests: unit.tests, files: [unit.file], select: unit.select, estimateMs: unit.estimateMs };
    const fail = (r: TestCaseResult) => {
      results.push(r);
      d.progress.count(r);
    };
    if (b.died) {
      await this.endSession(b.died);
      if (b.died.killed !== 'aborted') {
        const why = killedWhy(d.config, b.died) ?? `runner exited ${b.died.exitCode ?? '?'} in the middle of a batch`;
        // The test it was running (mocha said it began and never finished), else the first it did not reach.
        const began = b.running && !seen.has(`${b.running.file}::${b.running.title}`) ? b.running : undefined;
        const hung = began ? { id: `${began.file}::${began.title}`, ...began } : unreported[0];
        if (hung)
          fail({
            id: hung.id,
            file: hung.file,
            title: hung.title,
            state: 'failed',
            durationMs: b.died.durationMs,
            error: `${why}\n${lastLines(b.died.tail)}`,
          });
        else fail(runnerFailure(job, why, b.died));
        // The rest of the unit runs again, without the test that hung; a runner that died before any test began is not retried as it was.
        if (hung) this.lanes.requeue(unit, remainder(unit, new Set([...results.map((r) => r.title)])));
      }
    } else if (b.error) {
      fail({ ...runnerFailure(job, 'could not load the batch', undefined), error: trimError(b.error) });
    } else if (!d.results.fromHistory || results.some((r) => r.state === 'failed')) {
      // Listed but not reported: excluded by .only, or under a failed hook.
      for (const t of unreported) results.push({ id: t.id, file: t.file, title: t.title, state: 'skipped', durationMs: 0 });
    } else {
      // Expected from history, not in the file any more: gone from the suite.
      for (const t of unreported) d.results.gone.add(t.id);
    }
    d.absorb(job, slot, results);
  }

  /** One unit as a process of its own (node:test files, a command, or mocha without a warm runner). */
  private async runUnitProcess(unit: WorkUnit, ws: Workspace): Promise<void> {
    const { d, slot } = this;
    const t = d.progress.newShard(true);
    const job: ShardJob = {
      id: d.nextId(),
      tests: unit.tests,
      files: [unit.file],
      select: unit.select,
      fromHistory: d.results.fromHistory,
      estimateMs: unit.estimateMs,
    };
    try {
      const out = await runShard(d.kind, d.config, job, slot, ws, d.ctl.signal, (r) => d.progress.count(r));
      d.results.shards.push(shardSummary(out));
      d.absorb(job, slot, out.results);
      if (out.notRun.length) this.lanes.requeue(unit, remainder(unit, new Set(out.results.map((r) => r.title))));
      else if (d.results.fromHistory && !out.exec.killed && out.results.every((r) => r.state !== 'failed')) {
        const seen = new Set(out.results.map((r) => r.id));
        for (const u of unit.tests) if (!seen.has(u.id)) d.results.gone.add(u.id);
      }
    } finally {
      t.done = true;
    }
  }
}
