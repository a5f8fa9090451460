// A one-shot, fleet-like world for the detection benchmark, harsher than the fleet model: few
// canaries (2 of 20), a handful of intervals (6), servers that differ persistently and a lot
// (error propensity, latency, traffic, conversion), heavy-tailed noise (error bursts, latency
// spikes, Student-t jitter), an outlier server on request, and no own history. Judged once, by
// immune (`immune judge`) and by two references on the same data.
import type { MetricSeries, Sample } from '../core/judge/types.js';
import type { Random } from './random.js';

export interface OneShotChange {
  errorFactor?: number;
  latencyFactor?: number;
  checkoutFactor?: number;
  signupFactor?: number;
}

export interface OneShotOptions {
  servers: number;
  canaries: number;
  intervals: number;
  change?: OneShotChange;
  /** One server (anywhere, the canary included) answers x2.5 the errors and is 30% slower, for good. */
  outlier?: boolean;
}

export const ONESHOT_METRICS = [
  { name: 'error_rate', kind: 'ratio', bad: 'increase', tolerance: 0.1 },
  { name: 'latency_p99', kind: 'continuous', bad: 'increase', tolerance: 0.1 },
  { name: 'checkouts', kind: 'count', bad: 'decrease', tolerance: 0.1 },
  { name: 'signups', kind: 'count', bad: 'decrease', tolerance: 0.1 },
] as const;

/** Student-t(3) scaled to unit variance: heavier tails than the normal. */
function t3(r: Random): number {
  const z = r.normal();
  const chi = r.normal() ** 2 + r.normal() ** 2 + r.normal() ** 2;
  return z / Math.sqrt(chi / 3) / Math.sqrt(3);
}

/** One deploy's data: every metric's rows, canaries first in `canary`. */
export function oneShotDeploy(o: OneShotOptions, r: Random): MetricSeries[] {
  // How unequal this fleet is (drawn per deploy, at and above the levels seen on real fleets).
  const spread = { errors: 0.2 + 0.2 * r.next(), latency: 0.05 + 0.05 * r.next(), traffic: 0.3, checkout: 0.1, signup: 0.15 };
  const outlier = o.outlier ? r.int(o.servers) : -1;
  const traits = Array.from({ length: o.servers }, (_, i) => ({
    traffic: Math.exp(spread.traffic * r.normal()),
    errors: Math.exp(spread.errors * r.normal()) * (i === outlier ? 2.5 : 1),
    latency: Math.exp(spread.latency * r.normal()) * (i === outlier ? 1.3 : 1),
    checkout: Math.exp(spread.checkout * r.normal()),
    signup: Math.exp(spread.signup * r.normal()),
  }));
  // Canaries: the first `canaries` of a shuffled order.
  const order = Array.from({ length: o.servers }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const isCanary = new Set(order.slice(0, o.canaries));
  const rows: Record<string, { baseline: Sample[][]; canary: Sample[][] }> = Object.fromEntries(
    ONESHOT_METRICS.map((m) => [m.name, { baseline: [], canary: [] }]),
  );
  const perServer = o.servers > 0 ? Array.from({ length: o.servers }, () => ONESHOT_METRICS.map(() => [] as Sample[])) : [];
  for (let t = 0; t < o.intervals; t++) {
    const burst = r.gammaUnit(30);
    for (let i = 0; i < o.servers; i++) {
      const tr = traits[i];
      const c = isCanary.has(i) ? (o.change ?? {}) : {};
      const requests = r.poisson(3000 * tr.traffic * burst * Math.exp(0.1 * t3(r)));
      // Errors: overdispersed, and now and then a burst (a bad dependency for a minute).
      const errBurst = r.next() < 0.03 ? 2 + 3 * r.next() : 1;
      const errors = Math.min(requests, r.poisson(requests * 0.005 * tr.errors * (c.errorFactor ?? 1) * r.gammaUnit(10) * errBurst));
      // p99: log-scale Student-t jitter, and now and then a spike (a GC pause, a noisy neighbour).
      const spike = r.next() < 0.05 ? 1.3 + 0.7 * r.next() : 1;
      const p99 = 0.25 * tr.latency * (c.latencyFactor ?? 1) * spike * Math.exp(0.06 * t3(r));
      const checkouts = r.poisson(requests * 0.05 * tr.checkout * (c.checkoutFactor ?? 1) * r.gammaUnit(30));
      const signups = r.poisson(requests * 0.003 * tr.signup * (c.signupFactor ?? 1) * r.gammaUnit(20));
      const s = perServer[i];
      s[0].push([errors, requests]);
      s[1].push(p99);
      s[2].push([checkouts, requests]);
      s[3].push(signups);
    }
  }
  for (let i = 0; i < o.servers; i++) {
    const side = isCanary.has(i) ? 'canary' : 'baseline';
    ONESHOT_METRICS.forEach((m, k) => rows[m.name][side].push(perServer[i][k]));
  }
  return ONESHOT_METRICS.map((m) => ({ ...m, ...rows[m.name] }));
}
