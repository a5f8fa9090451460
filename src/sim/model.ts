// A fleet of heterogeneous servers in virtual time: traffic with a diurnal swing and bursts,
// overdispersed errors and checkouts, latency, memory and CPU per server, an occasional outlier
// server, and regressions injected on the servers running a bad build. Pure given its Random.
import type { MetricSpec, Sample } from '../core/judge/types.js';
import type { Random } from './random.js';

/** What a build does differently from the good one. All fields optional; absent = no change. */
export interface Regression {
  /** Multiplies the error rate (both error_rate and checkout_error_rate count these errors). */
  errorFactor?: number;
  /** Extra share of checkouts that fail with a 500 (the demo's bad commit). */
  checkoutFailure?: number;
  /** Multiplies p99 latency. */
  latencyFactor?: number;
  /** Multiplies checkouts (and revenue). */
  checkoutFactor?: number;
  /** Memory grows by this share of its level per minute since the build started. */
  leakPerMinute?: number;
  /** The server stops answering this many ms after the build starts. */
  hangAfterMs?: number;
  /** Multiplies CPU. */
  cpuFactor?: number;
}

export interface FleetModelOptions {
  servers: number;
  /** Requests per second per server at the daily mean. */
  rps: number;
  /** Base error rate (share of requests answered 5xx). */
  errorRate?: number;
  /** Share of requests that are checkouts. */
  checkoutShare?: number;
  /** Mean revenue per checkout. */
  revenuePerCheckout?: number;
  /** p99 latency in seconds. */
  p99?: number;
  /** Probability that the fleet has one outlier server (slower, more errors) for a whole run. */
  outlierProbability?: number;
  /** Time of day at virtual time 0, in hours (diurnal phase). */
  startHour?: number;
  /** How unequal servers are (log-scale standard deviations). */
  heterogeneity?: { traffic?: number; latency?: number; errors?: number; memory?: number };
  /** Servers warm up after a start (slower, more CPU for ~20 s; memory climbing for ~2 min). */
  warmup?: boolean;
  /**
   * A process's memory for its first `ms` after a start, as a share of what it settles at: a
   * module loaded a few seconds in (an SDK, a cache filled on first use) makes a young process
   * look leaner than an old one. Default none (factor 1).
   */
  startUpMemory?: { factor: number; ms: number };
  /**
   * CPU of a process younger than `ms` is `factor` times as high (lazy compilation, caches filled on
   * first use, a loaded machine's slower JIT): for longer than a pipeline's warm-up, so that a canary
   * seconds old beside servers hours old reads as a CPU regression. Default none (factor 1).
   */
  startUpCpu?: { factor: number; ms: number };
}

/** A simulated metric: what the judge knows of it (MetricSpec's fields), and what a count is judged per. */
export interface MetricDefinition extends Pick<MetricSpec, 'name' | 'kind' | 'bad' | 'tolerance' | 'critical' | 'weight' | 'exposure'> {
  /** A count judged per unit of this ratio metric's denominator. */
  per?: string;
}

/** The metrics the simulated shop exports, with the tolerances the benchmark judges them at. */
export const SIM_METRICS: MetricDefinition[] = [
  { name: 'error_rate', kind: 'ratio', bad: 'increase', tolerance: 0.1 },
  { name: 'checkout_error_rate', kind: 'ratio', bad: 'increase', tolerance: 0.1, critical: true },
  // Business counts per request (error_rate's denominator), as the README recommends: traffic swings cancel.
  { name: 'checkouts', kind: 'count', bad: 'decrease', tolerance: 0.03, per: 'error_rate', exposure: 'request' },
  { name: 'revenue', kind: 'count', bad: 'decrease', tolerance: 0.03, per: 'error_rate', exposure: 'request' },
  { name: 'latency_p99', kind: 'continuous', bad: 'increase', tolerance: 0.1 },
  { name: 'memory', kind: 'continuous', bad: 'increase', tolerance: 0.1 },
  { name: 'cpu', kind: 'continuous', bad: 'increase', tolerance: 0.1 },
];

interface ServerTraits {
  traffic: number;
  latency: number;
  errors: number;
  memory: number;
  memoryWalk: number;
}

export interface ServerState {
  /** The regression its build carries, if any. */
  regression?: Regression;
  /** When it started its current build. */
  since: number;
}

/** Defaults of the model's knobs (what the benchmark's figures assume unless it overrides them). */
export const MODEL_DEFAULTS = {
  errorRate: 0.01,
  checkoutShare: 0.1,
  revenuePerCheckout: 40,
  p99: 0.25,
  outlierProbability: 0.02,
  /** Log-scale standard deviations of persistent per-server differences. */
  heterogeneity: { traffic: 0.03, latency: 0.02, errors: 0.05, memory: 0.03 },
  /** Gamma shapes of per-interval noise (variance 1/shape): fleet-wide bursts, per-server error rate and checkout rate. */
  noise: { burstShape: 50, errorShape: 20, checkoutShape: 40, latencyLogSd: '0.06 + 0.6/sqrt(requests)', memoryWalkPerInterval: 0.002 },
  outlier: { latency: 1.3, errors: 2 },
  diurnalAmplitude: 0.3,
} as const;

/**
 * What the model knows of one server-interval before any regression and noise: the oracle SPRT
 * in the benchmark uses it (a test that knows every server's true rates exactly).
 */
export interface Truth {
  requests: number;
  /** The server's expected error rate per request. */
  errorRate: number;
  /** Expected checkouts per request. */
  checkoutRate: number;
  /** Expected log p99 and the standard deviation of its per-interval noise. */
  logP99: number;
  logP99Sd: number;
}

export class FleetModel {
  readonly traits: ServerTraits[];
  readonly outlier: number | undefined;
  private readonly o: Required<Omit<FleetModelOptions, 'heterogeneity'>> & {
    heterogeneity: Required<NonNullable<FleetModelOptions['heterogeneity']>>;
  };

  constructor(
    options: FleetModelOptions,
    private readonly rnd: Random,
  ) {
    const d = MODEL_DEFAULTS;
    this.o = {
      errorRate: d.errorRate,
      checkoutShare: d.checkoutShare,
      revenuePerCheckout: d.revenuePerCheckout,
      p99: d.p99,
      outlierProbability: d.outlierProbability,
      startHour: rnd.next() * 24,
      warmup: false,
      startUpMemory: { factor: 1, ms: 0 },
      startUpCpu: { factor: 1, ms: 0 },
      ...options,
      heterogeneity: { ...d.heterogeneity, ...options.heterogeneity },
    };
    const h = this.o.heterogeneity;
    this.traits = Array.from({ length: options.servers }, () => ({
      traffic: Math.exp(h.traffic * rnd.normal()),
      latency: Math.exp(h.latency * rnd.normal()),
      errors: Math.exp(h.errors * rnd.normal()),
      memory: Math.exp(h.memory * rnd.normal()),
      memoryWalk: 0,
    }));
    this.outlier = rnd.next() < this.o.outlierProbability ? rnd.int(options.servers) : undefined;
    if (this.outlier !== undefined) {
      const t = this.traits[this.outlier];
      t.latency *= MODEL_DEFAULTS.outlier.latency;
      t.errors *= MODEL_DEFAULTS.outlier.errors;
    }
  }

  /** Traffic multiplier at a virtual time (ms): a daily swing of +-30%. */
  diurnal(timeMs: number): number {
    const hour = this.o.startHour + timeMs / 3_600_000;
    return 1 + MODEL_DEFAULTS.diurnalAmplitude * Math.sin((2 * Math.PI * (hour - 9)) / 24);
  }

  /** True when the server no longer answers at `timeMs`. */
  hung(state: ServerState, timeMs: number): boolean {
    const h = state.regression?.hangAfterMs;
    return h !== undefined && timeMs - state.since >= h;
  }

  /**
   * One interval of every server: the samples its metrics would show for [timeMs - intervalMs, timeMs].
   * `null` for a hung server.
   */
  interval(
    states: readonly ServerState[],
    timeMs: number,
    intervalMs: number,
    truth?: (Truth | null)[],
  ): (Record<string, Sample> | null)[] {
    const r = this.rnd;
    const secs = intervalMs / 1000;
    // Bursts shared by the whole fleet (a campaign, a crawler): the same for canary and baseline.
    const burst = r.gammaUnit(MODEL_DEFAULTS.noise.burstShape);
    const load = this.diurnal(timeMs) * burst;
    return states.map((st, i) => {
      const t = this.traits[i];
      const reg = st.regression ?? {};
      if (this.hung(st, timeMs)) {
        if (truth) truth[i] = null;
        return null;
      }
      const requests = r.poisson(this.o.rps * secs * load * t.traffic);
      const checkouts = r.poisson(
        requests * this.o.checkoutShare * (reg.checkoutFactor ?? 1) * r.gammaUnit(MODEL_DEFAULTS.noise.checkoutShape),
      );
      const errRate = this.o.errorRate * t.errors * (reg.errorFactor ?? 1) * r.gammaUnit(MODEL_DEFAULTS.noise.errorShape);
      const otherErrors = r.poisson(requests * errRate * (1 - this.o.checkoutShare));
      const checkoutErrors = Math.min(checkouts, r.poisson(checkouts * (errRate + (reg.checkoutFailure ?? 0))));
      const revenue = Math.round(checkouts * this.o.revenuePerCheckout * Math.exp(0.1 * r.normal()));
      // p99 of ~requests latencies: noisier when fewer requests make it up; slower under load.
      const noise = 0.06 + 0.6 / Math.sqrt(Math.max(1, requests));
      const p99Level = this.o.p99 * t.latency * (1 + 0.15 * (load - 1));
      // A freshly started process warms up: slower and hungrier for its first minute or so.
      const age = Math.max(0, timeMs - st.since) / 1000;
      const warm = this.o.warmup ? Math.exp(-age / 20) : 0;
      const p99 = p99Level * (reg.latencyFactor ?? 1) * (1 + 0.15 * warm) * Math.exp(noise * r.normal());
      if (truth)
        truth[i] = {
          requests,
          errorRate: this.o.errorRate * t.errors,
          checkoutRate: this.o.checkoutShare,
          logP99: Math.log(p99Level),
          logP99Sd: noise,
        };
      t.memoryWalk += MODEL_DEFAULTS.noise.memoryWalkPerInterval * r.normal();
      const minutes = Math.max(0, timeMs - st.since) / 60_000;
      // Memory of a restarted process climbs ~8% over its first two minutes (heap, caches), then flattens: not a leak.
      const memWarm = this.o.warmup ? 1 - 0.08 * Math.exp(-age / 45) : 1;
      // A young process's factor while it is younger than the option's ms.
      const startUp = (o: { factor: number; ms: number }) => (age * 1000 < o.ms ? o.factor : 1);
      const young = startUp(this.o.startUpMemory);
      const memory =
        300e6 * t.memory * memWarm * young * (1 + t.memoryWalk) * (1 + (reg.leakPerMinute ?? 0) * minutes) * Math.exp(0.005 * r.normal());
      const hot = startUp(this.o.startUpCpu);
      const cpu =
        ((0.25 * requests) / Math.max(1, this.o.rps * secs)) * (reg.cpuFactor ?? 1) * (1 + 0.2 * warm) * hot * Math.exp(0.05 * r.normal());
      return {
        error_rate: [otherErrors + checkoutErrors, requests],
        checkout_error_rate: [checkoutErrors, checkouts],
        checkouts,
        revenue,
        latency_p99: p99,
        memory,
        cpu,
      };
    });
  }
}
