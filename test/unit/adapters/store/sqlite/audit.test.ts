import assert from 'node:assert/strict';
import { openDb, type Db } from '../../../../../src/adapters/store/sqlite/db.js';
import { SqliteAuditStore } from '../../../../../src/adapters/store/sqlite/audit.js';

describe('SqliteAuditStore', () => {
  let db: Db;
  let audit: SqliteAuditStore;
  beforeEach(() => {
    db = openDb(':memory:');
    audit = new SqliteAuditStore(db);
  });
  afterEach(() => db.close());

  it('lists entries newest first with ids, details and limit', async () => {
    await audit.append({ time: 1, actor: 'token:alice', action: 'block', target: 'line:local', reason: 'investigating' });
    await audit.append({ time: 2, actor: 'token:bob', action: 'unblock', target: 'line:local', reason: 'fixed', details: { deploy: 'd2' } });
    await audit.append({ time: 3, actor: 'token:carol', action: 'close', target: 'experiment:banner', reason: 'won' });
    const all = await audit.list();
    assert.deepEqual(
      all.map((e) => [e.actor, e.action]),
      [
        ['token:carol', 'close'],
        ['token:bob', 'unblock'],
        ['token:alice', 'block'],
      ],
    );
    assert.deepEqual(all[1], { id: 2, time: 2, actor: 'token:bob', action: 'unblock', target: 'line:local', reason: 'fixed', details: { deploy: 'd2' } });
    assert.equal('details' in all[0]!, false);
    assert.deepEqual((await audit.list({ limit: 1 })).map((e) => e.id), [3]);
    assert.deepEqual((await audit.list({ target: 'line:local' })).map((e) => e.id), [2, 1]);
    assert.deepEqual(await audit.list({ target: 'nothing' }), []);
  });

  it('migrations are idempotent', async () => {
    await audit.append({ time: 1, actor: 'a', action: 'b', target: 'c', reason: 'd' });
    const again = new SqliteAuditStore(db);
    assert.equal((await again.list()).length, 1);
  });
});
