// Drives deploys through the line: polls the branch, queues and batches changes, runs each
// deploy's state machine through the ports, and persists every transition before acting on it.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { PipelineConfig } from '../core/config/pipeline.js';
import { exposureOf, metricUnit } from '../core/config/metrics.js';
import type { GateResult } from '../core/judge/types.js';
import { initialState, isFinished, next, resumeActions, resumedState, type MachineContext } from '../core/line/machine.js';
import type { Action, DeployEvent, DeployState } from '../core/line/types.js';
import { findKnownBad, knownBadReason, rememberBad } from '../core/line/known-bad.js';
import { revertable } from '../core/line/reverts.js';
import { freshBaseline, freshRestarts, planRollout } from '../core/rollout/plan.js';
import { splitUnresponsive, type SeriesSpec, type Tick } from '../core/rollout/samples.js';
import { ConflictError, ImmuneError, InputError, NotFoundError } from '../core/errors.js';
import { faultPoint } from './fault-point.js';
import type {
  Artifact,
  Builder,
  Clock,
  CodeHost,
  Commit,
  DeployRecord,
  Fleet,
  Judge,
  LineRecord,
  MetricsSource,
  Notification,
  Notifier,
  Repo,
  Server,
  Store,
  TestProgress,
  TestReport,
} from '../ports.js';
import type {
  AdoptAnswer,
  DeployAnswer,
  DropAnswer,
  LineControl,
  ReleasesAnswer,
  RetryAnswer,
  RollbackAnswer,
  ServerReleases,
} from './control.js';
import type { EventBus } from './events.js';
import { fanOut } from './fan-out.js';
import { Sampler } from './sampler.js';
import { revertMessage } from './revert-message.js';
import { summarizeLine, type LineStatus } from './summary.js';

/** The longest start-up left out of a gate or the watch after a server switches builds. */
const START_UP_MS = 15_000;

export interface TestStageResult {
  ok: boolean;
  report: TestReport;
  culprit?: { sha: string; runs: number; durationMs: number };
}

export type TestStage = (change: { shas: string[] }, signal: AbortSignal, progress: (p: TestProgress) => void) => Promise<TestStageResult>;

export interface EngineDeps {
  config: PipelineConfig;
  repo: Repo;
  builder: Builder;
  fleet: Fleet;
  metrics: MetricsSource;
  store: Store;
  notifier: Notifier;
  clock: Clock;
  events: EventBus;
  log: Logger;
  judge: Judge;
  /** Absent when the pipeline has no tests section. */
  tests?: TestStage;
  codeHost?: CodeHost;
  /** Link for statuses and revert messages. */
  publicUrl?: string;
}

/** Actions whose effect is outside the deploy's own progress: kept in the outbox until performed. */
const SIDE_EFFECTS = new Set<Action['type']>(['mark_live', 'block', 'notify', 'set_status']);
const SHA = /^[0-9a-f]{40}$/;
/** Gate-look step holding a deploy's pre-rollout samples (not a look; the API leaves it out). */
export const BEFORE_STEP = -2;

/** Why the line is held by immune itself (not a recorded block): the store failed or was lost, or the driver broke. */
interface Fault {
  kind: 'store' | 'store_lost' | 'driver';
  reason: string;
  since: number;
}

interface Running {
  record: DeployRecord;
  /** Cancels the action in progress (sleep, gate wait, test run). */
  ac: AbortController;
  controls: DeployEvent[];
  /** Actions still to perform, in order. */
  pending: Action[];
  done: Promise<void>;
  /** Wakes the driver while a held deploy waits for a captain's control. */
  wake?: () => void;
}

export class Engine implements LineControl {
  private readonly cfg: PipelineConfig;
  private readonly name: string;
  private line!: LineRecord;
  private current: Running | undefined;
  private readonly sampler: Sampler;
  /** `deploy:server` pairs already reported as incidents (a down server not on the new build). */
  private readonly incidentsTold = new Set<string>();
  private readonly specs: SeriesSpec[];
  private stopping = false;
  private loopDone: Promise<void> | undefined;
  private readonly stopAc = new AbortController();
  /** Tests run ahead for the next batch while the current deploy rolls out (keyed by the batch's last sha). */
  private testsAhead = new Map<string, Promise<TestStageResult>>();
  /** After a culprit revert, the next batch must reach this sha so the culprit is out of the build. */
  private mustReach: string | undefined;
  private wakeLoop: (() => void) | undefined;
  /** Problems found at start (e.g. reverts could not be pushed), shown with the line's status. */
  private problems: string[] = [];
  /** Deploys whose rollback failed at least once (on-call hears when it finally succeeds). */
  private readonly rollbackFailed = new Set<string>();
  private fault: Fault | undefined;
  /** Outbox ids of the actions queued in a run. */
  private readonly outboxIds = new WeakMap<Action, string>();
  /** Shas taken by deploys (so a poll after a webhook does not queue them again). */
  private readonly taken = new Set<string>();

  constructor(private readonly d: EngineDeps) {
    this.cfg = d.config;
    this.name = d.config.name;
    // Keep enough to reach back from the watch's end, past every step's bake, to the windows before the rollout.
    const bakes = this.cfg.rollout.steps.reduce((t, s) => t + (s.max_bake ?? this.cfg.rollout.max_bake), 0);
    const before = Math.max(this.cfg.watch.window, this.cfg.rollout.history);
    const warmup = Math.max(0, ...this.cfg.metrics.definitions.map((m) => m.warmup ?? 0));
    this.sampler = new Sampler(d, this.cfg.rollout.interval, bakes + before + this.cfg.watch.duration + warmup + 5 * 60_000);
    this.specs = this.cfg.metrics.definitions.map((m) => ({
      name: m.name,
      kind: m.kind,
      bad: m.bad,
      tolerance: m.tolerance,
      critical: m.critical,
      weight: m.weight,
      per: m.kind === 'count' ? m.per : undefined,
      warmupMs: m.warmup,
      unit: metricUnit(m),
      intervalMs: this.cfg.rollout.interval,
      exposure: exposureOf(m, this.cfg.metrics.definitions),
    }));
  }

  // ------------------------------------------------------------------------------------------
  // Lifecycle

  async start(): Promise<void> {
    this.line = await this.d.store.line.getLine(this.name);
    this.sampler.start();
    if (this.line.rollbackTo) {
      this.d.log.warn({ release: this.line.rollbackTo.artifact.id }, 'finishing the rollback the last run left');
      await this.finishRollbackTo().catch((err) => this.d.log.error({ err: (err as Error).message }, 'rollback failed'));
    }
    const recent = await this.d.store.line.listDeploys(this.name, { limit: 20 });
    for (const r of recent) for (const s of r.shas) this.taken.add(s);
    if (this.line.version === 0 && recent.length === 0) await this.checkAdoption();
    await this.cleanQueue();
    await this.resumeFromStore(recent);
    this.loopDone = this.loop();
    void this.checkRepo();
  }

  /** Say before the first deploy, not after a failure, when reverts could not be pushed. */
  private async checkRepo(): Promise<void> {
    if (!this.cfg.on_regression.revert || !this.d.repo.checkPushable) return;
    const r = await this.d.repo
      .checkPushable(this.stopAc.signal)
      .catch((err: Error) => ({ ok: false as const, problem: `cannot check the repository: ${err.message}`, details: undefined }));
    if (r.ok) return;
    this.problems = [r.problem];
    this.d.log.error({ details: r.details }, r.problem);
    this.emitLine();
  }

  /**
   * Pick up what the last run left: the newest deploy, if unfinished or with side effects still in
   * its outbox, goes on; an older unfinished one was superseded and is closed without touching servers.
   */
  private async resumeFromStore(recent?: DeployRecord[]): Promise<void> {
    recent ??= await this.d.store.line.listDeploys(this.name, { limit: 20 });
    const [newest, ...older] = recent;
    const now = this.d.clock.now();
    for (const old of older) {
      const st = old.state;
      if (isFinished(st)) continue;
      this.d.log.error(
        { deploy: old.id, status: st.status, newer: newest!.id },
        'closing a deploy a newer one superseded; its servers follow the newer one',
      );
      old.state = {
        ...st,
        status: 'failed',
        outcome: 'failed',
        failure: { stage: 'crash', step: st.step, reason: `superseded by ${newest!.id} while ${st.status}` },
      } satisfies DeployState;
      Object.assign(old, { status: 'failed', outcome: 'failed', finishedAt: now, reason: `superseded by ${newest!.id}`, outbox: [] });
      await this.durably('close a superseded deploy', () =>
        this.d.store.line.saveDeploy(old, {
          deployId: old.id,
          time: now,
          type: 'superseded',
          status: 'failed',
          data: { by: newest!.id, from: st.status },
        }),
      );
    }
    if (!newest) return;
    const state = newest.state;
    const outbox = this.outboxActions(newest);
    if (isFinished(state) && !outbox.length) return;
    if (state.status === 'queued') {
      // Created, perhaps not yet taken off the queue: take it off (idempotent) and start it.
      this.d.log.warn({ deploy: newest.id }, 'starting a deploy the last run created but did not start');
      if (newest.shas.some((s) => this.line.queue.includes(s)))
        await this.saveLine({ queue: this.line.queue.filter((s) => !newest.shas.includes(s)) });
      this.launch(newest, outbox, [{ type: 'start', hasTests: !!this.d.tests }]);
      return;
    }
    if (isFinished(state)) {
      this.d.log.warn(
        { deploy: newest.id, status: state.status, actions: outbox.map((a) => a.type) },
        'performing what the last run committed to but did not do',
      );
      this.launch(newest, outbox);
      return;
    }
    this.d.log.warn({ deploy: newest.id, status: state.status, step: state.step }, 'resuming a deploy the last run left in flight');
    await this.restoreBefore(newest);
    const resumed = resumedState(state, now);
    newest.state = resumed;
    newest.status = resumed.status;
    await this.durably('resume', () =>
      this.d.store.line.saveDeploy(newest, {
        deployId: newest.id,
        time: now,
        type: 'resume',
        status: resumed.status,
        data: { from: state.status },
      }),
    );
    this.launch(newest, [...outbox, ...resumeActions(state)]);
  }

  /** The deploy's outbox as actions to perform, each remembered with its id. */
  private outboxActions(d: DeployRecord): Action[] {
    return (d.outbox ?? []).map((e) => {
      const a = e.action as Action;
      this.outboxIds.set(a, e.id);
      return a;
    });
  }

  /** Queue entries that are not full shas (a corrupt record, an old bug) are dropped loudly, not retried forever. */
  private async cleanQueue(): Promise<void> {
    const bad = this.line.queue.filter((s) => typeof s !== 'string' || !SHA.test(s));
    if (!bad.length) return;
    this.d.log.error({ entries: bad.map((s) => String(s).slice(0, 80)) }, 'dropping queue entries that are not commit shas');
    await this.saveLine({ queue: this.line.queue.filter((s) => !bad.includes(s)) });
    await this.audit(
      'immune',
      'drop',
      this.name,
      `dropped ${bad.length} queue entr${bad.length === 1 ? 'y' : 'ies'} that are not commit shas`,
      { entries: bad.map((s) => String(s).slice(0, 80)) },
    );
  }

  /**
   * An empty store while servers run releases (or the branch has immune's reverts) means the
   * record was lost, not that this is the first deploy: hold the line until a person adopts.
   */
  private async checkAdoption(): Promise<void> {
    const running: string[] = [];
    for (const s of await this.d.fleet.servers()) {
      const r = await this.d.fleet.release(s).catch(() => undefined);
      if (r) running.push(`${s.id} runs ${r}`);
    }
    const revert = running.length ? undefined : await this.d.repo.findTrailer?.('Immune-Deploy').catch(() => undefined);
    if (!running.length && !revert) return;
    const what = running.length
      ? `the fleet runs releases it has no record of (${running.slice(0, 3).join(', ')}${running.length > 3 ? ', ...' : ''})`
      : `the branch has immune's revert ${revert!.slice(0, 8)}`;
    const reason = `the state store is empty but ${what}: the record was lost. No deploy until a captain runs \`immune adopt <sha the fleet runs>\` (or \`immune adopt --fresh\` to deploy the tip to every server as a first deploy)`;
    this.d.log.error({ running }, reason);
    await this.saveLine({ blocked: true, blockReason: reason, blockedBy: 'immune', blockedAt: this.d.clock.now(), needsAdoption: reason });
    await this.notifyCaptains('blocked', 'Line held: the state store came up empty', reason, `adopt:${this.d.clock.now()}`);
  }

  /** Stop polling and sampling; an in-flight deploy is interrupted where it stands (and resumed at the next start). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopAc.abort();
    this.wakeLoop?.();
    this.current?.ac.abort(new Error('orchestrator stopping'));
    await this.current?.done.catch(() => undefined);
    await this.loopDone?.catch(() => undefined);
    await this.sampler.stop();
  }

  /** Resolves when nothing is in flight and the queue is empty (or the line is blocked/paused). */
  async idle(timeoutMs = 600_000): Promise<void> {
    const until = this.d.clock.now() + timeoutMs;
    while (this.d.clock.now() < until) {
      if (!this.current && (this.line.queue.length === 0 || this.line.blocked || this.line.paused || this.line.held)) return;
      await this.d.clock.sleep(100);
    }
    throw new ImmuneError('IMMUNE_TIMEOUT', 'the line did not become idle in time');
  }

  get inFlight(): DeployRecord | undefined {
    return this.current?.record;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        const lost = await this.d.store.check?.();
        if (lost) this.raiseFault('store_lost', lost);
        if (this.fault?.kind === 'driver' && !this.current) {
          // The driver broke on something unexpected: go on from what the store says.
          this.clearFault();
          await this.resumeFromStore();
        }
        await this.poll();
        this.startTestsAhead();
        if (!this.current) await this.maybeStartDeploy();
      } catch (err) {
        this.d.log.error({ err: (err as Error).message }, 'line loop');
      }
      await new Promise<void>((resolve) => {
        this.wakeLoop = resolve;
        this.d.clock.sleep(this.cfg.repo.poll_interval, this.stopAc.signal).then(resolve, resolve);
      });
    }
  }

  private async saveLine(patch: Partial<LineRecord>): Promise<void> {
    this.line = { ...this.line, ...patch, version: this.line.version + 1 };
    await this.durably('save the line', () => this.d.store.line.saveLine(this.line));
    this.emitLine();
  }

  /** Tell listeners (SSE, metrics) whether the line is blocked or paused, and why, as it stands. */
  private emitLine(): void {
    this.d.events.emit({
      type: 'line',
      pipeline: this.name,
      blocked: this.line.blocked,
      paused: this.line.paused,
      reason: this.line.blockReason,
    });
  }

  private async poll(): Promise<void> {
    const tip = await this.d.repo.tip(this.stopAc.signal);
    if (tip === this.line.lastSeen) return;
    if (!SHA.test(tip)) throw new ImmuneError('IMMUNE_EXTERNAL', `the repository's tip "${tip.slice(0, 80)}" is not a commit sha`);
    const commits = await this.d.repo.commitsBetween(this.line.lastSeen, tip);
    const known = new Set([...this.line.queue, ...this.taken]);
    const bad = commits.filter((c) => !SHA.test(c.sha));
    if (bad.length)
      this.d.log.error(
        { entries: bad.map((c) => String(c.sha).slice(0, 80)) },
        'the repository returned entries that are not commit shas; not queued',
      );
    const fresh = commits.map((c) => c.sha).filter((s) => SHA.test(s) && !known.has(s));
    await this.saveLine({ lastSeen: tip, queue: [...this.line.queue, ...fresh] });
    faultPoint('queued');
    if (fresh.length) {
      this.d.log.info({ shas: fresh.map((s) => s.slice(0, 8)) }, 'new commits queued');
      this.d.events.emit({ type: 'queued', pipeline: this.name, shas: fresh });
    }
  }

  private nextBatch(): string[] {
    const q = this.line.queue;
    let n = Math.min(q.length, this.cfg.max_batch);
    if (this.mustReach) {
      const i = q.indexOf(this.mustReach);
      if (i < 0) return []; // the revert has not been fetched yet
      n = Math.max(n, i + 1);
    }
    return q.slice(0, n);
  }

  private startTestsAhead(): void {
    if (!this.d.tests || this.line.blocked || this.line.held) return;
    const batch = this.nextBatch();
    const last = batch.at(-1);
    if (!last || this.testsAhead.has(last)) return;
    // One test run ahead at a time: the current deploy's own run, if any, has finished already.
    if (this.testsAhead.size > 0) return;
    const ac = new AbortController();
    this.stopAc.signal.addEventListener('abort', () => ac.abort(), { once: true });
    const run = this.d.tests({ shas: batch }, ac.signal, (p) =>
      this.d.events.emit({ type: 'tests', pipeline: this.name, deploy: `next:${last.slice(0, 8)}`, ...p }),
    );
    run.catch(() => undefined);
    this.testsAhead.set(last, run);
  }

  private async maybeStartDeploy(): Promise<void> {
    if (this.line.blocked || this.line.paused || this.stopping || this.line.rollbackTo || this.fault) return;
    const batch = this.nextBatch();
    if (!batch.length) {
      if (this.line.held) await this.saveLine({ held: undefined });
      return;
    }
    if (await this.holdKnownBad(batch)) return;
    const now = this.d.clock.now();
    const commits: Commit[] = [];
    for (const sha of batch) {
      const c = await this.d.repo.commit(sha).catch((err: Error) => err);
      if (c instanceof Error) {
        if (!(c instanceof ImmuneError && c.code === 'IMMUNE_NOT_FOUND')) throw c;
        // A queued sha the repository does not have must not wedge the line: drop it, loudly.
        this.d.log.error({ sha: sha.slice(0, 12), err: c.message }, 'dropping a queued sha the repository does not have');
        await this.saveLine({ queue: this.line.queue.filter((s) => s !== sha) });
        await this.audit('immune', 'drop', sha, `not in the repository: ${c.message}`);
        return;
      }
      commits.push(c);
    }
    const servers = await this.d.fleet.servers();
    const bootstrap = !this.line.live;
    const plan = bootstrap ? [servers.map((s) => s.id)] : planRollout(servers, this.cfg.rollout.steps, this.cfg.rollout.spread);
    const record: DeployRecord = {
      id: `d-${new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${randomBytes(2).toString('hex')}`,
      pipeline: this.name,
      shas: batch,
      commits,
      state: initialState(plan, now),
      status: 'queued',
      createdAt: now,
      updatedAt: now,
      previous: this.line.live?.artifact,
    };
    await this.durably('create the deploy', () => this.d.store.line.createDeploy(record));
    for (const s of batch) this.taken.add(s);
    faultPoint('deploy-created');
    await this.saveLine({ queue: this.line.queue.filter((s) => !batch.includes(s)) });
    faultPoint('deploy-dequeued');
    if (this.mustReach && batch.includes(this.mustReach)) this.mustReach = undefined;
    this.d.log.info({ deploy: record.id, shas: batch.map((s) => s.slice(0, 8)) }, 'deploy starts');
    this.launch(record, [], [{ type: 'start', hasTests: !!this.d.tests }]);
  }

  private launch(record: DeployRecord, actions: Action[], controls: DeployEvent[] = []): void {
    const running: Running = { record, ac: new AbortController(), controls, pending: [...actions], done: Promise.resolve() };
    this.current = running;
    running.done = this.drive(running)
      .catch((err) => {
        if (this.stopping) return;
        // Never abandoned silently: the line holds, says why, and goes on from the store.
        this.d.log.error({ deploy: record.id, err: (err as Error).stack }, 'deploy driver failed');
        this.raiseFault('driver', `deploy ${record.id} stopped on an unexpected error: ${(err as Error).message}`);
      })
      .finally(() => {
        if (this.current === running) this.current = undefined;
        this.wakeLoop?.();
      });
  }

  // ------------------------------------------------------------------------------------------
  // The driver: perform actions, feed results back as events.

  private async drive(run: Running): Promise<void> {
    while (!this.stopping) {
      const control = run.controls.shift();
      if (control) {
        // An abort replaces whatever was planned; a promote only marks the state.
        await this.apply(run, control, control.type === 'abort');
        continue;
      }
      const action = run.pending.shift();
      if (!action) {
        // A held rollout stays in flight, waiting for a captain's resume, promote or abort.
        if (run.record.state.status !== 'held') return;
        await new Promise<void>((resolve) => {
          run.wake = resolve;
          this.stopAc.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        continue;
      }
      run.ac = new AbortController();
      let event: DeployEvent | undefined;
      try {
        event = await this.perform(run, action, run.ac.signal);
        faultPoint(`action:${action.type}`);
        await this.outboxDone(run.record, action);
      } catch (err) {
        if (run.ac.signal.aborted && (run.controls.length || this.stopping)) continue;
        event = this.failureEvent(run, action, err as Error);
        if (!event && action.type === 'rollback') await this.d.clock.sleep(2000, this.stopAc.signal).catch(() => undefined);
      }
      if (event) await this.apply(run, event);
    }
  }

  /** Persist the transition, then queue its actions. Controls replace what was queued. */
  private async apply(run: Running, event: DeployEvent, replace = false): Promise<void> {
    const d = run.record;
    const state = d.state;
    const ctx: MachineContext = { now: this.d.clock.now(), policy: this.cfg.on_regression, change: this.describe(d) };
    let t;
    try {
      t = next(state, event, ctx);
    } catch (err) {
      this.d.log.warn({ deploy: d.id, event: event.type, err: (err as Error).message }, 'ignored event');
      return;
    }
    d.state = t.state;
    d.status = t.state.status;
    d.updatedAt = ctx.now;
    if (t.state.outcome) {
      d.outcome = t.state.outcome;
      d.finishedAt = ctx.now;
      d.reason = t.state.failure?.reason;
    }
    const data =
      event.type === 'gate' || event.type === 'watch' ? { decision: event.result.decision, explanation: event.result.explanation } : event;
    // The transition's side effects go into the outbox in the same write as the state.
    let seq = d.actionSeq ?? 0;
    const effects = t.actions
      .filter((a) => SIDE_EFFECTS.has(a.type))
      .map((a) => {
        const id = `${d.id}#${++seq}`;
        this.outboxIds.set(a, id);
        return { id, action: a };
      });
    if (state.status === 'building' && t.state.status === 'rolling_out' && d.previous) await this.keepBefore(d, ctx.now);
    d.outbox = [...(replace ? [] : (d.outbox ?? [])), ...effects];
    d.actionSeq = seq;
    await this.durably(`record ${event.type}`, () =>
      this.d.store.line.saveDeploy(d, { deployId: d.id, time: ctx.now, type: event.type, status: t.state.status, data }),
    );
    faultPoint(`transition:${t.state.status}`);
    this.emitDeploy(d);
    if (replace) run.pending = t.actions;
    else run.pending.push(...t.actions);
  }

  /**
   * The fleet's samples before the rollout, kept with the deploy (as look step -2) and pinned in the
   * sampler: after a restart or a long hold the watch still has the window it compares the fleet with.
   */
  private async keepBefore(d: DeployRecord, now: number): Promise<void> {
    const from = now - Math.max(this.cfg.watch.window, this.cfg.rollout.history) - this.cfg.rollout.interval;
    const ticks = this.sampler.all.filter((t) => t.time >= from && t.time <= now);
    // Pinned in memory too: a rollout held for a captain longer than the sampler keeps ticks still has its window.
    this.sampler.pin(ticks);
    await this.durably('keep the pre-rollout window', () =>
      this.d.store.line.appendGateLook({
        deployId: d.id,
        step: BEFORE_STEP,
        time: now,
        elapsedMs: 0,
        decision: 'before',
        explanation: `the fleet's ${ticks.length} samples before the rollout`,
        metrics: { ticks },
      }),
    );
  }

  /** After a restart: the deploy's pre-rollout window back into the sampler. */
  private async restoreBefore(d: DeployRecord): Promise<void> {
    const looks = await this.d.store.line.gateLooks(d.id).catch(() => []);
    const kept = looks.filter((l) => l.step === BEFORE_STEP).at(-1)?.metrics as { ticks?: Tick[] } | undefined;
    if (kept?.ticks?.length) this.sampler.pin(kept.ticks);
  }

  /** A side effect done: out of the outbox; recorded at once when no later transition will record it. */
  private async outboxDone(d: DeployRecord, a: Action): Promise<void> {
    const id = this.outboxIds.get(a);
    if (!id || !d.outbox?.some((e) => e.id === id)) return;
    d.outbox = d.outbox.filter((e) => e.id !== id);
    if (!isFinished(d.state)) return;
    await this.durably('record a side effect done', () =>
      this.d.store.line.saveDeploy(d, {
        deployId: d.id,
        time: this.d.clock.now(),
        type: 'done',
        status: d.status,
        data: { action: a.type, id },
      }),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Faults: a store that cannot be written holds the line, loudly, until it can.

  /**
   * Run a store write until it succeeds. While it fails the line is held: the deploy waits where it
   * stands (servers where they are), nothing new starts, status shows why, captains are told once.
   * A store whose files vanished holds every write until a person restarts immune.
   */
  private async durably<T>(what: string, write: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.fault?.kind === 'store_lost') {
        if (this.stopping) throw new ImmuneError('IMMUNE_UNAVAILABLE', `not written (${what}): ${this.fault.reason}`);
        await this.d.clock.sleep(5000, this.stopAc.signal).catch(() => undefined);
        continue;
      }
      try {
        const v = await write();
        if (this.fault?.kind === 'store') this.clearFault();
        return v;
      } catch (err) {
        if (this.stopping) throw err;
        this.raiseFault('store', `state store write failed (${what}): ${(err as Error).message}`);
        const ms = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
        this.d.log.error({ err: (err as Error).message, what, retryInMs: ms }, 'state store write failed; the line is held until it works');
        await this.d.clock.sleep(ms, this.stopAc.signal).catch(() => undefined);
      }
    }
  }

  private raiseFault(kind: Fault['kind'], reason: string): void {
    if (this.fault && (this.fault.kind === kind || this.fault.kind === 'store_lost')) return;
    this.fault = { kind, reason, since: this.d.clock.now() };
    this.d.log.error({ fault: kind }, `line held: ${reason}`);
    this.d.events.emit({ type: 'line', pipeline: this.name, blocked: true, paused: this.line.paused, reason });
    void this.notifyCaptains('blocked', `Line held: ${reason.split(':')[0]}`, reason, `fault:${kind}:${this.fault.since}`);
  }

  private clearFault(): void {
    const f = this.fault;
    if (!f) return;
    this.fault = undefined;
    this.d.log.warn({ fault: f.kind, heldMs: this.d.clock.now() - f.since }, 'line no longer held');
    this.emitLine();
    void this.notifyCaptains(
      'info',
      'Line no longer held',
      `held ${Math.round((this.d.clock.now() - f.since) / 1000)} s: ${f.reason}`,
      `fault-cleared:${f.kind}:${f.since}`,
    );
  }

  private async notifyCaptains(kind: 'blocked' | 'info', title: string, body: string, id: string): Promise<void> {
    await this.tell(undefined, kind, title, body, { id });
  }

  private failureEvent(run: Running, action: Action, err: Error): DeployEvent | undefined {
    const msg = err.message;
    switch (action.type) {
      case 'run_tests':
        return { type: 'tests_failed', reason: `test run failed: ${msg}` };
      case 'build':
        return { type: 'build_failed', reason: msg };
      case 'deploy_step':
        return { type: 'step_failed', step: action.step, reason: msg };
      case 'revert': {
        const details = err instanceof ImmuneError ? err.details : undefined;
        this.d.log.error({ deploy: run.record.id, err: msg, details }, 'revert failed');
        return { type: 'revert_failed', reason: msg, ...(details === undefined ? {} : { details }) };
      }
      case 'judge_step':
      case 'watch':
        // A judge that cannot look is a failed look: never a silent pass.
        return action.type === 'watch'
          ? { type: 'watch', result: { decision: 'fail', metrics: [], explanation: `watch failed: ${msg}` }, policy: 'rollback' }
          : {
              type: 'gate',
              step: action.step,
              result: { decision: 'fail', metrics: [], explanation: `gate failed: ${msg}` },
              policy: 'rollback',
              paused: false,
            };
      case 'rollback':
        // Keep trying: the fleet must end on a known build. On-call hears once per deploy and step.
        this.d.log.error({ deploy: run.record.id, err: msg }, 'rollback failed; retrying');
        this.rollbackFailed.add(run.record.id);
        void this.tell(run.record, 'rollback_failed', `Rollback of ${this.describe(run.record)} failed; retrying`, msg);
        run.pending.unshift({ type: 'rollback' });
        return undefined;
      default:
        this.d.log.error({ deploy: run.record.id, action: action.type, err: msg }, 'action failed');
        return undefined;
    }
  }

  private async perform(run: Running, a: Action, signal: AbortSignal): Promise<DeployEvent | undefined> {
    const d = run.record;
    const state = d.state;
    switch (a.type) {
      case 'run_tests':
        return this.runTests(d, signal);
      case 'build':
        return this.build(d, signal);
      case 'deploy_step':
        return this.deployStep(d, a.step, signal);
      case 'judge_step':
        return this.judgeStep(d, a.step, signal);
      case 'watch':
        return this.watch(d, signal);
      case 'rollback':
        await this.rollback(d, signal);
        await this.tell(d, 'rolled_back', `${this.describe(d)} rolled back`, state.failure?.reason ?? 'rolled back');
        return { type: 'rolled_back' };
      case 'revert': {
        // Never revert immune's own reverts: a batch [revert + new commits] reverts only the new commits.
        const { revert: shas, kept } = revertable(d.commits, a.shas === 'change' ? d.shas : a.shas, new Set(this.line.reverts ?? []));
        if (!shas.length)
          return {
            type: 'revert_skipped',
            reason: `${kept.map((s) => s.slice(0, 8)).join(', ')} ${kept.length === 1 ? 'is' : 'are'} immune's own revert${kept.length === 1 ? '' : 's'}, kept on the branch`,
          };
        const sha = await this.d.repo.revert(shas, revertMessage(d, state, { publicUrl: this.d.publicUrl, shas }), signal);
        d.revertSha = sha;
        await this.saveLine({ reverts: [...(this.line.reverts ?? []).filter((r) => r !== sha), sha].slice(-1000) });
        if (state.failure?.stage === 'tests') {
          // The rest of the batch goes on, in a build that includes the revert.
          const rest = d.shas.filter((s) => !shas.includes(s));
          this.mustReach = sha;
          await this.saveLine({ queue: [...rest, ...this.line.queue.filter((s) => !rest.includes(s))] });
        }
        this.d.log.warn({ deploy: d.id, reverted: shas.map((s) => s.slice(0, 8)), revert: sha.slice(0, 8) }, 'reverted in git');
        await this.d.codeHost
          ?.comment(shas.at(-1)!, revertMessage(d, state, { publicUrl: this.d.publicUrl, shas, markdown: true }))
          .catch((err) => this.d.log.warn({ err: (err as Error).message }, 'comment failed'));
        return { type: 'reverted', sha };
      }
      case 'remember_bad':
        await this.rememberBad(d);
        return undefined;
      case 'block':
        if (this.line.blocked && this.line.blockedDeploy === d.id) return undefined; // replayed after a crash
        await this.saveLine({
          blocked: true,
          blockReason: a.reason,
          blockedBy: 'immune',
          blockedAt: this.d.clock.now(),
          blockedDeploy: d.id,
        });
        await this.durably('audit the block', () => this.audit('immune', 'block', this.name, a.reason, { deploy: d.id }));
        return undefined;
      case 'mark_live':
        await this.saveLine({ live: { sha: d.shas.at(-1)!, artifact: d.artifact!, deploy: d.id } });
        return undefined;
      case 'notify':
        await this.tell(d, a.kind, a.title, a.body);
        return undefined;
      case 'set_status':
        await this.d.codeHost
          ?.setStatus(d.shas.at(-1)!, {
            context: `immune/${a.context}`,
            state: a.state,
            description: a.description.slice(0, 140),
            url: this.d.publicUrl ? `${this.d.publicUrl}/#/deploys/${d.id}` : undefined,
          })
          .catch((err) => this.d.log.warn({ err: (err as Error).message }, 'commit status failed'));
        return undefined;
    }
  }

  private async runTests(d: DeployRecord, signal: AbortSignal): Promise<DeployEvent> {
    if (!this.d.tests) return { type: 'tests_passed' };
    const last = d.shas.at(-1)!;
    let run = this.testsAhead.get(last);
    if (!run) {
      run = this.d.tests({ shas: d.shas }, signal, (p) => this.d.events.emit({ type: 'tests', pipeline: this.name, deploy: d.id, ...p }));
      this.testsAhead.set(last, run);
    }
    try {
      const res = await run;
      d.testReport = res.report;
      if (res.report.flaky.length) {
        // A flaky test does not stop the change, but its owners should hear about it.
        const names = res.report.flaky.map((t) => `${t.file}: ${t.title}`);
        await this.tell(d, 'flaky_test', `${names.length} flaky test(s) in ${last.slice(0, 8)}`, names.join('\n'));
      }
      if (res.ok) return { type: 'tests_passed' };
      return { type: 'tests_failed', reason: res.report.summary, culprit: res.culprit?.sha };
    } finally {
      this.testsAhead.delete(last);
    }
  }

  private async build(d: DeployRecord, signal: AbortSignal): Promise<DeployEvent> {
    const checkout = await this.d.repo.checkout(d.shas.at(-1)!, signal);
    try {
      d.artifact = await this.d.builder.build(checkout, signal);
    } finally {
      await checkout.dispose();
    }
    this.d.log.info({ deploy: d.id, artifact: d.artifact.id }, 'built');
    if (d.previous && this.cfg.watch.enabled) await this.awaitPast(d, signal);
    return { type: 'built', sameAsLive: d.artifact.id === this.line.live?.artifact.id };
  }

  /**
   * The watch compares the fleet with its own window before the rollout, and for a metric that
   * depends on a process's age (one with a `warmup`) a server's start-up on a build is not part of
   * that past (a process minutes old uses more memory than one seconds old). Right after immune
   * starts, or right after a deploy restarted the fleet, there is no such window yet: wait until the
   * sampler has covered min(window, 10 intervals) of every server past its start-up, but never
   * longer than that and the start-up together (a server that keeps restarting does not hold the
   * line; the watch then says it lacks a past).
   */
  private async awaitPast(d: DeployRecord, signal: AbortSignal): Promise<void> {
    const need = Math.min(this.cfg.watch.window, 10 * this.cfg.rollout.interval);
    const startUp = this.pastStartUpMs();
    const began = this.d.clock.now();
    const steadyFrom = () => {
      const first = this.sampler.firstTickAt ?? this.d.clock.now();
      if (startUp === 0) return first;
      let youngest = -Infinity;
      for (const s of this.sampler.all.at(-1)?.samples ?? [])
        if (s.release === d.previous?.id && s.since !== undefined) youngest = Math.max(youngest, s.since);
      return Math.max(first, youngest + startUp);
    };
    const short = () => this.d.clock.now() - steadyFrom() < need && this.d.clock.now() - began < need + startUp;
    if (!short()) return;
    this.d.log.info(
      { deploy: d.id, ms: Math.round(need - (this.d.clock.now() - steadyFrom())) },
      'waiting for a window of the fleet past its start-up before the rollout',
    );
    while (short()) await this.sampler.nextTick(signal);
  }

  /** The longest warm-up a metric declares (0: none does). */
  private longestWarmupMs(): number {
    return Math.max(0, ...this.specs.map((s) => s.warmupMs ?? 0));
  }

  /** A server's start-up on the previous build, left out of the watch's past: the longest metric warm-up, within the window (0: no metric declares one). */
  private pastStartUpMs(): number {
    return Math.min(this.longestWarmupMs(), this.cfg.watch.window);
  }

  /**
   * How long the watch lasts: as configured, and when a metric depends on a process's age (has a
   * warm-up) at least that warm-up and 10 intervals more. Every server restarted at the deploy, so
   * the watch's first seconds read processes seconds old against a past of processes minutes old:
   * age, not the change. A watch shorter than the warm-up would judge nothing else.
   */
  private watchDurationMs(): number {
    const warm = this.longestWarmupMs();
    return warm > 0 ? Math.max(this.cfg.watch.duration, warm + 10 * this.cfg.rollout.interval) : this.cfg.watch.duration;
  }

  private async serversById(): Promise<Map<string, Server>> {
    return new Map((await this.d.fleet.servers()).map((s) => [s.id, s]));
  }

  /**
   * The step's fresh baseline (plan.ts): the servers this step restarts on the previous build, and
   * every one the gate compares the age-dependent metrics with. None when no metric has a warm-up,
   * the pipeline turned it off, or there is no previous build.
   */
  private freshBaseline(d: DeployRecord, step: number): { restart: string[]; all: string[] } {
    const on = this.cfg.rollout.fresh_baseline && !!d.previous && this.specs.some((s) => (s.warmupMs ?? 0) > 0);
    if (!on) return { restart: [], all: [] };
    return { restart: freshRestarts(d.state.plan, step), all: freshBaseline(d.state.plan, step) };
  }

  /** This process saw the server start its current release at `t` or later. */
  private startedSince(id: string, t: number): boolean {
    return (this.sampler.since(id) ?? -Infinity) >= t;
  }

  /** Put the step's servers on the new build and every other server on the previous one; restart its fresh baseline. */
  private async deployStep(d: DeployRecord, step: number, signal: AbortSignal): Promise<DeployEvent> {
    const state = d.state;
    const onNew = new Set(state.plan[step] ?? []);
    const servers = await this.serversById();
    const artifact = d.artifact!;
    const want = (id: string): Artifact | undefined => (onNew.has(id) ? artifact : d.previous);
    const todo: Server[] = [];
    // A fresh-baseline server restarted since the step began (before a restart of immune) is fresh already.
    const fresh = new Set(this.freshBaseline(d, step).restart.filter((id) => !this.startedSince(id, state.since)));
    const restarts: Server[] = [];
    for (const s of servers.values()) {
      const target = want(s.id);
      if (!target) continue;
      const current = await this.d.fleet.release(s, signal).catch(() => undefined);
      if (current !== target.id) todo.push(s);
      else if (fresh.has(s.id)) restarts.push(s);
    }
    let done = 0;
    const total = onNew.size;
    const also = restarts.length ? `, ${restarts.length} baseline server(s) restarted on the previous build as a fresh baseline` : '';
    this.emitDeploy(d, `step ${step + 1}/${state.steps}: ${todo.length} server(s) to switch${also}`);
    // The fresh baseline restarts alongside the canaries, so both sides' processes are the same age.
    // It is not the change under test: a failed restart is an incident to report, not a failed step.
    const restarted = fanOut(restarts, this.cfg.fleet.concurrency, async (s) => {
      await this.d.fleet.activate(s, d.previous!, signal, { restart: true });
      this.sampler.activated(s.id, d.previous!.id);
    });
    const failures = await fanOut(todo, this.cfg.fleet.concurrency, async (s) => {
      await this.d.fleet.activate(s, want(s.id)!, signal);
      this.sampler.activated(s.id, want(s.id)!.id);
      done++;
      this.d.events.emit({
        type: 'deploy',
        pipeline: this.name,
        deploy: d.id,
        status: 'rolling_out',
        step,
        servers: Math.min(total, done),
        of: servers.size,
        message: `${s.id} on ${want(s.id)!.id}`,
      });
    });
    const restartFailures = await restarted;
    if (signal.aborted) throw signal.reason;
    if (restartFailures.length) {
      this.d.log.warn(
        { deploy: d.id, step, servers: restartFailures.map((f) => f.item.id), errors: restartFailures.map((f) => f.error.message) },
        'a fresh-baseline server did not restart on the previous build: it is left out of the fresh baseline',
      );
      this.emitDeploy(
        d,
        `fresh baseline: ${restartFailures.map((f) => `${f.item.id} did not restart (${f.error.message})`).join(', ')}; the gate compares its age-dependent metrics with the servers that did`,
      );
    }
    if (failures.length) {
      return {
        type: 'step_failed',
        step,
        reason: `deploy failed on ${failures.map((f) => `${f.item.id} (${f.error.message})`).join(', ')}`,
      };
    }
    return { type: 'step_deployed', step, gated: onNew.size < servers.size && !!d.previous };
  }

  private stepBake(step: number): { min: number; max: number } {
    const s = this.cfg.rollout.steps[step];
    return { min: s?.min_bake ?? this.cfg.rollout.min_bake, max: s?.max_bake ?? this.cfg.rollout.max_bake };
  }

  /** Wait one interval, then judge the step on everything since it began. */
  private async judgeStep(d: DeployRecord, step: number, signal: AbortSignal): Promise<DeployEvent> {
    await this.sampler.nextTick(signal);
    const state = d.state;
    const now = this.d.clock.now();
    const canary = state.plan[step] ?? [];
    const all = [...(await this.serversById()).keys()];
    const since = state.since;
    // A baseline server that stopped answering is an incident, not evidence: out of the baseline, reported.
    const down = splitUnresponsive(this.sampler.all, { onNew: canary, others: all.filter((id) => !canary.includes(id)), from: since });
    this.reportIncidents(d, down.incidents, down.reasons, 'a baseline server (previous build)');
    const baseline = all.filter((id) => !canary.includes(id) && !down.incidents.includes(id));
    // Each server's own past: the window before the rollout began, when every server ran the previous build.
    const started = state.rolloutStartedAt ?? since;
    // Only intervals on the release the baseline runs now (d.previous), after the warm-up, are a server's own past.
    const history =
      this.cfg.rollout.history > 0 && d.previous
        ? { from: started - this.cfg.rollout.history, to: started, release: d.previous.id }
        : undefined;
    const bake = this.stepBake(step);
    // Each server's start-up on the build it runs is not evidence (cold caches and JIT read as a latency
    // or CPU regression): a canary's first seconds on the new build, a baseline server's after a restart.
    const warmupMs = Math.min(START_UP_MS, bake.min / 3);
    // Metrics that depend on a process's age are also compared with the baseline servers restarted
    // with the canaries (those this process saw restart since the rollout began).
    const fresh = this.freshBaseline(d, step).all.filter((id) => baseline.includes(id) && this.startedSince(id, started));
    const samples = {
      specs: this.specs,
      ticks: this.sampler.all,
      sides: {
        baseline: {
          servers: baseline,
          from: since,
          to: now,
          release: d.previous?.id,
          warmupMs,
          warmupCapMs: bake.min,
          trustUnknown: true,
          fresh,
        },
        canary: { servers: canary, from: since, to: now, release: d.artifact?.id, warmupMs, warmupCapMs: bake.min, trustUnknown: true },
      },
      history,
    };
    const result = await this.d.judge.gate(
      {
        alpha: this.cfg.rollout.alpha,
        samples,
        elapsedMs: now - since,
        minBakeMs: bake.min,
        maxBakeMs: bake.max,
        onInconclusive: this.cfg.rollout.on_inconclusive,
        unresponsive: down.blamed,
        unresponsiveWhy: down.reasons,
      },
      signal,
    );
    await this.recordLook(d, 'gate', step, now, now - since, result);
    return { type: 'gate', step, result, policy: this.cfg.rollout.on_inconclusive, paused: this.line.paused };
  }

  private async watch(d: DeployRecord, signal: AbortSignal): Promise<DeployEvent> {
    const state = d.state;
    if (!d.previous || !this.cfg.watch.enabled) {
      const why = !d.previous ? 'first deploy: nothing to compare with' : 'watch disabled';
      return { type: 'watch', result: { decision: 'pass', metrics: [], explanation: why }, policy: this.cfg.rollout.on_inconclusive };
    }
    await this.sampler.nextTick(signal);
    const now = this.d.clock.now();
    const fleet = [...(await this.serversById()).keys()];
    const before = state.rolloutStartedAt ?? state.since;
    // Blamed: a server that answered on the new build, then stopped. One down since before the watch is an incident.
    const down = splitUnresponsive(this.sampler.all, { onNew: fleet, others: [], from: state.since, watch: true });
    this.reportIncidents(d, down.incidents, down.reasons, 'a server that has not answered since before the watch');
    const all = fleet.filter((id) => !down.incidents.includes(id));
    const sides = {
      // The past. A metric with a warm-up counts each server only on the previous build and past its
      // start-up there (awaitPast waited for such a window); the others read the whole window, as before.
      baseline:
        this.pastStartUpMs() > 0
          ? {
              servers: all,
              from: before - this.cfg.watch.window,
              to: before,
              release: d.previous.id,
              warmupMs: 0,
              warmupCapMs: this.pastStartUpMs(),
              trustUnknown: true,
            }
          : { servers: all, from: before - this.cfg.watch.window, to: before },
      // Each server's start-up on the new build is not part of the watch (start-up CPU and memory are
      // not a slow failure): for a metric with a warm-up, all of it (watchDurationMs makes room for it).
      canary: {
        servers: all,
        from: state.since,
        to: now,
        release: d.artifact?.id,
        warmupMs: Math.min(START_UP_MS, this.cfg.watch.duration / 3),
        warmupCapMs: Math.max(this.cfg.watch.duration / 3, this.longestWarmupMs()),
        trustUnknown: true,
      },
    };
    const result = await this.d.judge.watch(
      {
        alpha: this.cfg.rollout.alpha,
        samples: { specs: this.specs, ticks: this.sampler.all, sides },
        elapsedMs: now - state.since,
        durationMs: this.watchDurationMs(),
        unresponsive: down.blamed,
        unresponsiveWhy: down.reasons,
        onInconclusive: this.cfg.rollout.on_inconclusive,
      },
      signal,
    );
    await this.recordLook(d, 'watch', -1, now, now - state.since, result);
    return { type: 'watch', result, policy: this.cfg.rollout.on_inconclusive };
  }

  /** One look of a gate (step) or the watch (-1): stored with its evidence, then told to listeners. */
  private async recordLook(
    d: DeployRecord,
    what: 'gate' | 'watch',
    step: number,
    now: number,
    elapsedMs: number,
    result: GateResult,
  ): Promise<void> {
    const { decision, explanation, metrics } = result;
    await this.durably(`record a ${what} look`, () =>
      this.d.store.line.appendGateLook({ deployId: d.id, step, time: now, elapsedMs, decision, explanation, metrics }),
    );
    this.d.events.emit({ type: 'gate', pipeline: this.name, deploy: d.id, step, elapsedMs, decision, explanation });
  }

  /** Servers down but not on the new build: a warning and one captains' notice per deploy and server (not blamed on the commit). */
  private reportIncidents(d: DeployRecord, servers: string[], why: Record<string, string>, what: string): void {
    for (const id of servers) {
      const key = `${d.id}:${id}`;
      if (this.incidentsTold.has(key)) continue;
      this.incidentsTold.add(key);
      const reason = why[id] ?? 'no answer';
      this.d.log.warn({ deploy: d.id, server: id, reason }, `server ${id} stopped answering: ${what}, left out of the judgement`);
      this.d.events.emit({
        type: 'deploy',
        pipeline: this.name,
        deploy: d.id,
        status: d.state.status,
        message: `incident: ${id} stopped answering (${reason}); ${what}, not blamed on the change`,
      });
      void this.notifyCaptains(
        'info',
        `Server ${id} stopped answering`,
        `${reason}. It is ${what}: left out of the judgement of ${this.describe(d)}, not blamed on the change.`,
        `incident:${key}`,
      );
    }
  }

  /** Every server that is not on the previous build goes back to it. */
  private async rollback(d: DeployRecord, signal: AbortSignal): Promise<void> {
    const prev = d.previous;
    if (!prev) {
      this.d.log.error({ deploy: d.id }, 'nothing to roll back to (first deploy)');
      return;
    }
    const servers = [...(await this.serversById()).values()];
    const todo: Server[] = [];
    for (const s of servers) {
      const current = await this.d.fleet.release(s, signal).catch(() => undefined);
      if (current !== prev.id) todo.push(s);
    }
    const t0 = this.d.clock.now();
    this.emitDeploy(d, `rolling back ${todo.length} server(s) to ${prev.id}`);
    const failures = await fanOut(todo, this.cfg.fleet.concurrency, async (s) => {
      await this.d.fleet.activate(s, prev, signal);
      this.sampler.activated(s.id, prev.id);
    });
    if (failures.length) throw new Error(`rollback failed on ${failures.map((f) => `${f.item.id} (${f.error.message})`).join(', ')}`);
    this.d.log.warn({ deploy: d.id, servers: todo.length, ms: this.d.clock.now() - t0 }, 'rolled back');
    // A rollback is only done when every server says it runs the previous build.
    const unknown: string[] = [];
    for (const s of todo) if ((await this.d.fleet.release(s, signal).catch(() => undefined)) !== prev.id) unknown.push(s.id);
    if (unknown.length) {
      await this.tell(
        d,
        'unknown_build',
        `Rollback of ${this.describe(d)} left ${unknown.length} server(s) on an unknown build`,
        `not on ${prev.id}: ${unknown.join(', ')}`,
      );
      throw new Error(`after rollback ${unknown.join(', ')} do not run ${prev.id}`);
    }
    if (this.rollbackFailed.delete(d.id))
      await this.tell(d, 'recovered', `${this.describe(d)}: every server is back on ${prev.id}`, `rolled back ${todo.length} server(s)`);
  }

  // ------------------------------------------------------------------------------------------
  // Known-bad trees

  /** The tree of the change's last commit (what its build contains), or undefined when the repo cannot say. */
  private async treeOf(sha: string): Promise<string | undefined> {
    return this.d.repo.tree ? this.d.repo.tree(sha) : undefined;
  }

  /** Record the failed change's tree (idempotent: one entry per tree, the latest failure wins). */
  private async rememberBad(d: DeployRecord): Promise<void> {
    const s = d.state;
    const tree = d.tree ?? (await this.treeOf(d.shas.at(-1)!));
    if (!tree || !s.failure) return;
    d.tree = tree;
    const metrics = (s.failure.evidence?.metrics ?? []).filter((m) => m.verdict === 'fail').map((m) => m.name);
    const step = s.failure.stage === 'watch' ? -1 : s.failure.step;
    const known = this.line.knownBad?.find((k) => k.tree === tree && k.deploy === d.id);
    if (known) return;
    const entry = {
      tree,
      sha: d.shas.at(-1)!,
      deploy: d.id,
      step,
      metrics,
      reason: s.failure.reason,
      artifact: d.artifact?.id,
      at: this.d.clock.now(),
    };
    await this.saveLine({ knownBad: rememberBad(this.line.knownBad, entry) });
    this.d.log.warn({ deploy: d.id, tree: tree.slice(0, 12), sha: entry.sha.slice(0, 8) }, 'tree recorded as known-bad');
  }

  /** True when the batch's tree is known-bad and no captain has overridden it since: the line holds it. */
  private async holdKnownBad(batch: string[]): Promise<boolean> {
    const tree = await this.treeOf(batch.at(-1)!);
    const bad = tree ? findKnownBad(this.line.knownBad, tree) : undefined;
    const overridden = bad && this.line.overrides?.some((o) => o.tree === bad.tree && o.at >= bad.at);
    if (!tree || !bad || overridden) {
      if (this.line.held) await this.saveLine({ held: undefined });
      return false;
    }
    const held = this.line.held;
    if (held && held.tree === tree && held.shas.join() === batch.join()) return true;
    const reason = knownBadReason(bad);
    await this.saveLine({ held: { shas: batch, tree, reason, knownBad: bad, since: this.d.clock.now() } });
    this.d.log.warn({ shas: batch.map((x) => x.slice(0, 8)), tree: tree.slice(0, 12) }, `change held: ${reason}`);
    await this.tell(
      undefined,
      'held',
      `${batch.at(-1)!.slice(0, 8)} held: known-bad tree`,
      `${reason}. Drop it (immune drop) or override (immune override --reason "...").`,
      { sha: batch.at(-1), id: `${this.name}:held:${tree}:${batch.at(-1)}` },
    );
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Reporting

  private describe(d: DeployRecord): string {
    const last = d.commits.at(-1);
    const more = d.commits.length > 1 ? ` (+${d.commits.length - 1} more)` : '';
    return last ? `${last.sha.slice(0, 8)} "${last.subject}" by ${last.author}${more}` : d.shas.join(',');
  }

  private emitDeploy(d: DeployRecord, message?: string): void {
    const s = d.state;
    const onNew = s.step >= 0 && s.status !== 'live' ? s.plan[s.step]?.length : undefined;
    this.d.events.emit({
      type: 'deploy',
      pipeline: this.name,
      deploy: d.id,
      status: s.status,
      step: s.step >= 0 ? s.step : undefined,
      servers: onNew,
      of: s.plan.at(-1)?.length,
      message: message ?? (s.failure && isFinished(s) ? s.failure.reason : s.status),
    });
  }

  /**
   * Hand a notification to the notifier, which queues it and returns (it never waits on a
   * receiver). Its id is stable — deploy, kind and step, or the line's block — so the same event
   * told again (an action replayed after a restart) is delivered once.
   */
  private async tell(
    d: DeployRecord | undefined,
    kind: string,
    title: string,
    body: string,
    extra: Partial<Notification> = {},
  ): Promise<void> {
    const state = d?.state;
    const evidence = state?.failure?.evidence;
    const n: Notification = {
      id: d ? `${d.id}:${kind}:${state?.step ?? -1}` : `${this.name}:${kind}:${this.line.blockedAt ?? this.d.clock.now()}`,
      kind,
      pipeline: this.name,
      deploy: d?.id,
      sha: d?.shas.at(-1),
      to: d ? [...new Set(d.commits.map((c) => c.email))] : undefined,
      title,
      body,
      time: this.d.clock.now(),
      step: state?.step,
      link: this.d.publicUrl ? (d ? `${this.d.publicUrl}/#/deploys/${d.id}` : this.d.publicUrl) : undefined,
      evidence: evidence ? { explanation: evidence.explanation, metrics: evidence.metrics } : undefined,
      commits: d?.commits.map((c) => ({ sha: c.sha, author: c.author, email: c.email, subject: c.subject })),
      revertSha: d?.revertSha,
      ...extra,
    };
    await this.d.notifier.notify(n).catch((err) => this.d.log.warn({ notification: kind, err: (err as Error).message }, 'notify failed'));
  }

  private async audit(actor: string, action: string, target: string, reason: string, details?: unknown): Promise<void> {
    await this.d.store.audit.append({ time: this.d.clock.now(), actor, action, target, reason, details });
    this.d.events.emit({ type: 'audit', actor, action, target, reason });
  }

  // ------------------------------------------------------------------------------------------
  // LineControl: what captains and engineers do through the API and CLI.

  async status(): Promise<LineStatus> {
    const queue: Commit[] = [];
    for (const sha of this.line.queue)
      queue.push(await this.d.repo.commit(sha).catch(() => ({ sha, author: '', email: '', subject: '', message: '', time: 0 })));
    // Server counts come from the deploy's own plan.
    const status = summarizeLine(this.line, this.current?.record, queue, { now: this.d.clock.now(), problems: this.problems });
    // Held by immune itself (a store that fails or was lost): shown as a block with its reason.
    if (this.fault)
      return {
        ...status,
        blocked: true,
        blockReason: this.fault.reason,
        blockedBy: 'immune',
        blockedAt: this.fault.since,
        fault: { kind: this.fault.kind, reason: this.fault.reason, since: this.fault.since },
      };
    return status;
  }

  /**
   * Queue a commit. It must be on the branch and ahead of what is live: an older commit (a replayed
   * webhook, a stale request) would downgrade production, so only `force` (a captain) deploys it.
   * A webhook delivery id seen before is ignored.
   */
  async deploy(sha: string, actor: string, opts: { delivery?: string; force?: boolean } = {}): Promise<DeployAnswer> {
    if (!/^[0-9a-f]{4,40}$/i.test(sha)) throw new InputError('sha', `"${sha}" is not a commit sha`);
    if (opts.delivery && this.line.deliveries?.includes(opts.delivery))
      return { queued: sha, duplicate: true, ignored: `delivery ${opts.delivery} was received before` };
    const tip = await this.d.repo.tip().catch(() => undefined);
    const commit = await this.d.repo.commit(sha).catch(() => {
      throw new NotFoundError(`no commit ${sha} in ${this.cfg.repo.url}`);
    });
    const live = this.line.live?.sha;
    if (!opts.force && (commit.sha === live || this.current?.record.shas.includes(commit.sha))) {
      if (opts.delivery) await this.saveLine({ deliveries: [...(this.line.deliveries ?? []), opts.delivery].slice(-500) });
      return { queued: commit.sha, ignored: commit.sha === live ? 'already live' : 'already deploying' };
    }
    if (!opts.force && this.d.repo.isAncestor) {
      const onBranch = tip !== undefined && (commit.sha === tip || (await this.d.repo.isAncestor(commit.sha, tip)));
      if (!onBranch)
        throw new ConflictError(
          `${commit.sha.slice(0, 8)} is not on ${this.cfg.repo.branch}'s current history; a captain can deploy it with force`,
        );
      if (live && (live === commit.sha || !(await this.d.repo.isAncestor(live, commit.sha)))) {
        throw new ConflictError(
          `${commit.sha.slice(0, 8)} is not ahead of the live ${live.slice(0, 8)}: deploying it would take production back; a captain can deploy it with force`,
        );
      }
    }
    const deliveries = opts.delivery ? [...(this.line.deliveries ?? []), opts.delivery].slice(-500) : this.line.deliveries;
    if (!this.line.queue.includes(commit.sha) || deliveries !== this.line.deliveries) {
      const queue = this.line.queue.includes(commit.sha) ? this.line.queue : [...this.line.queue, commit.sha];
      this.taken.delete(commit.sha);
      await this.saveLine({ queue, deliveries });
    }
    await this.audit(actor, 'deploy', commit.sha, opts.force ? 'deploy forced (may take production back)' : `deploy requested`);
    this.d.events.emit({ type: 'queued', pipeline: this.name, shas: [commit.sha] });
    this.wakeLoop?.();
    return { queued: commit.sha };
  }

  async block(reason: string, actor: string): Promise<void> {
    await this.saveLine({ blocked: true, blockReason: reason, blockedBy: actor, blockedAt: this.d.clock.now(), blockedDeploy: undefined });
    await this.audit(actor, 'block', this.name, reason);
    // A captain's own block is news for the channel, not a page.
    await this.tell(undefined, 'blocked', `Line ${this.name} blocked by ${actor}`, reason, { severity: 'warning' });
  }

  async unblock(reason: string, actor: string): Promise<void> {
    if (!this.line.blocked) throw new ConflictError('the line is not blocked');
    if (this.line.needsAdoption)
      throw new ConflictError(
        `the store came up empty: confirm what the fleet runs with \`immune adopt <sha>\` (or \`immune adopt --fresh\`), not unblock`,
      );
    const id = `${this.name}:unblocked:${this.line.blockedAt ?? this.d.clock.now()}`;
    await this.saveLine({ blocked: false, blockReason: undefined, blockedBy: undefined, blockedAt: undefined, blockedDeploy: undefined });
    await this.audit(actor, 'unblock', this.name, reason);
    await this.tell(undefined, 'unblocked', `Line ${this.name} unblocked by ${actor}`, reason, { id });
    this.wakeLoop?.();
  }

  /**
   * After the store came up empty: `sha` is what the fleet runs (built again, content-addressed, it
   * becomes the live build and later commits are judged against it); without a sha the tip goes out
   * as a first deploy.
   */
  async adopt(sha: string | undefined, reason: string, actor: string): Promise<AdoptAnswer> {
    if (!this.line.needsAdoption) throw new ConflictError('nothing to adopt: the store knows what the fleet runs');
    if (this.current) throw new ConflictError('a deploy is in flight');
    let live: LineRecord['live'];
    if (sha !== undefined) {
      if (!/^[0-9a-f]{4,40}$/i.test(sha)) throw new InputError('sha', `"${sha}" is not a commit sha`);
      await this.d.repo.tip().catch(() => undefined);
      const commit = await this.d.repo.commit(sha).catch(() => {
        throw new NotFoundError(`no commit ${sha} in ${this.cfg.repo.url}`);
      });
      const checkout = await this.d.repo.checkout(commit.sha, this.stopAc.signal);
      try {
        live = { sha: commit.sha, artifact: await this.d.builder.build(checkout, this.stopAc.signal) };
      } finally {
        await checkout.dispose();
      }
    }
    const patch: Partial<LineRecord> = {
      blocked: false,
      blockReason: undefined,
      blockedBy: undefined,
      blockedAt: undefined,
      blockedDeploy: undefined,
      needsAdoption: undefined,
    };
    // Adopted: only commits after it are new; without a sha, the queue (the tip) goes out as a first deploy.
    if (live) Object.assign(patch, { live, lastSeen: live.sha, queue: [] });
    await this.saveLine(patch);
    await this.audit(actor, 'adopt', this.name, reason, { sha: live?.sha, artifact: live?.artifact.id });
    this.wakeLoop?.();
    return { live: live?.sha, artifact: live?.artifact.id };
  }

  async pause(reason: string, actor: string): Promise<void> {
    await this.saveLine({ paused: true });
    await this.audit(actor, 'pause', this.name, reason);
  }

  /** Unpause the line, and/or let a held rollout bake (or watch) again at its step. */
  async resume(reason: string, actor: string): Promise<void> {
    const run = this.current;
    const heldRun = run?.record.state.status === 'held' ? run : undefined;
    if (!this.line.paused && !heldRun) throw new ConflictError('the line is not paused and no rollout is held');
    if (this.line.paused) {
      await this.saveLine({ paused: false });
      await this.audit(actor, 'resume', this.name, reason);
    }
    if (heldRun) {
      await this.audit(actor, 'resume', heldRun.record.id, reason);
      this.control(heldRun, { type: 'resume', actor });
    }
    this.wakeLoop?.();
  }

  private control(run: Running, e: DeployEvent): void {
    run.controls.push(e);
    run.wake?.();
  }

  async abort(reason: string, actor: string): Promise<void> {
    const run = this.current;
    const s = run?.record.state;
    if (!run || !s || isFinished(s) || s.status === 'rolling_back' || s.status === 'reverting')
      throw new ConflictError('no deploy in flight that can be aborted');
    await this.audit(actor, 'abort', run.record.id, reason);
    this.control(run, { type: 'abort', reason, actor });
    run.ac.abort(new Error(`aborted by ${actor}`));
  }

  async promote(reason: string, actor: string): Promise<void> {
    const run = this.current;
    const s = run?.record.state;
    if (!run || (s?.status !== 'baking' && s?.status !== 'held'))
      throw new ConflictError('promote needs a deploy baking or held at a rollout step or the watch');
    await this.audit(actor, 'promote', run.record.id, reason);
    this.control(run, { type: 'promote', actor });
  }

  /** Deploy the held change although its tree is known-bad (once: a new failure of the tree holds it again). */
  async override(reason: string, actor: string): Promise<void> {
    const held = this.line.held;
    if (!held) throw new ConflictError('no change is held for a known-bad tree');
    const o = { tree: held.tree, actor, reason, at: this.d.clock.now() };
    await this.saveLine({ overrides: [...(this.line.overrides ?? []), o].slice(-200), held: undefined });
    await this.audit(actor, 'override', held.shas.at(-1)!, reason, { tree: held.tree, shas: held.shas, knownBad: held.knownBad });
    this.wakeLoop?.();
  }

  /** Take a queued commit out of the line: it stays in git, the line skips it. */
  async drop(sha: string, reason: string, actor: string): Promise<DropAnswer> {
    if (!/^[0-9a-f]{4,40}$/i.test(sha)) throw new InputError('sha', `"${sha}" is not a commit sha`);
    const want = sha.toLowerCase();
    const matches = this.line.queue.filter((q) => q.startsWith(want));
    if (matches.length > 1) throw new InputError('sha', `"${sha}" matches ${matches.length} queued commits: give more digits`);
    const found = matches[0];
    if (!found) {
      if (this.current?.record.shas.some((x) => x.startsWith(want)))
        throw new ConflictError(`${sha} is in flight, not queued: abort the deploy instead`);
      throw new NotFoundError(`${sha} is not in the queue`);
    }
    const held = this.line.held?.shas.includes(found) ? undefined : this.line.held;
    await this.saveLine({
      queue: this.line.queue.filter((q) => q !== found),
      dropped: [...(this.line.dropped ?? []), { sha: found, actor, reason, at: this.d.clock.now() }].slice(-200),
      held,
    });
    await this.audit(actor, 'drop', found, reason);
    this.d.events.emit({ type: 'queued', pipeline: this.name, shas: [] });
    this.wakeLoop?.();
    const note = this.line.queue.length
      ? `${found.slice(0, 8)} dropped; its code stays in git, so later commits built from the branch still contain it (revert it to remove it)`
      : `${found.slice(0, 8)} dropped; it stays in git`;
    return { dropped: found, note };
  }

  /** Queue a failed or aborted deploy's commits again, at the head of the line. */
  async retry(id: string, reason: string, actor: string): Promise<RetryAnswer> {
    const d = await this.d.store.line.getDeploy(id);
    if (!d || d.pipeline !== this.name) throw new NotFoundError(`no deploy ${id}`);
    if (!d.outcome || d.outcome === 'live')
      throw new ConflictError(`deploy ${id} is ${d.outcome ?? d.status}: only a failed or aborted deploy can be retried`);
    if (this.current?.record.shas.some((x) => d.shas.includes(x))) throw new ConflictError(`deploy ${id}'s commits are in flight again`);
    const later = (await this.d.store.line.listDeploys(this.name, { limit: 200 })).find(
      (x) => x.createdAt > d.createdAt && x.outcome === 'live' && !x.shas.every((s) => d.shas.includes(s)),
    );
    if (later)
      throw new ConflictError(
        `deploy ${later.id} went live after ${id}: retrying would take production back to older code; deploy the branch tip instead`,
      );
    const queue = [...d.shas, ...this.line.queue.filter((q) => !d.shas.includes(q))];
    await this.saveLine({ queue });
    await this.audit(actor, 'retry', id, reason, { shas: d.shas });
    this.d.events.emit({ type: 'queued', pipeline: this.name, shas: d.shas });
    this.wakeLoop?.();
    return { queued: d.shas, deploy: id };
  }

  /** What every server keeps installed, and which deploy built each release. */
  async releases(): Promise<ReleasesAnswer> {
    const deploys = await this.d.store.line.listDeploys(this.name, { limit: 500 });
    const byArtifact = new Map<string, DeployRecord>();
    for (const d of [...deploys].reverse()) if (d.artifact) byArtifact.set(d.artifact.id, d);
    const bad = new Map((this.line.knownBad ?? []).filter((k) => k.artifact).map((k) => [k.artifact!, k]));
    const out: ServerReleases[] = [];
    for (const s of await this.d.fleet.servers()) {
      const current = await this.d.fleet.release(s).catch(() => undefined);
      const ids = this.d.fleet.installed ? await this.d.fleet.installed(s).catch(() => []) : current ? [current] : [];
      out.push({
        server: s.id,
        current: current ?? null,
        releases: ids.map((id) => {
          const d = byArtifact.get(id);
          const k = bad.get(id);
          return {
            id,
            current: id === current,
            sha: d?.artifact?.sha,
            deploy: d?.id,
            outcome: d?.outcome,
            live: this.line.live?.artifact.id === id,
            ...(k ? { knownBad: knownBadReason(k) } : {}),
          };
        }),
      });
    }
    return { servers: out };
  }

  /** Switch every server to an earlier release they all still keep; the line blocks so the tip does not come straight back. */
  async rollbackTo(to: string, reason: string, actor: string): Promise<RollbackAnswer> {
    if (!/^[0-9a-z][0-9a-z._-]{3,99}$/i.test(to)) throw new InputError('to', `"${to}" is not a release id or a commit sha`);
    if (this.current) throw new ConflictError('a deploy is in flight: abort it first (immune abort), then roll back');
    const deploys = await this.d.store.line.listDeploys(this.name, { limit: 500 });
    const want = to.toLowerCase();
    const d =
      deploys.find((x) => x.artifact && x.artifact.id.toLowerCase() === want) ??
      deploys.find((x) => x.artifact && x.outcome === 'live' && x.artifact.sha.startsWith(want)) ??
      deploys.find((x) => x.artifact && (x.artifact.id.toLowerCase().startsWith(want) || x.artifact.sha.startsWith(want)));
    if (!d?.artifact)
      throw new NotFoundError(
        `no release or built commit "${to}" in the last ${deploys.length} deploys (immune releases lists what the servers keep)`,
      );
    const artifact = d.artifact;
    const k = this.line.knownBad?.find((x) => x.artifact === artifact.id || x.sha === artifact.sha);
    if (k) throw new ConflictError(`release ${artifact.id} is known-bad: ${knownBadReason(k)}`);
    const { servers } = await this.releases();
    const missing = servers.filter((s) => !s.releases.some((r) => r.id === artifact.id));
    if (missing.length) {
      throw new ConflictError(
        `release ${artifact.id} (${artifact.sha.slice(0, 8)}) is no longer kept on ${missing.map((s) => s.server).join(', ')}: roll back to a release every server keeps (immune releases)`,
      );
    }
    await this.saveLine({ rollbackTo: { artifact, actor, reason, at: this.d.clock.now() } });
    await this.audit(actor, 'rollback', artifact.id, reason, { sha: artifact.sha, deploy: d.id });
    const n = await this.finishRollbackTo();
    return { release: artifact.id, sha: artifact.sha, servers: n };
  }

  /** Perform the recorded rollback (also after a crash): every server onto the release, then live, and the line blocked. */
  private async finishRollbackTo(): Promise<number> {
    const r = this.line.rollbackTo;
    if (!r) return 0;
    const servers = [...(await this.serversById()).values()];
    const todo: Server[] = [];
    for (const s of servers) if ((await this.d.fleet.release(s, this.stopAc.signal).catch(() => undefined)) !== r.artifact.id) todo.push(s);
    const failures = await fanOut(todo, this.cfg.fleet.concurrency, (s) => this.d.fleet.activate(s, r.artifact, this.stopAc.signal));
    if (failures.length)
      throw new ImmuneError(
        'IMMUNE_DEPLOY_FAILED',
        `rollback to ${r.artifact.id} failed on ${failures.map((f) => `${f.item.id} (${f.error.message})`).join(', ')}; run it again`,
      );
    const why = `rolled back to ${r.artifact.id} (${r.artifact.sha.slice(0, 8)}) by ${r.actor}: ${r.reason}`;
    await this.saveLine({
      rollbackTo: undefined,
      live: {
        sha: r.artifact.sha,
        artifact: r.artifact,
        deploy: this.line.live?.artifact.id === r.artifact.id ? this.line.live.deploy : undefined,
      },
      blocked: true,
      blockReason: why,
      blockedBy: r.actor,
      blockedAt: this.d.clock.now(),
      blockedDeploy: undefined,
    });
    this.d.log.warn({ release: r.artifact.id, servers: todo.length }, why);
    await this.tell(undefined, 'blocked', `Line blocked: ${why}`, why, { sha: r.artifact.sha, severity: 'warning' });
    return todo.length;
  }
}
