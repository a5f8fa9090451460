// The cluster immune system's statistics: the gate at each rollout step, the watch after 100%,
// and the one-off judgment behind `immune judge`. Pure functions of the samples.
export { judgeGate, type GateOptions } from './gate.js';
export { judgeWatch } from './watch.js';
export { judgeFixed } from './fixed.js';
export type * from './types.js';
