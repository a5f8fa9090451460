// The line's own state in SQLite: one record per pipeline, deploys (state kept as JSON), their
// transition events and gate looks. saveDeploy writes a deploy and its event in one transaction.
import { ConflictError } from '../../../core/errors.js';
import type { DeployEventRecord, DeployRecord, GateLookRecord, LineRecord, LineStore } from '../../../ports.js';
import { migrate, type Db, type Migrations } from './db.js';

export const lineMigrations: Migrations = {
  namespace: 'line',
  steps: [
    `CREATE TABLE line_pipelines (
       pipeline TEXT PRIMARY KEY,
       version INTEGER NOT NULL,
       data TEXT NOT NULL
     );
     CREATE TABLE line_deploys (
       id TEXT PRIMARY KEY,
       pipeline TEXT NOT NULL,
       status TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       updated_at INTEGER NOT NULL,
       data TEXT NOT NULL
     );
     CREATE INDEX line_deploys_by_pipeline ON line_deploys (pipeline, created_at);
     CREATE TABLE line_events (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       deploy_id TEXT NOT NULL,
       time INTEGER NOT NULL,
       type TEXT NOT NULL,
       status TEXT NOT NULL,
       data TEXT
     );
     CREATE INDEX line_events_by_deploy ON line_events (deploy_id, seq);
     CREATE TABLE line_gate_looks (
       seq INTEGER PRIMARY KEY AUTOINCREMENT,
       deploy_id TEXT NOT NULL,
       step INTEGER NOT NULL,
       time INTEGER NOT NULL,
       elapsed_ms INTEGER NOT NULL,
       decision TEXT NOT NULL,
       explanation TEXT NOT NULL,
       metrics TEXT
     );
     CREATE INDEX line_gate_looks_by_deploy ON line_gate_looks (deploy_id, seq);`,
  ],
};

/** JSON text for a column that may hold nothing. */
const toJson = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const fromJson = (s: string | null): unknown => (s === null ? undefined : JSON.parse(s));

export class SqliteLineStore implements LineStore {
  private readonly q;
  private readonly saveDeployTx: (d: DeployRecord, e: DeployEventRecord) => void;

  constructor(db: Db) {
    migrate(db, lineMigrations);
    this.q = {
      getLine: db.prepare<[string], { data: string }>('SELECT data FROM line_pipelines WHERE pipeline = ?'),
      saveLine: db.prepare<[string, number, string]>(
        'INSERT INTO line_pipelines (pipeline, version, data) VALUES (?, ?, ?) ON CONFLICT(pipeline) DO UPDATE SET version = excluded.version, data = excluded.data',
      ),
      insertDeploy: db.prepare<[string, string, string, number, number, string]>(
        'INSERT INTO line_deploys (id, pipeline, status, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      upsertDeploy: db.prepare<[string, string, string, number, number, string]>(
        `INSERT INTO line_deploys (id, pipeline, status, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET pipeline = excluded.pipeline, status = excluded.status, updated_at = excluded.updated_at, data = excluded.data`,
      ),
      getDeploy: db.prepare<[string], { data: string }>('SELECT data FROM line_deploys WHERE id = ?'),
      listDeploys: db.prepare<[string, number, number], { data: string }>(
        'SELECT data FROM line_deploys WHERE pipeline = ? AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT ?',
      ),
      insertEvent: db.prepare<[string, number, string, string, string | null]>(
        'INSERT INTO line_events (deploy_id, time, type, status, data) VALUES (?, ?, ?, ?, ?)',
      ),
      events: db.prepare<[string], { deploy_id: string; time: number; type: string; status: string; data: string | null }>(
        'SELECT deploy_id, time, type, status, data FROM line_events WHERE deploy_id = ? ORDER BY seq',
      ),
      insertLook: db.prepare<[string, number, number, number, string, string, string | null]>(
        'INSERT INTO line_gate_looks (deploy_id, step, time, elapsed_ms, decision, explanation, metrics) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      looks: db.prepare<
        [string],
        { deploy_id: string; step: number; time: number; elapsed_ms: number; decision: string; explanation: string; metrics: string | null }
      >('SELECT deploy_id, step, time, elapsed_ms, decision, explanation, metrics FROM line_gate_looks WHERE deploy_id = ? ORDER BY seq'),
    };
    this.saveDeployTx = db.transaction((d: DeployRecord, e: DeployEventRecord) => {
      this.q.upsertDeploy.run(d.id, d.pipeline, d.status, d.createdAt, d.updatedAt, JSON.stringify(d));
      this.q.insertEvent.run(e.deployId, e.time, e.type, e.status, toJson(e.data));
    });
  }

  async getLine(pipeline: string): Promise<LineRecord> {
    const row = this.q.getLine.get(pipeline);
    if (!row) return { pipeline, blocked: false, paused: false, queue: [], version: 0 };
    return JSON.parse(row.data) as LineRecord;
  }

  async saveLine(rec: LineRecord): Promise<void> {
    this.q.saveLine.run(rec.pipeline, rec.version, JSON.stringify(rec));
  }

  async createDeploy(d: DeployRecord): Promise<void> {
    try {
      this.q.insertDeploy.run(d.id, d.pipeline, d.status, d.createdAt, d.updatedAt, JSON.stringify(d));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ConflictError(`deploy ${d.id} already exists`);
      throw err;
    }
  }

  async saveDeploy(d: DeployRecord, event: DeployEventRecord): Promise<void> {
    this.saveDeployTx(d, event);
  }

  async getDeploy(id: string): Promise<DeployRecord | undefined> {
    const row = this.q.getDeploy.get(id);
    return row ? (JSON.parse(row.data) as DeployRecord) : undefined;
  }

  /** Newest first; `before` takes deploys created before that time (for paging). */
  async listDeploys(pipeline: string, opts: { limit?: number; before?: number } = {}): Promise<DeployRecord[]> {
    const limit = opts.limit ?? 50;
    const before = opts.before ?? Number.MAX_SAFE_INTEGER;
    return this.q.listDeploys.all(pipeline, before, limit).map((r) => JSON.parse(r.data) as DeployRecord);
  }

  async events(deployId: string): Promise<DeployEventRecord[]> {
    return this.q.events.all(deployId).map((r) => {
      const e: DeployEventRecord = { deployId: r.deploy_id, time: r.time, type: r.type, status: r.status };
      if (r.data !== null) e.data = fromJson(r.data);
      return e;
    });
  }

  async appendGateLook(look: GateLookRecord): Promise<void> {
    this.q.insertLook.run(look.deployId, look.step, look.time, look.elapsedMs, look.decision, look.explanation, toJson(look.metrics));
  }

  async gateLooks(deployId: string): Promise<GateLookRecord[]> {
    return this.q.looks.all(deployId).map((r) => ({
      deployId: r.deploy_id,
      step: r.step,
      time: r.time,
      elapsedMs: r.elapsed_ms,
      decision: r.decision,
      explanation: r.explanation,
      metrics: fromJson(r.metrics),
    }));
  }
}
