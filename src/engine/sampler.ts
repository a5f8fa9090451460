// Samples every server of the fleet each interval and keeps a window of ticks: the gate reads
// canary and baseline from it, the watch reads the fleet's own past from it.
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

  get all(): Tick[] {
    if (!this.pinned.length) return this.ticks;
    const first = this.ticks[0]?.time ?? Infinity;
    return [...this.pinned.filter((t) => t.time < first), ...this.ticks];
  }

  /** Ticks from before this process (a deploy's pre-rollout window, read back after a restart); kept until replaced. */
  pin(ticks: Tick[]): void {
    this.pinned = [...ticks].sort((a, b) => a.time - b.time);
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
        const samples = await this.deps.metrics.sample(servers, this.intervalMs, this.ac.signal);
        const time = this.deps.clock.now();
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
