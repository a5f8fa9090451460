// One SQLite file holding everything the orchestrator keeps: the line, the audit log, test history, experiments.
import type { Store } from '../../../ports.js';
import { SqliteAuditStore } from './audit.js';
import { openDb } from './db.js';
import { SqliteLineStore } from './line.js';

export { SqliteAuditStore } from './audit.js';
export { SqliteLineStore } from './line.js';

/** Open (creating and migrating as needed) the store in `file`, or ':memory:'. close() closes the database. */
export function openSqliteStore(file: string): Store {
  const db = openDb(file);
  try {
    const store = {
      line: new SqliteLineStore(db),
      audit: new SqliteAuditStore(db),
      // TODO(h7): tests: new SqliteTestHistory(db) from ./tests.js, experiments: new SqliteExperimentStore(db) from ./experiments.js — not written yet.
      tests: undefined as unknown as Store['tests'],
      async close(): Promise<void> {
        if (db.open) db.close();
      },
    };
    return store;
  } catch (err) {
    db.close();
    throw err;
  }
}
