// The line and audit stores on PostgreSQL, for orchestrators that keep state in a shared
// database. Test history and experiments have SQLite stores only so far, so this is not yet a
// whole `Store`: the pieces are ready to be wired when those land.
import { ImmuneError } from '../../../core/errors.js';
import { PostgresAuditStore } from './audit.js';
import { openPool } from './db.js';
import { PostgresLineStore } from './line.js';

export { PostgresAuditStore } from './audit.js';
export { PostgresLineStore } from './line.js';

export interface PostgresLineStores {
  line: PostgresLineStore;
  audit: PostgresAuditStore;
  close(): Promise<void>;
}

/** Connect to `url` (postgres://user@host:port/db), apply migrations, and return the line and audit stores. */
export async function openPostgresLineStores(url: string): Promise<PostgresLineStores> {
  const pool = openPool(url);
  try {
    const [line, audit] = [await PostgresLineStore.open(pool), await PostgresAuditStore.open(pool)];
    let closed = false;
    return {
      line,
      audit,
      async close() {
        if (closed) return;
        closed = true;
        await pool.end();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    const where = url.replace(/\/\/[^@/]*@/, '//');
    throw new ImmuneError('IMMUNE_UNAVAILABLE', `cannot open the state database ${where}: ${(err as Error).message}`, { cause: err });
  }
}
