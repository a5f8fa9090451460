// One look of a gate or the watch as the engine asks for it: the sampler's ticks and which of them
// each side reads, plus the bake's facts. Building the series belongs to the look, so that a judge
// off the engine's thread builds them there too (at 1,000 servers they cost as much as the statistics).
import { judgeGate } from '../judge/gate.js';
import { judgeWatch } from '../judge/watch.js';
import type { GateInput, GateResult, WatchInput } from '../judge/types.js';
import { toSeries, type HistoryWindow, type SeriesSide, type SeriesSpec, type Tick } from './samples.js';

/** What toSeries is asked: the ticks (never changed once taken) and the two sides, with each server's own past. */
export interface SamplesRequest {
  specs: SeriesSpec[];
  ticks: readonly Tick[];
  sides: { baseline: SeriesSide; canary: SeriesSide };
  history?: HistoryWindow;
}

export type GateLook = Omit<GateInput, 'metrics'> & { samples: SamplesRequest };
export type WatchLook = Omit<WatchInput, 'metrics'> & { samples: SamplesRequest };

export function seriesOf(r: SamplesRequest): GateInput['metrics'] {
  return toSeries(r.specs, r.ticks, r.sides, r.history);
}

/** The ticks some side (or the history window) reads: all a judge elsewhere needs of the sampler's window. */
export function ticksRead(r: SamplesRequest): Tick[] {
  const ranges = [r.sides.baseline, r.sides.canary, ...(r.history && r.history.to > r.history.from ? [r.history] : [])];
  return r.ticks.filter((t) => ranges.some((x) => t.time > x.from && t.time <= x.to));
}

export function judgeGateLook({ samples, ...rest }: GateLook): GateResult {
  return judgeGate({ ...rest, metrics: seriesOf(samples) });
}

export function judgeWatchLook({ samples, ...rest }: WatchLook): GateResult {
  return judgeWatch({ ...rest, metrics: seriesOf(samples) });
}
