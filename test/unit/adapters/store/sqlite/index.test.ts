import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../../../../src/adapters/store/sqlite/db.js';
import { openSqliteStore } from '../../../../../src/adapters/store/sqlite/index.js';
import { ImmuneError } from '../../../../../src/core/errors.js';
import { deploy } from './fixtures.js';

describe('openSqliteStore', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'immune-store-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('assembles the stores on one file that survives a reopen', async () => {
    const file = join(dir, '.immune', 'immune.db');
    const s1 = openSqliteStore(file);
    await s1.line.createDeploy(deploy('d1', 10));
    await s1.audit.append({ time: 5, actor: 'token:a', action: 'block', target: 'line:local', reason: 'r' });
    await s1.tests.recordRun('sha1', [{ id: 't1', file: 'a.test.js', title: 'works', state: 'passed', durationMs: 42 }], 7);
    await s1.close();
    await s1.close(); // closing twice is harmless

    const s2 = openSqliteStore(file);
    assert.equal((await s2.line.getDeploy('d1'))?.id, 'd1');
    assert.equal((await s2.audit.list())[0]?.reason, 'r');
    assert.equal((await s2.tests.durations(['t1'])).get('t1'), 42);
    assert.deepEqual(await s2.experiments.phases('none'), []);
    await s2.close();
  });

  it('refuses a file that is not a database, or one from a newer immune, naming the file', async () => {
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not sqlite, just text that is long enough to have a header'.repeat(10));
    assert.throws(
      () => openSqliteStore(junk),
      (e: ImmuneError) =>
        e instanceof ImmuneError && e.message.startsWith(`cannot open the state database ${junk}: `) && /not a database/.test(e.message),
    );
    const newer = join(dir, 'newer.db');
    const db = openDb(newer);
    db.prepare("INSERT INTO schema_migrations (namespace, version) VALUES ('line', 99)").run();
    db.close();
    assert.throws(
      () => openSqliteStore(newer),
      /cannot open the state database .*newer\.db: database schema "line" is at version 99, newer than this immune/,
    );
  });
});
