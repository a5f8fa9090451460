// The notification queue in SQLite: one row per notification and target, kept after delivery
// (its id dedups a replayed event) and after giving up (the dead letters).
import type { NotificationOutbox, OutboxItem, OutboxTargetCounts } from '../../../ports.js';
import { migrate, type Db, type Migrations } from './db.js';

export const notificationMigrations: Migrations = {
  namespace: 'notifications',
  steps: [
    `CREATE TABLE notification_outbox (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       id TEXT NOT NULL UNIQUE,
       target TEXT NOT NULL,
       qualifier TEXT,
       notification TEXT NOT NULL,
       state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
       attempts INTEGER NOT NULL DEFAULT 0,
       created_at INTEGER NOT NULL,
       next_at INTEGER NOT NULL,
       last_error TEXT,
       last_error_at INTEGER,
       delivered_at INTEGER
     );
     CREATE INDEX notification_outbox_by_target ON notification_outbox (target, state, seq);`,
  ],
};

interface Row {
  id: string;
  target: string;
  qualifier: string | null;
  notification: string;
  state: OutboxItem['state'];
  attempts: number;
  created_at: number;
  next_at: number;
  last_error: string | null;
  last_error_at: number | null;
  delivered_at: number | null;
}

function toItem(r: Row): OutboxItem {
  return {
    id: r.id,
    target: r.target,
    qualifier: r.qualifier ?? undefined,
    notification: JSON.parse(r.notification) as OutboxItem['notification'],
    state: r.state,
    attempts: r.attempts,
    createdAt: r.created_at,
    nextAt: r.next_at,
    lastError: r.last_error ?? undefined,
    lastErrorAt: r.last_error_at ?? undefined,
    deliveredAt: r.delivered_at ?? undefined,
  };
}

export class SqliteNotificationOutbox implements NotificationOutbox {
  private readonly db: Db;
  private readonly q;

  constructor(db: Db) {
    migrate(db, notificationMigrations);
    this.db = db;
    this.q = {
      exists: db.prepare<[string], { id: string }>('SELECT id FROM notification_outbox WHERE id = ?'),
      pending: db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM notification_outbox WHERE target = ? AND state = 'pending'"),
      insert: db.prepare<[string, string, string | null, string, string, number, number, string | null, number | null]>(
        'INSERT INTO notification_outbox (id, target, qualifier, notification, state, created_at, next_at, last_error, last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
      ),
      head: db.prepare<[string], Row>("SELECT * FROM notification_outbox WHERE target = ? AND state = 'pending' ORDER BY seq LIMIT 1"),
      delivered: db.prepare<[number, string]>("UPDATE notification_outbox SET state = 'delivered', delivered_at = ? WHERE id = ?"),
      failed: db.prepare<[string, number, number, string, number, string]>(
        'UPDATE notification_outbox SET state = ?, attempts = ?, next_at = ?, last_error = ?, last_error_at = ? WHERE id = ?',
      ),
      prune: db.prepare<[number, number]>(
        "DELETE FROM notification_outbox WHERE state != 'pending' AND COALESCE(delivered_at, last_error_at, created_at) < ? AND seq NOT IN (SELECT seq FROM notification_outbox ORDER BY seq DESC LIMIT ?)",
      ),
      retry: db.prepare<[number, string]>(
        "UPDATE notification_outbox SET state = 'pending', attempts = 0, next_at = ? WHERE id = ? AND state = 'dead'",
      ),
      summary: db.prepare<[], { target: string; pending: number; delivered: number; dead: number }>(
        "SELECT target, SUM(state = 'pending') AS pending, SUM(state = 'delivered') AS delivered, SUM(state = 'dead') AS dead FROM notification_outbox GROUP BY target ORDER BY target",
      ),
      lastError: db.prepare<[string], { last_error: string; last_error_at: number }>(
        'SELECT last_error, last_error_at FROM notification_outbox WHERE target = ? AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1',
      ),
    };
  }

  async enqueue(item: Parameters<NotificationOutbox['enqueue']>[0], maxPending: number): Promise<'added' | 'duplicate' | 'full'> {
    const run = this.db.transaction((): 'added' | 'duplicate' | 'full' => {
      if (this.q.exists.get(item.id)) return 'duplicate';
      const full = (this.q.pending.get(item.target)?.n ?? 0) >= maxPending;
      const error = full ? `queue full (${maxPending} pending)` : null;
      this.q.insert.run(
        item.id,
        item.target,
        item.qualifier ?? null,
        JSON.stringify(item.notification),
        full ? 'dead' : 'pending',
        item.createdAt,
        item.nextAt,
        error,
        full ? item.createdAt : null,
      );
      return full ? 'full' : 'added';
    });
    return run();
  }

  async head(target: string): Promise<OutboxItem | undefined> {
    const r = this.q.head.get(target);
    return r && toItem(r);
  }

  async delivered(id: string, at: number): Promise<void> {
    this.q.delivered.run(at, id);
  }

  async failed(id: string, f: { attempts: number; nextAt: number; error: string; at: number; dead: boolean }): Promise<void> {
    this.q.failed.run(f.dead ? 'dead' : 'pending', f.attempts, f.nextAt, f.error.slice(0, 2000), f.at, id);
  }

  async list(opts: { state?: OutboxItem['state']; target?: string; limit?: number } = {}): Promise<OutboxItem[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (opts.state) {
      where.push('state = ?');
      args.push(opts.state);
    }
    if (opts.target) {
      where.push('target = ?');
      args.push(opts.target);
    }
    const sql = `SELECT * FROM notification_outbox ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, opts.limit ?? 100) as Row[]).map(toItem);
  }

  async summary(): Promise<OutboxTargetCounts[]> {
    return this.q.summary.all().map((r) => {
      const last = this.q.lastError.get(r.target);
      return {
        target: r.target,
        pending: r.pending,
        delivered: r.delivered,
        dead: r.dead,
        lastError: last?.last_error,
        lastErrorAt: last?.last_error_at,
      };
    });
  }

  async prune(before: number): Promise<number> {
    // The newest rows stay whatever their age, so a quiet line keeps its recent history.
    return this.q.prune.run(before, 200).changes;
  }

  async retry(id: string, now: number): Promise<boolean> {
    return this.q.retry.run(now, id).changes > 0;
  }
}
