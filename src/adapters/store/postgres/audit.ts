// The audit log in PostgreSQL: who did what to which target, and why; append-only, read newest first.
import type { AuditEntry, AuditStore } from '../../../ports.js';
import { openMigrated, type Migrations, type PgPool } from './db.js';

export const pgAuditMigrations: Migrations = {
  namespace: 'audit',
  steps: [
    `CREATE TABLE audit_log (
       id BIGSERIAL PRIMARY KEY, time BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
       target TEXT NOT NULL, reason TEXT NOT NULL, details JSONB);
     CREATE INDEX audit_log_by_target ON audit_log (target, id);`,
  ],
};

export class PostgresAuditStore implements AuditStore {
  private constructor(private readonly pool: PgPool) {}

  static open(pool: PgPool): Promise<PostgresAuditStore> {
    return openMigrated(pool, pgAuditMigrations, (p) => new PostgresAuditStore(p));
  }

  async append(e: AuditEntry): Promise<void> {
    await this.pool.query('INSERT INTO audit_log (time, actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)', [
      e.time,
      e.actor,
      e.action,
      e.target,
      e.reason,
      e.details === undefined ? null : JSON.stringify(e.details),
    ]);
  }

  /** Newest first. */
  async list(opts: { limit?: number; target?: string } = {}): Promise<AuditEntry[]> {
    const limit = opts.limit ?? 100;
    const r =
      opts.target === undefined
        ? await this.pool.query('SELECT * FROM audit_log ORDER BY id DESC LIMIT $1', [limit])
        : await this.pool.query('SELECT * FROM audit_log WHERE target = $1 ORDER BY id DESC LIMIT $2', [opts.target, limit]);
    return (r.rows as { id: string; time: string; actor: string; action: string; target: string; reason: string; details: unknown }[]).map(
      (row) => {
        const e: AuditEntry = {
          id: Number(row.id),
          time: Number(row.time),
          actor: row.actor,
          action: row.action,
          target: row.target,
          reason: row.reason,
        };
        if (row.details !== null) e.details = row.details;
        return e;
      },
    );
  }
}
