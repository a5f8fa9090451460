// The work queue on real suites: warm mocha runners (one per slot) take units as they become idle,
// a long file cut into groups loads again in the same runner, the project's root hooks and global
// fixtures still apply, and file load times come back for the history.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { createTestRunner, type RunReport } from '../../src/adapters/runner/index.js';
import { openDb } from '../../src/adapters/store/sqlite/db.js';
import { SqliteTestHistory } from '../../src/adapters/store/sqlite/tests.js';
import { testsConfig } from '../../src/core/config/tests.js';
import { memoryHistory } from '../fixtures/suites/memory-history.js';
import { makeSuite, mochaFile, type FixtureSuite } from '../fixtures/suites/make-suite.js';

const log = pino({ level: 'silent' });

async function run(suite: FixtureSuite, cfg: Record<string, unknown>, durations = new Map<string, number>()): Promise<RunReport> {
  const runner = createTestRunner({
    config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.{cjs,mjs}'], retries: 0, fail_fast: false, ...cfg }),
    history: memoryHistory(durations),
    log,
  });
  try {
    return await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal);
  } finally {
    await runner.close();
  }
}

async function plainRun(dir: string, files: string): Promise<string[]> {
  const plain = await execa('node', ['node_modules/mocha/bin/mocha.js', '--reporter', 'json-stream', files], { cwd: dir, reject: false });
  return plain.stdout
    .split('\n')
    .filter((l) => l.startsWith('["pass"') || l.startsWith('["fail"'))
    .map((l) => JSON.parse(l) as [string, { fullTitle: string; file: string }])
    .map(([k, t]) => `${t.file.slice(dir.length + 1)}::${t.fullTitle} ${k === 'pass' ? 'passed' : 'failed'}`)
    .sort();
}

describe('adapters/runner work queue (warm runners per slot)', function () {
  this.timeout(60_000);
  const suites: FixtureSuite[] = [];
  after(() => Promise.all(suites.map((s) => s.cleanup())));

  it('hands the rest of the queue to the idle slot while a test runs far longer than its history says', async () => {
    // "stuck" is 1 ms in history but waits until all five other files have run: that can only
    // finish if the other slot takes every remaining unit while it waits.
    const suite = await makeSuite([
      { name: 'stuck.test.cjs', tests: [{ title: 'waits' }] },
      ...['b', 'c', 'd', 'e', 'f'].map((n) => ({ name: `${n}.test.cjs`, tests: [{ title: 'counts' }] })),
    ]);
    suites.push(suite);
    const counter = join(suite.stateDir, 'count');
    for (const n of ['b', 'c', 'd', 'e', 'f']) {
      await writeFile(
        join(suite.dir, 'test', `${n}.test.cjs`),
        `it('${n} counts', () => { require('node:fs').appendFileSync(${JSON.stringify(counter)}, 'x'); });\n`,
      );
    }
    await writeFile(
      join(suite.dir, 'test', 'stuck.test.cjs'),
      `it('waits', async () => { const fs = require('node:fs'); while (!(fs.existsSync(${JSON.stringify(counter)}) && fs.readFileSync(${JSON.stringify(counter)}, 'utf8').length >= 5)) await new Promise((r) => setTimeout(r, 20)); });\n`,
    );
    const history = new Map([
      ['test/stuck.test.cjs::waits', 1],
      ...['b', 'c', 'd', 'e', 'f'].map((n): [string, number] => [`test/${n}.test.cjs::${n} counts`, 200]),
    ]);
    const report = await run(suite, { workers: 2, test_timeout: '30s' }, history);
    assert.equal(report.ok, true, report.summary);
    assert.equal(report.passed, 6);
    assert.deepEqual(report.shards.map((s) => s.tests).sort(), [1, 5]);
    assert.equal(await readFile(counter, 'utf8'), 'xxxxx');
  });

  it('runs a long file cut into groups, loading it again in the same runner, with results exactly as a plain run', async () => {
    const suite = await makeSuite([
      {
        name: 'long.test.cjs',
        suite: 'long',
        tests: [{ title: 'one' }, { title: 'two', does: 'fail' }, { title: 'three' }, { title: 'four' }],
      },
      { name: 'short.test.cjs', suite: 'short', tests: [{ title: 'five' }] },
    ]);
    suites.push(suite);
    // An ES module too: a second load needs a fresh URL, not just a cleared require cache.
    await writeFile(
      join(suite.dir, 'test', 'esm.test.mjs'),
      `describe('esm', () => { for (const n of ['a', 'b', 'c']) it(n, async () => { await new Promise((r) => setTimeout(r, 5)); }); });\n`,
    );
    const history = new Map<string, number>();
    for (const n of ['one', 'two', 'three', 'four']) history.set(`test/long.test.cjs::long ${n}`, 1000);
    for (const n of ['a', 'b', 'c']) history.set(`test/esm.test.mjs::esm ${n}`, 1000);
    history.set('test/short.test.cjs::short five', 1);
    const expected = await plainRun(suite.dir, 'test/**/*.test.{cjs,mjs}');
    assert.equal(expected.length, 8);
    const report = await run(suite, { workers: 2 }, history);
    assert.deepEqual(report.results.map((r) => `${r.id} ${r.state}`).sort(), expected);
    assert.equal(report.total, 8);
    assert.deepEqual(
      report.failed.map((f) => f.title),
      ['long two'],
    );
    // Two runners took the 8 units (7 single tests of the long files, one short file).
    assert.equal(report.shards.length, 2);
    assert.equal(
      report.shards.reduce((s, x) => s + x.tests, 0),
      8,
    );
    assert.deepEqual(report.fileLoads?.map((l) => l.file).sort(), ['test/esm.test.mjs', 'test/long.test.cjs', 'test/short.test.cjs']);
  });

  it("keeps the project's mocha config: root hooks on every batch, global fixtures once per runner", async () => {
    const suite = await makeSuite([]);
    suites.push(suite);
    const marks = join(suite.stateDir, 'global');
    await writeFile(join(suite.dir, '.mocharc.cjs'), `module.exports = { require: ['./hooks.cjs'], timeout: 5000 };\n`);
    await writeFile(
      join(suite.dir, 'hooks.cjs'),
      `const fs = require('node:fs');
exports.mochaHooks = { beforeEach() { globalThis.rootHookRan = (globalThis.rootHookRan || 0) + 1; } };
exports.mochaGlobalSetup = () => fs.appendFileSync(${JSON.stringify(marks)}, 'setup ');
`,
    );
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(suite.dir, 'test'), { recursive: true });
    for (const n of ['a', 'b', 'c'])
      await writeFile(
        join(suite.dir, 'test', `${n}.test.cjs`),
        `it('${n} sees the root hook', () => { if (!globalThis.rootHookRan) throw new Error('no root hook'); });\n`,
      );
    const report = await run(suite, { workers: 1 });
    assert.equal(report.ok, true, report.summary);
    assert.equal(report.passed, 3);
    assert.equal(report.shards.length, 1);
    // Once for the one runner, which also listed the tests: not once per batch (three).
    assert.equal(await readFile(marks, 'utf8'), 'setup ');
  });

  it("applies the config's node options (the second run starts node with them), and tests still get the runner's own TMPDIR", async () => {
    const suite = await makeSuite([]);
    suites.push(suite);
    const seen = join(suite.stateDir, 'seen');
    await writeFile(join(suite.dir, '.mocharc.cjs'), `module.exports = { 'node-option': ['no-warnings'] };\n`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(suite.dir, 'test'), { recursive: true });
    for (const n of ['a', 'b']) {
      await writeFile(
        join(suite.dir, 'test', `${n}.test.cjs`),
        `it('${n} notes where it runs', () => { require('node:fs').appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ tmp: require('node:os').tmpdir(), argv: process.execArgv }) + '\\n'); });\n`,
      );
    }
    const runner = createTestRunner({
      config: testsConfig.parse({ runner: 'mocha', files: ['test/*.test.cjs'], workers: 2, retries: 0 }),
      history: memoryHistory(),
      log,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const report = await runner.run({ sha: 'f00d', dir: suite.dir, dispose: async () => {} }, new AbortController().signal);
        assert.equal(report.ok, true, report.summary);
      }
    } finally {
      await runner.close();
    }
    const lines = (await readFile(seen, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tmp: string; argv: string[] });
    assert.equal(lines.length, 4);
    for (const l of lines) {
      assert.ok(l.argv.includes('--no-warnings'), JSON.stringify(l));
      assert.match(l.tmp, /immune-shard-/);
    }
  });

  describe('planned from history (no listing)', () => {
    /** A runner on a real history store, and what it logged about where each run's suite came from. */
    const historyRunner = (cfg: Record<string, unknown>) => {
      const db = openDb(':memory:');
      const history = new SqliteTestHistory(db);
      const from: string[] = [];
      const logger = pino(
        { level: 'debug' },
        { write: (line: string) => void (JSON.parse(line).msg === 'suite' && from.push(JSON.parse(line).from)) },
      );
      const runner = createTestRunner({
        config: testsConfig.parse({ runner: 'mocha', files: ['test/**/*.test.cjs'], retries: 0, fail_fast: false, ...cfg }),
        history,
        log: logger,
      });
      let time = Date.now();
      return {
        from,
        async run(dir: string): Promise<RunReport> {
          const report = await runner.run({ sha: 'f00d', dir, dispose: async () => {} }, new AbortController().signal);
          await history.recordRun('f00d', report.results, (time += 1000));
          if (report.fileLoads) await history.recordFileLoads('f00d', report.fileLoads, time);
          return report;
        },
        async close() {
          await runner.close();
          db.close();
        },
      };
    };

    it('runs tests added since exactly once, does not count tests removed, and reports skipped ones: counts as a plain run', async () => {
      // "long" takes most of the suite, so with two slots it is cut into groups of one test each.
      const long = (titles: string[]) => ({ name: 'long.test.cjs', suite: 'long', tests: titles.map((title) => ({ title, ms: 150 })) });
      const suite = await makeSuite([
        long(['t1', 't2', 't3', 't4', 't5', 't6']),
        { name: 'short.test.cjs', suite: 'short', tests: [{ title: 'one' }] },
      ]);
      suites.push(suite);
      const r = historyRunner({ workers: 2 });
      try {
        const first = await r.run(suite.dir);
        assert.equal(first.ok, true, first.summary);
        assert.equal(first.total, 7);
        // Since then: t3 removed, a test added in the middle and one skipped; a new file with a failing test.
        const src = mochaFile(long(['t1', 't2', 'added', 't4', 't5', 't6']), suite.stateDir).replace(
          /\n\}\);\n$/,
          "\n  it.skip('later', () => {});\n});\n",
        );
        await writeFile(join(suite.dir, 'test', 'long.test.cjs'), src);
        await writeFile(
          join(suite.dir, 'test', 'extra.test.cjs'),
          mochaFile(
            { name: 'extra.test.cjs', suite: 'extra', tests: [{ title: 'works' }, { title: 'breaks', does: 'fail' }] },
            suite.stateDir,
          ),
        );
        const expected = await plainRun(suite.dir, 'test/**/*.test.cjs');
        assert.equal(expected.length, 9);
        for (let i = 0; i < 2; i++) {
          const report = await r.run(suite.dir);
          assert.deepEqual(
            report.results
              .filter((x) => x.state !== 'skipped')
              .map((x) => `${x.id} ${x.state}`)
              .sort(),
            expected,
          );
          assert.deepEqual(
            report.results.filter((x) => x.state === 'skipped').map((x) => x.title),
            ['long later'],
          );
          assert.equal(report.total, 10);
          assert.deepEqual(
            report.failed.map((f) => f.title),
            ['extra breaks'],
          );
          assert.doesNotMatch(report.summary, /not run/);
        }
        assert.deepEqual(r.from, ['listing', 'history', 'history']);
      } finally {
        await r.close();
      }
    });

    it('re-runs a failed test history has never seen by its name: a flake passes, the change goes on', async () => {
      const suite = await makeSuite([{ name: 'a.test.cjs', suite: 'a', tests: [{ title: 'known' }] }]);
      suites.push(suite);
      const r = historyRunner({ workers: 2, retries: 1 });
      try {
        assert.equal((await r.run(suite.dir)).ok, true);
        await writeFile(
          join(suite.dir, 'test', 'new.test.cjs'),
          mochaFile(
            { name: 'new.test.cjs', suite: 'new', tests: [{ title: 'flakes', does: 'flaky' }, { title: 'holds' }] },
            suite.stateDir,
          ),
        );
        const report = await r.run(suite.dir);
        assert.deepEqual(r.from, ['listing', 'history']);
        assert.equal(report.ok, true, report.summary);
        assert.deepEqual(
          report.flaky.map((f) => f.title),
          ['new flakes'],
        );
        assert.equal(report.total, 3);
        // The re-run ran that test alone.
        assert.equal(report.shards.at(-1)!.tests, 1);
      } finally {
        await r.close();
      }
    });

    it('runs the file of a test that failed last time first, so a failure that persists shows at once', async () => {
      const suite = await makeSuite([
        { name: 'big.test.cjs', suite: 'big', tests: [{ title: 'slow', ms: 600 }] },
        {
          name: 'mid.test.cjs',
          suite: 'mid',
          tests: [
            { title: 'takes a while', ms: 150 },
            { title: 'breaks', does: 'fail' },
          ],
        },
        { name: 'quick.test.cjs', suite: 'quick', tests: [{ title: 'instant' }] },
      ]);
      suites.push(suite);
      const r = historyRunner({ workers: 1 });
      try {
        const order = async () => (await r.run(suite.dir)).results.map((x) => x.title);
        await order();
        // "mid breaks" failed last time: its file goes first.
        assert.deepEqual(await order(), ['mid takes a while', 'mid breaks', 'quick instant', 'big slow']);
        await writeFile(
          join(suite.dir, 'test', 'mid.test.cjs'),
          mochaFile(
            { name: 'mid.test.cjs', suite: 'mid', tests: [{ title: 'takes a while', ms: 150 }, { title: 'breaks' }] },
            suite.stateDir,
          ),
        );
        assert.deepEqual(await order(), ['mid takes a while', 'mid breaks', 'quick instant', 'big slow']);
        // Fixed and passed once: back to the quickest file first, then longest first.
        assert.deepEqual(await order(), ['quick instant', 'big slow', 'mid takes a while', 'mid breaks']);
      } finally {
        await r.close();
      }
    });

    it('fails the run naming a file that no longer loads, and runs the rest', async () => {
      const suite = await makeSuite([
        { name: 'a.test.cjs', suite: 'a', tests: [{ title: 'fine' }] },
        { name: 'b.test.cjs', suite: 'b', tests: [{ title: 'fine too' }] },
      ]);
      suites.push(suite);
      const r = historyRunner({ workers: 2, retries: 1 });
      try {
        assert.equal((await r.run(suite.dir)).ok, true);
        await writeFile(join(suite.dir, 'test', 'b.test.cjs'), "describe('b', () => { it('fine too', () => {}); \n");
        const report = await r.run(suite.dir);
        assert.deepEqual(r.from, ['listing', 'history']);
        assert.equal(report.ok, false);
        assert.deepEqual(
          report.results.filter((x) => x.state === 'passed').map((x) => x.title),
          ['a fine'],
        );
        assert.equal(report.failed.length, 1);
        assert.equal(report.failed[0]!.file, 'test/b.test.cjs');
        assert.match(report.failed[0]!.error!, /SyntaxError/);
        assert.match(report.summary, /b\.test\.cjs/);
      } finally {
        await r.close();
      }
    });

    it('names a hung test history has never seen, and still runs the rest of its file', async () => {
      const suite = await makeSuite([{ name: 'b.test.cjs', suite: 'b', tests: [{ title: 'before' }, { title: 'after' }] }]);
      suites.push(suite);
      const r = historyRunner({ workers: 1, test_timeout: '1s' });
      try {
        assert.equal((await r.run(suite.dir)).ok, true);
        await writeFile(
          join(suite.dir, 'test', 'b.test.cjs'),
          mochaFile(
            { name: 'b.test.cjs', suite: 'b', tests: [{ title: 'before' }, { title: 'spins', does: 'hang' }, { title: 'after' }] },
            suite.stateDir,
          ),
        );
        const report = await r.run(suite.dir);
        assert.deepEqual(r.from, ['listing', 'history']);
        assert.deepEqual(
          report.failed.map((f) => f.title),
          ['b spins'],
        );
        assert.match(report.failed[0]!.error!, /killed: no test finished within 3s/);
        assert.deepEqual(
          report.results
            .filter((x) => x.state === 'passed')
            .map((x) => x.title)
            .sort(),
          ['b after', 'b before'],
        );
        assert.equal(report.total, 3);
      } finally {
        await r.close();
      }
    });
  });
});
