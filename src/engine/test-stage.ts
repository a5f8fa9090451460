// The test stage of a deploy: test the batch's last commit, record per-test history, and when a
// batch of several commits fails, find the first bad one by (parallel, flake-aware) search so only
// it is reverted. Probes re-run only the tests that failed, each on a fresh checkout of its commit.
// Before the run, the flake policy acts on history: tests that flake too often are reported, or
// quarantined (the runner gives them extra re-runs), and recovered ones released.
import type { Logger } from 'pino';
import {
  applyVerdict,
  culpritIndex,
  nextProbes,
  obsoleteProbes,
  searchDone,
  startSearch,
  type ProbeVerdict,
} from '../core/tests/culprit-search.js';
import { flakeDecisions, type FlakeDecision, type FlakePolicy } from '../core/tests/flake-policy.js';
import type { Repo, TestHistoryStore, TestProgress, TestReport, TestRunner, TestRunReport } from '../ports.js';

export interface TestStageDeps {
  repo: Repo;
  runner: TestRunner;
  history: TestHistoryStore;
  log: Logger;
  /** Probes run at once during a culprit search; default: the runner's worker slots. */
  parallel?: number;
  /** The pipeline's flake policy (tests.flaky_rate, tests.quarantine); none: history is only read. */
  flakePolicy?: FlakePolicy;
  clock?: { now(): number };
}

export interface TestStageResult {
  ok: boolean;
  report: TestReport;
  culprit?: { sha: string; runs: number; durationMs: number };
}

export async function runTestStage(
  deps: TestStageDeps,
  change: { shas: string[] },
  signal: AbortSignal,
  progress?: (p: TestProgress) => void,
): Promise<TestStageResult> {
  const now = () => deps.clock?.now() ?? Date.now();
  const tip = change.shas.at(-1);
  if (!tip) throw new Error('runTestStage: a change needs at least one sha');
  const log = deps.log.child({ sha: tip, stage: 'tests' });
  const decisions = deps.flakePolicy ? await applyFlakePolicy(deps.history, deps.flakePolicy) : [];
  const full = await runAt(deps, tip, signal, progress);
  const report = publicReport(full);
  const nl = report.summary.indexOf('\n');
  const at = nl < 0 ? report.summary.length : nl;
  report.summary = report.summary.slice(0, at) + flakeSummary(decisions) + report.summary.slice(at);
  if (report.ok || change.shas.length < 2) return { ok: report.ok, report };

  // Search the batch for the first bad commit: probes re-run only the failed tests.
  const failedIds = new Set(report.failed.map((f) => f.id));
  const only = [...failedIds].some((id) => id.startsWith('(')) ? undefined : [...failedIds];
  const started = now();
  const parallel = Math.max(1, deps.parallel ?? deps.runner.slots ?? 1);
  let search = startSearch(change.shas.length);
  const running = new Map<
    number,
    { ac: AbortController; done: Promise<{ index: number; verdict: ProbeVerdict | 'error'; error?: unknown }> }
  >();
  const abandoned: Promise<unknown>[] = [];
  let probes = 0;
  const stopAll = () => {
    for (const r of running.values()) r.ac.abort(new Error('culprit search over'));
  };
  signal.addEventListener('abort', stopAll, { once: true });
  try {
    while (!searchDone(search)) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      for (const index of nextProbes(search, parallel - running.size, [...running.keys()])) {
        const ac = new AbortController();
        const done = runAt(deps, change.shas[index]!, ac.signal, undefined, only).then(
          (r) => ({ index, verdict: verdictOf(r, failedIds, only === undefined) }),
          (error: unknown) => ({ index, verdict: 'error' as const, error }),
        );
        running.set(index, { ac, done });
        probes++;
      }
      const res = await Promise.race([...running.values()].map((r) => r.done));
      running.delete(res.index);
      if (res.verdict === 'error') {
        if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        log.error({ probe: change.shas[res.index], err: (res.error as Error)?.message }, 'culprit search stopped: a probe could not run');
        return { ok: false, report };
      }
      search = applyVerdict(search, res.index, res.verdict);
      log.info({ probe: change.shas[res.index], verdict: res.verdict, lo: search.lo, hi: search.hi }, 'culprit search probe');
      for (const i of obsoleteProbes(search, [...running.keys()])) {
        running.get(i)!.ac.abort(new Error('probe no longer needed'));
        abandoned.push(running.get(i)!.done);
        running.delete(i);
      }
    }
  } finally {
    signal.removeEventListener('abort', stopAll);
    stopAll();
    // Cancelled probes still dispose of their checkouts; wait so nothing outlives the stage.
    await Promise.allSettled([...abandoned, ...[...running.values()].map((r) => r.done)]);
  }
  // Runs = probes started, cancelled ones included: that is what the search cost.
  const culprit = { sha: change.shas[culpritIndex(search)!]!, runs: probes, durationMs: now() - started };
  log.info(culprit, 'culprit found');
  report.culprit = culprit;
  report.summary += `\nfirst bad commit: ${culprit.sha.slice(0, 12)} (found in ${culprit.runs} runs, ${(culprit.durationMs / 1000).toFixed(1)}s)`;
  return { ok: false, report, culprit };
}

/** Check out `sha`, run, record every result in history, dispose the checkout. */
async function runAt(
  deps: TestStageDeps,
  sha: string,
  signal: AbortSignal,
  progress?: (p: TestProgress) => void,
  only?: string[],
): Promise<TestRunReport> {
  const checkout = await deps.repo.checkout(sha, signal);
  try {
    const report = await deps.runner.run(checkout, signal, progress, only ? { only } : undefined);
    const results = report.results ?? [...report.failed, ...report.flaky];
    await deps.history.recordRun(sha, results, deps.clock?.now() ?? Date.now());
    if (report.fileLoads?.length) await deps.history.recordFileLoads?.(sha, report.fileLoads, deps.clock?.now() ?? Date.now());
    return report;
  } finally {
    await checkout.dispose().catch((err: Error) => deps.log.warn({ sha, err: err.message }, 'could not remove a checkout'));
  }
}

/**
 * A probe is bad when one of the tests that failed the batch fails there on every re-run (the runner
 * re-runs failures, so a failure that does not reproduce came back flaky, not failed), or when the
 * suite cannot even be set up or loaded at that commit.
 */
function verdictOf(r: TestReport, failedIds: Set<string>, whole: boolean): ProbeVerdict {
  if (whole) return r.ok ? 'good' : 'bad';
  return r.failed.some((f) => failedIds.has(f.id) || f.id.startsWith('(')) ? 'bad' : 'good';
}

/** The port's report: per-test results go to history, not into every deploy record. */
function publicReport(r: TestRunReport): TestReport {
  const { results: _results, fileLoads: _loads, ...rest } = r;
  return rest;
}

/** The flake policy's decisions from history, written back to it before the run that they affect. */
export async function applyFlakePolicy(history: TestHistoryStore, policy: FlakePolicy): Promise<FlakeDecision[]> {
  const decisions = flakeDecisions(await history.stats(), policy);
  for (const d of decisions) {
    if (d.action === 'quarantine') await history.setQuarantined(d.id, true);
    if (d.action === 'release') await history.setQuarantined(d.id, false);
  }
  return decisions;
}

/** What the report says of the policy's decisions (appended to the summary's first line). */
export function flakeSummary(decisions: FlakeDecision[]): string {
  const parts: string[] = [];
  const q = decisions.filter((d) => d.action === 'quarantine');
  if (q.length) parts.push(`quarantined as flaky: ${q.map((d) => `${d.id} (${(d.rate * 100).toFixed(1)}%)`).join(', ')}`);
  const over = decisions.filter((d) => d.action === 'report');
  if (over.length) parts.push(`flaking over the allowed rate: ${over.map((d) => `${d.id} (${(d.rate * 100).toFixed(1)}%)`).join(', ')}`);
  return parts.map((p) => `, ${p}`).join('');
}
