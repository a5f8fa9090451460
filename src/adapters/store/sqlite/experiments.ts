// Experiment state in SQLite: phases, closings, exposures (one row per user, phase and branch) and
// conversions. Tallies are computed in SQL so a readout over a million exposures stays fast.
import type { ConversionEvent, ExperimentClosing, ExperimentPhase, ExperimentStore, ExposureEvent, PhaseTally } from '../../../ports.js';
import { ConflictError } from '../../../errors.js';
import { migrate, type Db } from './db.js';

const steps = [
  `CREATE TABLE experiment_phases (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, group_id TEXT NOT NULL, fingerprint TEXT NOT NULL,
     weights TEXT NOT NULL, started_at INTEGER NOT NULL, ended_at INTEGER, PRIMARY KEY (experiment, phase));
   CREATE TABLE experiment_closings (
     experiment TEXT PRIMARY KEY, branch TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, time INTEGER NOT NULL);
   CREATE TABLE experiment_exposures (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, user_id TEXT NOT NULL, branch TEXT NOT NULL, time INTEGER NOT NULL,
     PRIMARY KEY (experiment, phase, user_id, branch)) WITHOUT ROWID;
   CREATE TABLE experiment_conversions (
     seq INTEGER PRIMARY KEY, id TEXT UNIQUE, user_id TEXT NOT NULL, goal TEXT NOT NULL, value REAL NOT NULL, time INTEGER NOT NULL);
   CREATE INDEX experiment_conversions_user ON experiment_conversions (user_id, goal, time);`,
];

interface PhaseRow {
  experiment: string;
  phase: number;
  group_id: string;
  fingerprint: string;
  weights: string;
  started_at: number;
  ended_at: number | null;
}

export class SqliteExperimentStore implements ExperimentStore {
  private readonly db: Db;
  private readonly insertExposure;
  private readonly insertConversion;

  constructor(db: Db) {
    this.db = db;
    migrate(db, { namespace: 'experiments', steps });
    this.insertExposure = db.prepare('INSERT OR IGNORE INTO experiment_exposures (experiment, phase, user_id, branch, time) VALUES (?, ?, ?, ?, ?)');
    this.insertConversion = db.prepare('INSERT OR IGNORE INTO experiment_conversions (id, user_id, goal, value, time) VALUES (?, ?, ?, ?, ?)');
  }

  async phases(experiment: string): Promise<ExperimentPhase[]> {
    const rows = this.db.prepare('SELECT * FROM experiment_phases WHERE experiment = ? ORDER BY phase').all(experiment) as PhaseRow[];
    return rows.map((r) => ({
      experiment: r.experiment,
      phase: r.phase,
      groupId: r.group_id,
      fingerprint: r.fingerprint,
      weights: JSON.parse(r.weights) as ExperimentPhase['weights'],
      startedAt: r.started_at,
      ...(r.ended_at === null ? {} : { endedAt: r.ended_at }),
    }));
  }

  async startPhase(p: ExperimentPhase): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('UPDATE experiment_phases SET ended_at = ? WHERE experiment = ? AND ended_at IS NULL').run(p.startedAt, p.experiment);
      this.db
        .prepare('INSERT INTO experiment_phases (experiment, phase, group_id, fingerprint, weights, started_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(p.experiment, p.phase, p.groupId, p.fingerprint, JSON.stringify(p.weights), p.startedAt);
    })();
  }

  async closing(experiment: string): Promise<ExperimentClosing | undefined> {
    return this.db.prepare('SELECT experiment, branch, reason, actor, time FROM experiment_closings WHERE experiment = ?').get(experiment) as ExperimentClosing | undefined;
  }

  async close(c: ExperimentClosing): Promise<void> {
    const r = this.db.prepare('INSERT OR IGNORE INTO experiment_closings (experiment, branch, reason, actor, time) VALUES (?, ?, ?, ?, ?)').run(c.experiment, c.branch, c.reason, c.actor, c.time);
    if (r.changes === 0) throw new ConflictError(`experiment ${c.experiment} is already closed`);
  }

  async recordExposures(events: ExposureEvent[]): Promise<number> {
    let added = 0;
    this.db.transaction(() => {
      for (const e of events) added += this.insertExposure.run(e.experiment, e.phase, e.userId, e.branch, e.time).changes;
    })();
    return added;
  }

  async recordConversions(events: ConversionEvent[]): Promise<number> {
    let added = 0;
    this.db.transaction(() => {
      for (const e of events) added += this.insertConversion.run(e.id ?? null, e.userId, e.goal, e.value ?? 0, e.time).changes;
    })();
    return added;
  }

  async tally(experiment: string, phase: number, goals: string[], until?: number): Promise<PhaseTally> {
    const end = until ?? Number.MAX_SAFE_INTEGER;
    // A user's exposures in the phase: one row per branch seen; more than one branch = excluded.
    const users = `SELECT user_id, MIN(branch) AS branch, COUNT(*) AS nb, MIN(time) AS t
                   FROM experiment_exposures WHERE experiment = ? AND phase = ? GROUP BY user_id`;
    const rows = this.db.prepare(`SELECT branch, nb > 1 AS multi, COUNT(*) AS n FROM (${users}) GROUP BY multi, branch`).all(experiment, phase) as {
      branch: string;
      multi: number;
      n: number;
    }[];
    const tally: PhaseTally = { branches: [], excluded: 0 };
    const byBranch = new Map<string, PhaseTally['branches'][number]>();
    for (const r of rows) {
      if (r.multi) {
        tally.excluded += r.n;
        continue;
      }
      const b = { branch: r.branch, users: r.n, goals: Object.fromEntries(goals.map((g) => [g, { users: 0, value: 0 }])) };
      byBranch.set(r.branch, b);
      tally.branches.push(b);
    }
    if (goals.length) {
      // Conversions count from the user's first exposure in the phase until the phase ended (or `until`).
      const conv = this.db
        .prepare(
          `SELECT u.branch AS branch, c.goal AS goal, COUNT(DISTINCT c.user_id) AS n, SUM(c.value) AS value
           FROM (${users}) u JOIN experiment_conversions c
             ON c.user_id = u.user_id AND c.goal IN (${goals.map(() => '?').join(',')}) AND c.time >= u.t AND c.time <= ?
           WHERE u.nb = 1 GROUP BY u.branch, c.goal`,
        )
        .all(experiment, phase, ...goals, end) as { branch: string; goal: string; n: number; value: number }[];
      for (const r of conv) {
        const g = byBranch.get(r.branch)?.goals[r.goal];
        if (g) {
          g.users = r.n;
          g.value = r.value;
        }
      }
    }
    return tally;
  }
}
