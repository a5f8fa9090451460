// Small builders for judge inputs in tests.
import type { GateInput, MetricSeries, Sample } from '../../../../src/core/judge/types.js';

export function series(
  name: string,
  kind: MetricSeries['kind'],
  baseline: Sample[][],
  canary: Sample[][],
  extra: Partial<MetricSeries> = {},
): MetricSeries {
  return { name, kind, bad: 'increase', tolerance: 0.1, baseline, canary, ...extra };
}

/** `servers` rows of `intervals` samples from f(server, interval). */
export function grid<T extends Sample>(servers: number, intervals: number, f: (s: number, t: number) => T): T[][] {
  return Array.from({ length: servers }, (_, s) => Array.from({ length: intervals }, (_, t) => f(s, t)));
}

export function gate(metrics: MetricSeries[], over: Partial<GateInput> = {}): GateInput {
  return {
    alpha: 0.01,
    metrics,
    elapsedMs: 20_000,
    minBakeMs: 15_000,
    maxBakeMs: 60_000,
    onInconclusive: 'rollback',
    unresponsive: [],
    ...over,
  };
}

/** Deterministic wobble in [-1, 1] so tests need no random source. */
export function wobble(s: number, t: number, k = 1): number {
  return Math.sin(1.7 * s + 2.3 * t * k + 0.5 * s * t);
}
