// One SQLite file holding everything the orchestrator keeps: the line, the audit log, test history, experiments, the notification queue.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Store } from '../../../ports.js';
import { SqliteAuditStore } from './audit.js';
import { ImmuneError } from '../../../core/errors.js';
import { openDb, type Db } from './db.js';
import { SqliteExperimentStore } from './experiments.js';
import { SqliteLineStore } from './line.js';
import { SqliteNotificationOutbox } from './notifications.js';
import { SqliteTestHistory } from './tests.js';

export { SqliteAuditStore } from './audit.js';
export { SqliteExperimentStore } from './experiments.js';
export { SqliteLineStore } from './line.js';
export { SqliteNotificationOutbox } from './notifications.js';
export { SqliteTestHistory } from './tests.js';

/**
 * Open (creating and migrating as needed) the store in `file`, or ':memory:'. close() closes the
 * database. A file that is not a database, or was written by a newer immune, is an ImmuneError
 * naming the file.
 */
export function openSqliteStore(file: string): Store {
  let db: Db | undefined;
  try {
    db = openDb(file);
    const open = db;
    // The file we opened, by inode: deleted or replaced under us, writes would go to a ghost.
    const path = file === ':memory:' ? undefined : resolve(file);
    const inode = path ? statSync(path).ino : undefined;
    return {
      line: new SqliteLineStore(open),
      audit: new SqliteAuditStore(open),
      tests: new SqliteTestHistory(open),
      experiments: new SqliteExperimentStore(open),
      notifications: new SqliteNotificationOutbox(open),
      async check(): Promise<string | undefined> {
        if (!path) return undefined;
        let ino: number;
        try {
          ino = statSync(path).ino;
        } catch {
          return `the state database ${path} was deleted while immune runs: nothing immune records now would survive a restart; restore it or restart immune (which then asks to adopt what the fleet runs)`;
        }
        return ino === inode
          ? undefined
          : `the state database ${path} was replaced while immune runs (another file is there now); restart immune`;
      },
      async close(): Promise<void> {
        if (open.open) open.close();
      },
    };
  } catch (err) {
    db?.close();
    throw new ImmuneError('IMMUNE_UNAVAILABLE', `cannot open the state database ${file}: ${(err as Error).message}`, { cause: err });
  }
}
