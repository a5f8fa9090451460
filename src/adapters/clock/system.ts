// Wall-clock time for real runs (the simulation has its own virtual clock).
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../../ports.js';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};
