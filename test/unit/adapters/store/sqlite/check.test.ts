// The SQLite store notices its database file vanishing (or being replaced) while immune runs.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../../../../src/adapters/store/sqlite/index.js';

describe('SQLite store check()', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'immune-check-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is sound while the file is there, and says so when it is deleted or replaced', async () => {
    const file = join(dir, 'immune.db');
    const store = openSqliteStore(file);
    assert.equal(await store.check!(), undefined);
    await store.line.saveLine({ pipeline: 'p', blocked: false, paused: false, queue: [], version: 1 });
    for (const f of [file, `${file}-wal`, `${file}-shm`]) await rm(f, { force: true });
    assert.match((await store.check!()) ?? '', /immune\.db was deleted while immune runs/);
    await writeFile(file, '');
    assert.match((await store.check!()) ?? '', /was replaced/);
    await store.close();
    const memory = openSqliteStore(':memory:');
    assert.equal(await memory.check!(), undefined);
    await memory.close();
  });
});
