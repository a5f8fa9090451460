// The TestRunner: discover the suite, plan shards from history, run them on local and SSH worker
// slots (bounded by p-limit), re-run failures on another worker to tell flakes from real failures,
// stop early on a confirmed failure, and report per-test results, shards and progress.
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { TestsConfig } from '../../core/config/tests.js';
import { flakeDecisions, retriesFor, type FlakeDecision } from '../../core/tests/flake-policy.js';
import { estimateDurations, etaMs, planShardsByFile, planShardsHybrid, type EstimatedTest, type Shard, type SuiteTest } from '../../core/tests/shard-plan.js';
import type { Checkout, TestCaseResult, TestHistoryStore, TestProgress, TestReport, TestRunner } from '../../ports.js';
import { localWorker, SetupError } from './local-worker.js';
import { exactGrep, isHookTitle, mochaCommand, mochaRcSource, parseMochaLine } from './mocha.js';
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

const PORT_BASE = 20_000;
const PORTS_PER_SLOT = 100;
const STARTUP_GRACE_MS = 15_000;

export function createTestRunner(opts: {
  config: TestsConfig;
  history: TestHistoryStore;
  log: Logger;
  workers?: Worker[];
  /** Replaces the sharding plan (benchmarks compare round-robin by file with ours). */
  planner?: (tests: EstimatedTest[], slots: number) => Shard[];
}): ShardableRunner {
  const { config, history, log } = opts;
  const workers = opts.workers ?? [localWorker(config.workers), ...config.ssh_workers.map((w) => sshWorker(w))];
  const slots: Slot[] = [];
  for (const w of workers) for (let i = 0; i < w.slots; i++) slots.push({ index: slots.length, worker: w, portBase: PORT_BASE + slots.length * PORTS_PER_SLOT });
  const free = [...slots];
  const limit = pLimit(slots.length);
  const hasOtherWorker = new Set(workers.map((w) => w.name)).size > 1;

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
      for (const d of decisions) {
        if (d.action === 'quarantine') quarantined.add(d.id);
        if (d.action === 'release') quarantined.delete(d.id);
      }

      const local = await workspace(workers[0]!);
      // Re-running named mocha tests needs no discovery: the ids say file and full title.
      // Hook failures and crashed shards are not tests of their own: those need the files discovered.
      const onlyTests = runOpts.only?.map((id) => ({ id, file: fileOf(id), title: id.slice(fileOf(id).length + 2) }));
      const named = config.runner === 'mocha' && onlyTests?.length && onlyTests.every((t) => t.file !== t.id && !t.title.startsWith('(') && !isHookTitle(t.title.replace(/^.*?(?="(before|after) (all|each)" hook)/, ''))) ? onlyTests : undefined;
      const suite = named ? { tests: named } : await discover(local, ctl.signal);
      if ('error' in suite) return failedReport(checkout.sha, started, 'discovery', suite.error, decisions);
      let tests = suite.tests;
      if (runOpts.only && config.runner !== 'command' && !named) tests = selectOnly(tests, runOpts.only);
      const known = await history.durations(config.runner === 'node-test' ? undefined : tests.map((t) => t.id));
      const estimated = config.runner === 'node-test' ? estimateFiles(tests, known) : estimateDurations(tests, known);
      const plan = opts.planner ? opts.planner(estimated, slots.length) : config.runner === 'mocha' ? planShardsHybrid(estimated, slots.length) : planShardsByFile(estimated, slots.length);
      rlog.info({ tests: tests.length, shards: plan.length, estimateMs: Math.max(0, ...plan.map((s) => s.estimateMs)) }, 'tests planned');

      // Progress bookkeeping.
      const track: { estimateMs: number; startedAt?: number; done: boolean }[] = [];
      let passed = 0;
      let failing = 0;
      const report = () =>
        progress?.({ shardsDone: track.filter((t) => t.done).length, shardsTotal: track.length, passed, failed: failing, etaMs: etaMs(track, Date.now()) });

      const final = new Map<string, TestCaseResult>();
      const confirmed: TestCaseResult[] = [];
      const flaky: TestCaseResult[] = [];
      const shardsOut: TestReport['shards'] = [];
      let nextId = 0;
      let stoppedEarly = false;

      /** Re-runs (`counted` false) do not move the progress counts; settle() does when a flake passes. */
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
              if (!counted) return;
              if (r.state === 'passed') passed++;
              if (r.state === 'failed') failing++;
              report();
            });
          } finally {
            free.push(slot);
            t.done = true;
            report();
          }
        });
      };

      /** Re-run failed tests until each passes (flaky) or runs out of attempts (confirmed). */
      const settle = async (out: ShardOutcome, failures: TestCaseResult[]): Promise<void> => {
        let pending = failures;
        const attempts = new Map(failures.map((f) => [f.id, 0]));
        let avoid = { worker: out.slot.worker.name, slot: out.slot.index };
        while (pending.length) {
          const retryable = pending.filter((f) => attempts.get(f.id)! < retriesFor(quarantined.has(f.id), config.retries));
          for (const f of pending.filter((p) => !retryable.includes(p))) confirm(f);
          if (!retryable.length || ctl.signal.aborted) {
            for (const f of retryable) confirm(f);
            return;
          }
          for (const f of retryable) attempts.set(f.id, attempts.get(f.id)! + 1);
          const job = retryJob(nextId++, retryable, out.job, avoid);
          const again = await runJob(job, false);
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
      const launch = (job: ShardJob): Promise<void> =>
        runJob(job).then(async (out) => {
          shardsOut.push(shardSummary(out));
          for (const r of out.results) if (!final.has(r.id)) final.set(r.id, r);
          const failures = out.results.filter((r) => r.state === 'failed');
          if (out.notRun.length && !ctl.signal.aborted) {
            // The shard was killed on a hang: the hung test failed; what it never reached runs now.
            await launch({ id: nextId++, tests: out.notRun, files: filesOf(out.notRun), estimateMs: sum(out.notRun) });
          }
          if (failures.length) settleAll.push(settle(out, failures));
        });
      const jobs = plan.map((s): ShardJob => ({ id: nextId++, tests: s.tests, files: filesOf(s.tests), estimateMs: s.estimateMs }));
      const launched = jobs.map(launch);
      report();
      await Promise.all(launched);
      await Promise.all(settleAll);

      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      const results = [...final.values()];
      const ran = new Set(results.map((r) => r.id));
      const notRun = config.runner === 'node-test' ? 0 : tests.filter((t) => !ran.has(t.id)).length;
      const ok = confirmed.length === 0;
      const summary = summarize(ok, results, confirmed, flaky, notRun, stoppedEarly, decisions);
      shardsOut.sort((a, b) => a.id - b.id);
      return {
        sha: checkout.sha,
        ok,
        total: Math.max(results.length, tests.length),
        passed: results.filter((r) => r.state === 'passed').length,
        failed: confirmed,
        flaky,
        durationMs: Date.now() - started,
        shards: shardsOut,
        summary,
        results,
        flakeDecisions: decisions,
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
      const titles = job.tests.map((t) => t.title);
      await ws.writeFile(rc, mochaRcSource({ spec: job.files, grep: exactGrep(titles), reporter: 'json-stream', parallel: false, timeout: config.test_timeout, exit: true }));
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
    const why = exec.killed === 'idle' ? `killed: no test finished within ${Math.round((idleMs ?? 0) / 1000)}s (test_timeout ${config.test_timeout / 1000}s)` : exec.killed === 'timeout' ? `killed: shard timeout ${config.timeout / 1000}s` : undefined;

    if (config.runner === 'command') {
      const ok = exec.exitCode === 0 && !exec.killed;
      if (exec.killed !== 'aborted') push({ id: 'command', file: '', title: cmd.join(' '), state: ok ? 'passed' : 'failed', durationMs: exec.durationMs, ...(ok ? {} : { error: `${why ?? `exit ${exec.exitCode ?? '?'}`}\n${lastLines(exec.tail)}` }) });
    } else if (config.runner === 'mocha') {
      const unreported = job.tests.filter((t) => !seen.has(t.id));
      if (why && unreported.length) {
        const [hung, ...rest] = unreported;
        push({ id: hung!.id, file: hung!.file, title: hung!.title, state: 'failed', durationMs: exec.durationMs, error: `${why}\n${lastLines(exec.tail)}` });
        notRun = rest;
      } else if (!exec.killed) {
        // Selected but not reported: pending (it.skip) or excluded by .only.
        for (const t of unreported) results.push({ id: t.id, file: t.file, title: t.title, state: 'skipped', durationMs: 0 });
      }
    }
    // A runner that failed without naming a failed test (crash, load error, hook) still fails the shard.
    const anyFailed = results.some((r) => r.state === 'failed');
    if (!anyFailed && exec.killed !== 'aborted' && (exec.killed || exec.exitCode !== 0)) {
      const file = job.files[0] ?? '';
      push({ id: `${file}::(shard ${job.id})`, file, title: `(runner for ${job.files.join(', ') || 'command'})`, state: 'failed', durationMs: exec.durationMs, error: `${why ?? `runner exited ${exec.exitCode ?? '?'} without a failed test`}\n${lastLines(exec.tail)}` });
    }
    return { job, slot, results, exec, notRun };
  };

  /** A shard re-running the given failures (mocha: just those tests, or their file for a hook failure). */
  const retryJob = (id: number, failures: TestCaseResult[], from: ShardJob, avoid: ShardJob['avoid']): ShardJob => {
    const tests: EstimatedTest[] = [];
    for (const f of failures) {
      const planned = from.tests.find((t) => t.id === f.id);
      if (planned) tests.push(planned);
      else tests.push(...from.tests.filter((t) => t.file === f.file));
    }
    const uniq = [...new Map(tests.map((t) => [t.id, t])).values()];
    const files = config.runner === 'command' ? [] : filesOf(uniq.length ? uniq : from.tests);
    return { id, tests: uniq.length ? uniq : from.tests, files, estimateMs: sum(uniq), avoid };
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
  return { ...(process.env as Record<string, string>), TMPDIR: tmp, TMP: tmp, TEMP: tmp, PORT_BASE: String(portBase), IMMUNE_SHARD: String(shard), CI: 'true' };
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
