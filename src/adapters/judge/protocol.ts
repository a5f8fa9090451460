// What the engine's thread and the judge's worker say to each other. The ticks travel once: each
// request adds the ticks the worker does not hold yet and names the ones this look reads; the
// worker drops the rest, so both sides agree on what it holds as long as messages arrive in order.
import type { GateResult } from '../../core/judge/types.js';
import type { GateLook, SamplesRequest, WatchLook } from '../../core/rollout/look.js';
import type { Tick } from '../../core/rollout/samples.js';

type WithoutTicks<L extends { samples: SamplesRequest }> = Omit<L, 'samples'> & { samples: Omit<SamplesRequest, 'ticks'> };

export type JudgeRequest = {
  id: number;
  /** The ids of the ticks this look reads, oldest first. */
  ticks: number[];
  /** Ticks the worker does not hold yet, by id. */
  add: [number, Tick][];
} & ({ kind: 'gate'; look: WithoutTicks<GateLook> } | { kind: 'watch'; look: WithoutTicks<WatchLook> });

/** Ticks ahead of a look that needs many (sent a few at a time so that the engine's thread never stops long); no reply. */
export interface JudgeHold {
  kind: 'hold';
  add: [number, Tick][];
}

export type JudgeMessage = JudgeRequest | JudgeHold;

export type JudgeReply = { id: number; ok: true; result: GateResult } | { id: number; ok: false; error: string };
