import assert from 'node:assert/strict';
import { openDb } from '../../../../../src/adapters/store/sqlite/db.js';
import { SqliteAuditStore } from '../../../../../src/adapters/store/sqlite/audit.js';
import { auditStoreContract } from '../contract.js';

describe('SqliteAuditStore', () => {
  auditStoreContract(async () => {
    const db = openDb(':memory:');
    return { store: new SqliteAuditStore(db), close: async () => void db.close() };
  });

  it('migrations are idempotent', async () => {
    const db = openDb(':memory:');
    const audit = new SqliteAuditStore(db);
    await audit.append({ time: 1, actor: 'a', action: 'b', target: 'c', reason: 'd' });
    const again = new SqliteAuditStore(db);
    assert.equal((await again.list()).length, 1);
    db.close();
  });
});
