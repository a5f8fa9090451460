// The judge on the caller's thread: deterministic and immediate, for the simulation, tests and
// `immune judge`-sized inputs. A look at 1,000 servers blocks the thread for hundreds of ms; the
// daemon uses the worker judge (worker.ts).
import { judgeGateLook, judgeWatchLook } from '../../core/rollout/look.js';
import type { Judge } from '../../ports.js';

export const inProcessJudge: Judge = {
  gate: async (look) => judgeGateLook(look),
  watch: async (look) => judgeWatchLook(look),
};
