// Experiment state in SQLite: phases, closings, the raw exposure and conversion logs, and counts
// kept up to date as events arrive, so a readout is a lookup however many exposures there are.
// Per phase, a participant is a user with their branch (or marked multi when they saw two); a
// conversion counts for a participant from their first exposure until the phase ended or the
// experiment closed, whichever order exposure and conversion arrive in.
import type {
  ConversionEvent,
  EvaluationBucket,
  ExperimentClosing,
  ExperimentPhase,
  ExperimentStore,
  ExposureEvent,
  FlagRollout,
  PhaseTally,
} from '../../../ports.js';
import { ConflictError } from '../../../core/errors.js';
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
  `CREATE TABLE experiment_participants (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, user_id TEXT NOT NULL, branch TEXT NOT NULL, multi INTEGER NOT NULL, time INTEGER NOT NULL,
     PRIMARY KEY (experiment, phase, user_id)) WITHOUT ROWID;
   CREATE INDEX experiment_participants_user ON experiment_participants (user_id);
   CREATE TABLE experiment_participant_goals (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, user_id TEXT NOT NULL, goal TEXT NOT NULL, value REAL NOT NULL,
     PRIMARY KEY (experiment, phase, user_id, goal)) WITHOUT ROWID;
   -- goal '' holds participants; branch '' with goal '' holds users excluded for seeing two branches.
   CREATE TABLE experiment_counts (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, branch TEXT NOT NULL, goal TEXT NOT NULL, users INTEGER NOT NULL, value REAL NOT NULL,
     PRIMARY KEY (experiment, phase, branch, goal)) WITHOUT ROWID;`,
  `-- What fed a phase: kind 'exposure' (new exposures) or 'conversion' (attributed conversions), per source.
   CREATE TABLE experiment_sources (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, n INTEGER NOT NULL,
     PRIMARY KEY (experiment, phase, kind, source)) WITHOUT ROWID;
   -- SDK evaluation counts per branch (sum of counts, and of count^2 / bucket size); branch '' holds the bucket count.
   CREATE TABLE experiment_evaluations (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, source TEXT NOT NULL, branch TEXT NOT NULL, count REAL NOT NULL, sq REAL NOT NULL,
     PRIMARY KEY (experiment, phase, source, branch)) WITHOUT ROWID;
   -- The tally at moments of a phase, for the lift-over-time chart.
   CREATE TABLE experiment_snapshots (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, time INTEGER NOT NULL, tally TEXT NOT NULL,
     PRIMARY KEY (experiment, phase, time)) WITHOUT ROWID;
   -- A guarded flag rollout's state (JSON), one row per flag.
   CREATE TABLE flag_rollouts (flag TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);`,
  `-- Evaluation counts kept per SDK instance too (the dispersion is estimated within each instance).
   CREATE TABLE experiment_instance_evaluations (
     experiment TEXT NOT NULL, phase INTEGER NOT NULL, source TEXT NOT NULL, instance TEXT NOT NULL, branch TEXT NOT NULL, count REAL NOT NULL, sq REAL NOT NULL,
     PRIMARY KEY (experiment, phase, source, instance, branch)) WITHOUT ROWID;
   INSERT INTO experiment_instance_evaluations SELECT experiment, phase, source, '', branch, count, sq FROM experiment_evaluations;
   DROP TABLE experiment_evaluations;`,
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

interface Participant {
  branch: string;
  multi: number;
  time: number;
}

/** Count changes gathered during one batch, written once at its end. */
class Deltas {
  private readonly map = new Map<string, { key: [string, number, string, string]; users: number; value: number }>();
  add(experiment: string, phase: number, branch: string, goal: string, users: number, value: number): void {
    const k = `${experiment}\u0000${phase}\u0000${branch}\u0000${goal}`;
    const d = this.map.get(k) ?? { key: [experiment, phase, branch, goal] as [string, number, string, string], users: 0, value: 0 };
    d.users += users;
    d.value += value;
    this.map.set(k, d);
  }
  values(): Iterable<{ key: [string, number, string, string]; users: number; value: number }> {
    return this.map.values();
  }
}

export class SqliteExperimentStore implements ExperimentStore {
  private readonly db: Db;
  private readonly q;

  constructor(db: Db) {
    this.db = db;
    migrate(db, { namespace: 'experiments', steps });
    this.q = {
      logExposure: db.prepare(
        'INSERT OR IGNORE INTO experiment_exposures (experiment, phase, user_id, branch, time) VALUES (?, ?, ?, ?, ?)',
      ),
      logConversion: db.prepare('INSERT OR IGNORE INTO experiment_conversions (id, user_id, goal, value, time) VALUES (?, ?, ?, ?, ?)'),
      participant: db.prepare('SELECT branch, multi, time FROM experiment_participants WHERE experiment = ? AND phase = ? AND user_id = ?'),
      addParticipant: db.prepare(
        'INSERT INTO experiment_participants (experiment, phase, user_id, branch, multi, time) VALUES (?, ?, ?, ?, 0, ?)',
      ),
      setMulti: db.prepare('UPDATE experiment_participants SET multi = 1 WHERE experiment = ? AND phase = ? AND user_id = ?'),
      goalsOf: db.prepare('SELECT goal, value FROM experiment_participant_goals WHERE experiment = ? AND phase = ? AND user_id = ?'),
      // Conversions that arrived before the exposure they follow.
      earlier: db.prepare('SELECT goal, SUM(value) AS value FROM experiment_conversions WHERE user_id = ? AND time >= ? GROUP BY goal'),
      // Participations a conversion counts for: single-branch, exposed before it, phase and experiment still open then.
      attributable: db.prepare(
        `SELECT p.experiment AS experiment, p.phase AS phase, p.branch AS branch FROM experiment_participants p
           JOIN experiment_phases ph ON ph.experiment = p.experiment AND ph.phase = p.phase
           LEFT JOIN experiment_closings c ON c.experiment = p.experiment
         WHERE p.user_id = ? AND p.multi = 0 AND p.time <= ? AND (ph.ended_at IS NULL OR ph.ended_at >= ?) AND (c.time IS NULL OR c.time >= ?)`,
      ),
      addGoal: db.prepare(
        'INSERT OR IGNORE INTO experiment_participant_goals (experiment, phase, user_id, goal, value) VALUES (?, ?, ?, ?, ?)',
      ),
      addGoalValue: db.prepare(
        'UPDATE experiment_participant_goals SET value = value + ? WHERE experiment = ? AND phase = ? AND user_id = ? AND goal = ?',
      ),
      count: db.prepare(
        `INSERT INTO experiment_counts (experiment, phase, branch, goal, users, value) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (experiment, phase, branch, goal) DO UPDATE SET users = users + excluded.users, value = value + excluded.value`,
      ),
      counts: db.prepare('SELECT branch, goal, users, value FROM experiment_counts WHERE experiment = ? AND phase = ?'),
      source: db.prepare(
        `INSERT INTO experiment_sources (experiment, phase, kind, source, n) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (experiment, phase, kind, source) DO UPDATE SET n = n + excluded.n`,
      ),
      sources: db.prepare('SELECT kind, source, n FROM experiment_sources WHERE experiment = ? AND phase = ?'),
      evaluation: db.prepare(
        `INSERT INTO experiment_instance_evaluations (experiment, phase, source, instance, branch, count, sq) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (experiment, phase, source, instance, branch) DO UPDATE SET count = count + excluded.count, sq = sq + excluded.sq`,
      ),
      evaluations: db.prepare(
        'SELECT source, instance, branch, count, sq FROM experiment_instance_evaluations WHERE experiment = ? AND phase = ?',
      ),
    };
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
    return this.db
      .prepare('SELECT experiment, branch, reason, actor, time FROM experiment_closings WHERE experiment = ?')
      .get(experiment) as ExperimentClosing | undefined;
  }

  async close(c: ExperimentClosing): Promise<void> {
    const r = this.db
      .prepare('INSERT OR IGNORE INTO experiment_closings (experiment, branch, reason, actor, time) VALUES (?, ?, ?, ?, ?)')
      .run(c.experiment, c.branch, c.reason, c.actor, c.time);
    if (r.changes === 0) throw new ConflictError(`experiment ${c.experiment} is already closed`);
  }

  /**
   * In one transaction: logs each event (`log` says false when it was logged before, so a replay
   * counts nothing), lets `count` add what a new one changes, then adds it all to the per-branch
   * and per-source counts. Returns how many events were new.
   */
  private counting<E>(events: E[], log: (e: E) => boolean, count: (e: E, deltas: Deltas, sources: Deltas) => void): number {
    const deltas = new Deltas();
    const sources = new Deltas();
    let added = 0;
    this.db.transaction(() => {
      for (const e of events) {
        if (!log(e)) continue;
        added++;
        count(e, deltas, sources);
      }
      for (const d of deltas.values()) this.q.count.run(...d.key, d.users, d.value);
      for (const d of sources.values()) this.q.source.run(...d.key, d.users);
    })();
    return added;
  }

  async recordExposures(events: ExposureEvent[]): Promise<number> {
    const q = this.q;
    return this.counting(
      events,
      (e) => q.logExposure.run(e.experiment, e.phase, e.userId, e.branch, e.time).changes > 0,
      (e, deltas, sources) => {
        sources.add(e.experiment, e.phase, 'exposure', e.source ?? 'api', 1, 0);
        const p = q.participant.get(e.experiment, e.phase, e.userId) as Participant | undefined;
        if (!p) {
          q.addParticipant.run(e.experiment, e.phase, e.userId, e.branch, e.time);
          deltas.add(e.experiment, e.phase, e.branch, '', 1, 0);
          for (const c of q.earlier.all(e.userId, e.time) as { goal: string; value: number }[]) {
            q.addGoal.run(e.experiment, e.phase, e.userId, c.goal, c.value);
            deltas.add(e.experiment, e.phase, e.branch, c.goal, 1, c.value);
          }
        } else if (!p.multi && p.branch !== e.branch) {
          // Seen in a second branch: out of every count of the first, into the excluded count.
          q.setMulti.run(e.experiment, e.phase, e.userId);
          deltas.add(e.experiment, e.phase, p.branch, '', -1, 0);
          deltas.add(e.experiment, e.phase, '', '', 1, 0);
          for (const g of q.goalsOf.all(e.experiment, e.phase, e.userId) as { goal: string; value: number }[])
            deltas.add(e.experiment, e.phase, p.branch, g.goal, -1, -g.value);
        }
      },
    );
  }

  async recordConversions(events: ConversionEvent[]): Promise<number> {
    const q = this.q;
    return this.counting(
      events,
      (e) => q.logConversion.run(e.id ?? null, e.userId, e.goal, e.value ?? 0, e.time).changes > 0,
      (e, deltas, sources) => {
        const value = e.value ?? 0;
        for (const p of q.attributable.all(e.userId, e.time, e.time, e.time) as { experiment: string; phase: number; branch: string }[]) {
          sources.add(p.experiment, p.phase, 'conversion', e.source ?? 'api', 1, 0);
          if (q.addGoal.run(p.experiment, p.phase, e.userId, e.goal, value).changes)
            deltas.add(p.experiment, p.phase, p.branch, e.goal, 1, value);
          else {
            q.addGoalValue.run(value, p.experiment, p.phase, e.userId, e.goal);
            deltas.add(p.experiment, p.phase, p.branch, e.goal, 0, value);
          }
        }
      },
    );
  }

  async tally(experiment: string, phase: number, goals: string[]): Promise<PhaseTally> {
    const rows = this.q.counts.all(experiment, phase) as { branch: string; goal: string; users: number; value: number }[];
    const tally: PhaseTally = { branches: [], excluded: 0 };
    const byBranch = new Map<string, PhaseTally['branches'][number]>();
    const branch = (name: string): PhaseTally['branches'][number] => {
      let b = byBranch.get(name);
      if (!b) {
        b = { branch: name, users: 0, goals: Object.fromEntries(goals.map((g) => [g, { users: 0, value: 0 }])) };
        byBranch.set(name, b);
        tally.branches.push(b);
      }
      return b;
    };
    for (const r of rows) {
      if (r.branch === '') tally.excluded += r.users;
      else if (r.goal === '') branch(r.branch).users = r.users;
      else if (goals.includes(r.goal)) branch(r.branch).goals[r.goal] = { users: r.users, value: r.value };
    }
    const sources: NonNullable<PhaseTally['sources']> = { exposures: {}, conversions: {} };
    for (const r of this.q.sources.all(experiment, phase) as { kind: string; source: string; n: number }[])
      (r.kind === 'exposure' ? sources.exposures : sources.conversions)[r.source] = r.n;
    tally.sources = sources;
    const evaluations: NonNullable<PhaseTally['evaluations']> = {};
    for (const r of this.q.evaluations.all(experiment, phase) as {
      source: string;
      instance: string;
      branch: string;
      count: number;
      sq: number;
    }[]) {
      const e = ((evaluations[r.source] ??= { instances: {} }).instances[r.instance] ??= { buckets: 0, branches: {} });
      if (r.branch === '') e.buckets = r.count;
      else e.branches[r.branch] = { count: r.count, sq: r.sq };
    }
    if (Object.keys(evaluations).length) tally.evaluations = evaluations;
    return tally;
  }

  async recordEvaluations(buckets: EvaluationBucket[]): Promise<void> {
    const q = this.q;
    this.db.transaction(() => {
      for (const b of buckets) {
        const n = Object.values(b.counts).reduce((s, c) => s + c, 0);
        if (!(n > 0)) continue;
        q.evaluation.run(b.experiment, b.phase, b.source, b.instance, '', 1, 0);
        for (const [branch, c] of Object.entries(b.counts))
          q.evaluation.run(b.experiment, b.phase, b.source, b.instance, branch, c, (c * c) / n);
      }
    })();
  }

  async saveSnapshot(experiment: string, phase: number, time: number, tally: PhaseTally): Promise<void> {
    this.db
      .prepare('INSERT OR REPLACE INTO experiment_snapshots (experiment, phase, time, tally) VALUES (?, ?, ?, ?)')
      .run(experiment, phase, time, JSON.stringify(tally));
  }

  async snapshots(experiment: string, phase: number): Promise<{ time: number; tally: PhaseTally }[]> {
    const rows = this.db
      .prepare('SELECT time, tally FROM experiment_snapshots WHERE experiment = ? AND phase = ? ORDER BY time')
      .all(experiment, phase) as { time: number; tally: string }[];
    return rows.map((r) => ({ time: r.time, tally: JSON.parse(r.tally) as PhaseTally }));
  }

  async flagRollout(flag: string): Promise<FlagRollout | undefined> {
    const row = this.db.prepare('SELECT state FROM flag_rollouts WHERE flag = ?').get(flag) as { state: string } | undefined;
    return row ? (JSON.parse(row.state) as FlagRollout) : undefined;
  }

  async saveFlagRollout(r: FlagRollout): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO flag_rollouts (flag, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (flag) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
      )
      .run(r.flag, JSON.stringify(r), r.updatedAt);
  }
}
