// A run's progress as the engine and the terminal see it: shards done of planned, tests passed and
// failed so far, and the time left (the queue's makespan from what is queued and in flight).
import { etaMs } from '../../core/tests/shard-plan.js';
import { queueMakespan, type WorkUnit } from '../../core/tests/work-queue.js';
import type { TestCaseResult, TestProgress } from '../../ports.js';

/** One runner process (shard or warm runner): its estimate, counted down as its tests report. */
export interface ShardTrack {
  estimateMs: number;
  startedAt?: number;
  done: boolean;
}

export class RunProgress {
  readonly track: ShardTrack[] = [];
  readonly inFlight = new Map<WorkUnit, number>();
  /** Runner processes the plan expects that have not started yet. */
  plannedLeft = 0;
  laneCount = 0;
  passed = 0;
  failing = 0;

  constructor(
    private readonly queue: WorkUnit[],
    private readonly isStatic: boolean,
    private readonly onProgress?: (p: TestProgress) => void,
  ) {}

  report(): void {
    this.onProgress?.({
      shardsDone: this.track.filter((t) => t.done).length,
      shardsTotal: this.track.length + this.plannedLeft,
      passed: this.passed,
      failed: this.failing,
      etaMs: this.isStatic ? etaMs(this.track, Date.now()) : this.queueEta(),
    });
  }

  count(r: TestCaseResult): void {
    if (r.state === 'passed') this.passed++;
    if (r.state === 'failed') this.failing++;
    this.report();
  }

  /** A failure that passed on a re-run: flaky, not failing. */
  flaked(): void {
    this.failing = Math.max(0, this.failing - 1);
    this.passed++;
  }

  newShard(planned: boolean): ShardTrack {
    const t: ShardTrack = { estimateMs: 0, startedAt: Date.now(), done: false };
    this.track.push(t);
    if (planned && this.plannedLeft > 0) this.plannedLeft--;
    return t;
  }

  private queueEta(): number {
    const now = Date.now();
    return queueMakespan(
      this.queue.map((u) => u.estimateMs),
      this.laneCount,
      [...this.inFlight].map(([u, t]) => u.estimateMs - (now - t)),
    );
  }
}
