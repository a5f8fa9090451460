// The experiments registry: keeps experiments/*.yaml, the stored phases and closings and the served
// Unleash features document in step, and sequences what changes them (new phases, closings, the
// events SDKs report). The HTTP routes in src/server call it; it knows nothing of HTTP.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  parseExperimentFile,
  type ExperimentConfig,
  type FlagConfig,
  type GuardConfig,
  type SegmentConfig,
} from '../core/config/experiment.js';
import { OFF, ON, servedShare, startRollout, stepWeights, type FlagRollout } from '../core/experiments/guarded.js';
import {
  experimentFeature,
  experimentFingerprint,
  featuresDocument,
  flagFeature,
  nextPhase,
  type UnleashFeature,
} from '../core/experiments/features.js';
import { computeReadout, type Readout } from '../core/experiments/readout.js';
import { ConfigError, InputError, NotFoundError } from '../core/errors.js';
// The experiment vocabulary is core's (ports.ts re-exports it for the adapters that store it).
import type * as exp from '../core/experiments/types.js';
import type { AuditStore, Clock, ExperimentStore } from '../ports.js';
import type { EventBus } from './events.js';

/** How often the experiments directory is checked for changed files. */
export const RELOAD_INTERVAL_MS = 1000;

export interface LoadedExperiment {
  config: ExperimentConfig;
  file: string;
  phase: exp.ExperimentPhase;
  phases: exp.ExperimentPhase[];
  closing?: exp.ExperimentClosing;
}

/** A flag with a guarded rollout, and where the rollout stands. */
export interface GuardedFlag {
  config: FlagConfig & { guarded: GuardConfig };
  file: string;
  rollout: FlagRollout;
}

export interface ExperimentsSnapshot {
  experiments: Map<string, LoadedExperiment>;
  flags: { config: FlagConfig; file: string }[];
  guarded: Map<string, GuardedFlag>;
  /** groupId -> [experiment, phase] for every phase of every loaded experiment. */
  groups: Map<string, { experiment: string; phase: number }>;
  body: string;
  etag: string;
  errors: string[];
}

/** What the registry needs: the directory, the store's experiment and audit parts, the bus, a log and the clock. */
export interface ExperimentRegistryDeps {
  dir: string;
  store: { experiments: ExperimentStore; audit: AuditStore };
  events: EventBus;
  log: Logger;
  clock: Clock;
  /** Directory poll period (default RELOAD_INTERVAL_MS). */
  reloadIntervalMs?: number;
}

/** An event an SDK reports, already validated (POST /api/events). Without groupId an exposure is of the current phase. */
export type ReportedEvent =
  | { type: 'exposure'; experiment: string; groupId?: string; branch: string; userId: string; time?: number }
  | { type: 'conversion'; userId: string; goal: string; value?: number; time?: number; id?: string };

/** An Unleash SDK's impression event, as unleash-client and unleash-proxy-client emit it. */
export interface ImpressionEvent {
  eventType: string;
  featureName: string;
  enabled: boolean;
  variant?: string;
  context: Record<string, unknown>;
}

/** One Unleash metrics post's bucket: per feature, yes/no and per-variant evaluation counts. */
export interface MetricsBucket {
  stop?: string;
  toggles: Record<string, { yes: number; no: number; variants: Record<string, number> }>;
}

export interface RecordResult {
  exposures: number;
  conversions: number;
  duplicates: number;
  ignored: { index: number; reason: string }[];
}

const pctOf = (f: number): string => `${+(f * 100).toFixed(1)}%`;

/** The user an impression is about: the stickiness field, or userId then sessionId by default. */
function stickinessValue(context: Record<string, unknown>, stickiness: string): string | undefined {
  const pick = (k: string): string | undefined => {
    const v = context[k] ?? (context.properties as Record<string, unknown> | undefined)?.[k];
    return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
  };
  return stickiness === 'default' ? (pick('userId') ?? pick('sessionId')) : pick(stickiness);
}

/** Points of the lift-over-time chart in a readout, at most. */
export const MAX_HISTORY_POINTS = 120;

/** At most `n` items, evenly spread, keeping the last. */
function thin<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(xs[Math.round(((i + 1) * (xs.length - 1)) / n)]!);
  return out;
}

/** A strong ETag for a response body. */
export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
}

/** One per server: the Unleash and experiment routes share it, so a closing changes the served ETag at once. */
export class ExperimentRegistry {
  private snap: ExperimentsSnapshot | undefined;
  private signature = '';
  private lastGood = new Map<string, ReturnType<typeof parseExperimentFile>>();
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private users = 0;
  private readonly lastSnapshot = new Map<string, number>();
  /** SDK instances that registered, by appName and instanceId (POST /api/client/register). */
  readonly clients = new Map<string, { appName: string; instanceId: string; sdkVersion?: string; lastSeen: number }>();
  /** Evaluations reported by SDKs per feature (POST /api/client/metrics), since the server started. */
  readonly usage = new Map<string, { yes: number; no: number; variants: Record<string, number> }>();

  constructor(private readonly deps: ExperimentRegistryDeps) {}

  get dir(): string {
    return this.deps.dir;
  }

  now(): number {
    return this.deps.clock.now();
  }

  /** The current snapshot, loading it first if needed. */
  async current(): Promise<ExperimentsSnapshot> {
    if (!this.snap) await this.refresh();
    return this.snap!;
  }

  /** Synchronous view for the hot path; undefined before the first load. */
  get loaded(): ExperimentsSnapshot | undefined {
    return this.snap;
  }

  /** Re-read the directory if any file changed (or always, with force), then rebuild. Serialised. */
  refresh(force = false): Promise<void> {
    const run = this.chain.then(() => this.load(force));
    this.chain = run.catch((err: unknown) => this.deps.log.error({ err }, 'experiments: reload failed'));
    return run;
  }

  /**
   * Poll the directory (counted: every start needs its stop). A real timer, unref'd, not the Clock:
   * it watches files on disk, and must neither hold the process open nor drive virtual time.
   */
  start(): void {
    if (this.users++ > 0) return;
    this.timer = setInterval(
      () =>
        void this.refresh()
          .then(() => this.snapshotAll())
          .catch(() => undefined),
      this.deps.reloadIntervalMs ?? RELOAD_INTERVAL_MS,
    );
    this.timer.unref();
  }

  stop(): void {
    if (--this.users > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Record what an SDK reported: exposures checked against the served phases, conversions as they come. */
  async record(events: ReportedEvent[], source = 'api'): Promise<RecordResult> {
    const snap = await this.current();
    const now = this.now();
    const exposures: exp.ExposureEvent[] = [];
    const conversions: exp.ConversionEvent[] = [];
    const ignored: { index: number; reason: string }[] = [];
    events.forEach((e, index) => {
      // Client clocks ahead of ours are pulled back to now.
      const time = Math.min(e.time ?? now, now);
      if (e.type === 'conversion') {
        conversions.push({
          ...(e.id ? { id: e.id } : {}),
          userId: e.userId,
          goal: e.goal,
          ...(e.value === undefined ? {} : { value: e.value }),
          time,
          source,
        });
        return;
      }
      const where = this.phaseOf(snap, e.experiment, e.groupId, e.branch);
      if (typeof where === 'string') ignored.push({ index, reason: where });
      else exposures.push({ experiment: e.experiment, phase: where.phase, branch: e.branch, userId: e.userId, time, source });
    });
    const newExposures = await this.deps.store.experiments.recordExposures(exposures);
    const newConversions = await this.deps.store.experiments.recordConversions(conversions);
    return {
      exposures: newExposures,
      conversions: newConversions,
      duplicates: exposures.length - newExposures + conversions.length - newConversions,
      ignored,
    };
  }

  /** The phase an exposure belongs to, or why it is ignored. */
  private phaseOf(snap: ExperimentsSnapshot, name: string, groupId: string | undefined, branch: string): { phase: number } | string {
    const gf = snap.guarded.get(name);
    if (gf) {
      if (gf.rollout.status !== 'running' && gf.rollout.status !== 'held') return `rollout of "${name}" is ${gf.rollout.status}`;
      if (branch !== ON && branch !== OFF) return `no branch "${branch}" (a guarded flag has "on" and "off")`;
      if (groupId !== undefined && groupId !== name) return `unknown groupId "${groupId}"`;
      return { phase: gf.rollout.phase };
    }
    const x = snap.experiments.get(name);
    if (!x) return `unknown experiment "${name}"`;
    const g = groupId === undefined ? { experiment: name, phase: x.phase.phase } : snap.groups.get(groupId);
    if (!g || g.experiment !== name) return `unknown groupId "${groupId}"`;
    if (x.closing) return 'experiment closed';
    if (!(x.phases.find((p) => p.phase === g.phase)?.weights ?? []).some((w) => w.name === branch)) return `no branch "${branch}"`;
    return { phase: g.phase };
  }

  /**
   * Impression events forwarded from a standard Unleash SDK, turned into exposures: getVariant on an
   * experiment (the variant is the branch), isEnabled or getVariant on a guarded flag (on or off).
   * The user is the context field the experiment sticks to (userId, then sessionId by default).
   */
  async recordImpressions(events: ImpressionEvent[], source = 'unleash-impressions'): Promise<RecordResult> {
    const snap = await this.current();
    const reported: ReportedEvent[] = [];
    const skipped: { index: number; reason: string }[] = [];
    const indexes: number[] = [];
    events.forEach((e, index) => {
      const gf = snap.guarded.get(e.featureName);
      const x = snap.experiments.get(e.featureName);
      const stickiness = gf?.config.stickiness ?? x?.config.stickiness ?? 'default';
      const user = stickinessValue(e.context, stickiness);
      let branch: string | undefined;
      if (!gf && !x) return skipped.push({ index, reason: `"${e.featureName}" is neither an experiment nor a guarded flag` });
      if (!user)
        return skipped.push({
          index,
          reason: `no ${stickiness === 'default' ? 'userId or sessionId' : stickiness} in the context: a user cannot be counted`,
        });
      if (gf) branch = e.enabled ? ON : OFF;
      else if (e.eventType !== 'getVariant')
        return skipped.push({ index, reason: 'an experiment is measured from getVariant impressions' });
      else if (!e.enabled || !e.variant || e.variant === 'disabled')
        return skipped.push({ index, reason: 'not taking part (variant disabled)' });
      else branch = e.variant;
      indexes.push(index);
      reported.push({ type: 'exposure', experiment: e.featureName, branch, userId: user });
    });
    const r = await this.record(reported, source);
    return {
      ...r,
      ignored: [...skipped, ...r.ignored.map((i) => ({ index: indexes[i.index]!, reason: i.reason }))].sort((a, b) => a.index - b.index),
    };
  }

  /**
   * An Unleash metrics post: usage per feature (GET /api/experiments), and for experiments and
   * guarded flags the evaluation counts per branch, stored for the sample ratio check. The bucket
   * goes to the phase current when it ended.
   */
  async recordMetrics(instance: string, bucket: MetricsBucket, source = 'unleash-metrics'): Promise<void> {
    for (const [name, t] of Object.entries(bucket.toggles)) {
      if (!this.usage.has(name) && this.usage.size >= 10_000) continue;
      const u = this.usage.get(name) ?? { yes: 0, no: 0, variants: {} };
      u.yes += t.yes;
      u.no += t.no;
      for (const [v, n] of Object.entries(t.variants)) u.variants[v] = (u.variants[v] ?? 0) + n;
      this.usage.set(name, u);
    }
    const snap = await this.current();
    const stop = bucket.stop ? Date.parse(bucket.stop) : NaN;
    const at = Number.isFinite(stop) ? Math.min(stop, this.now()) : this.now();
    const buckets: exp.EvaluationBucket[] = [];
    for (const [name, t] of Object.entries(bucket.toggles)) {
      const gf = snap.guarded.get(name);
      if (gf && (gf.rollout.status === 'running' || gf.rollout.status === 'held')) {
        buckets.push({ experiment: name, phase: gf.rollout.phase, source, instance, counts: { [OFF]: t.no, [ON]: t.yes } });
        continue;
      }
      const x = snap.experiments.get(name);
      if (!x || x.closing) continue;
      const phase = [...x.phases].reverse().find((p) => p.startedAt <= at) ?? x.phase;
      const counts: Record<string, number> = {};
      for (const w of phase.weights) if (t.variants[w.name]) counts[w.name] = t.variants[w.name]!;
      if (Object.keys(counts).length) buckets.push({ experiment: name, phase: phase.phase, source, instance, counts });
    }
    if (buckets.length) await this.deps.store.experiments.recordEvaluations(buckets);
  }

  /** A loaded experiment by name; NotFoundError without. */
  async experiment(name: string): Promise<LoadedExperiment> {
    const x = (await this.current()).experiments.get(name);
    if (!x) throw new NotFoundError(`no experiment "${name}"`);
    return x;
  }

  /** The readout of a phase (default: the current one). */
  async readout(name: string, phaseNumber?: string): Promise<{ x: LoadedExperiment; readout: Readout }> {
    const x = await this.experiment(name);
    let phase = x.phase;
    if (phaseNumber !== undefined) {
      const n = Number(phaseNumber);
      const p = x.phases.find((q) => q.phase === n);
      if (!p) throw new InputError('phase', `no phase ${phaseNumber} (phases 1..${x.phases.length})`);
      phase = p;
    }
    const goals = [...x.config.goals, ...x.config.guardrails].map((g) => g.name);
    const tally = await this.deps.store.experiments.tally(x.config.name, phase.phase, goals);
    const now = this.now();
    if (phase === x.phase && !x.closing) await this.snapshot(x, tally, now);
    const snapshots = thin(await this.deps.store.experiments.snapshots(x.config.name, phase.phase), MAX_HISTORY_POINTS - 1);
    return { x, readout: computeReadout(x.config, phase, tally, { now, snapshots, ...(x.closing ? { closedAt: x.closing.time } : {}) }) };
  }

  /**
   * Keep the tally of a running experiment's current phase for the lift-over-time chart, when the
   * last one is older than a fortieth of the phase's age (10 s to 1 h): dense early, when the
   * estimate moves, and about 40 points per tenfold of time after.
   */
  private async snapshot(x: LoadedExperiment, tally: exp.PhaseTally | undefined, now: number): Promise<void> {
    const key = `${x.config.name}\u0000${x.phase.phase}`;
    const last = this.lastSnapshot.get(key) ?? 0;
    const every = Math.min(3_600_000, Math.max(10_000, (now - x.phase.startedAt) / 40));
    if (now - last < every) return;
    this.lastSnapshot.set(key, now);
    const goals = [...x.config.goals, ...x.config.guardrails].map((g) => g.name);
    const t = tally ?? (await this.deps.store.experiments.tally(x.config.name, x.phase.phase, goals));
    // Evaluation counts are not part of the chart.
    const { evaluations: _e, ...kept } = t;
    await this.deps.store.experiments.saveSnapshot(x.config.name, x.phase.phase, now, kept);
  }

  /** Snapshots of every running experiment that is due (called by the directory poll). */
  private async snapshotAll(): Promise<void> {
    const snap = this.snap;
    if (!snap) return;
    const now = this.now();
    for (const x of snap.experiments.values()) if (!x.closing && x.config.initial_rollout > 0) await this.snapshot(x, undefined, now);
  }

  /** Close an experiment with a decision: stored, served at once, audited, announced. */
  async close(name: string, branch: string, reason: string, actor: string): Promise<LoadedExperiment> {
    const x = await this.experiment(name);
    const names = x.phase.weights.map((w) => w.name);
    if (!names.includes(branch)) throw new InputError('branch', `"${branch}" is not a branch of ${x.config.name} (${names.join(', ')})`);
    const closing: exp.ExperimentClosing = { experiment: x.config.name, branch, reason, actor, time: this.now() };
    await this.deps.store.experiments.close(closing);
    this.applyClosing(closing);
    await this.deps.store.audit.append({
      time: closing.time,
      actor,
      action: 'experiment.close',
      target: x.config.name,
      reason,
      details: { branch, phase: x.phase.phase },
    });
    this.deps.events.emit({ type: 'experiment', name: x.config.name, action: 'close' });
    this.deps.log.info({ experiment: x.config.name, branch, actor }, `experiment ${x.config.name} closed: everyone gets ${branch}`);
    return { ...x, closing };
  }

  private async load(force: boolean): Promise<void> {
    const dir = this.deps.dir;
    let names: string[] = [];
    try {
      names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const stats = await Promise.all(names.map(async (n) => stat(join(dir, n)).catch(() => undefined)));
    const signature = names.map((n, i) => `${n}:${stats[i]?.mtimeMs}:${stats[i]?.size}`).join('|');
    if (!force && this.snap && signature === this.signature) return;
    this.signature = signature;

    const errors: string[] = [];
    const files: ReturnType<typeof parseExperimentFile>[] = [];
    for (const n of names) {
      const file = join(dir, n);
      try {
        const parsed = parseExperimentFile(await readFile(file, 'utf8'), file);
        this.lastGood.set(file, parsed);
        files.push(parsed);
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : `${file}: ${(err as Error).message}`;
        errors.push(message);
        const kept = this.lastGood.get(file);
        if (kept) files.push(kept);
        if (!this.snap?.errors.includes(message))
          this.deps.log.warn({ file }, `experiments: ${message}${kept ? ' (still serving the last good version)' : ''}`);
      }
    }
    for (const f of [...this.lastGood.keys()]) if (!names.some((n) => join(dir, n) === f)) this.lastGood.delete(f);

    const experiments = new Map<string, LoadedExperiment>();
    const guarded = new Map<string, GuardedFlag>();
    const flags: ExperimentsSnapshot['flags'] = [];
    const segments: SegmentConfig[] = [];
    const taken = new Map<string, string>();
    const claim = (name: string, file: string): boolean => {
      const other = taken.get(name);
      if (other) {
        errors.push(`${file}: "${name}" is already defined in ${other}; ignored here`);
        return false;
      }
      taken.set(name, file);
      return true;
    };
    for (const f of files) {
      if (f.kind === 'flags') {
        for (const flag of f.flags.flags) {
          if (!claim(flag.name, f.file)) continue;
          flags.push({ config: flag, file: f.file });
          if (flag.guarded) guarded.set(flag.name, await this.syncRollout({ ...flag, guarded: flag.guarded }, f.file));
        }
        segments.push(...f.flags.segments);
        continue;
      }
      const e = f.experiment;
      if (!claim(e.name, f.file)) continue;
      experiments.set(e.name, await this.sync(e, f.file));
    }
    this.snap = this.build(experiments, flags, guarded, segments, errors);
  }

  /** A guarded flag's stored rollout, or its first step (phase 1 of the flag) when it has none. */
  private async syncRollout(config: GuardedFlag['config'], file: string): Promise<GuardedFlag> {
    const store = this.deps.store.experiments;
    let rollout = await store.flagRollout(config.name);
    if (!rollout) {
      const phases = await store.phases(config.name);
      const now = this.now();
      const phase = await this.startFlagPhase(config.name, (phases[phases.length - 1]?.phase ?? 0) + 1, config.guarded.steps[0]!, now);
      rollout = startRollout(config.name, phase, now);
      await store.saveFlagRollout(rollout);
      await this.deps.store.audit.append({
        time: now,
        actor: 'immune',
        action: 'flag.rollout',
        target: config.name,
        reason: `guarded rollout starts at ${pctOf(config.guarded.steps[0]!)}`,
        details: { step: 0, phase, file },
      });
      this.deps.events.emit({ type: 'flag', name: config.name, action: 'start', step: 0, share: config.guarded.steps[0]! });
      this.deps.log.info({ flag: config.name, phase }, `flag ${config.name}: guarded rollout starts at ${pctOf(config.guarded.steps[0]!)}`);
    }
    return { config, file, rollout };
  }

  /** Start the phase that holds one step's exposures; the groupId stays the flag's name, so a user on at 1% stays on at 10%. */
  async startFlagPhase(flag: string, phase: number, share: number, now: number): Promise<number> {
    const weights = stepWeights(share);
    await this.deps.store.experiments.startPhase({
      experiment: flag,
      phase,
      groupId: flag,
      fingerprint: `guarded:${weights.map((w) => `${w.name}:${w.weight}`).join(',')}`,
      weights,
      startedAt: now,
    });
    return phase;
  }

  /** Persist a guarded flag's new rollout state and serve it at once (the features ETag changes). */
  async applyRollout(r: FlagRollout): Promise<void> {
    await this.deps.store.experiments.saveFlagRollout(r);
    const snap = this.snap;
    const gf = snap?.guarded.get(r.flag);
    if (!snap || !gf) return;
    const guarded = new Map(snap.guarded).set(r.flag, { ...gf, rollout: r });
    this.snap = this.build(snap.experiments, snap.flags, guarded, this.segments(), snap.errors);
  }

  private segments(): SegmentConfig[] {
    return [...this.lastGood.values()].flatMap((f) => (f.kind === 'flags' ? f.flags.segments : []));
  }

  /** Bring the stored phases in line with the file: a first phase, or a new one when weights changed. */
  private async sync(e: ExperimentConfig, file: string): Promise<LoadedExperiment> {
    const store = this.deps.store.experiments;
    let phases = await store.phases(e.name);
    const closing = await store.closing(e.name);
    const current = phases[phases.length - 1];
    const next = nextPhase(e, current, closing !== undefined, this.now());
    if (next) {
      await store.startPhase(next);
      phases = [...phases, next];
      const reason = current
        ? `branches or weights changed (${current.fingerprint} -> ${next.fingerprint}): users are re-randomised`
        : 'first phase';
      await this.deps.store.audit.append({
        time: next.startedAt,
        actor: 'immune',
        action: 'experiment.phase',
        target: e.name,
        reason,
        details: { phase: next.phase, groupId: next.groupId, file },
      });
      this.deps.events.emit({ type: 'experiment', name: e.name, action: current ? 'phase' : 'start' });
      this.deps.log.info(
        { experiment: e.name, phase: next.phase, groupId: next.groupId },
        `experiment ${e.name}: phase ${next.phase} (${reason})`,
      );
    } else if (current && closing && current.fingerprint !== experimentFingerprint(e)) {
      this.deps.log.warn({ experiment: e.name }, `experiment ${e.name} is closed: its changed weights are ignored`);
    }
    return { config: e, file, phase: phases[phases.length - 1]!, phases, ...(closing ? { closing } : {}) };
  }

  private build(
    experiments: Map<string, LoadedExperiment>,
    flags: ExperimentsSnapshot['flags'],
    guarded: Map<string, GuardedFlag>,
    segments: SegmentConfig[],
    errors: string[],
  ): ExperimentsSnapshot {
    const served = (f: FlagConfig): FlagConfig => {
      const gf = guarded.get(f.name);
      // A guarded flag is served at its step's share, with impression data so standard SDKs report exposures.
      return gf ? { ...f, rollout: servedShare(gf.rollout, gf.config.guarded), impressionData: true } : f;
    };
    const features: UnleashFeature[] = [
      ...[...experiments.values()].map((x) => experimentFeature(x.config, x.phase, x.closing)),
      ...flags.map((f) => flagFeature(served(f.config))),
    ];
    const body = JSON.stringify(featuresDocument(features, segments));
    const etag = etagOf(body);
    const groups = new Map<string, { experiment: string; phase: number }>();
    for (const x of experiments.values()) for (const p of x.phases) groups.set(p.groupId, { experiment: x.config.name, phase: p.phase });
    return { experiments, flags, guarded, groups, body, etag, errors };
  }

  /** Record a closing in the snapshot and re-serve at once (the ETag changes). */
  private applyClosing(c: exp.ExperimentClosing): void {
    const snap = this.snap;
    const x = snap?.experiments.get(c.experiment);
    if (!snap || !x) return;
    const experiments = new Map(snap.experiments).set(c.experiment, { ...x, closing: c });
    this.snap = this.build(experiments, snap.flags, snap.guarded, this.segments(), snap.errors);
  }
}
