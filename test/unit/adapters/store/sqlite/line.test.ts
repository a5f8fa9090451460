import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../../../../../src/adapters/store/sqlite/db.js';
import { SqliteLineStore } from '../../../../../src/adapters/store/sqlite/line.js';
import { lineStoreContract } from '../contract.js';
import { deploy } from './fixtures.js';

describe('SqliteLineStore', () => {
  lineStoreContract(async () => {
    const db = openDb(':memory:');
    return { store: new SqliteLineStore(db), close: async () => void db.close() };
  });

  describe('on disk', () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'immune-store-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('a reopened file keeps everything and migrations run once', async () => {
      const file = join(dir, 'nested', 'state.db');
      const db1 = openDb(file);
      const s1 = new SqliteLineStore(db1);
      await s1.saveLine({ pipeline: 'local', blocked: true, blockReason: 'why', paused: false, queue: ['a'], version: 3 });
      await s1.saveDeploy(deploy('d1', 100), { deployId: 'd1', time: 100, type: 'start', status: 'testing' });
      await s1.appendGateLook({ deployId: 'd1', step: 0, time: 1, elapsedMs: 1, decision: 'pass', explanation: 'ok', metrics: null });
      // Opening a second store on the same db applies nothing again.
      new SqliteLineStore(db1);
      db1.close();

      const db2 = openDb(file);
      const s2 = new SqliteLineStore(db2);
      assert.equal((await s2.getLine('local')).blockReason, 'why');
      assert.deepEqual(await s2.getDeploy('d1'), deploy('d1', 100));
      assert.equal((await s2.events('d1')).length, 1);
      assert.equal((await s2.gateLooks('d1')).length, 1);
      const row = db2.prepare("SELECT version FROM schema_migrations WHERE namespace = 'line'").get() as { version: number };
      assert.equal(row.version, 1);
      db2.close();
    });
  });
});
