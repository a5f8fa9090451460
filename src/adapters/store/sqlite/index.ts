// One SQLite file holding everything the orchestrator keeps: the line, the audit log, test history, experiments.
import type { Store } from '../../../ports.js';
import { SqliteAuditStore } from './audit.js';
import { openDb } from './db.js';
import { SqliteExperimentStore } from './experiments.js';
import { SqliteLineStore } from './line.js';
import { SqliteTestHistory } from './tests.js';

export { SqliteAuditStore } from './audit.js';
export { SqliteExperimentStore } from './experiments.js';
export { SqliteLineStore } from './line.js';
export { SqliteTestHistory } from './tests.js';

/** Open (creating and migrating as needed) the store in `file`, or ':memory:'. close() closes the database. */
export function openSqliteStore(file: string): Store {
  const db = openDb(file);
  try {
    return {
      line: new SqliteLineStore(db),
      audit: new SqliteAuditStore(db),
      tests: new SqliteTestHistory(db),
      experiments: new SqliteExperimentStore(db),
      async close(): Promise<void> {
        if (db.open) db.close();
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
