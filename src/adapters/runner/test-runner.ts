// The TestRunner: discover the suite, plan shards from history, run them on local and SSH worker
// slots (bounded by p-limit), re-run failures on another worker to tell flakes from real failures,
// stop early on a confirmed failure, and report per-test results, shards and progress.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import { flakeDecisions, retriesFor, type FlakeDecision } from '../../core/tests/flake-policy.js';
import { estimateDurations, etaMs, type EstimatedTest, type Shard, type SuiteTest } from '../../core/tests/shard-plan.js';
import { dispatchOrder, loadCosts, medianFileMs, planUnits, planUnitsFromHistory, queueMakespan, remainder, suiteFromHistory, type Selection, type WorkUnit } from '../../core/tests/work-queue.js';
import type { Checkout, TestCaseResult, TestHistoryStore, TestProgress, TestReport, TestRunner } from '../../ports.js';
import { localWorker, SetupError } from './local-worker.js';
import { isHookTitle, mochaCommand, mochaRcSource, parseMochaLine } from './mocha.js';
import { grepOf, MochaSession } from './mocha-session.js';
import { expandGlobs, nodeTestCommand, nodeTestReporterSource, parseNodeTestLine } from './node-test.js';
import { sshWorker } from './ssh-worker.js';
import type { ExecResult, Worker, Workspace } from './workspace.js';

export interface RunOptions {
  /** Run only these test ids (culprit search re-runs just the failing tests). */
  only?: string[];
}

/** A report with every test's result, for the history store. */
export interface RunReport extends TestReport {
  results: TestCaseResult[];
  /** Flake policy decisions taken before this run (reported, quarantined, released). */
  flakeDecisions: FlakeDecision[];
  /** Mean load time per test file in this run (warm mocha runners), for the history. */
  fileLoads?: { file: string; ms: number }[];
}

export interface ShardableRunner extends TestRunner {
  /** Worker slots: how many shards (or culprit probes) can run at once. */
  readonly slots: number;
  run(checkout: Checkout, signal: AbortSignal, progress?: (p: TestProgress) => void, opts?: RunOptions): Promise<RunReport>;
  close(): Promise<void>;
}

interface Slot {
  index: number;
  worker: Worker;
  /** PORT_BASE for shards on this slot: distinct per slot so concurrent shards never share ports. */
  portBase: number;
}

/** What one shard process runs. */
interface ShardJob {
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

interface ShardOutcome {
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
type Listing = { tests: SuiteTest[] } | { files: string[] } | { error: string } | { failed: unknown } | 'fallback';

const PORT_BASE = 20_000;
const PORTS_PER_SLOT = 100;
const STARTUP_GRACE_MS = 15_000;

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
  const slots: Slot[] = [];
  for (const w of workers) for (let i = 0; i < w.slots; i++) slots.push({ index: slots.length, worker: w, portBase: PORT_BASE + slots.length * PORTS_PER_SLOT });
  const free = [...slots];
  const limit = pLimit(slots.length);
  const hasOtherWorker = new Set(workers.map((w) => w.name)).size > 1;

  /** Node options of the project's mocha config, as the last local runner reported them. */
  let knownNodeArgs: string[] | undefined;

  /** Whether a re-run avoiding `avoid` is in the right place on `slot`: another machine where there is one, else another slot. */
  const away = (slot: Slot, avoid: NonNullable<ShardJob['avoid']>): boolean => (hasOtherWorker ? slot.worker.name !== avoid.worker : slot.index !== avoid.slot);

  /** Take a free slot (inside the limit one always is), preferring one away from `avoid`. */
  const take = (avoid?: ShardJob['avoid']): Slot => {
    let i = -1;
    if (avoid && hasOtherWorker) i = free.findIndex((s) => s.worker.name !== avoid.worker);
    if (i < 0 && avoid) i = free.findIndex((s) => s.index !== avoid.slot);
    if (i < 0) i = 0;
    return free.splice(i, 1)[0]!;
  };

  const run = async (checkout: Checkout, signal: AbortSignal, progress?: (p: TestProgress) => void, runOpts: RunOptions = {}): Promise<RunReport> => {
    const started = Date.now();
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal.reason);
    if (signal.aborted) ctl.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    const spaces = new Map<Worker, Promise<Workspace>>();
    const workspace = (w: Worker): Promise<Workspace> => {
      let p = spaces.get(w);
      if (!p) {
        p = w.open(checkout, config.setup, ctl.signal, config.timeout);
        spaces.set(w, p);
      }
      return p;
    };
    const rlog = log.child({ sha: checkout.sha });
    try {
      // Flake policy first, so a test quarantined by past runs gets its extra re-runs now.
      const stats = await history.stats();
      const decisions = flakeDecisions(stats, { flakyRate: config.flaky_rate, quarantine: config.quarantine });
      for (const d of decisions) {
        if (d.action === 'quarantine') await history.setQuarantined(d.id, true);
        if (d.action === 'release') await history.setQuarantined(d.id, false);
      }
      const quarantined = new Set(stats.filter((s) => s.quarantined).map((s) => s.id));
      // A whole mocha run with history is planned from it: the runners then only name the spec files,
      // and skip listing every test (which loads every file once more than running them does).
      const historySuite = config.runner === 'mocha' && !opts.planner && !runOpts.only ? suiteFromHistory(stats) : undefined;
      for (const d of decisions) {
        if (d.action === 'quarantine') quarantined.add(d.id);
        if (d.action === 'release') quarantined.delete(d.id);
      }

      // Filled in once the suite is listed and planned (see below the lanes).
      const isStatic = opts.planner !== undefined;
      let tests: SuiteTest[] = [];
      let staticPlan: Shard[] | undefined = undefined;
      let loadMs = new Map<string, number>();
      let laneCount = 0;
      const queue: WorkUnit[] = [];
      let setPlanned: (ok: boolean) => void = () => undefined;
      const planned = new Promise<boolean>((resolve) => (setPlanned = resolve));

      // Progress bookkeeping: one entry per runner process (shard); the queue's ETA from what is queued and in flight.
      const track: { estimateMs: number; startedAt?: number; done: boolean }[] = [];
      const inFlight = new Map<WorkUnit, number>();
      let plannedLeft = 0;
      let passed = 0;
      let failing = 0;
      const queueEta = () => {
        const now = Date.now();
        return queueMakespan(queue.map((u) => u.estimateMs), laneCount, [...inFlight].map(([u, t]) => u.estimateMs - (now - t)));
      };
      const report = () =>
        progress?.({ shardsDone: track.filter((t) => t.done).length, shardsTotal: track.length + plannedLeft, passed, failed: failing, etaMs: isStatic ? etaMs(track, Date.now()) : queueEta() });
      const count = (r: TestCaseResult) => {
        if (r.state === 'passed') passed++;
        if (r.state === 'failed') failing++;
        report();
      };
      const newShard = (planned: boolean) => {
        const t = { estimateMs: 0, startedAt: Date.now(), done: false };
        track.push(t);
        if (planned && plannedLeft > 0) plannedLeft--;
        return t;
      };

      const final = new Map<string, TestCaseResult>();
      /** Tests history expected that a whole run of their file did not report: not in the suite any more. */
      const gone = new Set<string>();
      /** The run's tests are history's (only the spec files were listed). */
      let fromHistory = false;
      const confirmed: TestCaseResult[] = [];
      const flaky: TestCaseResult[] = [];
      const shardsOut: TestReport['shards'] = [];
      const loadSamples = new Map<string, number[]>();
      let nextId = 0;
      let stoppedEarly = false;

      /** A shard of its own process; re-runs (`counted` false) do not move the progress counts, settle() does when a flake passes. */
      const runJob = (job: ShardJob, counted = true): Promise<ShardOutcome> => {
        // ETA: what the shard's unreported tests are expected to take, counted down since its last result.
        const t = { estimateMs: job.estimateMs, done: false } as (typeof track)[number];
        const estimate = new Map(job.tests.map((x) => [x.id, x.estimateMs]));
        track.push(t);
        return limit(async () => {
          const slot = take(job.avoid);
          t.startedAt = Date.now();
          try {
            return await runShard(job, slot, await workspace(slot.worker), ctl.signal, (r) => {
              t.estimateMs = Math.max(0, t.estimateMs - (estimate.get(r.id) ?? 0));
              t.startedAt = Date.now();
              if (counted) count(r);
            });
          } finally {
            free.push(slot);
            t.done = true;
            report();
          }
        });
      };

      /** Re-run failed tests until each passes (flaky) or runs out of attempts (confirmed). */
      const settle = async (from: ShardJob, slot: Slot, failures: TestCaseResult[]): Promise<void> => {
        const rerun = isStatic ? (job: ShardJob) => runJob(job, false) : queueRetry;
        let pending = failures;
        const attempts = new Map(failures.map((f) => [f.id, 0]));
        let avoid = { worker: slot.worker.name, slot: slot.index };
        while (pending.length) {
          const retryable = pending.filter((f) => attempts.get(f.id)! < retriesFor(quarantined.has(f.id), config.retries));
          for (const f of pending.filter((p) => !retryable.includes(p))) confirm(f);
          if (!retryable.length || ctl.signal.aborted) {
            for (const f of retryable) confirm(f);
            return;
          }
          for (const f of retryable) attempts.set(f.id, attempts.get(f.id)! + 1);
          const job = retryJob(nextId++, retryable, from, avoid);
          const again = await rerun(job);
          avoid = { worker: again.slot.worker.name, slot: again.slot.index };
          shardsOut.push(shardSummary(again));
          const byId = new Map(again.results.map((r) => [r.id, r]));
          const cleanRun = again.exec.exitCode === 0 && !again.exec.killed && again.results.every((r) => r.state !== 'failed');
          const still: TestCaseResult[] = [];
          for (const f of retryable) {
            const r = byId.get(f.id);
            // A failure that is not a test of its own (hook, crash) passes only when the whole re-run is clean.
            const passedNow = r ? r.state === 'passed' : cleanRun;
            if (passedNow) {
              const fl: TestCaseResult = { ...f, state: 'passed', flaky: true, durationMs: r?.durationMs ?? f.durationMs };
              final.set(f.id, fl);
              flaky.push(fl);
              failing = Math.max(0, failing - 1);
              passed++;
              rlog.warn({ test: f.id, worker: again.slot.worker.name }, 'flaky test: failed, then passed on re-run');
            } else still.push(f);
          }
          pending = still;
          report();
        }
      };
      const confirm = (f: TestCaseResult) => {
        final.set(f.id, f);
        confirmed.push(f);
        if (config.fail_fast && !ctl.signal.aborted) {
          stoppedEarly = true;
          rlog.info({ test: f.id }, 'confirmed failure: stopping the other shards (fail_fast)');
          ctl.abort(new Error('fail_fast'));
        }
      };

      const settleAll: Promise<void>[] = [];
      /** Results of a shard or batch: kept (first result per test wins), failures re-run. */
      const absorb = (job: ShardJob, slot: Slot, results: TestCaseResult[]) => {
        for (const r of results) if (!final.has(r.id)) final.set(r.id, r);
        const failures = results.filter((r) => r.state === 'failed');
        if (failures.length) settleAll.push(settle(job, slot, failures));
      };
      const launch = (job: ShardJob): Promise<void> =>
        runJob(job).then(async (out) => {
          shardsOut.push(shardSummary(out));
          if (out.notRun.length && !ctl.signal.aborted) {
            // The shard was killed on a hang: the hung test failed; what it never reached runs now.
            const rest = launch({ id: nextId++, tests: out.notRun, files: filesOf(out.notRun), estimateMs: sum(out.notRun) });
            absorb(out.job, out.slot, out.results);
            await rest;
          } else absorb(out.job, out.slot, out.results);
        });

      // The queue: each lane takes the next unit whenever it is idle. mocha units run in one warm
      // runner per lane (MochaSession); node:test and command units, and mocha when its runner
      // cannot start, run as a process each.
      let sessionsBroken = false;
      const lanes = new Set<Promise<void>>();
      /** Slots held by this run's lanes. */
      const laneSlots = new Set<Slot>();
      let lanesStarting = 0;
      let laneError: unknown;
      const startLane = (avoid?: ShardJob['avoid'], role?: 'warm'): void => {
        lanesStarting++;
        const p: Promise<void> = limit(() => lane(avoid, role)).finally(() => {
          lanes.delete(p);
          // A re-run queued while the last lane was leaving still needs one.
          if (retries.length && !lanes.size) startLane(retries[0]!.job.avoid);
        });
        // A lane that cannot run (a worker that cannot be reached or set up) stops the run and fails it.
        p.catch((err: unknown) => {
          laneError ??= err;
          ctl.abort(err);
          listed({ failed: err });
        });
        lanes.add(p);
      };
      // Re-runs go to the lanes too: the next lane to finish a unit on another machine (or, on one
      // machine, any lane) runs it as a process of its own; a free slot in the right place gets a lane now.
      const retries: { job: ShardJob; resolve: (o: ShardOutcome) => void }[] = [];
      const queueRetry = (job: ShardJob): Promise<ShardOutcome> =>
        new Promise((resolve) => {
          retries.push({ job, resolve });
          const avoid = job.avoid;
          const wanted = !lanes.size || (avoid && lanes.size < slots.length && free.some((sl) => away(sl, avoid)) && ![...laneSlots].some((sl) => away(sl, avoid)));
          if (wanted) startLane(avoid);
        });
      const pickRetry = (slot: Slot) => {
        let i = retries.findIndex((r) => !r.job.avoid || away(slot, r.job.avoid));
        // On one machine any slot will do; across machines, wait for a lane elsewhere if there is one.
        if (i < 0 && retries.length && (!hasOtherWorker || ![...laneSlots].some((sl) => away(sl, retries[0]!.job.avoid!)) && !lanesStarting)) i = 0;
        return i < 0 ? undefined : retries.splice(i, 1)[0];
      };
      /** What a stopped unit did not reach goes back to the front of the queue (an open unit: everything it did not report or name). */
      const requeue = (unit: WorkUnit, rest: Pick<WorkUnit, 'tests' | 'select'>) => {
        if (ctl.signal.aborted || ('only' in rest.select && !rest.select.only.length)) return;
        queue.unshift({ id: `${unit.id}+`, file: unit.file, ...rest, estimateMs: sum(rest.tests) + (loadMs.get(unit.file) ?? 0), split: true });
      };
      /** A lane: a slot held while there is work; `warm`: start its runner before the plan (and help list the suite). */
      const lane = async (avoid?: ShardJob['avoid'], role?: 'warm'): Promise<void> => {
        lanesStarting--;
        const slot = take(avoid);
        laneSlots.add(slot);
        let session: { s: MochaSession; id: number; t: (typeof track)[number] } | undefined;
        const startSession = async (ws: Workspace) => {
          const tmp = await ws.tempDir();
          const id = nextId++;
          // On this machine node starts with the options the config asked for last time, so the
          // runner need not start node a second time to apply them (it does when they changed).
          const nodeArgs = slot.worker === workers[0] && ws.worker === 'local' ? knownNodeArgs : undefined;
          const env = shardEnv(tmp, slot.portBase, id);
          const started = await MochaSession.start(ws, tmp, {
            env: nodeArgs?.length ? { ...env, TMPDIR: tmpdir(), TMP: tmpdir(), TEMP: tmpdir(), IMMUNE_SHARD_TMPDIR: tmp, IMMUNE_NODE_ARGS: JSON.stringify(nodeArgs) } : env,
            signal: ctl.signal,
            watch: { timeoutMs: config.timeout, idleMs: config.test_timeout + 2_000, startupMs: STARTUP_GRACE_MS },
            mocharc: { timeout: config.test_timeout },
            nodeArgs,
          });
          if ('session' in started && ws.worker === 'local') knownNodeArgs = started.session.nodeArgs;
          if ('session' in started) {
            session = { s: started.session, id, t: newShard(true) };
            rlog.debug({ slot: slot.index, ms: Date.now() - started.session.started }, 'mocha runner ready');
          } else if (!ctl.signal.aborted) {
            sessionsBroken = true;
            rlog.warn({ worker: slot.worker.name, exit: started.failed.exitCode, killed: started.failed.killed, output: lastLines(started.failed.tail, 5) }, 'mocha runner could not start: one process per unit instead');
          }
        };
        const endSession = async (died?: ExecResult) => {
          if (!session) return;
          const { s, id, t } = session;
          session = undefined;
          const exec = died ?? (await s.close());
          shardsOut.push({ id, worker: `${slot.worker.name}#${slot.index}`, tests: s.tests, durationMs: exec.durationMs, ok: s.ok && !died });
          t.done = true;
          report();
        };
        try {
          const ws = await workspace(slot.worker);
          // Warm runners start before the plan; those on this machine list the suite between them
          // (a part each, a dry run), which leaves them warm for their units.
          if (role && !sessionsBroken) await startSession(ws);
          if (role && slot.worker === workers[0]) {
            if (!session && listParts.length) listed('fallback');
            if (historySuite) {
              // From history only the spec files are needed, which the first runner names at once.
              if (session && listParts.splice(0).length) await expandSpec(session.s, endSession);
            } else for (let part = listParts.shift(); part !== undefined && session; part = listParts.shift()) await listPart(session.s, part, endSession);
          }
          if (!(await planned)) return;
          for (;;) {
            const retry = pickRetry(slot);
            if (retry) {
              const t = newShard(false);
              try {
                retry.resolve(await runShard(retry.job, slot, ws, ctl.signal, () => undefined));
              } finally {
                t.done = true;
                report();
              }
              continue;
            }
            if (ctl.signal.aborted) break;
            const unit = queue.shift();
            if (!unit) break;
            inFlight.set(unit, Date.now());
            try {
              if (config.runner === 'mocha' && !isStatic && !sessionsBroken && !session) await startSession(ws);
              if (ctl.signal.aborted) break;
              if (session) await runBatch(session.s, session.id, unit, slot, endSession);
              else await runUnitProcess(unit, slot, ws);
            } finally {
              inFlight.delete(unit);
              report();
            }
          }
        } finally {
          // The slot counts as this run's until it is free again, so a re-run meant for it waits for it.
          await endSession();
          laneSlots.delete(slot);
          free.push(slot);
          const waiting = retries.find((r) => r.job.avoid && away(slot, r.job.avoid));
          if (waiting && !ctl.signal.aborted) startLane(waiting.job.avoid);
        }
      };

      /** One unit in the lane's warm runner; a runner that dies (hang, crash) takes the test it was running with it. */
      const runBatch = async (s: MochaSession, shardId: number, unit: WorkUnit, slot: Slot, endSession: (died?: ExecResult) => Promise<void>) => {
        const t0 = Date.now();
        const b = await s.run([unit.file], unit.select, count);
        rlog.debug({ unit: unit.id, slot: slot.index, ms: Date.now() - t0, estimateMs: Math.round(unit.estimateMs), loadMs: Math.round(sum(b.loads.map((l) => ({ estimateMs: l.ms })))), testMs: sum(b.results.map((r) => ({ estimateMs: r.durationMs }))) }, 'batch done');
        for (const l of b.loads) loadSamples.set(l.file, [...(loadSamples.get(l.file) ?? []), l.ms]);
        const results = b.results.map((r) => (r.error ? { ...r, error: trimError(r.error) } : r));
        const seen = new Set(results.map((r) => r.id));
        const unreported = unit.tests.filter((t) => !seen.has(t.id));
        const job: ShardJob = { id: shardId, tests: unit.tests, files: [unit.file], select: unit.select, estimateMs: unit.estimateMs };
        const fail = (r: TestCaseResult) => {
          results.push(r);
          count(r);
        };
        if (b.died) {
          await endSession(b.died);
          if (b.died.killed !== 'aborted') {
            const why = killedWhy(b.died) ?? `runner exited ${b.died.exitCode ?? '?'} in the middle of a batch`;
            // The test it was running (mocha said it began and never finished), else the first it did not reach.
            const began = b.running && !seen.has(`${b.running.file}::${b.running.title}`) ? b.running : undefined;
            const hung = began ? { id: `${began.file}::${began.title}`, ...began } : unreported[0];
            if (hung) fail({ id: hung.id, file: hung.file, title: hung.title, state: 'failed', durationMs: b.died.durationMs, error: `${why}\n${lastLines(b.died.tail)}` });
            else fail(runnerFailure(job, why, b.died));
            // The rest of the unit runs again, without the test that hung; a runner that died before any test began is not retried as it was.
            if (hung) requeue(unit, remainder(unit, new Set([...results.map((r) => r.title)])));
          }
        } else if (b.error) {
          fail({ ...runnerFailure(job, 'could not load the batch', undefined), error: trimError(b.error) });
        } else if (!fromHistory || results.some((r) => r.state === 'failed')) {
          // Listed but not reported: excluded by .only, or under a failed hook.
          for (const t of unreported) results.push({ id: t.id, file: t.file, title: t.title, state: 'skipped', durationMs: 0 });
        } else {
          // Expected from history, not in the file any more: gone from the suite.
          for (const t of unreported) gone.add(t.id);
        }
        absorb(job, slot, results);
      };

      /** One unit as a process of its own (node:test files, a command, or mocha without a warm runner). */
      const runUnitProcess = async (unit: WorkUnit, slot: Slot, ws: Workspace) => {
        const t = newShard(true);
        const job: ShardJob = { id: nextId++, tests: unit.tests, files: [unit.file], select: unit.select, fromHistory, estimateMs: unit.estimateMs };
        try {
          const out = await runShard(job, slot, ws, ctl.signal, count);
          shardsOut.push(shardSummary(out));
          absorb(job, slot, out.results);
          if (out.notRun.length) requeue(unit, remainder(unit, new Set(out.results.map((r) => r.title))));
          else if (fromHistory && !out.exec.killed && out.results.every((r) => r.state !== 'failed')) {
            const seen = new Set(out.results.map((r) => r.id));
            for (const t of unit.tests) if (!seen.has(t.id)) gone.add(t.id);
          }
        } finally {
          t.done = true;
        }
      };

      /**
       * One part of the suite from a warm runner's dry run (what `mocha --dry-run` lists), with
       * mocha's loader error when a file does not load; the listing is done when every part is in.
       */
      const listParts = Array.from({ length: Math.max(1, workers[0]!.slots) }, (_, i) => i);
      /** From history: the first runner names the spec files (mocha's rules, nothing loaded). */
      const expandSpec = async (s: MochaSession, endSession: (died?: ExecResult) => Promise<void>): Promise<void> => {
        const out = await s.expand(config.files);
        if ('files' in out) return listed(out.files.length ? { files: out.files } : { error: `no tests found in ${config.files.join(', ')}` });
        const b = out.failed;
        if (b.died) {
          await endSession(b.died);
          if (b.died.killed === 'aborted') return listed({ failed: ctl.signal.reason });
        }
        listed({ error: `mocha could not find the spec files:\n${lastLines(b.error ?? b.died?.tail ?? '')}` });
      };
      const listedTests: SuiteTest[][] = [];
      const listPart = async (s: MochaSession, part: number, endSession: (died?: ExecResult) => Promise<void>): Promise<void> => {
        const b = await s.discover(config.files, part, Math.max(1, workers[0]!.slots));
        if (b.died) {
          await endSession(b.died);
          if (b.died.killed === 'aborted') return listed({ failed: ctl.signal.reason });
          return listed({ error: `mocha could not load the suite (${b.died.killed ? `killed: ${b.died.killed}` : `exit ${b.died.exitCode ?? '?'}`}):\n${lastLines(b.died.tail)}` });
        }
        if (b.error) return listed({ error: `mocha could not load the suite:\n${lastLines(b.error)}` });
        listedTests[part] = b.results.map((r) => ({ id: r.id, file: r.file, title: r.title }));
        if (listedTests.filter(Boolean).length < Math.max(1, workers[0]!.slots)) return;
        const all = dedupe(listedTests.flat());
        listed(all.length ? { tests: all } : { error: `no tests found in ${config.files.join(', ')}` });
      };

      // Re-running named mocha tests needs no discovery: the ids say file and full title.
      // Hook failures and crashed shards are not tests of their own: those need the files discovered.
      const onlyTests = runOpts.only?.map((id) => ({ id, file: fileOf(id), title: id.slice(fileOf(id).length + 2) }));
      const named = config.runner === 'mocha' && onlyTests?.length && onlyTests.every((t) => t.file !== t.id && isNamedTest(t)) ? onlyTests : undefined;
      // mocha with the queue: a warm runner per slot starts now, and the first lists the suite.
      const warmStart = config.runner === 'mocha' && !isStatic && !named;
      let listed: (l: Listing) => void = () => undefined;
      const listing = new Promise<Listing>((resolve) => (listed = resolve));
      if (warmStart) for (let i = 0; i < slots.length; i++) startLane(undefined, 'warm');
      const stopLanes = async () => {
        setPlanned(false);
        while (lanes.size) await Promise.allSettled([...lanes]);
      };

      const listedSuite: Listing = named ? { tests: named } : warmStart ? await listing : 'fallback';
      const suite = listedSuite === 'fallback' && !ctl.signal.aborted ? await discover(await workspace(workers[0]!), ctl.signal) : listedSuite;
      // Stopped while listing: the caller aborted, or a lane could not run.
      if (suite === 'fallback' || 'failed' in suite || ctl.signal.aborted) {
        await stopLanes();
        throw signal.aborted ? signal.reason : (laneError ?? (typeof suite === 'object' && 'failed' in suite ? suite.failed : ctl.signal.reason));
      }
      if ('error' in suite) {
        await stopLanes();
        return failedReport(checkout.sha, started, 'discovery', suite.error, decisions);
      }
      // Only the spec files listed: the tests are history's (of the files there still are), and the plan is open to others.
      const specFiles = 'files' in suite ? suite.files : undefined;
      fromHistory = specFiles !== undefined;
      const present = new Set(specFiles);
      tests = 'tests' in suite ? suite.tests : (historySuite ?? []).filter((t) => present.has(t.file));
      if (runOpts.only && config.runner !== 'command' && !named) tests = selectOnly(tests, runOpts.only);
      const known = await history.durations(config.runner === 'node-test' ? undefined : tests.map((t) => t.id));
      const estimated = config.runner === 'node-test' ? estimateFiles(tests, known) : estimateDurations(tests, known);
      staticPlan = opts.planner?.(estimated, slots.length);
      if (config.runner === 'mocha' && !isStatic) loadMs = loadCosts(specFiles ?? filesOf(estimated), (await history.fileLoads?.()) ?? new Map());
      const units = isStatic
        ? []
        : dispatchOrder(
            specFiles ? planUnitsFromHistory(specFiles, estimated, slots.length, loadMs, medianFileMs(estimated)) : planUnits(estimated, slots.length, loadMs),
            slots.length,
            undefined,
            new Set(stats.filter((x) => x.lastFailed).map((x) => x.id)),
          );
      rlog.debug({ from: specFiles ? 'history' : 'listing', files: specFiles?.length }, 'suite');
      queue.push(...units);
      // Lanes: one per slot this run can use; each holds a slot while the queue has work for it.
      laneCount = Math.min(slots.length, units.length);
      plannedLeft = isStatic ? 0 : config.runner === 'mocha' ? Math.max(0, laneCount - track.length) : units.length;
      rlog.info(
        staticPlan
          ? { tests: tests.length, shards: staticPlan.length, estimateMs: Math.max(0, ...staticPlan.map((s) => s.estimateMs)) }
          : { tests: tests.length, units: units.length, lanes: laneCount, estimateMs: queueMakespan(units.map((u) => u.estimateMs), laneCount) },
        'tests planned',
      );

      if (staticPlan) {
        setPlanned(true);
        const launched = staticPlan.map((s) => launch({ id: nextId++, tests: s.tests, files: filesOf(s.tests), estimateMs: s.estimateMs }));
        report();
        await Promise.all(launched);
      } else {
        setPlanned(true);
        if (!warmStart) for (let i = 0; i < laneCount; i++) startLane();
        report();
      }
      // Until nothing is running: lanes (which may start more lanes) and flake re-runs (which may need lanes).
      for (;;) {
        if (lanes.size) {
          await Promise.all([...lanes]);
          continue;
        }
        const n = settleAll.length;
        await Promise.all(settleAll);
        if (!lanes.size && settleAll.length === n) break;
      }
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      if (laneError) throw laneError;
      const results = [...final.values()];
      const ran = new Set(results.map((r) => r.id));
      const notRun = config.runner === 'node-test' ? 0 : tests.filter((t) => !ran.has(t.id) && !gone.has(t.id)).length;
      const ok = confirmed.length === 0;
      const summary = summarize(ok, results, confirmed, flaky, notRun, stoppedEarly, decisions);
      shardsOut.sort((a, b) => a.id - b.id);
      return {
        sha: checkout.sha,
        ok,
        total: config.runner === 'node-test' ? Math.max(results.length, tests.length) : results.length + notRun,
        passed: results.filter((r) => r.state === 'passed').length,
        failed: confirmed,
        flaky,
        durationMs: Date.now() - started,
        shards: shardsOut,
        summary,
        results,
        flakeDecisions: decisions,
        fileLoads: [...loadSamples].map(([file, ms]) => ({ file, ms: ms.reduce((a, b) => a + b, 0) / ms.length })),
      };
    } catch (err) {
      if (err instanceof SetupError) return failedReport(checkout.sha, started, 'setup', err.message, []);
      throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.all([...spaces.values()].map((p) => p.then((w) => w.dispose()).catch(() => undefined)));
    }
  };

  /** The suite's tests: mocha's own dry run, node:test files, or one opaque command. */
  const discover = async (ws: Workspace, signal: AbortSignal): Promise<{ tests: SuiteTest[] } | { error: string }> => {
    if (config.runner === 'command') return { tests: [{ id: 'command', file: '', title: (config.command ?? []).join(' ') }] };
    if (config.runner === 'node-test') {
      if (ws.worker !== 'local') throw new Error('discovery runs on the local worker');
      const files = await expandGlobs(ws.dir, config.files);
      if (!files.length) return { error: `no test files match ${config.files.join(', ')}` };
      return { tests: files.map((f) => ({ id: f, file: f, title: f })) };
    }
    if (ws.worker === 'local' && !existsSync(join(ws.dir, 'node_modules', 'mocha', 'bin', 'mocha.js'))) {
      return { error: `mocha is not installed in the checkout (no node_modules/mocha): add an install step such as [npm, ci] to tests.setup` };
    }
    const tmp = await ws.tempDir();
    const rc = posix.join(tmp, 'immune-mocharc.cjs');
    await ws.writeFile(rc, mochaRcSource({ spec: config.files, 'dry-run': true, reporter: 'json-stream', parallel: false }));
    const tests: SuiteTest[] = [];
    const res = await ws.exec(mochaCommand(rc), {
      env: shardEnv(tmp, PORT_BASE, -1),
      timeoutMs: config.timeout,
      signal,
      onLine: (line) => {
        const ev = parseMochaLine(line);
        if (ev?.kind === 'pass' && ev.fullTitle !== undefined) {
          const file = rel(ws.dir, ev.file ?? '');
          tests.push({ id: `${file}::${ev.fullTitle}`, file, title: ev.fullTitle });
          return true;
        }
        return false;
      },
    });
    if (res.exitCode !== 0 || res.killed) return { error: `mocha could not load the suite (${res.killed ? `killed: ${res.killed}` : `exit ${res.exitCode ?? '?'}`}):\n${lastLines(res.tail)}` };
    if (!tests.length) return { error: `no tests found in ${config.files.join(', ')}` };
    return { tests: dedupe(tests) };
  };

  const runShard = async (job: ShardJob, slot: Slot, ws: Workspace, signal: AbortSignal, onResult: (r: TestCaseResult) => void): Promise<ShardOutcome> => {
    const tmp = await ws.tempDir();
    const env = shardEnv(tmp, slot.portBase, job.id);
    const results: TestCaseResult[] = [];
    const push = (r: TestCaseResult) => {
      results.push(r);
      onResult(r);
    };
    let cmd: string[];
    let onLine: ((line: string) => boolean) | undefined;
    if (config.runner === 'mocha') {
      const rc = posix.join(tmp, 'immune-mocharc.cjs');
      const { grep, invert } = grepOf(job.select ?? { only: job.tests.map((t) => t.title) }, {});
      await ws.writeFile(rc, mochaRcSource({ spec: job.files, ...(grep ? { grep, invert: !!invert } : {}), reporter: 'json-stream', parallel: false, timeout: config.test_timeout, exit: true }));
      cmd = mochaCommand(rc);
      onLine = (line) => {
        const ev = parseMochaLine(line);
        if (!ev || (ev.kind !== 'pass' && ev.kind !== 'fail') || ev.fullTitle === undefined) return false;
        const file = rel(ws.dir, ev.file ?? '');
        push({ id: `${file}::${ev.fullTitle}`, file, title: ev.fullTitle, state: ev.kind === 'pass' ? 'passed' : 'failed', durationMs: ev.durationMs ?? 0, ...(ev.error ? { error: trimError(ev.error) } : {}) });
        return true;
      };
    } else if (config.runner === 'node-test') {
      const reporter = posix.join(tmp, 'immune-reporter.mjs');
      await ws.writeFile(reporter, nodeTestReporterSource);
      cmd = nodeTestCommand(reporter, config.test_timeout, job.files);
      onLine = (line) => {
        const ev = parseNodeTestLine(line);
        if (!ev) return false;
        const file = rel(ws.dir, ev.file);
        push({ id: `${file}::${ev.title}`, file, title: ev.title, state: ev.kind === 'pass' ? 'passed' : ev.kind === 'fail' ? 'failed' : 'skipped', durationMs: ev.durationMs, ...(ev.error ? { error: trimError(ev.error) } : {}) });
        return true;
      };
    } else cmd = config.command!;

    const idleMs = config.runner === 'command' ? undefined : config.test_timeout + 2_000;
    const exec = await ws.exec(cmd, { env, timeoutMs: config.timeout, idleMs, startupMs: STARTUP_GRACE_MS, signal, onLine });
    const seen = new Set(results.map((r) => r.id));
    let notRun: EstimatedTest[] = [];
    const why = killedWhy(exec);

    if (config.runner === 'command') {
      const ok = exec.exitCode === 0 && !exec.killed;
      if (exec.killed !== 'aborted') push({ id: 'command', file: '', title: cmd.join(' '), state: ok ? 'passed' : 'failed', durationMs: exec.durationMs, ...(ok ? {} : { error: `${why ?? `exit ${exec.exitCode ?? '?'}`}\n${lastLines(exec.tail)}` }) });
    } else if (config.runner === 'mocha') {
      const unreported = job.tests.filter((t) => !seen.has(t.id));
      if (why && unreported.length) {
        const [hung, ...rest] = unreported;
        push({ id: hung!.id, file: hung!.file, title: hung!.title, state: 'failed', durationMs: exec.durationMs, error: `${why}\n${lastLines(exec.tail)}` });
        notRun = rest;
      } else if (!exec.killed && !job.fromHistory) {
        // Selected but not reported: pending (it.skip) or excluded by .only. (Expected from history: perhaps gone, the caller decides.)
        for (const t of unreported) results.push({ id: t.id, file: t.file, title: t.title, state: 'skipped', durationMs: 0 });
      }
    }
    // A runner that failed without naming a failed test (crash, load error, hook) still fails the shard.
    const anyFailed = results.some((r) => r.state === 'failed');
    if (!anyFailed && exec.killed !== 'aborted' && (exec.killed || exec.exitCode !== 0)) push(runnerFailure(job, why ?? `runner exited ${exec.exitCode ?? '?'} without a failed test`, exec));
    return { job, slot, results, exec, notRun };
  };

  /** Why immune killed a runner, for the failure it causes. */
  const killedWhy = (exec: ExecResult): string | undefined =>
    exec.killed === 'idle' ? `killed: no test finished within ${Math.round((config.test_timeout + 2_000) / 1000)}s (test_timeout ${config.test_timeout / 1000}s)` : exec.killed === 'timeout' ? `killed: shard timeout ${config.timeout / 1000}s` : undefined;

  /** A failure that is not a test of its own: the runner crashed, was killed, or could not load its files. */
  const runnerFailure = (job: ShardJob, why: string, exec: ExecResult | undefined): TestCaseResult => {
    const file = job.files[0] ?? '';
    return { id: `${file}::(shard ${job.id})`, file, title: `(runner for ${job.files.join(', ') || 'command'})`, state: 'failed', durationMs: exec?.durationMs ?? 0, error: exec ? `${why}\n${lastLines(exec.tail)}` : why };
  };

  /** A shard re-running the given failures (mocha: just those tests, or their file for a hook failure). */
  const retryJob = (id: number, failures: TestCaseResult[], from: ShardJob, avoid: ShardJob['avoid']): ShardJob => {
    const tests: EstimatedTest[] = [];
    let whole = false;
    for (const f of failures) {
      const planned = from.tests.find((t) => t.id === f.id);
      const ofFile = from.tests.filter((t) => t.file === f.file);
      if (planned) tests.push(planned);
      // A test the unit was not known to hold (planned from history, added since): by its name.
      else if (config.runner === 'mocha' && isNamedTest(f)) tests.push({ id: f.id, file: f.file, title: f.title, estimateMs: f.durationMs, known: false });
      else if (ofFile.length) tests.push(...ofFile);
      else whole = true;
    }
    const uniq = [...new Map(tests.map((t) => [t.id, t])).values()];
    if (config.runner === 'command') return { id, tests: from.tests, files: [], estimateMs: sum(from.tests), avoid };
    // A hook or the runner failed where no test was known: the unit's files again, whole.
    if (whole || !uniq.length) return { id, tests: from.tests, files: [...new Set([...from.files, ...filesOf(uniq)])], select: { except: [] }, fromHistory: from.fromHistory, estimateMs: sum(from.tests), avoid };
    return { id, tests: uniq, files: filesOf(uniq), estimateMs: sum(uniq), avoid };
  };

  return {
    slots: slots.length,
    run,
    async close() {
      await Promise.all(workers.map((w) => w.close?.()));
    },
  };
}

function shardEnv(tmp: string, portBase: number, shard: number): Record<string, string> {
  // IMMUNE_TOOL_TMPDIR: where a warm runner's compiler keeps its cache (local workers; SSH workers use their own default).
  return { ...(process.env as Record<string, string>), TMPDIR: tmp, TMP: tmp, TEMP: tmp, PORT_BASE: String(portBase), IMMUNE_SHARD: String(shard), IMMUNE_TOOL_TMPDIR: tmpdir(), CI: 'true' };
}

function shardSummary(o: ShardOutcome): TestReport['shards'][number] {
  return { id: o.job.id, worker: `${o.slot.worker.name}#${o.slot.index}`, tests: o.results.length, durationMs: o.exec.durationMs, ok: o.results.every((r) => r.state !== 'failed') && !o.exec.killed };
}

function failedReport(sha: string, started: number, what: string, message: string, decisions: FlakeDecision[]): RunReport {
  const r: TestCaseResult = { id: `(${what})`, file: '', title: what, state: 'failed', durationMs: Date.now() - started, error: message };
  return { sha, ok: false, total: 0, passed: 0, failed: [r], flaky: [], durationMs: Date.now() - started, shards: [], summary: `${what} failed: ${message.split('\n')[0]}`, results: [], flakeDecisions: decisions };
}

function summarize(ok: boolean, results: TestCaseResult[], failed: TestCaseResult[], flaky: TestCaseResult[], notRun: number, stopped: boolean, decisions: FlakeDecision[]): string {
  const passed = results.filter((r) => r.state === 'passed').length;
  const parts = [ok ? `${passed} passed` : `${failed.length} failed, ${passed} passed`];
  if (flaky.length) parts.push(`${flaky.length} flaky (passed on re-run: ${flaky.map((f) => f.title).slice(0, 3).join('; ')})`);
  if (notRun && stopped) parts.push(`${notRun} not run (stopped early)`);
  const q = decisions.filter((d) => d.action === 'quarantine');
  if (q.length) parts.push(`quarantined as flaky: ${q.map((d) => `${d.id} (${(d.rate * 100).toFixed(1)}%)`).join(', ')}`);
  const over = decisions.filter((d) => d.action === 'report');
  if (over.length) parts.push(`flaking over the allowed rate: ${over.map((d) => `${d.id} (${(d.rate * 100).toFixed(1)}%)`).join(', ')}`);
  let s = parts.join(', ');
  if (failed.length) s += `\n${failed.slice(0, 5).map((f) => `✗ ${f.id}: ${(f.error ?? '').split('\n')[0]}`).join('\n')}`;
  return s;
}

function estimateFiles(files: SuiteTest[], known: ReadonlyMap<string, number>): EstimatedTest[] {
  const perFile = new Map<string, number>();
  for (const [id, ms] of known) {
    const f = fileOf(id);
    perFile.set(f, (perFile.get(f) ?? 0) + ms);
  }
  return estimateDurations(files, perFile, 1000);
}

/** The tests named, plus whole files for ids that are not tests of their own (hooks); all when nothing matches. */
function selectOnly(tests: SuiteTest[], only: string[]): SuiteTest[] {
  const byId = new Set(tests.map((t) => t.id));
  const want = new Set(only);
  const files = new Set(only.filter((id) => !byId.has(id)).map(fileOf));
  const picked = tests.filter((t) => want.has(t.id) || files.has(t.file));
  return picked.length ? picked : tests;
}

/** A test mocha can run again by its full title: not a hook failure, not a runner's failure of its own. */
function isNamedTest(t: { title: string }): boolean {
  return !t.title.startsWith('(') && !isHookTitle(t.title.replace(/^.*?(?="(before|after) (all|each)" hook)/, ''));
}

function fileOf(id: string): string {
  const at = id.indexOf('::');
  return at < 0 ? id : id.slice(0, at);
}

function filesOf(tests: { file: string }[]): string[] {
  return [...new Set(tests.map((t) => t.file))];
}

function sum(tests: { estimateMs: number }[]): number {
  return tests.reduce((s, t) => s + t.estimateMs, 0);
}

function rel(dir: string, file: string): string {
  return file.startsWith('/') ? posix.relative(dir, file) : file;
}

function dedupe(tests: SuiteTest[]): SuiteTest[] {
  return [...new Map(tests.map((t) => [t.id, t])).values()];
}

function lastLines(s: string, n = 20): string {
  return s.trim().split('\n').slice(-n).join('\n');
}

function trimError(s: string): string {
  return s.split('\n').slice(0, 12).join('\n').slice(0, 4000);
}
