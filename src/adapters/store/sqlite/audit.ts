// The audit log in SQLite: who did what to which target, and why; append-only, read newest first.
import type { AuditEntry, AuditStore } from '../../../ports.js';
import { migrate, type Db, type Migrations } from './db.js';

export const auditMigrations: Migrations = {
  namespace: 'audit',
  steps: [
    `CREATE TABLE audit_log (
       id INTEGER PRIMARY KEY AUTOINCREMENT,
       time INTEGER NOT NULL,
       actor TEXT NOT NULL,
       action TEXT NOT NULL,
       target TEXT NOT NULL,
       reason TEXT NOT NULL,
       details TEXT
     );
     CREATE INDEX audit_log_by_target ON audit_log (target, id);`,
  ],
};

interface Row {
  id: number;
  time: number;
  actor: string;
  action: string;
  target: string;
  reason: string;
  details: string | null;
}

export class SqliteAuditStore implements AuditStore {
  private readonly q;

  constructor(db: Db) {
    migrate(db, auditMigrations);
    this.q = {
      insert: db.prepare<[number, string, string, string, string, string | null]>(
        'INSERT INTO audit_log (time, actor, action, target, reason, details) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      all: db.prepare<[number], Row>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?'),
      byTarget: db.prepare<[string, number], Row>('SELECT * FROM audit_log WHERE target = ? ORDER BY id DESC LIMIT ?'),
    };
  }

  async append(e: AuditEntry): Promise<void> {
    this.q.insert.run(e.time, e.actor, e.action, e.target, e.reason, e.details === undefined ? null : JSON.stringify(e.details));
  }

  /** Newest first. */
  async list(opts: { limit?: number; target?: string } = {}): Promise<AuditEntry[]> {
    const limit = opts.limit ?? 100;
    const rows = opts.target === undefined ? this.q.all.all(limit) : this.q.byTarget.all(opts.target, limit);
    return rows.map((r) => {
      const e: AuditEntry = { id: r.id, time: r.time, actor: r.actor, action: r.action, target: r.target, reason: r.reason };
      if (r.details !== null) e.details = JSON.parse(r.details);
      return e;
    });
  }
}
