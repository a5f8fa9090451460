// The test stage on a real git repository: a batch of commits where one breaks a test; the stage
// must name that commit (and not a flake), recording history as it goes.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { createGitRepo } from '../../src/adapters/git/git-repo.js';
import { createTestRunner } from '../../src/adapters/runner/index.js';
import { openDb, type Db } from '../../src/adapters/store/sqlite/db.js';
import { SqliteTestHistory } from '../../src/adapters/store/sqlite/tests.js';
import { testsConfig } from '../../src/core/config/tests.js';
import { runTestStage } from '../../src/engine/test-stage.js';
import { createOrigin, type TestOrigin } from '../helpers/git.js';

const log = pino({ level: process.env.H3_LOG ?? 'silent' });
const modules = resolve(import.meta.dirname, '../../node_modules');

/** A suite whose "adds" test, when FLAKY=1, fails its first attempt in every checkout (a marker outside the repo per checkout dir). */
function suiteFiles(counter: string): Record<string, string> {
  return {
    'package.json': JSON.stringify({ name: 'culprit-fixture', private: true }),
    'lib/math.cjs': 'exports.add = (a, b) => a + b;\n',
    'test/math.test.cjs': `const fs = require('node:fs');
const { add } = require('../lib/math.cjs');
const counter = ${JSON.stringify(counter)};
describe('math', () => {
  it('adds', () => {
    const marker = counter + '-' + Buffer.from(process.cwd()).toString('hex');
    const first = !fs.existsSync(marker);
    fs.writeFileSync(marker, '1');
    if (process.env.FLAKY === '1' && first) throw new Error('flaked');
    if (add(2, 2) !== 4) throw new Error('add is broken');
  });
  it('is commutative', () => { if (add(1, 5) !== add(5, 1)) throw new Error('no'); });
});
`,
    'test/other.test.cjs': "describe('other', () => { it('holds', () => {}); });\n",
  };
}

describe('engine/test-stage culprit search on a real repo', function () {
  this.timeout(90_000);
  let origin: TestOrigin;
  let work: string;
  let db: Db;
  let counterDir: string;
  before(async () => {
    counterDir = await mkdtemp(join(tmpdir(), 'immune-culprit-state-'));
    origin = await createOrigin(suiteFiles(join(counterDir, 'count')));
    work = await mkdtemp(join(tmpdir(), 'immune-culprit-work-'));
    db = openDb(':memory:');
  });
  after(async () => {
    db.close();
    await origin.cleanup();
    await rm(work, { recursive: true, force: true });
    await rm(counterDir, { recursive: true, force: true });
  });

  const stage = (workers: number, flaky: boolean) => {
    const history = new SqliteTestHistory(db);
    process.env.FLAKY = flaky ? '1' : '0';
    const runner = createTestRunner({
      config: testsConfig.parse({
        runner: 'mocha',
        files: ['test/**/*.test.cjs'],
        workers,
        retries: 1,
        setup: [['ln', '-s', modules, 'node_modules']],
      }),
      history,
      log,
    });
    const repo = createGitRepo({ url: origin.url, branch: 'main', remote: 'origin', workdir: join(work, String(Math.random()).slice(2)) });
    return { history, run: (shas: string[]) => runTestStage({ repo, runner, history, log }, { shas }, new AbortController().signal) };
  };

  let batch: string[] = [];
  let culprit = '';
  it('passes a good batch without searching', async () => {
    const shas = [await origin.commit('docs', { 'README.md': 'one\n' }), await origin.commit('docs 2', { 'README.md': 'two\n' })];
    const s = stage(2, false);
    const res = await s.run(shas);
    assert.equal(res.ok, true, res.report.summary);
    assert.equal(res.culprit, undefined);
    assert.equal(res.report.passed, 3);
    assert.ok(!('results' in res.report));
    const stats = await s.history.stats();
    assert.deepEqual(stats.map((x) => x.id).sort(), [
      'test/math.test.cjs::math adds',
      'test/math.test.cjs::math is commutative',
      'test/other.test.cjs::other holds',
    ]);
  });

  it('finds the commit that broke a test in a batch of 8, with parallel probes', async () => {
    batch = [];
    for (let i = 0; i < 8; i++) {
      const files: Record<string, string> = { [`notes/n${i}.txt`]: `${i}\n` };
      if (i === 5) files['lib/math.cjs'] = 'exports.add = (a, b) => a * b + 1;\n';
      batch.push(await origin.commit(`change ${i}`, files));
    }
    culprit = batch[5]!;
    const res = await stage(3, false).run(batch);
    assert.equal(res.ok, false);
    assert.deepEqual(
      res.report.failed.map((f) => f.id),
      ['test/math.test.cjs::math adds'],
    );
    assert.equal(res.culprit?.sha, culprit);
    assert.equal(res.report.culprit?.sha, culprit);
    assert.ok(res.culprit!.runs >= 3 && res.culprit!.runs <= 7, `runs ${res.culprit!.runs}`);
    assert.match(res.report.summary, /first bad commit: /);
  });

  it('is not fooled when the failing test also flakes at good commits (plain bisection would be)', async () => {
    const res = await stage(1, true).run(batch);
    assert.equal(res.ok, false);
    assert.equal(res.culprit?.sha, culprit);
    assert.equal(res.culprit!.runs, 3);
    const adds = (await stage(1, true).history.stats()).find((x) => x.id === 'test/math.test.cjs::math adds')!;
    // Every probe at a good commit failed once and passed on re-run: recorded as flakes, not culprits.
    assert.ok(adds.flakes >= 2, JSON.stringify(adds));
  });
});
