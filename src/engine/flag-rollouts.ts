// Guarded flag rollouts, driven: every interval each running guarded flag's gate looks at users
// with the flag on against users with it off (core/experiments/guarded.ts, the deploy gate's
// statistics); a pass moves the flag to its next step, a regression turns it off, blocks it and
// tells its owner. Every new state is stored (and served) before anyone is told of it.
import type { Logger } from 'pino';
import {
  advanceRollout,
  finishesRollout,
  guardMetrics,
  lookRollout,
  servedShare,
  startRollout,
  stepRecord,
  type FlagRollout,
} from '../core/experiments/guarded.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import type { AuditStore, Clock, ExperimentStore, Notifier } from '../ports.js';
import type { EventBus } from './events.js';
import type { ExperimentRegistry, GuardedFlag } from './experiments.js';

export interface FlagRolloutsDeps {
  registry: ExperimentRegistry;
  store: { experiments: ExperimentStore; audit: AuditStore };
  events: EventBus;
  log: Logger;
  clock: Clock;
  notifier?: Notifier;
  /** Named in notifications (the pipeline the server runs, or "flags"). */
  pipeline?: string;
  /** Publc URL of the dashboard, for links in notifications. */
  publicUrl?: string;
}

const pct = (f: number): string => `${+(f * 100).toFixed(1)}%`;

export class FlagRollouts {
  private chain: Promise<unknown> = Promise.resolve();
  private loop: AbortController | undefined;

  constructor(private readonly d: FlagRolloutsDeps) {}

  /** Serialise every change of rollout state (looks and people's actions). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Look at every running guarded flag whose interval has passed since its last look. */
  tick(): Promise<{ flag: string; action: string }[]> {
    return this.serial(async () => {
      const snap = await this.d.registry.current();
      const now = this.d.clock.now();
      const done: { flag: string; action: string }[] = [];
      for (const gf of snap.guarded.values()) {
        const r = gf.rollout;
        if (r.status !== 'running' || !gf.config.enabled) continue;
        const last = r.looks[r.looks.length - 1]?.time ?? r.stepStartedAt;
        if (now - last < gf.config.guarded.interval) continue;
        done.push({ flag: gf.config.name, action: await this.look(gf, now) });
      }
      return done;
    });
  }

  private async look(gf: GuardedFlag, now: number): Promise<string> {
    const g = gf.config.guarded;
    const name = gf.config.name;
    const tally = await this.d.store.experiments.tally(name, gf.rollout.phase, guardMetrics(g));
    const { state, action, result } = lookRollout(gf.rollout, g, tally, now);
    const explanation = result?.explanation ?? '';
    switch (action) {
      case 'none':
        await this.d.registry.applyRollout(state);
        break;
      case 'advance':
      case 'complete': {
        const record = stepRecord(state, g, 'pass', explanation, now);
        const phase =
          action === 'advance' ? await this.d.registry.startFlagPhase(name, state.phase + 1, g.steps[state.step + 1]!, now) : state.phase;
        const next = advanceRollout(state, g, record, phase, now);
        await this.d.registry.applyRollout(next);
        const share = servedShare(next, g);
        await this.audit(
          now,
          'immune',
          action === 'advance' ? 'flag.step' : 'flag.complete',
          name,
          `${pct(record.rollout)} passed: ${explanation}`,
          { step: next.step, share },
        );
        this.d.events.emit({
          type: 'flag',
          name,
          action: action === 'advance' ? 'step' : 'complete',
          step: next.step,
          share,
          reason: explanation,
        });
        this.d.log.info(
          { flag: name, step: next.step, share },
          `flag ${name}: ${action === 'advance' ? `on for ${pct(share)} of users` : `rollout complete at ${pct(share)}`} (${explanation})`,
        );
        break;
      }
      case 'turn-off': {
        await this.d.registry.applyRollout(state);
        await this.audit(now, 'immune', 'flag.off', name, explanation, {
          step: state.step,
          share: g.steps[state.step],
          metrics: result?.metrics,
        });
        this.d.events.emit({ type: 'flag', name, action: 'off', step: state.step, share: 0, reason: explanation });
        this.d.log.warn({ flag: name, step: state.step }, `flag ${name} turned off and blocked: ${explanation}`);
        await this.notify(
          gf,
          'flag_off',
          `flag ${name} turned off: guardrail regression at ${pct(g.steps[state.step]!)}`,
          `${explanation}\n\nThe flag is off for everyone and blocked until someone unblocks it: immune flags unblock ${name} --reason "..."`,
        );
        break;
      }
      case 'hold': {
        await this.d.registry.applyRollout(state);
        await this.audit(now, 'immune', 'flag.held', name, explanation, { step: state.step, share: g.steps[state.step] });
        this.d.events.emit({ type: 'flag', name, action: 'held', step: state.step, share: g.steps[state.step]!, reason: explanation });
        await this.notify(
          gf,
          'flag_held',
          `flag ${name} held at ${pct(g.steps[state.step]!)}`,
          `${explanation}\n\nIt stays at ${pct(g.steps[state.step]!)} until someone acts: immune flags unblock ${name} --reason "..." moves it on.`,
        );
        break;
      }
    }
    return action;
  }

  /**
   * A person acts on a blocked or held flag: an off flag starts its rollout again from the first
   * step (a new phase); a held one moves to its next step. Audited with who and why.
   */
  unblock(name: string, actor: string, reason: string): Promise<FlagRollout> {
    return this.serial(async () => {
      const gf = (await this.d.registry.current()).guarded.get(name);
      if (!gf) throw new NotFoundError(`no guarded flag "${name}"`);
      const r = gf.rollout;
      const g = gf.config.guarded;
      const now = this.d.clock.now();
      let next: FlagRollout;
      if (r.status === 'off') {
        const phase = await this.d.registry.startFlagPhase(name, r.phase + 1, g.steps[0]!, now);
        next = { ...startRollout(name, phase, now), history: [...r.history, stepRecord(r, g, 'fail', r.reason ?? '', now)] };
      } else if (r.status === 'held') {
        const record = stepRecord(r, g, 'unblocked', `${actor}: ${reason}`, now);
        const phase = finishesRollout(r, g) ? r.phase : await this.d.registry.startFlagPhase(name, r.phase + 1, g.steps[r.step + 1]!, now);
        next = advanceRollout(r, g, record, phase, now);
      } else throw new ConflictError(`flag ${name} is ${r.status}: nothing to unblock`);
      await this.d.registry.applyRollout(next);
      const share = servedShare(next, g);
      await this.audit(now, actor, 'flag.unblock', name, reason, { from: r.status, step: next.step, share });
      this.d.events.emit({ type: 'flag', name, action: 'unblock', step: next.step, share, reason });
      this.d.log.info({ flag: name, actor }, `flag ${name} unblocked by ${actor}: on for ${pct(share)} of users`);
      return next;
    });
  }

  /** Look every second (each flag at its own interval) until stop(). */
  start(): void {
    if (this.loop) return;
    const ac = new AbortController();
    this.loop = ac;
    void (async () => {
      while (!ac.signal.aborted) {
        await this.tick().catch((err: unknown) => this.d.log.error({ err }, 'guarded flags: look failed'));
        await this.d.clock.sleep(1000, ac.signal).catch(() => undefined);
      }
    })();
  }

  stop(): void {
    this.loop?.abort();
    this.loop = undefined;
  }

  private async audit(time: number, actor: string, action: string, target: string, reason: string, details: unknown): Promise<void> {
    await this.d.store.audit.append({ time, actor, action, target, reason, details });
  }

  private async notify(gf: GuardedFlag, kind: 'flag_off' | 'flag_held', title: string, body: string): Promise<void> {
    if (!this.d.notifier) return;
    const link = this.d.publicUrl ? `\n${this.d.publicUrl}/#/experiments` : '';
    await this.d.notifier
      .notify({
        kind,
        pipeline: this.d.pipeline ?? 'flags',
        ...(gf.config.owner ? { to: [gf.config.owner] } : {}),
        title,
        body: body + link,
      })
      .catch((err: unknown) => this.d.log.error({ err, flag: gf.config.name }, 'guarded flags: notification failed'));
  }
}
