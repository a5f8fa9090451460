// SqliteTestHistory against a real SQLite file: durations, flakes, quarantine, migrations.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/adapters/store/sqlite/db.js';
import { SqliteTestHistory } from '../../src/adapters/store/sqlite/tests.js';
import type { TestCaseResult } from '../../src/ports.js';

const r = (id: string, state: TestCaseResult['state'], durationMs: number, flaky = false): TestCaseResult => ({
  id,
  file: id.split('::')[0]!,
  title: id.split('::')[1]!,
  state,
  durationMs,
  flaky,
});

describe('store/sqlite/tests (SqliteTestHistory)', () => {
  let dir: string;
  let db: Db;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'immune-th-'));
  });
  afterEach(() => db?.close());
  after(() => rm(dir, { recursive: true, force: true }));

  it('records runs and answers durations over recent runs, skipping skipped tests', async () => {
    db = openDb(join(dir, 'a.db'));
    const h = new SqliteTestHistory(db);
    await h.recordRun('s1', [r('a.js::x', 'passed', 10), r('a.js::y', 'failed', 30), r('a.js::z', 'skipped', 0)], 1);
    await h.recordRun('s2', [r('a.js::x', 'passed', 20), r('a.js::y', 'passed', 10, true)], 2);
    const d = await h.durations();
    assert.deepEqual([...d.entries()].sort(), [
      ['a.js::x', 15],
      ['a.js::y', 20],
    ]);
    assert.deepEqual([...(await h.durations(['a.js::x'])).keys()], ['a.js::x']);
    const stats = await h.stats();
    const y = stats.find((s) => s.id === 'a.js::y')!;
    assert.deepEqual(
      { runs: y.runs, failures: y.failures, flakes: y.flakes, file: y.file, title: y.title },
      { runs: 2, failures: 1, flakes: 1, file: 'a.js', title: 'y' },
    );
  });

  it('averages only the last 10 runs of a test', async () => {
    db = openDb(join(dir, 'b.db'));
    const h = new SqliteTestHistory(db);
    for (let i = 0; i < 15; i++) await h.recordRun(`s${i}`, [r('f::t', 'passed', i < 5 ? 1000 : 10)], i);
    assert.equal((await h.durations()).get('f::t'), 10);
  });

  it('keeps the quarantine flag across reopen and migrates once', async () => {
    const file = join(dir, 'c.db');
    db = openDb(file);
    const h = new SqliteTestHistory(db);
    await h.recordRun('s', [r('f::t', 'passed', 5)], 1);
    await h.setQuarantined('f::t', true);
    db.close();
    db = openDb(file);
    const h2 = new SqliteTestHistory(db);
    assert.equal((await h2.stats())[0]!.quarantined, true);
    await h2.setQuarantined('f::t', false);
    assert.equal((await h2.stats())[0]!.quarantined, false);
  });

  it('records per-file load times and averages the last 10 loads of a file', async () => {
    db = openDb(join(dir, 'd.db'));
    const h = new SqliteTestHistory(db);
    for (let i = 0; i < 12; i++)
      await h.recordFileLoads(
        `s${i}`,
        [
          { file: 'test/a.test.ts', ms: i < 2 ? 5000 : 40 },
          { file: 'test/b.test.ts', ms: 3 },
        ],
        i,
      );
    assert.deepEqual([...(await h.fileLoads()).entries()].sort(), [
      ['test/a.test.ts', 40],
      ['test/b.test.ts', 3],
    ]);
  });

  it('adds the file-load table to a database made before it (migration 2 of the tests schema)', async () => {
    const file = join(dir, 'e.db');
    db = openDb(file);
    new SqliteTestHistory(db);
    await new SqliteTestHistory(db).recordRun('s', [r('f::t', 'passed', 5)], 1);
    db.exec("DROP TABLE test_file_loads; UPDATE schema_migrations SET version = 1 WHERE namespace = 'tests'");
    db.close();
    db = openDb(file);
    const h = new SqliteTestHistory(db);
    await h.recordFileLoads('s', [{ file: 'f', ms: 12 }], 2);
    assert.deepEqual([...(await h.fileLoads()).entries()], [['f', 12]]);
    assert.equal((await h.durations()).get('f::t'), 5);
  });
});
