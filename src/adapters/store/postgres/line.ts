// The line's own state in PostgreSQL, the same model as the SQLite store: one record per pipeline,
// deploys (state kept as JSON), their transition events and gate looks. saveDeploy writes a
// deploy and its event in one transaction.
import { ConflictError } from '../../../core/errors.js';
import type { DeployEventRecord, DeployRecord, GateLookRecord, LineRecord, LineStore } from '../../../ports.js';
import { inTransaction, openMigrated, type Migrations, type PgPool } from './db.js';

export const pgLineMigrations: Migrations = {
  namespace: 'line',
  steps: [
    `CREATE TABLE line_pipelines (pipeline TEXT PRIMARY KEY, version INTEGER NOT NULL, data JSONB NOT NULL);
     CREATE TABLE line_deploys (
       seq BIGSERIAL UNIQUE, id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, status TEXT NOT NULL,
       created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, data JSONB NOT NULL);
     CREATE INDEX line_deploys_by_pipeline ON line_deploys (pipeline, created_at);
     CREATE TABLE line_events (
       seq BIGSERIAL PRIMARY KEY, deploy_id TEXT NOT NULL, time BIGINT NOT NULL, type TEXT NOT NULL, status TEXT NOT NULL, data JSONB);
     CREATE INDEX line_events_by_deploy ON line_events (deploy_id, seq);
     CREATE TABLE line_gate_looks (
       seq BIGSERIAL PRIMARY KEY, deploy_id TEXT NOT NULL, step INTEGER NOT NULL, time BIGINT NOT NULL,
       elapsed_ms DOUBLE PRECISION NOT NULL, decision TEXT NOT NULL, explanation TEXT NOT NULL, metrics JSONB);
     CREATE INDEX line_gate_looks_by_deploy ON line_gate_looks (deploy_id, seq);`,
  ],
};

const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));
const UPSERT_DEPLOY = `INSERT INTO line_deploys (id, pipeline, status, created_at, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
  ON CONFLICT (id) DO UPDATE SET pipeline = excluded.pipeline, status = excluded.status, updated_at = excluded.updated_at, data = excluded.data`;
const INSERT_EVENT = 'INSERT INTO line_events (deploy_id, time, type, status, data) VALUES ($1, $2, $3, $4, $5::jsonb)';
const deployParams = (d: DeployRecord) => [d.id, d.pipeline, d.status, d.createdAt, d.updatedAt, JSON.stringify(d)];

export class PostgresLineStore implements LineStore {
  private constructor(private readonly pool: PgPool) {}

  static open(pool: PgPool): Promise<PostgresLineStore> {
    return openMigrated(pool, pgLineMigrations, (p) => new PostgresLineStore(p));
  }

  async getLine(pipeline: string): Promise<LineRecord> {
    const r = await this.pool.query<{ data: LineRecord }>('SELECT data FROM line_pipelines WHERE pipeline = $1', [pipeline]);
    return r.rows[0]?.data ?? { pipeline, blocked: false, paused: false, queue: [], version: 0 };
  }

  async saveLine(rec: LineRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO line_pipelines (pipeline, version, data) VALUES ($1, $2, $3::jsonb) ON CONFLICT (pipeline) DO UPDATE SET version = excluded.version, data = excluded.data',
      [rec.pipeline, rec.version, JSON.stringify(rec)],
    );
  }

  async createDeploy(d: DeployRecord): Promise<void> {
    try {
      await this.pool.query(
        'INSERT INTO line_deploys (id, pipeline, status, created_at, updated_at, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)',
        deployParams(d),
      );
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ConflictError(`deploy ${d.id} already exists`);
      throw err;
    }
  }

  async saveDeploy(d: DeployRecord, e: DeployEventRecord): Promise<void> {
    const deploy = deployParams(d);
    const event = [e.deployId, e.time, e.type, e.status, json(e.data)];
    await inTransaction(this.pool, async (c) => {
      await c.query(UPSERT_DEPLOY, deploy);
      await c.query(INSERT_EVENT, event);
    });
  }

  async getDeploy(id: string): Promise<DeployRecord | undefined> {
    const r = await this.pool.query<{ data: DeployRecord }>('SELECT data FROM line_deploys WHERE id = $1', [id]);
    return r.rows[0]?.data;
  }

  /** Newest first; `before` takes deploys created before that time (for paging). */
  async listDeploys(pipeline: string, opts: { limit?: number; before?: number } = {}): Promise<DeployRecord[]> {
    const r = await this.pool.query<{ data: DeployRecord }>(
      'SELECT data FROM line_deploys WHERE pipeline = $1 AND created_at < $2 ORDER BY created_at DESC, seq DESC LIMIT $3',
      [pipeline, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit ?? 50],
    );
    return r.rows.map((row) => row.data);
  }

  async events(deployId: string): Promise<DeployEventRecord[]> {
    const r = await this.pool.query<{ deploy_id: string; time: string; type: string; status: string; data: unknown }>(
      'SELECT deploy_id, time, type, status, data FROM line_events WHERE deploy_id = $1 ORDER BY seq',
      [deployId],
    );
    return r.rows.map((row) => {
      const e: DeployEventRecord = { deployId: row.deploy_id, time: Number(row.time), type: row.type, status: row.status };
      if (row.data !== null) e.data = row.data;
      return e;
    });
  }

  async appendGateLook(look: GateLookRecord): Promise<void> {
    await this.pool.query(
      'INSERT INTO line_gate_looks (deploy_id, step, time, elapsed_ms, decision, explanation, metrics) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)',
      [look.deployId, look.step, look.time, look.elapsedMs, look.decision, look.explanation, json(look.metrics)],
    );
  }

  async gateLooks(deployId: string): Promise<GateLookRecord[]> {
    const r = await this.pool.query<{
      deploy_id: string;
      step: number;
      time: string;
      elapsed_ms: number;
      decision: string;
      explanation: string;
      metrics: unknown;
    }>('SELECT deploy_id, step, time, elapsed_ms, decision, explanation, metrics FROM line_gate_looks WHERE deploy_id = $1 ORDER BY seq', [
      deployId,
    ]);
    return r.rows.map((row) => ({
      deployId: row.deploy_id,
      step: row.step,
      time: Number(row.time),
      elapsedMs: row.elapsed_ms,
      decision: row.decision,
      explanation: row.explanation,
      metrics: row.metrics === null ? undefined : row.metrics,
    }));
  }
}
