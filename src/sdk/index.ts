// What an application imports to take part in experiments: branches and flags from immune's
// Unleash client API (through the real unleash-client), exposures recorded once per user, and
// conversions; events are batched to POST /api/events with retry and a bounded buffer.
import { randomUUID } from 'node:crypto';
import { InMemStorageProvider, Unleash } from 'unleash-client';

export interface ExperimentsClientOptions {
  /** Base URL of `immune serve`, e.g. http://127.0.0.1:7070. */
  url: string;
  /** One of the server's client tokens. */
  clientToken: string;
  appName: string;
  instanceId?: string;
  /** How often features are fetched (ms); default 15000. */
  refreshInterval?: number;
  /** How often buffered events are sent (ms); default 1000. */
  flushInterval?: number;
  /** Events kept while the server cannot be reached; past it new events are dropped, counted and logged. Default 10000. */
  maxBuffer?: number;
  /** How long ready() waits for the first features (ms); default 10000. */
  readyTimeout?: number;
  /** How long close() keeps retrying to send what is buffered (ms); default 5000. */
  closeTimeout?: number;
  /** Who sends the events, as the readout names its sources (default "immune-sdk"). */
  source?: string;
  /** pino-compatible; default: warnings and errors to stderr. */
  logger?: SdkLogger;
}

export interface SdkLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ExperimentsClient {
  /** Resolves once features have been fetched from the server. */
  ready(): Promise<void>;
  /** The user's branch (control when not taking part); records the exposure once per user and phase. */
  branchFor(experiment: string, userId: string): string;
  /** Record that `userId` saw `branch` of an experiment's phase (`groupId`), once per user and phase (branchFor does this itself). */
  expose(experiment: string, groupId: string, branch: string, userId: string): void;
  isEnabled(flag: string, userId?: string): boolean;
  /** A conversion on `goal` (or a guardrail event such as error_rate), with an optional value (revenue). */
  track(userId: string, goal: string, value?: number): void;
  /** Send what is buffered; rejects when the server could not take it (events stay buffered). */
  flush(): Promise<void>;
  /** Flush (retrying for up to closeTimeout) and stop; what is still unsent then counts as dropped. */
  close(): Promise<void>;
  /** Events dropped because the buffer was full or the server refused them. */
  readonly dropped: number;
  /** Events waiting to be sent. */
  readonly buffered: number;
  /** The underlying unleash-client, for full Unleash contexts. */
  readonly unleash: Unleash;
}

type SdkEvent =
  | { type: 'exposure'; experiment: string; groupId: string; branch: string; userId: string; time: number }
  | { type: 'conversion'; id: string; userId: string; goal: string; value?: number; time: number };

/** Events per POST. */
const BATCH = 500;
/** Remembered exposures (experiment, phase, user) so each is sent once; the server deduplicates past it. */
const SEEN_LIMIT = 100_000;

const stderrLogger: SdkLogger = {
  warn: (obj, msg) => process.stderr.write(`immune-sdk warn: ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`immune-sdk error: ${msg} ${JSON.stringify(obj)}\n`),
};

class Client implements ExperimentsClient {
  readonly unleash: Unleash;
  private readonly buffer: SdkEvent[] = [];
  private readonly seen = new Map<string, true>();
  private readonly log: SdkLogger;
  private readonly maxBuffer: number;
  private readonly eventsUrl: string;
  private readonly token: string;
  private readonly source: string;
  private readonly synced: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private readonly readyTimeout: number;
  private readonly closeTimeout: number;
  private sending: Promise<void> | undefined;
  private failures = 0;
  private nextAttempt = 0;
  private droppedCount = 0;
  private closed = false;
  private lastError: string | undefined;

  constructor(o: ExperimentsClientOptions) {
    const base = o.url.replace(/\/+$/, '');
    this.log = o.logger ?? stderrLogger;
    this.maxBuffer = o.maxBuffer ?? 10_000;
    this.eventsUrl = `${base}/api/events`;
    this.token = o.clientToken;
    this.source = o.source ?? 'immune-sdk';
    this.readyTimeout = o.readyTimeout ?? 10_000;
    this.closeTimeout = o.closeTimeout ?? 5000;
    this.unleash = new Unleash({
      url: `${base}/api/`,
      appName: o.appName,
      ...(o.instanceId ? { instanceId: o.instanceId } : {}),
      refreshInterval: o.refreshInterval ?? 15_000,
      metricsInterval: 60_000,
      customHeaders: { Authorization: o.clientToken },
      // No backup file: a stale copy from another run must never decide branches.
      storageProvider: new InMemStorageProvider(),
    });
    this.unleash.on('error', (err: Error) => {
      if (err.message !== this.lastError) this.log.warn({ err: err.message }, 'unleash-client error');
      this.lastError = err.message;
    });
    this.unleash.on('warn', (msg: string) => this.log.warn({ msg }, 'unleash-client warning'));
    this.synced = new Promise((resolve) => this.unleash.once('synchronized', () => resolve()));
    this.synced.catch(() => undefined);
    this.timer = setInterval(() => {
      if (this.buffer.length && Date.now() >= this.nextAttempt) this.flush().catch(() => undefined);
    }, o.flushInterval ?? 1000);
    this.timer.unref();
  }

  get dropped(): number {
    return this.droppedCount;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  async ready(): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(
        () =>
          reject(
            new Error(
              `immune-sdk: no features from the server within ${this.readyTimeout} ms${this.lastError ? ` (${this.lastError})` : ''}`,
            ),
          ),
        this.readyTimeout,
      );
    });
    try {
      await Promise.race([this.synced, timeout]);
    } finally {
      clearTimeout(t);
    }
  }

  branchFor(experiment: string, userId: string): string {
    const def = this.unleash.getFeatureToggleDefinition(experiment);
    const strategy = def?.strategies?.[0];
    const control = strategy?.variants?.[0]?.name ?? 'control';
    const v = this.unleash.getVariant(experiment, { userId });
    if (!v.enabled) return control;
    const groupId: unknown = strategy?.parameters?.groupId;
    // stale marks a closed experiment: everyone gets the chosen branch and nothing is measured.
    if (typeof groupId === 'string' && groupId && !def?.stale) this.expose(experiment, groupId, v.name, userId);
    return v.name;
  }

  expose(experiment: string, groupId: string, branch: string, userId: string): void {
    const key = `${experiment}\u0000${groupId}\u0000${userId}`;
    if (this.seen.has(key)) return;
    if (this.seen.size >= SEEN_LIMIT) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, true);
    this.push({ type: 'exposure', experiment, groupId, branch, userId, time: Date.now() });
  }

  isEnabled(flag: string, userId?: string): boolean {
    return this.unleash.isEnabled(flag, userId === undefined ? {} : { userId });
  }

  track(userId: string, goal: string, value?: number): void {
    this.push({
      type: 'conversion',
      id: randomUUID(),
      userId,
      goal,
      ...(value === undefined || !Number.isFinite(value) ? {} : { value }),
      time: Date.now(),
    });
  }

  private push(e: SdkEvent): void {
    if (this.closed) return;
    if (this.buffer.length >= this.maxBuffer) {
      this.droppedCount++;
      if (this.droppedCount === 1 || this.droppedCount % 1000 === 0)
        this.log.warn({ dropped: this.droppedCount, maxBuffer: this.maxBuffer }, 'event buffer full: dropping events');
      return;
    }
    this.buffer.push(e);
  }

  flush(): Promise<void> {
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.slice(0, BATCH);
      let res: Response;
      try {
        res = await fetch(this.eventsUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: this.token },
          body: JSON.stringify({ source: this.source, events: batch }),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (err) {
        this.backoff();
        throw new Error(`immune-sdk: cannot send events (${(err as Error).message}); ${this.buffer.length} kept for retry`);
      }
      if (res.status >= 500 || res.status === 429 || res.status === 408) {
        await res.body?.cancel();
        this.backoff();
        throw new Error(`immune-sdk: server answered ${res.status}; ${this.buffer.length} events kept for retry`);
      }
      this.buffer.splice(0, batch.length);
      this.failures = 0;
      this.nextAttempt = 0;
      if (!res.ok) {
        // The server refuses these events as such (bad token, bad body): retrying cannot help.
        const text = await res.text().catch(() => '');
        this.droppedCount += batch.length;
        this.log.error({ status: res.status, body: text.slice(0, 500), dropped: batch.length }, 'server refused events');
      } else await res.body?.cancel();
    }
  }

  private backoff(): void {
    this.failures++;
    this.nextAttempt = Date.now() + Math.min(10_000, 100 * 2 ** Math.min(this.failures, 7));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const deadline = Date.now() + this.closeTimeout;
    while (this.buffer.length && Date.now() < deadline) {
      try {
        await this.flush();
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
      }
    }
    if (this.buffer.length) {
      this.droppedCount += this.buffer.length;
      this.log.error({ dropped: this.buffer.length }, 'closing with events the server did not take');
      this.buffer.length = 0;
    }
    this.unleash.destroy();
  }
}

export function createExperimentsClient(options: ExperimentsClientOptions): ExperimentsClient {
  return new Client(options);
}
