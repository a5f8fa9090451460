// Samples every server of the fleet each interval and keeps a window of ticks: the gate reads
// canary and baseline from it, the watch reads the fleet's own past from it. Each server's
// sample records the release it ran and since when, so that a server's own past is only ever
// read from intervals on the release in question, after its warm-up.
import type { Logger } from 'pino';
import type { Clock, Fleet, MetricsSource, Server } from '../ports.js';
import type { Tick } from '../core/rollout/samples.js';

export class Sampler {
  private ticks: Tick[] = [];
  private pinned: Tick[] = [];
  private waiters: Array<() => void> = [];
  private stopped = false;
  private readonly ac = new AbortController();
  private loop: Promise<void> | undefined;
  /** Per server: the release it runs and when it started it (as far as this process knows). */
  private readonly releases = new Map<string, { release: string; since: number }>();
  private releasesRead = false;

  constructor(
    private readonly deps: { fleet: Fleet; metrics: MetricsSource; clock: Clock; log: Logger },
    private readonly intervalMs: number,
    /** How much history to keep. */
    private readonly keepMs: number,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ac.abort();
    this.wake();
    await this.loop?.catch(() => undefined);
  }

  /** When this process's first kept tick was taken (undefined before the first). */
  get firstTickAt(): number | undefined {
    return this.ticks[0]?.time;
  }

  get all(): Tick[] {
    if (!this.pinned.length) return this.ticks;
    const first = this.ticks[0]?.time ?? Infinity;
    return [...this.pinned.filter((t) => t.time < first), ...this.ticks];
  }

  /** Ticks from before this process (a deploy's pre-rollout window, read back after a restart); kept until replaced. */
  pin(ticks: Tick[]): void {
    this.pinned = [...ticks].sort((a, b) => a.time - b.time);
  }

  /** The engine switched a server to a release (a deploy step or a rollback): intervals from now on are on it. */
  activated(server: string, release: string): void {
    this.releases.set(server, { release, since: this.deps.clock.now() });
  }

  /** When this process saw the server start its current release (-Infinity: before it started; undefined: unknown). */
  since(server: string): number | undefined {
    return this.releases.get(server)?.since;
  }

  /** What each server runs, read once from the fleet (a server already running when this process started counts as long running). */
  private async readReleases(servers: Server[]): Promise<void> {
    if (this.releasesRead) return;
    this.releasesRead = true;
    await Promise.all(
      servers.map(async (s) => {
        const release = await this.deps.fleet.release(s, this.ac.signal).catch(() => undefined);
        if (release && !this.releases.has(s.id)) this.releases.set(s.id, { release, since: -Infinity });
      }),
    );
  }

  /** Resolves at the next tick (or when stopped / aborted). */
  nextTick(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async run(): Promise<void> {
    let servers: Server[] = [];
    while (!this.stopped) {
      const started = this.deps.clock.now();
      try {
        servers = await this.deps.fleet.servers();
        await this.readReleases(servers);
        const raw = await this.deps.metrics.sample(servers, this.intervalMs, this.ac.signal);
        const time = this.deps.clock.now();
        const samples = raw.map((x) => {
          const r = this.releases.get(x.server);
          return r ? { ...x, release: r.release, since: r.since } : x;
        });
        this.ticks.push({ time, samples });
        const horizon = time - this.keepMs;
        while (this.ticks.length && this.ticks[0]!.time < horizon) this.ticks.shift();
      } catch (err) {
        if (this.stopped) break;
        this.deps.log.warn({ err: (err as Error).message }, 'metrics sample failed');
      }
      this.wake();
      const wait = Math.max(0, this.intervalMs - (this.deps.clock.now() - started));
      await this.deps.clock.sleep(wait, this.ac.signal).catch(() => undefined);
    }
  }
}
