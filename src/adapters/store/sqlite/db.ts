// Opens the SQLite database and applies each module's migrations, in order, once.
// Every module (line, audit, tests, experiments) owns a namespace of numbered migrations.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export interface Migrations {
  namespace: string;
  /** SQL scripts; index i is version i + 1. Never edit a released one: append. */
  steps: string[];
}

export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  return db;
}

export function migrate(db: Db, m: Migrations): void {
  const row = db.prepare('SELECT version FROM schema_migrations WHERE namespace = ?').get(m.namespace) as { version: number } | undefined;
  const from = row?.version ?? 0;
  if (from > m.steps.length)
    throw new Error(`database schema "${m.namespace}" is at version ${from}, newer than this immune (${m.steps.length}); upgrade immune`);
  const apply = db.transaction(() => {
    for (let v = from; v < m.steps.length; v++) db.exec(m.steps[v]!);
    db.prepare(
      'INSERT INTO schema_migrations (namespace, version) VALUES (?, ?) ON CONFLICT(namespace) DO UPDATE SET version = excluded.version',
    ).run(m.namespace, m.steps.length);
  });
  apply();
}
