// The gate's vocabulary: samples grouped by server, metric definitions, and verdicts with evidence.

export type MetricKind = 'ratio' | 'continuous' | 'count';
export type BadDirection = 'increase' | 'decrease';
/**
 * What a metric's values are, for the words only (never for the statistics): a share (0.0082 =
 * 0.82%), a duration, a size, CPU seconds per second, events per interval, or a plain number.
 */
export type ValueUnit = 'fraction' | 'seconds' | 'milliseconds' | 'bytes' | 'cores' | 'count' | 'none';

/** One server's value for one interval: a ratio is [numerator, denominator]; continuous and count are numbers. */
export type Sample = number | [number, number];

/** What the judge needs to know about a watched metric. */
export interface MetricSpec {
  name: string;
  kind: MetricKind;
  bad: BadDirection;
  /** A relative change smaller than this (0.1 = 10%) is not a regression. */
  tolerance: number;
  /** A critical metric fails the gate on its own even when the policy would otherwise wait. */
  critical?: boolean;
  /** Share of the deploy-wide alpha relative to the other metrics (weighted Holm); default 1. */
  weight?: number;
  /** How its values read (evidence.ts); by default from the kind. */
  unit?: ValueUnit;
  /** Sampling interval, so that a count reads per minute. */
  intervalMs?: number;
  /**
   * A count judged per unit of exposure (a `per` metric's denominator, e.g. "request"): its values
   * read "0.052 per request", not per minute.
   */
  exposure?: string;
}

/** A metric's data: one array per server, one sample per interval (oldest first). */
export interface MetricSeries extends MetricSpec {
  baseline: (Sample | null)[][];
  canary: (Sample | null)[][];
  /**
   * Optional: every server's samples from before the deploy, in the same row order as `baseline`
   * and `canary`. With it the judge also compares each server with its own past (see history.ts),
   * so a server that always differed neither fails a good canary nor hides a bad one. Only
   * intervals in which that server ran the release the baseline runs now belong here, and not the
   * warm-up after it started it (the first minute, see rollout/samples.ts): an interval on any
   * other release, or warming up, is null. A server's past on another build is not its own past.
   */
  before?: { baseline: (Sample | null)[][]; canary: (Sample | null)[][] };
  /**
   * Optional, for a metric that depends on a process's age (one with a `warmup`): which rows of
   * `baseline` (and `before.baseline`) are servers restarted on the baseline's release as the
   * canaries started theirs (the fresh baseline). The gate then compares the canary with those
   * servers and, apart, with the other (older) baseline servers, and judges on the weaker of the
   * two: a regression must show against processes of the canary's age and against the fleet, and
   * either comparison ruling one out passes the metric. When every baseline row is fresh, only that.
   */
  fresh?: number[];
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

/** Events and exposure on each side, as observed (ratio and count metrics). */
export interface EventCounts {
  baseline: { x: number; n: number };
  canary: { x: number; n: number };
}

export interface MetricEvidence {
  name: string;
  verdict: Verdict;
  /**
   * p-value of "no regression beyond tolerance" on the scale of alpha (the metric fails when
   * pValue <= alpha): the nominal p at this look scaled by the group-sequential boundary and the
   * Holm share of alpha; the fixed-sample one for `immune judge`.
   */
  pValue: number;
  /** Relative change canary vs baseline (0.5 = +50%). */
  effect: number;
  /** Confidence interval of the relative change (at a look of the gate: the repeated confidence interval at the metric's share of alpha). */
  ci: [number, number];
  /** Estimates of the metric on each side (rate, mean or median as the kind implies). */
  baselineEstimate?: number;
  canaryEstimate?: number;
  samples: { baseline: number; canary: number };
  /** One line a person can read (evidence.ts), e.g. "error_rate +412% (0.1% → 0.51%, +0.41 pp; CI +250% to +600%), p=0.0003: regression beyond 10% tolerance". */
  explanation: string;
  /** The facts the words are made of (absent in records from older versions). */
  kind?: MetricKind;
  bad?: BadDirection;
  tolerance?: number;
  unit?: ValueUnit;
  intervalMs?: number;
  exposure?: string;
  /** Ratio and count metrics: events and exposure on each side, as observed. */
  events?: EventCounts;
  /** A trend test (projected drift), not a level. */
  trend?: boolean;
  /** Why there is too little data, when there is. */
  shortage?: string;
  /**
   * An age-dependent metric with a fresh baseline: which baseline servers the numbers are against,
   * the fresh ones (restarted with the canaries) or the older ones (MetricSeries.fresh).
   */
  against?: 'fresh' | 'older';
}

export interface JudgeInput {
  alpha: number;
  metrics: MetricSeries[];
}

export interface JudgeOutput {
  verdict: Verdict;
  metrics: MetricEvidence[];
}

/**
 * What to do when the gate reaches max bake without a decision: `hold` (pause for a captain),
 * `rollback`, `pass_within_tolerance` (pass when every undecided metric's estimate is within
 * tolerance, else hold), or `pass` (the same, and a metric with too little data passes too, with
 * a warning). No policy passes a metric whose estimate is beyond tolerance.
 */
export type InconclusivePolicy = 'hold' | 'rollback' | 'pass_within_tolerance' | 'pass';

/** One look at a rollout step's gate: all data so far, and where the bake stands. */
export interface GateInput {
  alpha: number;
  metrics: MetricSeries[];
  elapsedMs: number;
  minBakeMs: number;
  maxBakeMs: number;
  onInconclusive: InconclusivePolicy;
  /** Canary servers that stopped answering (health check or scrape timeout): the gate fails at once. */
  unresponsive: string[];
  /** Why each of them failed, in the metrics source's words (timeout, HTTP status, not metrics text). */
  unresponsiveWhy?: Record<string, string>;
}

/** `continue` means: keep baking, look again next interval. */
export type GateDecision = 'pass' | 'fail' | 'inconclusive' | 'continue';

export interface GateResult {
  decision: GateDecision;
  metrics: MetricEvidence[];
  /** One line for the terminal, the revert message and the dashboard. */
  explanation: string;
  /** Set when passing with a warning (e.g. too little traffic and policy `pass`). */
  warning?: string;
}

/** After 100%: the whole fleet against its own pre-deploy window, looking for slow failures. */
export interface WatchInput {
  alpha: number;
  /** baseline = the fleet before the deploy, canary = the fleet since; both per server per interval. */
  metrics: MetricSeries[];
  elapsedMs: number;
  durationMs: number;
  unresponsive: string[];
  /** The pipeline's policy: `pass_within_tolerance` and `pass` let the watch's end pass a metric whose estimate is within tolerance. */
  onInconclusive?: InconclusivePolicy;
  unresponsiveWhy?: Record<string, string>;
}
