// A PostgreSQL pool and per-namespace migrations, the same scheme as the SQLite store: each
// module owns numbered SQL steps, applied once, under an advisory lock so two orchestrators
// starting together do not race.
import pg from 'pg';
import type { Migrations } from '../sqlite/db.js';

export type PgPool = pg.Pool;
export type { Migrations } from '../sqlite/db.js';

/** Arbitrary constant: the advisory lock key for migrations. */
const MIGRATION_LOCK = 0x1a7e_0001;

export function openPool(url: string): PgPool {
  return new pg.Pool({ connectionString: url, max: 10 });
}

export async function migratePg(pool: PgPool, m: Migrations): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)');
    const r = await c.query<{ version: number }>('SELECT version FROM schema_migrations WHERE namespace = $1', [m.namespace]);
    const from = r.rows[0]?.version ?? 0;
    if (from > m.steps.length)
      throw new Error(`database schema "${m.namespace}" is at version ${from}, newer than this immune (${m.steps.length}); upgrade immune`);
    for (let v = from; v < m.steps.length; v++) await c.query(m.steps[v]!);
    await c.query(
      'INSERT INTO schema_migrations (namespace, version) VALUES ($1, $2) ON CONFLICT (namespace) DO UPDATE SET version = excluded.version',
      [m.namespace, m.steps.length],
    );
  });
}

/**
 * A store on `pool` once its tables exist: migrate, then make it. Stores keep their constructors
 * private and open through this, so none is ever used on a schema that is not there yet.
 */
export async function openMigrated<T>(pool: PgPool, m: Migrations, make: (pool: PgPool) => T): Promise<T> {
  await migratePg(pool, m);
  return make(pool);
}

/** Run `fn` in one transaction on one connection; roll back if it throws. */
export async function inTransaction<T>(pool: PgPool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
