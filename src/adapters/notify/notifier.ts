// The Notifier the engine talks to: routes each notification to its targets, queues one item per
// target in the outbox (persisted, deduplicated by the notification's id) and returns; delivery
// happens in the background, per target in order, with retries, backoff, a rate limit and dead letters.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Counter, Histogram, Registry } from 'prom-client';
import { ownMetrics } from '../../telemetry.js';
import { routeFor, type DeliverySettings, type NotifyConfig, type TargetRef } from '../../core/config/notify.js';
import type {
  Notification,
  NotificationOutbox,
  NotificationStatus,
  NotificationTargetStatus,
  Notifier,
  OutboxItem,
  OutboxTargetCounts,
} from '../../ports.js';
import { DeliveryError, type Sender } from './sender.js';

export interface Target {
  name: string;
  sender: Sender;
  delivery: DeliverySettings;
}

export interface QueuedNotifierOptions {
  config: NotifyConfig | undefined;
  /** on_regression.notify: targets that hear every regression. */
  onRegression?: string[];
  targets: Target[];
  outbox: NotificationOutbox;
  log: Logger;
  /** Also told everything, synchronously (the console's log line). */
  tap?: Notifier;
  now?: () => number;
  /** Delivered and dead items are kept this long (their ids dedup replays); default 7 days. */
  keepMs?: number;
}

/** The status types live in ports.ts: the server and the CLI read them too. */
export type { NotificationStatus, NotificationTargetStatus as TargetStatus } from '../../ports.js';

export interface QueuedNotifier extends Notifier {
  /** Start delivering (what a previous run left pending too). */
  start(): void;
  /** Stop delivering; an attempt in progress is abandoned and stays pending. */
  stop(): Promise<void>;
  status(opts?: { limit?: number }): Promise<NotificationStatus>;
  /** A dead letter back in its queue. */
  retry(id: string): Promise<boolean>;
  /** Resolves when no target has anything due (tests, `notify test`). */
  settled(timeoutMs?: number): Promise<void>;
  readonly registry: Registry;
}

/** A token bucket: `perMinute` deliveries a minute, up to that many at once after a quiet spell. */
class Bucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly perMinute: number,
    now: number,
  ) {
    this.tokens = perMinute;
    this.at = now;
  }
  /** 0 when a token was taken, else ms until one is available. */
  take(now: number): number {
    this.tokens = Math.min(this.perMinute, this.tokens + ((now - this.at) * this.perMinute) / 60_000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute);
  }
}

export function backoffMs(d: DeliverySettings, attempts: number, random: number): number {
  const base = Math.min(d.max_backoff, d.backoff * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random));
}

export function createQueuedNotifier(o: QueuedNotifierOptions): QueuedNotifier {
  return new OutboxNotifier(o);
}

/** The notifier's own metrics, in their own registry: outcomes per target and delivery latency. */
function notifierMetrics(targets: Target[]) {
  const m = ownMetrics();
  const total = m.counter(
    'immune_notifications_total',
    'Notifications per target by outcome: delivered, retried (an attempt failed, will retry), dead (gave up), dropped (queue full), duplicate (already queued), skipped (not for this target)',
    { target: targets.map((t) => t.name), outcome: ['delivered', 'retried', 'dead', 'dropped'] },
  );
  const latency = m.histogram(
    'immune_notification_delivery_seconds',
    'From the event to its delivery to the target, retries included',
    ['target'],
    [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  );
  return { registry: m.registry, total, latency };
}

/** One queue per target in the outbox, drained in order by at most one loop per target. */
class OutboxNotifier implements QueuedNotifier {
  readonly registry: Registry;
  private readonly total: Counter<'target' | 'outcome'>;
  private readonly latency: Histogram<'target'>;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly targets: Map<string, Target>;
  private readonly buckets: Map<string, Bucket>;
  /** A target's next drain, when its head is not due yet or its rate limit is spent. */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** A target's running drain. */
  private readonly busy = new Map<string, Promise<void>>();
  /** Targets kicked while their drain ran: drained again when it ends. */
  private readonly again = new Set<string>();
  private readonly inFlight = new Set<AbortController>();
  private running = false;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: QueuedNotifierOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.log;
    this.targets = new Map(o.targets.map((t) => [t.name, t]));
    this.buckets = new Map(o.targets.map((t) => [t.name, new Bucket(t.delivery.rate_per_minute, this.now())]));
    ({ registry: this.registry, total: this.total, latency: this.latency } = notifierMetrics(o.targets));
  }

  async notify(n: Notification): Promise<void> {
    await this.o.tap?.notify(n).catch(() => undefined);
    const at = this.now();
    const full: Notification = {
      ...n,
      id: n.id ?? `${n.pipeline}:${n.kind}:${at}:${randomBytes(3).toString('hex')}`,
      time: n.time ?? at,
    };
    for (const ref of routeFor(n.kind, this.o.config, this.o.onRegression)) {
      const t = this.targets.get(ref.target);
      if (t) await this.enqueue(t, ref, full, at);
    }
  }

  /** One item for one target in the outbox (unless the target's sender declines it), and its queue kicked. */
  private async enqueue(t: Target, ref: TargetRef, full: Notification, at: number): Promise<void> {
    if (t.sender.accepts && !t.sender.accepts(full, ref.qualifier)) {
      this.total.inc({ target: t.name, outcome: 'skipped' });
      return;
    }
    const id = `${full.id}>${ref.target}${ref.qualifier ? `:${ref.qualifier}` : ''}`;
    const res = await this.o.outbox.enqueue(
      { id, target: t.name, qualifier: ref.qualifier, notification: full, createdAt: at, nextAt: at },
      t.delivery.queue_max,
    );
    if (res === 'added') this.kick(t.name);
    else if (res === 'full') {
      this.total.inc({ target: t.name, outcome: 'dropped' });
      this.log.error(
        { target: t.name, id },
        `notification queue for ${t.name} is full (${t.delivery.queue_max}); dropped to the dead letters`,
      );
    } else this.total.inc({ target: t.name, outcome: 'duplicate' });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const keep = this.o.keepMs ?? 7 * 86_400_000;
    const prune = () =>
      this.o.outbox
        .prune(this.now() - keep)
        .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'notification outbox prune failed'));
    void prune();
    this.pruneTimer = setInterval(prune, 3_600_000);
    this.pruneTimer.unref();
    for (const name of this.targets.keys()) this.kick(name);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const ac of this.inFlight) ac.abort(new Error('notifier stopping'));
    await Promise.allSettled([...this.busy.values()]);
    await Promise.allSettled(this.o.targets.map((t) => t.sender.close?.()));
  }

  async status(opts: { limit?: number } = {}): Promise<NotificationStatus> {
    const summary = new Map((await this.o.outbox.summary()).map((s) => [s.target, s]));
    const list = this.o.targets.map((t) => targetStatus(t, summary.get(t.name) ?? { target: t.name, pending: 0, delivered: 0, dead: 0 }));
    return { targets: list, dead: await this.o.outbox.list({ state: 'dead', limit: opts.limit ?? 50 }) };
  }

  async retry(id: string): Promise<boolean> {
    const ok = await this.o.outbox.retry(id, this.now());
    const item = ok ? (await this.o.outbox.list({ limit: 1000 })).find((i) => i.id === id) : undefined;
    if (item) this.kick(item.target);
    return ok;
  }

  async settled(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (!(await this.anyDue()) && this.busy.size === 0) return;
      if (Date.now() > until) throw new Error('notifications did not settle in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Whether some target's head item is due (within 50 ms). */
  private async anyDue(): Promise<boolean> {
    let due = false;
    for (const name of this.targets.keys()) {
      const head = await this.o.outbox.head(name);
      if (head && head.nextAt <= this.now() + 50) due = true;
    }
    return due;
  }

  /** Drain `target` again in `ms` (one timer per target, the latest wins). */
  private schedule(target: string, ms: number): void {
    if (!this.running) return;
    const prev = this.timers.get(target);
    if (prev) clearTimeout(prev);
    const t = setTimeout(
      () => {
        this.timers.delete(target);
        this.kick(target);
      },
      Math.max(0, ms),
    );
    t.unref();
    this.timers.set(target, t);
  }

  /** Start draining `target`, or, while a drain runs, have it drained once more when it ends. */
  private kick(target: string): void {
    if (!this.running) return;
    if (this.busy.has(target)) {
      // The running drain may already have looked at the queue: look again when it ends.
      this.again.add(target);
      return;
    }
    const p = this.drain(target)
      .catch((err: unknown) => {
        this.log.error({ target, err: (err as Error).message }, 'notification queue failed; retrying in 5s');
        this.schedule(target, 5000);
      })
      .finally(() => {
        this.busy.delete(target);
        if (this.again.delete(target)) this.kick(target);
      });
    this.busy.set(target, p);
  }

  /** Deliver the target's due items in order, until its queue is empty, not due yet, or rate limited. */
  private async drain(name: string): Promise<void> {
    const t = this.targets.get(name);
    if (!t) return;
    while (this.running) {
      const item = await this.o.outbox.head(name);
      if (!item) return;
      const at = this.now();
      if (item.nextAt > at) return this.schedule(name, item.nextAt - at);
      const wait = this.buckets.get(name)!.take(at);
      if (wait > 0) return this.schedule(name, wait);
      await this.attempt(t, item);
    }
  }

  /** One delivery attempt, bounded by the target's timeout and abandoned (left pending) on stop. */
  private async attempt(t: Target, item: OutboxItem): Promise<void> {
    const ac = new AbortController();
    this.inFlight.add(ac);
    const timer = setTimeout(() => ac.abort(new DeliveryError(`timed out after ${t.delivery.timeout} ms`)), t.delivery.timeout);
    const started = this.now();
    try {
      const receipt = await t.sender.send(item.notification, { qualifier: item.qualifier, signal: ac.signal, now: started });
      await this.delivered(t, item, receipt);
    } catch (err) {
      if (!this.running) return; // stopping: the item stays pending for the next start
      await this.failed(t, item, err);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(ac);
    }
  }

  private async delivered(t: Target, item: OutboxItem, receipt: string): Promise<void> {
    const done = this.now();
    await this.o.outbox.delivered(item.id, done);
    this.total.inc({ target: t.name, outcome: 'delivered' });
    this.latency.observe({ target: t.name }, Math.max(0, done - (item.notification.time ?? item.createdAt)) / 1000);
    this.log.info(
      { target: t.name, notification: item.notification.kind, id: item.id, attempts: item.attempts + 1, receipt },
      'notification delivered',
    );
  }

  /** A failed attempt: retried after a backoff (or the receiver's Retry-After), or a dead letter. */
  private async failed(t: Target, item: OutboxItem, err: unknown): Promise<void> {
    const e = err instanceof DeliveryError ? err : new DeliveryError((err as Error).message);
    const attempts = item.attempts + 1;
    const dead = !e.retry || attempts >= t.delivery.attempts;
    const at = this.now();
    const wait = Math.max(backoffMs(t.delivery, attempts, Math.random()), (e.retryAfter ?? 0) * 1000);
    await this.o.outbox.failed(item.id, { attempts, nextAt: at + wait, error: e.message, at, dead });
    this.total.inc({ target: t.name, outcome: dead ? 'dead' : 'retried' });
    const fields = { target: t.name, notification: item.notification.kind, id: item.id, attempts, err: e.message };
    if (dead) this.log.error(fields, `notification to ${t.name} failed ${attempts} time(s); moved to the dead letters`);
    else this.log.warn({ ...fields, retryInMs: wait }, 'notification delivery failed; will retry');
  }
}

/** A target's queue as the API and `immune notify status` show it. */
function targetStatus(t: Target, s: OutboxTargetCounts): NotificationTargetStatus {
  const last = s.lastError ? `, last ${s.lastError}` : '';
  const text = s.dead ? `${t.name}: ${s.dead} failed${last}` : s.pending ? `${t.name}: ${s.pending} pending${last}` : `${t.name}: ok`;
  return {
    target: t.name,
    type: t.sender.type,
    pending: s.pending,
    delivered: s.delivered,
    dead: s.dead,
    lastError: s.lastError,
    lastErrorAt: s.lastErrorAt,
    summary: text,
  };
}
