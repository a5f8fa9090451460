// One run of the suite on a checkout, as an object with named parts: the listing (run-listing.ts),
// the plan (below), the lanes that take units (run-lanes.ts), settling failures (run-settle.ts) and
// one shard (run-shard.ts). This file sequences them and writes the report.
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import { estimateDurations, type EstimatedTest, type Shard, type SuiteTest } from '../../core/tests/shard-plan.js';
import {
  dispatchOrder,
  loadCosts,
  medianFileMs,
  planUnits,
  planUnitsFromHistory,
  queueMakespan,
  suiteFromHistory,
  type WorkUnit,
} from '../../core/tests/work-queue.js';
import type { Checkout, TestCaseResult, TestHistoryStore, TestProgress, TestRunOptions, TestRunReport } from '../../ports.js';
import { SetupError } from './local-worker.js';
import { Lanes, type RunnerMemory } from './run-lanes.js';
import { SuiteListing } from './run-listing.js';
import { RunProgress } from './run-progress.js';
import { Settler } from './run-settle.js';
import type { RunnerKind } from './runner-kind.js';
import { fileOf, filesOf, isNamedTest, RunResults, type Listing } from './run-types.js';
import type { SlotPool } from './slots.js';
import type { Worker, Workspace } from './workspace.js';

/** What a run needs from its runner, which outlives it. */
export interface RunnerParts {
  config: TestsConfig;
  kind: RunnerKind;
  history: TestHistoryStore;
  log: Logger;
  pool: SlotPool;
  memory: RunnerMemory;
  /** Replaces the work queue with a static plan, one process per shard (benchmarks). */
  planner?: (tests: EstimatedTest[], slots: number) => Shard[];
}

type Planned = { tests: SuiteTest[]; staticPlan?: Shard[] } | { failedReport: TestRunReport };

export class TestRun {
  private readonly started = Date.now();
  private readonly ctl = new AbortController();
  private readonly spaces = new Map<Worker, Promise<Workspace>>();
  private readonly log: Logger;
  private readonly queue: WorkUnit[] = [];
  private readonly results = new RunResults();
  private readonly progress: RunProgress;
  private readonly listing: SuiteListing;
  private readonly lanes: Lanes;
  private readonly settler: Settler;
  private readonly isStatic: boolean;
  private loadMs = new Map<string, number>();
  private nextId = 0;
  private setPlanned: (ok: boolean) => void = () => undefined;
  /** A whole mocha run with history is planned from it: the runners only name the spec files, and skip listing every test. */
  private readonly historySuite: SuiteTest[] | undefined;

  constructor(
    private readonly r: RunnerParts,
    private readonly checkout: Checkout,
    private readonly signal: AbortSignal,
    onProgress: ((p: TestProgress) => void) | undefined,
    private readonly opts: TestRunOptions,
    private readonly stats: Awaited<ReturnType<TestHistoryStore['stats']>>,
  ) {
    this.log = r.log.child({ sha: checkout.sha });
    this.isStatic = r.planner !== undefined;
    this.historySuite = r.kind.warm && !this.isStatic && !opts.only ? suiteFromHistory(stats) : undefined;
    this.progress = new RunProgress(this.queue, this.isStatic, onProgress);
    this.listing = new SuiteListing(r.config, Math.max(1, r.pool.workers[0]!.slots), this.ctl);
    const planned = new Promise<boolean>((resolve) => (this.setPlanned = resolve));
    const quarantined = new Set(stats.filter((s) => s.quarantined).map((s) => s.id));
    const nextId = () => this.nextId++;
    this.lanes = new Lanes({
      config: r.config,
      kind: r.kind,
      pool: r.pool,
      memory: r.memory,
      ctl: this.ctl,
      log: this.log,
      progress: this.progress,
      results: this.results,
      listing: this.listing,
      queue: this.queue,
      planned,
      isStatic: this.isStatic,
      historySuite: this.historySuite !== undefined,
      workspace: (w) => this.workspace(w),
      absorb: (job, slot, results) => this.settler.absorb(job, slot, results),
      loadMs: (file) => this.loadMs.get(file) ?? 0,
      nextId,
    });
    const rerun = this.isStatic
      ? (job: Parameters<Lanes['runJob']>[0]) => this.lanes.runJob(job, false)
      : (job: Parameters<Lanes['queueRetry']>[0]) => this.lanes.queueRetry(job);
    this.settler = new Settler({
      config: r.config,
      kind: r.kind,
      quarantined,
      ctl: this.ctl,
      log: this.log,
      progress: this.progress,
      results: this.results,
      rerun,
      nextId,
    });
  }

  private workspace(w: Worker): Promise<Workspace> {
    let p = this.spaces.get(w);
    if (!p) {
      p = w.open(this.checkout, this.r.config.setup, this.ctl.signal, this.r.config.timeout);
      this.spaces.set(w, p);
    }
    return p;
  }

  async execute(): Promise<TestRunReport> {
    const onAbort = () => this.ctl.abort(this.signal.reason);
    if (this.signal.aborted) this.ctl.abort(this.signal.reason);
    else this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const plan = await this.plan();
      if ('failedReport' in plan) return plan.failedReport;
      if (plan.staticPlan) {
        this.setPlanned(true);
        const launched = plan.staticPlan.map((s) =>
          this.lanes.launch({ id: this.nextId++, tests: s.tests, files: filesOf(s.tests), estimateMs: s.estimateMs }),
        );
        this.progress.report();
        await Promise.all(launched);
      } else {
        this.setPlanned(true);
        if (!this.warmStart) for (let i = 0; i < this.progress.laneCount; i++) this.lanes.start();
        this.progress.report();
      }
      await this.finished();
      if (this.signal.aborted) throw this.signal.reason instanceof Error ? this.signal.reason : new Error('aborted');
      if (this.lanes.error) throw this.lanes.error;
      return this.report(plan.tests);
    } catch (err) {
      if (err instanceof SetupError) return failedReport(this.checkout.sha, this.started, 'setup', err.message);
      throw err;
    } finally {
      this.signal.removeEventListener('abort', onAbort);
      await Promise.all([...this.spaces.values()].map((p) => p.then((w) => w.dispose()).catch(() => undefined)));
    }
  }

  /** Re-running named mocha tests needs no listing: the ids say file and full title. Hook failures and crashed shards are not tests of their own. */
  private get named(): SuiteTest[] | undefined {
    const onlyTests = this.opts.only?.map((id) => ({ id, file: fileOf(id), title: id.slice(fileOf(id).length + 2) }));
    return this.r.kind.byName && onlyTests?.length && onlyTests.every((t) => t.file !== t.id && isNamedTest(t)) ? onlyTests : undefined;
  }

  /** With warm runners: one per slot starts before the plan, and those on this machine list the suite. */
  private get warmStart(): boolean {
    return this.r.kind.warm && !this.isStatic && !this.named;
  }

  /** List the suite, estimate it from history, and fill the queue (or make the static plan). */
  private async plan(): Promise<Planned> {
    const { kind, history, pool } = this.r;
    const named = this.named;
    if (this.warmStart) for (let i = 0; i < pool.all.length; i++) this.lanes.start(undefined, 'warm');
    const stopLanes = async () => {
      this.setPlanned(false);
      await this.lanes.settled();
    };
    const listedSuite: Listing = named ? { tests: named } : this.warmStart ? await this.listing.done : 'fallback';
    const suite =
      listedSuite === 'fallback' && !this.ctl.signal.aborted
        ? await kind.discover(await this.workspace(pool.workers[0]!), this.ctl.signal)
        : listedSuite;
    // Stopped while listing: the caller aborted, or a lane could not run.
    if (suite === 'fallback' || 'failed' in suite || this.ctl.signal.aborted) {
      await stopLanes();
      throw this.signal.aborted
        ? this.signal.reason
        : (this.lanes.error ?? (typeof suite === 'object' && 'failed' in suite ? suite.failed : this.ctl.signal.reason));
    }
    if ('error' in suite) {
      await stopLanes();
      return { failedReport: failedReport(this.checkout.sha, this.started, 'discovery', suite.error) };
    }
    // Only the spec files listed: the tests are history's (of the files there still are), and the plan is open to others.
    const specFiles = 'files' in suite ? suite.files : undefined;
    this.results.fromHistory = specFiles !== undefined;
    const present = new Set(specFiles);
    let tests = 'tests' in suite ? suite.tests : (this.historySuite ?? []).filter((t) => present.has(t.file));
    if (this.opts.only && !kind.opaque && !named) tests = selectOnly(tests, this.opts.only);
    const known = await history.durations(kind.perFile ? undefined : tests.map((t) => t.id));
    const estimated = kind.perFile ? estimateFiles(tests, known) : estimateDurations(tests, known);
    const staticPlan = this.r.planner?.(estimated, pool.all.length);
    if (kind.warm && !this.isStatic) this.loadMs = loadCosts(specFiles ?? filesOf(estimated), (await history.fileLoads?.()) ?? new Map());
    const units = this.isStatic
      ? []
      : dispatchOrder(
          specFiles
            ? planUnitsFromHistory(specFiles, estimated, pool.all.length, this.loadMs, medianFileMs(estimated))
            : planUnits(estimated, pool.all.length, this.loadMs),
          pool.all.length,
          undefined,
          new Set(this.stats.filter((x) => x.lastFailed).map((x) => x.id)),
        );
    this.log.debug({ from: specFiles ? 'history' : 'listing', files: specFiles?.length }, 'suite');
    this.queue.push(...units);
    // Lanes: one per slot this run can use; each holds a slot while the queue has work for it.
    const laneCount = Math.min(pool.all.length, units.length);
    this.progress.laneCount = laneCount;
    this.progress.plannedLeft = this.isStatic ? 0 : kind.warm ? Math.max(0, laneCount - this.progress.track.length) : units.length;
    this.log.info(
      staticPlan
        ? { tests: tests.length, shards: staticPlan.length, estimateMs: Math.max(0, ...staticPlan.map((s) => s.estimateMs)) }
        : {
            tests: tests.length,
            units: units.length,
            lanes: laneCount,
            estimateMs: queueMakespan(
              units.map((u) => u.estimateMs),
              laneCount,
            ),
          },
      'tests planned',
    );
    return { tests, staticPlan };
  }

  /** Until nothing is running: lanes (which may start more lanes) and flake re-runs (which may need lanes). */
  private async finished(): Promise<void> {
    for (;;) {
      if (this.lanes.size) {
        await this.lanes.all();
        continue;
      }
      const n = this.settler.pending.length;
      await Promise.all(this.settler.pending);
      if (!this.lanes.size && this.settler.pending.length === n) break;
    }
  }

  private report(tests: SuiteTest[]): TestRunReport {
    const { kind } = this.r;
    const res = this.results;
    const results = [...res.final.values()];
    const ran = new Set(results.map((x) => x.id));
    const notRun = kind.perFile ? 0 : tests.filter((t) => !ran.has(t.id) && !res.gone.has(t.id)).length;
    const ok = res.confirmed.length === 0;
    res.shards.sort((a, b) => a.id - b.id);
    return {
      sha: this.checkout.sha,
      ok,
      total: kind.perFile ? Math.max(results.length, tests.length) : results.length + notRun,
      passed: results.filter((x) => x.state === 'passed').length,
      failed: res.confirmed,
      flaky: res.flaky,
      durationMs: Date.now() - this.started,
      shards: res.shards,
      summary: summarize(ok, results, res.confirmed, res.flaky, notRun, res.stoppedEarly),
      results,
      fileLoads: res.meanLoads(),
    };
  }
}

function failedReport(sha: string, started: number, what: string, message: string): TestRunReport {
  const r: TestCaseResult = { id: `(${what})`, file: '', title: what, state: 'failed', durationMs: Date.now() - started, error: message };
  return {
    sha,
    ok: false,
    total: 0,
    passed: 0,
    failed: [r],
    flaky: [],
    durationMs: Date.now() - started,
    shards: [],
    summary: `${what} failed: ${message.split('\n')[0]}`,
    results: [],
  };
}

function summarize(
  ok: boolean,
  results: TestCaseResult[],
  failed: TestCaseResult[],
  flaky: TestCaseResult[],
  notRun: number,
  stopped: boolean,
): string {
  const passed = results.filter((r) => r.state === 'passed').length;
  const parts = [ok ? `${passed} passed` : `${failed.length} failed, ${passed} passed`];
  if (flaky.length)
    parts.push(
      `${flaky.length} flaky (passed on re-run: ${flaky
        .map((f) => f.title)
        .slice(0, 3)
        .join('; ')})`,
    );
  if (notRun && stopped) parts.push(`${notRun} not run (stopped early)`);
  let s = parts.join(', ');
  if (failed.length)
    s += `\n${failed
      .slice(0, 5)
      .map((f) => `✗ ${f.id}: ${(f.error ?? '').split('\n')[0]}`)
      .join('\n')}`;
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
