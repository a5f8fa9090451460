// Per-test history in SQLite: one row per test per run (durations, failures, flaky passes), the
// quarantine flag per test, and per-file load times (what importing a test file costs a runner, which
// per-test durations do not show). Old rows beyond the last KEEP per test or file are pruned now and then.
import type { TestCaseResult, TestHistoryStore, TestStats } from '../../../ports.js';
import { migrate, type Db } from './db.js';

/** Runs kept per test; durations average the most recent WINDOW of them. */
const KEEP = 200;
const WINDOW = 10;

export class SqliteTestHistory implements TestHistoryStore {
  private runsSincePrune = 0;
  constructor(private readonly db: Db) {
    migrate(db, {
      namespace: 'tests',
      steps: [
        `CREATE TABLE test_results (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           test_id TEXT NOT NULL,
           sha TEXT NOT NULL,
           time INTEGER NOT NULL,
           state TEXT NOT NULL,
           duration_ms REAL NOT NULL,
           flaky INTEGER NOT NULL DEFAULT 0,
           error TEXT
         );
         CREATE INDEX test_results_by_test ON test_results (test_id, id);
         CREATE TABLE test_cases (
           test_id TEXT PRIMARY KEY,
           file TEXT NOT NULL,
           title TEXT NOT NULL,
           quarantined INTEGER NOT NULL DEFAULT 0,
           last_seen INTEGER NOT NULL
         );`,
        `CREATE TABLE test_file_loads (
           id INTEGER PRIMARY KEY AUTOINCREMENT,
           file TEXT NOT NULL,
           sha TEXT NOT NULL,
           time INTEGER NOT NULL,
           load_ms REAL NOT NULL
         );
         CREATE INDEX test_file_loads_by_file ON test_file_loads (file, id);`,
      ],
    });
  }

  async recordRun(sha: string, results: TestCaseResult[], time: number): Promise<void> {
    const insert = this.db.prepare(
      'INSERT INTO test_results (test_id, sha, time, state, duration_ms, flaky, error) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const upsert = this.db.prepare(
      'INSERT INTO test_cases (test_id, file, title, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT(test_id) DO UPDATE SET file = excluded.file, title = excluded.title, last_seen = excluded.last_seen',
    );
    this.db.transaction(() => {
      for (const r of results) {
        upsert.run(r.id, r.file, r.title, time);
        insert.run(r.id, sha, time, r.state, Math.max(0, r.durationMs || 0), r.flaky ? 1 : 0, r.error?.slice(0, 2000) ?? null);
      }
    })();
    if (++this.runsSincePrune >= 20) {
      this.runsSincePrune = 0;
      this.db
        .prepare(
          `DELETE FROM test_results WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY test_id ORDER BY id DESC) AS rn FROM test_results) WHERE rn > ${KEEP})`,
        )
        .run();
    }
  }

  async recordFileLoads(sha: string, loads: { file: string; ms: number }[], time: number): Promise<void> {
    const insert = this.db.prepare('INSERT INTO test_file_loads (file, sha, time, load_ms) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const l of loads) if (Number.isFinite(l.ms)) insert.run(l.file, sha, time, Math.max(0, l.ms));
    })();
    this.db
      .prepare(
        `DELETE FROM test_file_loads WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY file ORDER BY id DESC) AS rn FROM test_file_loads) WHERE rn > ${KEEP})`,
      )
      .run();
  }

  async fileLoads(): Promise<Map<string, number>> {
    const rows = this.db
      .prepare(
        `SELECT file, AVG(load_ms) AS ms FROM (
           SELECT file, load_ms, ROW_NUMBER() OVER (PARTITION BY file ORDER BY id DESC) AS rn FROM test_file_loads
         ) WHERE rn <= ${WINDOW} GROUP BY file`,
      )
      .all() as { file: string; ms: number }[];
    return new Map(rows.map((r) => [r.file, r.ms]));
  }

  async durations(ids?: string[]): Promise<Map<string, number>> {
    // Skipped tests say nothing about duration; a failed run's duration still does.
    const rows = this.db
      .prepare(
        `SELECT test_id, AVG(duration_ms) AS ms FROM (
           SELECT test_id, duration_ms, ROW_NUMBER() OVER (PARTITION BY test_id ORDER BY id DESC) AS rn
           FROM test_results WHERE state != 'skipped'
         ) WHERE rn <= ${WINDOW} GROUP BY test_id`,
      )
      .all() as { test_id: string; ms: number }[];
    const want = ids ? new Set(ids) : undefined;
    const out = new Map<string, number>();
    for (const r of rows) if (!want || want.has(r.test_id)) out.set(r.test_id, r.ms);
    return out;
  }

  async stats(): Promise<TestStats[]> {
    const rows = this.db
      .prepare(
        `SELECT c.test_id AS id, c.file, c.title, c.quarantined, c.last_seen AS lastSeen,
                COALESCE((SELECT l.state = 'failed' FROM test_results l WHERE l.test_id = c.test_id ORDER BY l.id DESC LIMIT 1), 0) AS lastFailed,
                COUNT(r.id) AS runs,
                COALESCE(SUM(CASE WHEN r.state = 'failed' THEN 1 ELSE 0 END), 0) AS failures,
                COALESCE(SUM(r.flaky), 0) AS flakes,
                COALESCE(AVG(CASE WHEN r.state != 'skipped' THEN r.duration_ms END), 0) AS meanMs
         FROM test_cases c LEFT JOIN test_results r ON r.test_id = c.test_id
         GROUP BY c.test_id ORDER BY c.test_id`,
      )
      // SQLite answers booleans as 0 and 1.
      .all() as (Omit<TestStats, 'quarantined' | 'lastFailed'> & { quarantined: number; lastFailed: number })[];
    return rows.map((r) => ({ ...r, quarantined: r.quarantined === 1, lastFailed: r.lastFailed === 1 }));
  }

  async setQuarantined(id: string, quarantined: boolean): Promise<void> {
    const res = this.db.prepare('UPDATE test_cases SET quarantined = ? WHERE test_id = ?').run(quarantined ? 1 : 0, id);
    if (res.changes === 0) {
      this.db
        .prepare('INSERT INTO test_cases (test_id, file, title, quarantined, last_seen) VALUES (?, ?, ?, ?, 0)')
        .run(id, '', id, quarantined ? 1 : 0);
    }
  }
}
