// runTestStage with a fake repo and runner: when it searches, what a probe's verdict is, how
// parallel probes are cancelled, and what it does when a probe cannot run.
import assert from 'node:assert/strict';
import pino from 'pino';
import { runTestStage } from '../../../src/engine/test-stage.js';
import type { Checkout, Repo, TestCaseResult, TestHistoryStore, TestReport, TestRunner } from '../../../src/ports.js';

const log = pino({ level: 'silent' });
const shas = Array.from({ length: 8 }, (_, i) => `sha${i}`);

function fakes(opts: { firstBad: number; slots?: number; failAt?: string; delay?: (sha: string) => number }) {
  const checkedOut: string[] = [];
  const disposed: string[] = [];
  const onlys: (string[] | undefined)[] = [];
  const recorded: { sha: string; results: TestCaseResult[] }[] = [];
  const repo = {
    async checkout(sha: string): Promise<Checkout> {
      if (sha === opts.failAt) throw new Error(`cannot check out ${sha}`);
      checkedOut.push(sha);
      return { sha, dir: `/x/${sha}`, dispose: async () => void disposed.push(sha) };
    },
  } as unknown as Repo;
  const fail: TestCaseResult = { id: 'a.js::adds', file: 'a.js', title: 'adds', state: 'failed', durationMs: 5, error: 'boom' };
  const runner = {
    slots: opts.slots ?? 1,
    async run(
      co: Checkout,
      signal: AbortSignal,
      _p: unknown,
      o?: { only?: string[] },
    ): Promise<TestReport & { results: TestCaseResult[] }> {
      onlys.push(o?.only);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, opts.delay?.(co.sha) ?? 1);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new Error('aborted'));
        });
      });
      const bad = Number(co.sha.slice(3)) >= opts.firstBad;
      const pass: TestCaseResult = { ...fail, state: 'passed', error: undefined };
      return {
        sha: co.sha,
        ok: !bad,
        total: 1,
        passed: bad ? 0 : 1,
        failed: bad ? [fail] : [],
        flaky: [],
        durationMs: 1,
        shards: [],
        summary: bad ? '1 failed' : '1 passed',
        results: [bad ? fail : pass],
      };
    },
  } as TestRunner & { slots: number };
  const history = {
    async recordRun(sha: string, results: TestCaseResult[]) {
      recorded.push({ sha, results });
    },
  } as unknown as TestHistoryStore;
  return { repo, runner, history, checkedOut, disposed, onlys, recorded };
}

describe('engine/test-stage (fakes)', () => {
  it('does not search for a single commit or a passing batch, and keeps per-test results out of the report', async () => {
    const f = fakes({ firstBad: 0 });
    const one = await runTestStage(
      { repo: f.repo, runner: f.runner, history: f.history, log },
      { shas: ['sha3'] },
      new AbortController().signal,
    );
    assert.equal(one.ok, false);
    assert.equal(one.culprit, undefined);
    assert.ok(!('results' in one.report));
    assert.deepEqual(
      f.recorded.map((r) => [r.sha, r.results.length]),
      [['sha3', 1]],
    );
    const g = fakes({ firstBad: 99 });
    const ok = await runTestStage({ repo: g.repo, runner: g.runner, history: g.history, log }, { shas }, new AbortController().signal);
    assert.equal(ok.ok, true);
    assert.deepEqual(g.checkedOut, ['sha7']);
  });

  it('bisects with one slot, re-running only the failed tests, and disposes every checkout', async () => {
    const f = fakes({ firstBad: 3 });
    const res = await runTestStage({ repo: f.repo, runner: f.runner, history: f.history, log }, { shas }, new AbortController().signal);
    assert.equal(res.culprit?.sha, 'sha3');
    assert.equal(res.culprit?.runs, 3);
    assert.deepEqual(f.checkedOut, ['sha7', 'sha3', 'sha1', 'sha2']);
    assert.deepEqual(f.onlys, [undefined, ['a.js::adds'], ['a.js::adds'], ['a.js::adds']]);
    assert.deepEqual([...f.disposed].sort(), [...f.checkedOut].sort());
  });

  it('probes in parallel, cancels probes that no longer matter, and counts them as runs', async () => {
    const f = fakes({ firstBad: 2, slots: 3, delay: (sha) => (sha === 'sha5' ? 1500 : sha === 'sha1' ? 400 : 5) });
    const res = await runTestStage({ repo: f.repo, runner: f.runner, history: f.history, log }, { shas }, new AbortController().signal);
    assert.equal(res.culprit?.sha, 'sha2');
    // First wave: 3, 1, 5 (quarter points). 3 is bad: 5 no longer matters and is cancelled, and the two
    // free slots take 0 and 2 while 1 still runs; 0 good, 2 bad, then 1 good: the culprit is 2.
    assert.deepEqual(f.checkedOut, ['sha7', 'sha1', 'sha3', 'sha5', 'sha0', 'sha2']);
    assert.equal(res.culprit?.runs, 5);
    assert.deepEqual([...f.disposed].sort(), [...f.checkedOut].sort());
    assert.equal(
      f.recorded.some((r) => r.sha === 'sha5'),
      false,
    );
  });

  it('reports the failure without a culprit when a probe cannot run', async () => {
    const f = fakes({ firstBad: 3, failAt: 'sha3' });
    const res = await runTestStage({ repo: f.repo, runner: f.runner, history: f.history, log }, { shas }, new AbortController().signal);
    assert.equal(res.ok, false);
    assert.equal(res.culprit, undefined);
    assert.equal(res.report.failed.length, 1);
  });

  it('acts on the flake policy before the run: quarantines a test over the rate, releases a recovered one, and says so', async () => {
    const f = fakes({ firstBad: 99 });
    const flags = new Map([
      ['often.js::flakes', false],
      ['calm.js::recovered', true],
    ]);
    const seenByRunner: boolean[] = [];
    const history = {
      ...f.history,
      async stats() {
        return [
          {
            id: 'often.js::flakes',
            file: 'often.js',
            title: 'flakes',
            runs: 20,
            failures: 0,
            flakes: 4,
            meanMs: 1,
            quarantined: flags.get('often.js::flakes')!,
            lastSeen: 0,
            lastFailed: false,
          },
          {
            id: 'calm.js::recovered',
            file: 'calm.js',
            title: 'recovered',
            runs: 40,
            failures: 0,
            flakes: 0,
            meanMs: 1,
            quarantined: flags.get('calm.js::recovered')!,
            lastSeen: 0,
            lastFailed: false,
          },
        ];
      },
      async setQuarantined(id: string, on: boolean) {
        flags.set(id, on);
      },
    } as unknown as TestHistoryStore;
    const runner = {
      slots: 1,
      async run(co: Checkout, signal: AbortSignal, p: unknown, o?: { only?: string[] }) {
        seenByRunner.push(flags.get('often.js::flakes')!);
        return f.runner.run(co, signal, p as never, o);
      },
    } as TestRunner;
    const r = await runTestStage(
      { repo: f.repo, runner, history, log, flakePolicy: { flakyRate: 0.05, quarantine: true } },
      { shas: ['sha1'] },
      new AbortController().signal,
    );
    assert.deepEqual(
      [...flags],
      [
        ['often.js::flakes', true],
        ['calm.js::recovered', false],
      ],
    );
    assert.deepEqual(seenByRunner, [true], 'the runner sees the quarantine before it runs');
    assert.match(r.report.summary, /^1 passed, quarantined as flaky: often\.js::flakes \(20\.0%\)$/);
    const reportOnly = await runTestStage(
      { repo: f.repo, runner, history, log, flakePolicy: { flakyRate: 0.01, quarantine: false } },
      { shas: ['sha2'] },
      new AbortController().signal,
    );
    assert.doesNotMatch(reportOnly.report.summary, /flaking over/, 'a quarantined test is not reported again');
  });
});
