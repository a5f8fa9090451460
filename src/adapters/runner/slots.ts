// The runner's worker slots: one per concurrent shard across the local and SSH workers, each with
// its own port range, handed out inside one p-limit so a run never holds more than there are.
import pLimit, { type LimitFunction } from 'p-limit';
import { PORT_BASE, PORTS_PER_SLOT, type ShardJob, type Slot } from './run-types.js';
import type { Worker } from './workspace.js';

export class SlotPool {
  readonly all: Slot[] = [];
  readonly free: Slot[];
  readonly limit: LimitFunction;
  /** There is more than one machine, so a re-run can go to another one. */
  readonly hasOtherWorker: boolean;

  constructor(readonly workers: Worker[]) {
    for (const w of workers)
      for (let i = 0; i < w.slots; i++)
        this.all.push({ index: this.all.length, worker: w, portBase: PORT_BASE + this.all.length * PORTS_PER_SLOT });
    this.free = [...this.all];
    this.limit = pLimit(this.all.length);
    this.hasOtherWorker = new Set(workers.map((w) => w.name)).size > 1;
  }

  /** Whether a re-run avoiding `avoid` is in the right place on `slot`: another machine where there is one, else another slot. */
  away(slot: Slot, avoid: NonNullable<ShardJob['avoid']>): boolean {
    return this.hasOtherWorker ? slot.worker.name !== avoid.worker : slot.index !== avoid.slot;
  }

  /** Take a free slot (inside the limit one always is), preferring one away from `avoid`. */
  take(avoid?: ShardJob['avoid']): Slot {
    let i = -1;
    if (avoid && this.hasOtherWorker) i = this.free.findIndex((s) => s.worker.name !== avoid.worker);
    if (i < 0 && avoid) i = this.free.findIndex((s) => s.index !== avoid.slot);
    if (i < 0) i = 0;
    return this.free.splice(i, 1)[0]!;
  }

  release(slot: Slot): void {
    this.free.push(slot);
  }
}
