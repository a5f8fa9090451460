// `immune tests slowest|flaky|quarantine` against a real SQLite store, through the real CLI.
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDb } from '../../src/adapters/store/sqlite/db.js';
import { SqliteTestHistory } from '../../src/adapters/store/sqlite/tests.js';

const bin = resolve(import.meta.dirname, '../../bin/immune.js');
const immune = (...args: string[]) => execa('node', [bin, ...args], { reject: false });

describe('cli: immune tests', function () {
  this.timeout(30_000);
  let dir: string;
  let file: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'immune-tests-cli-'));
    file = join(dir, 'immune.db');
    const db = openDb(file);
    const h = new SqliteTestHistory(db);
    // A slow test that was removed: its file has run for days since without it.
    await h.recordRun(
      's-old',
      [{ id: 'a.js::removed', file: 'a.js', title: 'removed', state: 'passed', durationMs: 5000 }],
      -3 * 86_400_000,
    );
    for (let i = 0; i < 4; i++) {
      await h.recordRun(
        `s${i}`,
        [
          { id: 'a.js::fast', file: 'a.js', title: 'fast', state: 'passed', durationMs: 5 },
          { id: 'a.js::slow', file: 'a.js', title: 'slow', state: 'passed', durationMs: 900 },
          { id: 'b.js::wobbly', file: 'b.js', title: 'wobbly', state: 'passed', durationMs: 50, flaky: i % 2 === 0 },
        ],
        i,
      );
    }
    db.close();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lists the slowest tests and files as JSON', async () => {
    const slow = await immune('tests', 'slowest', '--db', file, '--json', '--limit', '2');
    assert.equal(slow.exitCode, 0, slow.stderr);
    assert.deepEqual(
      JSON.parse(slow.stdout).map((r: { id: string; meanMs: number }) => [r.id, r.meanMs]),
      [
        ['a.js::slow', 900],
        ['b.js::wobbly', 50],
      ],
    );
    const files = await immune('tests', 'slowest', '--files', '--db', file, '--json');
    assert.deepEqual(JSON.parse(files.stdout), [
      { file: 'a.js', meanMs: 905, tests: 2 },
      { file: 'b.js', meanMs: 50, tests: 1 },
    ]);
  });

  it('leaves out tests no longer in the suite, unless asked for --all', async () => {
    const all = await immune('tests', 'slowest', '--db', file, '--json', '--all', '--limit', '1');
    assert.deepEqual(
      JSON.parse(all.stdout).map((r: { id: string }) => r.id),
      ['a.js::removed'],
    );
    const files = await immune('tests', 'slowest', '--files', '--all', '--db', file, '--json', '--limit', '1');
    assert.deepEqual(JSON.parse(files.stdout), [{ file: 'a.js', meanMs: 5905, tests: 3 }]);
  });

  it('quarantines a test and lists flaky and quarantined tests in a readable table', async () => {
    const q = await immune('tests', 'quarantine', 'a.js::fast', '--db', file);
    assert.equal(q.exitCode, 0, q.stderr);
    const fl = await immune('tests', 'flaky', '--db', file);
    assert.match(
      fl.stdout,
      /^RATE\s+FLAKES\/RUNS\s+QUARANTINED\s+TEST\n50\.0%\s+2\/4\s+no\s+b\.js::wobbly\n0\.0%\s+0\/4\s+yes\s+a\.js::fast$/,
    );
  });

  it('says what is wrong with bad input, without a stack trace', async () => {
    const noDb = await immune('tests', 'slowest', '--db', join(dir, 'missing.db'));
    assert.equal(noDb.exitCode, 2);
    assert.match(noDb.stderr, /^immune: --db: no database at .*missing\.db/);
    assert.doesNotMatch(noDb.stderr, /\bat .*\.ts:\d+/);
  });
});
