// Virtual time: sleep() resolves as soon as every other task is waiting too, with the clock
// moved forward to the earliest wake-up. A 5-minute bake takes milliseconds.
import type { Clock } from '../ports.js';

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

export class VirtualClock implements Clock {
  private time: number;
  private timers: Timer[] = [];
  private seq = 0;
  private scheduled = false;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, resolve: () => undefined };
      const onAbort = () => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(signal!.reason);
      };
      timer.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.timers.push(timer);
      this.schedule();
    });
  }

  /** Move time forward by hand (tests), firing timers that fall due. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.earliest();
      if (!due || due.at > target) break;
      this.fire(due);
    }
    this.time = target;
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }

  private fire(t: Timer): void {
    this.timers = this.timers.filter((x) => x !== t);
    this.time = Math.max(this.time, t.at);
    t.resolve();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after pending I/O callbacks and microtasks: everyone else has had the
    // chance to go to sleep, so the earliest timer is the next thing that happens.
    setImmediate(() => {
      this.scheduled = false;
      const t = this.earliest();
      if (!t) return;
      this.fire(t);
      if (this.timers.length) this.schedule();
    });
  }
}
