// The Notifier the engine talks to: routes each notification to its targets, queues one item per
// target in the outbox (persisted, deduplicated by the notification's id) and returns; delivery
// happens in the background, per target in order, with retries, backoff, a rate limit and dead letters.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { routeFor, type DeliverySettings, type NotifyConfig } from '../../core/config/notify.js';
import type { Notification, NotificationOutbox, Notifier, OutboxItem } from '../../ports.js';
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

export interface TargetStatus {
  target: string;
  type: string;
  pending: number;
  delivered: number;
  dead: number;
  lastError?: string;
  lastErrorAt?: number;
  /** "slack: 3 failed, last 503 Service Unavailable" when something is dead. */
  summary: string;
}

export interface NotificationStatus {
  targets: TargetStatus[];
  dead: OutboxItem[];
}

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
  const now = o.now ?? Date.now;
  const log = o.log;
  const targets = new Map(o.targets.map((t) => [t.name, t]));
  const buckets = new Map(o.targets.map((t) => [t.name, new Bucket(t.delivery.rate_per_minute, now())]));
  const timers = new Map<string, NodeJS.Timeout>();
  const busy = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const inFlight = new Set<AbortController>();
  let running = false;
  let pruneTimer: NodeJS.Timeout | undefined;

  const registry = new Registry();
  const total = new Counter({
    name: 'immune_notifications_total',
    help: 'Notifications per target by outcome: delivered, retried (an attempt failed, will retry), dead (gave up), dropped (queue full), duplicate (already queued), skipped (not for this target)',
    labelNames: ['target', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'immune_notification_delivery_seconds',
    help: 'From the event to its delivery to the target, retries included',
    labelNames: ['target'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [registry],
  });
  for (const t of o.targets) for (const outcome of ['delivered', 'retried', 'dead', 'dropped']) total.inc({ target: t.name, outcome }, 0);

  const schedule = (target: string, ms: number) => {
    if (!running) return;
    const prev = timers.get(target);
    if (prev) clearTimeout(prev);
    const t = setTimeout(
      () => {
        timers.delete(target);
        kick(target);
      },
      Math.max(0, ms),
    );
    t.unref();
    timers.set(target, t);
  };

  const kick = (target: string): void => {
    if (!running) return;
    if (busy.has(target)) {
      // The running drain may already have looked at the queue: look again when it ends.
      again.add(target);
      return;
    }
    const p = drain(target)
      .catch((err: unknown) => {
        log.error({ target, err: (err as Error).message }, 'notification queue failed; retrying in 5s');
        schedule(target, 5000);
      })
      .finally(() => {
        busy.delete(target);
        if (again.delete(target)) kick(target);
      });
    busy.set(target, p);
  };

  const drain = async (name: string): Promise<void> => {
    const t = targets.get(name);
    if (!t) return;
    while (running) {
      const item = await o.outbox.head(name);
      if (!item) return;
      const at = now();
      if (item.nextAt > at) return schedule(name, item.nextAt - at);
      const wait = buckets.get(name)!.take(at);
      if (wait > 0) return schedule(name, wait);
      await attempt(t, item);
    }
  };

  const attempt = async (t: Target, item: OutboxItem): Promise<void> => {
    const ac = new AbortController();
    inFlight.add(ac);
    const timer = setTimeout(() => ac.abort(new DeliveryError(`timed out after ${t.delivery.timeout} ms`)), t.delivery.timeout);
    const started = now();
    try {
      const receipt = await t.sender.send(item.notification, { qualifier: item.qualifier, signal: ac.signal, now: started });
      const done = now();
      await o.outbox.delivered(item.id, done);
      total.inc({ target: t.name, outcome: 'delivered' });
      latency.observe({ target: t.name }, Math.max(0, done - (item.notification.time ?? item.createdAt)) / 1000);
      log.info(
        { target: t.name, notification: item.notification.kind, id: item.id, attempts: item.attempts + 1, receipt },
        'notification delivered',
      );
    } catch (err) {
      if (!running) return; // stopping: the item stays pending for the next start
      const e = err instanceof DeliveryError ? err : new DeliveryError((err as Error).message);
      const attempts = item.attempts + 1;
      const dead = !e.retry || attempts >= t.delivery.attempts;
      const at = now();
      const wait = Math.max(backoffMs(t.delivery, attempts, Math.random()), (e.retryAfter ?? 0) * 1000);
      await o.outbox.failed(item.id, { attempts, nextAt: at + wait, error: e.message, at, dead });
      total.inc({ target: t.name, outcome: dead ? 'dead' : 'retried' });
      const fields = { target: t.name, notification: item.notification.kind, id: item.id, attempts, err: e.message };
      if (dead) log.error(fields, `notification to ${t.name} failed ${attempts} time(s); moved to the dead letters`);
      else log.warn({ ...fields, retryInMs: wait }, 'notification delivery failed; will retry');
    } finally {
      clearTimeout(timer);
      inFlight.delete(ac);
    }
  };

  const notifier: QueuedNotifier = {
    registry,
    async notify(n: Notification) {
      await o.tap?.notify(n).catch(() => undefined);
      const at = now();
      const full: Notification = {
        ...n,
        id: n.id ?? `${n.pipeline}:${n.kind}:${at}:${randomBytes(3).toString('hex')}`,
        time: n.time ?? at,
      };
      for (const ref of routeFor(n.kind, o.config, o.onRegression)) {
        const t = targets.get(ref.target);
        if (!t) continue;
        if (t.sender.accepts && !t.sender.accepts(full, ref.qualifier)) {
          total.inc({ target: t.name, outcome: 'skipped' });
          continue;
        }
        const id = `${full.id}>${ref.target}${ref.qualifier ? `:${ref.qualifier}` : ''}`;
        const res = await o.outbox.enqueue(
          { id, target: t.name, qualifier: ref.qualifier, notification: full, createdAt: at, nextAt: at },
          t.delivery.queue_max,
        );
        if (res === 'added') kick(t.name);
        else if (res === 'full') {
          total.inc({ target: t.name, outcome: 'dropped' });
          log.error(
            { target: t.name, id },
            `notification queue for ${t.name} is full (${t.delivery.queue_max}); dropped to the dead letters`,
          );
        } else total.inc({ target: t.name, outcome: 'duplicate' });
      }
    },
    start() {
      if (running) return;
      running = true;
      const keep = o.keepMs ?? 7 * 86_400_000;
      const prune = () =>
        o.outbox.prune(now() - keep).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'notification outbox prune failed'));
      void prune();
      pruneTimer = setInterval(prune, 3_600_000);
      pruneTimer.unref();
      for (const name of targets.keys()) kick(name);
    },
    async stop() {
      running = false;
      if (pruneTimer) clearInterval(pruneTimer);
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      for (const ac of inFlight) ac.abort(new Error('notifier stopping'));
      await Promise.allSettled([...busy.values()]);
      await Promise.allSettled(o.targets.map((t) => t.sender.close?.()));
    },
    async status(opts = {}) {
      const summary = new Map((await o.outbox.summary()).map((s) => [s.target, s]));
      const list: TargetStatus[] = o.targets.map((t) => {
        const s = summary.get(t.name) ?? { target: t.name, pending: 0, delivered: 0, dead: 0 };
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
      });
      return { targets: list, dead: await o.outbox.list({ state: 'dead', limit: opts.limit ?? 50 }) };
    },
    async retry(id: string) {
      const ok = await o.outbox.retry(id, now());
      const item = ok ? (await o.outbox.list({ limit: 1000 })).find((i) => i.id === id) : undefined;
      if (item) kick(item.target);
      return ok;
    },
    async settled(timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        let due = false;
        for (const name of targets.keys()) {
          const head = await o.outbox.head(name);
          if (head && head.nextAt <= now() + 50) due = true;
        }
        if (!due && busy.size === 0) return;
        if (Date.now() > until) throw new Error('notifications did not settle in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  return notifier;
}
