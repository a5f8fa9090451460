// The test runner on real suites: mocha sharded over local worker processes with results merged
// exactly, flakes told from failures by re-runs, hung tests killed, fail fast, node:test, command.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import pino from 'pino';
import { createTestRunner, type RunReport } from '../../src/adapters/runner/index.js';
import { testsConfig } from '../../src/core/config/tests.js';
import type { TestProgress } from '../../src/ports.js';
import { memoryHistory } from '../fixtures/suites/memory-history.js';
import { makeSuite, type FixtureFile, type FixtureSuite } from '../fixtures/suites/make-suite.js';

const log = pino({ level: 'silent' });

async function run(suite: FixtureSuite, cfg: Record<string, unknown>, progress?: (p: TestProgress) => void): Promise<RunReport> {
  const runner = createTestRunner({
    config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.cjs'], ...cfg }),
    history: memoryHistory(),
    log,
  });
  try {
    return await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal, progress);
  } finally {
    await runner.close();
  }
}

describe('adapters/runner on real suites', function () {
  this.timeout(60_000);
  const suites: FixtureSuite[] = [];
  after(() => Promise.all(suites.map((s) => s.cleanup())));
  const make = async (files: FixtureFile[], kind: 'mocha' | 'node-test' = 'mocha') => {
    const s = await makeSuite(files, kind);
    suites.push(s);
    return s;
  };

  it('merges sharded results exactly: the same tests and states as one plain mocha run', async () => {
    const files: FixtureFile[] = [];
    for (let f = 0; f < 5; f++)
      files.push({
        name: `dir${f % 2}/f${f}.test.cjs`,
        suite: `suite ${f}`,
        tests: Array.from({ length: 6 }, (_, i) => ({
          title: `t${i} (case ${f}.${i}) [x]?`,
          ms: (i * 7) % 20,
          does: f === 3 && i === 2 ? ('fail' as const) : ('pass' as const),
        })),
      });
    files.push({ name: 'same-titles.test.cjs', suite: 'suite 0', tests: [{ title: 't0 (case 0.0) [x]?' }] });
    const suite = await make(files);
    const plain = await execa(
      'node',
      ['node_modules/mocha/bin/mocha.js', '--reporter', 'json-stream', '--no-config', '--no-package', 'test/**/*.test.cjs'],
      { cwd: suite.dir, reject: false },
    );
    const expected = plain.stdout
      .split('\n')
      .filter((l) => l.startsWith('["pass"') || l.startsWith('["fail"'))
      .map((l) => JSON.parse(l) as [string, { fullTitle: string; file: string }])
      .map(([k, t]) => `${t.file.slice(suite.dir.length + 1)}::${t.fullTitle} ${k === 'pass' ? 'passed' : 'failed'}`)
      .sort();
    assert.equal(expected.length, 31);
    const progress: TestProgress[] = [];
    const report = await run(suite, { workers: 3, retries: 0, fail_fast: false }, (p) => progress.push(p));
    assert.deepEqual(report.results.map((r) => `${r.id} ${r.state}`).sort(), expected);
    assert.equal(report.total, 31);
    assert.equal(report.passed, 30);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.failed.map((f) => f.title),
      ['suite 3 t2 (case 3.2) [x]?'],
    );
    assert.equal(report.shards.length, 3);
    assert.equal(new Set(report.shards.map((s) => s.worker)).size, 3);
    const last = progress.at(-1)!;
    assert.deepEqual([last.shardsDone, last.shardsTotal, last.passed, last.failed], [3, 3, 30, 1]);
  });

  it('plans from history: the ETA starts at the planned makespan of the queue', async () => {
    const suite = await make([
      { name: 'a.test.cjs', tests: [{ title: 'slow', ms: 400 }, { title: 'quick' }] },
      {
        name: 'b.test.cjs',
        tests: [
          { title: 'mid', ms: 200 },
          { title: 'mid2', ms: 200 },
        ],
      },
    ]);
    const durations = new Map([
      ['test/a.test.cjs::a.test.cjs slow', 400],
      ['test/a.test.cjs::a.test.cjs quick', 1],
      ['test/b.test.cjs::b.test.cjs mid', 200],
      ['test/b.test.cjs::b.test.cjs mid2', 200],
    ]);
    const runner = createTestRunner({
      config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.cjs'], workers: 2 }),
      history: memoryHistory(durations),
      log,
    });
    const progress: TestProgress[] = [];
    const report = await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal, (p) =>
      progress.push(p),
    );
    assert.equal(report.ok, true);
    assert.deepEqual(progress[0], { shardsDone: 0, shardsTotal: 2, passed: 0, failed: 0, etaMs: 401 });
    assert.equal(progress.at(-1)!.etaMs, 0);
    // Two warm runners (one per slot) took the units between them as they became idle; which one
    // ran what depends on timing (the queue's order is tested in test/unit/core/tests/work-queue.test.ts).
    assert.equal(report.shards.length, 2);
    assert.equal(
      report.shards.reduce((s, x) => s + x.tests, 0),
      4,
    );
  });

  it('calls a test that fails then passes on re-run flaky, and does not block', async () => {
    const suite = await make([
      { name: 'a.test.cjs', tests: [{ title: 'steady' }, { title: 'wobbly', does: 'flaky' }] },
      { name: 'b.test.cjs', tests: [{ title: 'other' }] },
    ]);
    const report = await run(suite, { workers: 2, retries: 1 });
    assert.equal(report.ok, true, report.summary);
    assert.deepEqual(
      report.flaky.map((f) => [f.title, f.state, f.flaky]),
      [['a.test.cjs wobbly', 'passed', true]],
    );
    assert.equal(report.failed.length, 0);
    assert.match(report.summary, /1 flaky/);
    const first = report.shards.find((s) => !s.ok)!;
    assert.ok(
      report.shards.find((s) => s.id > first.id && s.tests === 1 && s.ok),
      JSON.stringify(report.shards),
    );
  });

  it('blocks on a test that fails on every re-run, and re-runs it `retries` times', async () => {
    const suite = await make([{ name: 'a.test.cjs', tests: [{ title: 'ok' }, { title: 'broken', does: 'fail' }] }]);
    const report = await run(suite, { workers: 2, retries: 2 });
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.failed.map((f) => f.title),
      ['a.test.cjs broken'],
    );
    assert.match(report.failed[0]!.error!, /expected failure in broken/);
    assert.equal(report.shards.filter((s) => !s.ok).length, 3);
    assert.equal(report.flaky.length, 0);
  });

  it('gives a quarantined flaky test more re-runs but still blocks when it always fails', async () => {
    const suite = await make([{ name: 'q.test.cjs', tests: [{ title: 'always', does: 'fail' }] }]);
    const runner = createTestRunner({
      config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.cjs'], workers: 1, retries: 1, quarantine: true }),
      history: memoryHistory(new Map(), ['test/q.test.cjs::q.test.cjs always']),
      log,
    });
    const report = await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal);
    assert.equal(report.ok, false);
    assert.equal(report.shards.length, 4);
  });

  it('kills a hung test (a busy loop mocha cannot time out) and still runs the rest of its shard', async () => {
    const suite = await make([
      { name: 'a.test.cjs', tests: [{ title: 'quick' }] },
      { name: 'b.test.cjs', tests: [{ title: 'before' }, { title: 'spins', does: 'hang' }, { title: 'after' }] },
    ]);
    const report = await run(suite, { workers: 1, retries: 0, test_timeout: '1s', fail_fast: false });
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.failed.map((f) => f.title),
      ['b.test.cjs spins'],
    );
    assert.match(report.failed[0]!.error!, /killed: no test finished within 3s/);
    assert.deepEqual(
      report.results
        .filter((r) => r.state === 'passed')
        .map((r) => r.title)
        .sort(),
      ['a.test.cjs quick', 'b.test.cjs after', 'b.test.cjs before'],
    );
  });

  it('stops the other shards on a confirmed failure (fail_fast)', async () => {
    const suite = await make([
      { name: 'a.test.cjs', tests: [{ title: 'breaks', does: 'fail' }] },
      { name: 'b.test.cjs', tests: [{ title: 'slow', ms: 15_000 }] },
    ]);
    const report = await run(suite, { workers: 2, retries: 1, fail_fast: true });
    assert.equal(report.ok, false);
    assert.ok(!report.results.some((r) => r.title === 'b.test.cjs slow'));
    assert.match(report.summary, /1 not run \(stopped early\)/);
  });

  it('kills every shard process group when the caller aborts, and rejects', async () => {
    const suite = await make([
      { name: 'a.test.cjs', tests: [{ title: 'quick' }] },
      { name: 'b.test.cjs', tests: [{ title: 'quick too' }] },
    ]);
    const pids = `${suite.stateDir}/pids`;
    const { appendFile, readFile } = await import('node:fs/promises');
    // Each shard's test starts a grandchild that would outlive its mocha process, and records both pids.
    for (const f of ['a', 'b']) {
      await appendFile(
        `${suite.dir}/test/${f}.test.cjs`,
        `it('sleeps', async () => { const c = require('node:child_process').spawn('sleep', ['60'], { stdio: 'ignore' }); require('node:fs').appendFileSync(${JSON.stringify(pids)}, process.pid + ' ' + c.pid + '\\n'); await new Promise((r) => setTimeout(r, 60_000)); });\n`,
      );
    }
    const ac = new AbortController();
    const runner = createTestRunner({
      config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.cjs'], workers: 2, test_timeout: '120s' }),
      history: memoryHistory(),
      log,
    });
    // Abort once both sleeping tests (one per slot) have started their grandchildren.
    const poll = setInterval(() => {
      void readFile(pids, 'utf8').then(
        (t) => t.trim().split('\n').length >= 2 && (clearInterval(poll), ac.abort(new Error('deploy aborted'))),
        () => undefined,
      );
    }, 100);
    const running = runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, ac.signal).finally(() => clearInterval(poll));
    await assert.rejects(running, /deploy aborted/);
    // Killed processes may linger as zombies until init reaps them: those count as gone.
    const alive: string[] = [];
    for (const pid of (await readFile(pids, 'utf8')).trim().split(/\s+/)) {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      if (stat && !/^\d+ \(.*\) [ZX]/.test(stat)) alive.push(stat);
    }
    assert.deepEqual(alive, []);
  });

  it('fails the run with the loader error when a test file does not load', async () => {
    const suite = await make([{ name: 'a.test.cjs', tests: [{ title: 'x' }] }]);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${suite.dir}/test/bad.test.cjs`, 'describe("x", () => { it("y", () => {} ); ');
    const report = await run(suite, { workers: 1 });
    assert.equal(report.ok, false);
    assert.equal(report.failed[0]!.id, '(discovery)');
    assert.match(report.summary, /discovery failed: mocha could not load the suite/);
    assert.match(report.failed[0]!.error!, /bad\.test\.cjs/);
  });

  it('runs node:test files in shards with per-test results', async () => {
    const suite = await make(
      [
        { name: 'a.test.cjs', suite: 'A', tests: [{ title: 'one' }, { title: 'two', does: 'fail' }] },
        { name: 'b.test.cjs', suite: 'B', tests: [{ title: 'three', ms: 20 }] },
      ],
      'node-test',
    );
    const runner = createTestRunner({
      config: testsConfig.parse({ runner: 'node-test', files: ['test/*.test.cjs'], workers: 2, retries: 0, fail_fast: false }),
      history: memoryHistory(),
      log,
    });
    const report = await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal);
    assert.deepEqual(report.results.map((r) => `${r.id} ${r.state}`).sort(), [
      'test/a.test.cjs::A > one passed',
      'test/a.test.cjs::A > two failed',
      'test/b.test.cjs::B > three passed',
    ]);
    assert.equal(report.shards.length, 2);
    assert.equal(report.ok, false);
  });

  it('says so when mocha is not installed in the checkout', async () => {
    const suite = await make([{ name: 'a.test.cjs', tests: [{ title: 'x' }] }]);
    const { rm } = await import('node:fs/promises');
    await rm(`${suite.dir}/node_modules`);
    const report = await run(suite, { workers: 1 });
    assert.equal(report.ok, false);
    assert.match(report.summary, /mocha is not installed in the checkout .* tests\.setup/);
  });

  it('runs an opaque command as one shard, with setup first, and reads its exit code', async () => {
    const suite = await make([]);
    const mk = (command: string[]) =>
      createTestRunner({
        config: testsConfig.parse({
          runner: 'command',
          command,
          setup: [['node', '-e', 'require("fs").writeFileSync("ready", "1")']],
          retries: 0,
        }),
        history: memoryHistory(),
        log,
      });
    const co = { sha: 'f00d', dir: suite.dir, dispose: async () => {} };
    const good = await mk([
      'node',
      '-e',
      'process.exit(require("fs").existsSync("ready") && process.env.PORT_BASE && process.env.TMPDIR !== undefined ? 0 : 1)',
    ]).run(co, new AbortController().signal);
    assert.equal(good.ok, true, good.summary);
    const bad = await mk(['node', '-e', 'console.log("nope"); process.exit(3)']).run(co, new AbortController().signal);
    assert.equal(bad.ok, false);
    assert.match(bad.failed[0]!.error!, /exit 3\nnope/);
    const setupFails = createTestRunner({
      config: testsConfig.parse({ runner: 'command', command: ['true'], setup: [['false']] }),
      history: memoryHistory(),
      log,
    });
    const s = await setupFails.run(co, new AbortController().signal);
    assert.equal(s.ok, false);
    assert.match(s.summary, /setup failed: setup "false" on local failed: exit 1/);
  });
});
