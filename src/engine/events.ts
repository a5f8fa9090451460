// The engine's one typed event stream: it feeds the store's audit, SSE, notifications and metrics.
import { EventEmitter } from 'node:events';

export type LineEvent =
  | { type: 'line'; pipeline: string; blocked: boolean; paused: boolean; reason?: string }
  | { type: 'queued'; pipeline: string; shas: string[] }
  | { type: 'deploy'; pipeline: string; deploy: string; status: string; step?: number; servers?: number; of?: number; message: string }
  | {
      type: 'tests';
      pipeline: string;
      deploy: string;
      shardsDone: number;
      shardsTotal: number;
      passed: number;
      failed: number;
      etaMs?: number;
    }
  | { type: 'gate'; pipeline: string; deploy: string; step: number; elapsedMs: number; decision: string; explanation: string }
  | { type: 'experiment'; name: string; action: string }
  /** A guarded flag rollout: started, moved a step, held, turned off, completed, or unblocked by a person. */
  | {
      type: 'flag';
      name: string;
      action: 'start' | 'step' | 'held' | 'off' | 'complete' | 'unblock';
      step: number;
      share: number;
      reason?: string;
    }
  | { type: 'audit'; actor: string; action: string; target: string; reason: string };

export class EventBus {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(1000);
  }
  emit(e: LineEvent): void {
    this.emitter.emit('event', { ...e, time: Date.now() });
  }
  on(fn: (e: LineEvent & { time: number }) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
