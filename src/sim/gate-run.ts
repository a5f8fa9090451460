// One simulated deploy step driven straight through the gate in virtual time: the model makes
// an interval of samples, the gate looks, until it decides. Fast enough for thousands of deploys.
import { judgeGate, type GateOptions } from '../core/judge/gate.js';
import type { GateResult, MetricSeries, Sample } from '../core/judge/types.js';
import { FleetModel, SIM_METRICS, type FleetModelOptions, type MetricDefinition, type Regression } from './model.js';
import type { Random } from './random.js';
import { referenceJudge } from './reference-judge.js';

export interface GateRunOptions {
  fleet: FleetModelOptions;
  canaries: number;
  regression?: Regression;
  intervalMs: number;
  minBakeMs: number;
  maxBakeMs: number;
  alpha: number;
  metrics?: MetricDefinition[];
  /** Keep looking after a pass, up to max bake (to measure false alarms over the whole horizon). */
  lookPastPass?: boolean;
  /** When to run the reference judge (its fixed window), if at all. */
  referenceAtMs?: number;
  gateOptions?: GateOptions;
}

export interface GateRunResult {
  decision: GateResult['decision'];
  /** Virtual ms at which the gate decided (first fail when lookPastPass). */
  atMs: number;
  /** First pass, if any. */
  passAtMs?: number;
  firstFailAtMs?: number;
  failed: string[];
  reference?: { verdict: 'pass' | 'fail'; failed: string[] };
  outlierInCanary: boolean;
}

export function runGate(o: GateRunOptions, rnd: Random): GateRunResult {
  const defs = o.metrics ?? SIM_METRICS;
  const model = new FleetModel(o.fleet, rnd);
  const S = o.fleet.servers;
  const order = Array.from({ length: S }, (_, i) => i);
  for (let i = S - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const canary = new Set(order.slice(0, o.canaries));
  const states = order.map(() => ({ since: 0, regression: undefined as Regression | undefined }));
  for (const i of canary) states[i].regression = o.regression;
  const series: MetricSeries[] = defs.map((d) => ({ ...d, baseline: [], canary: [] }));
  const rowOf = new Map<number, { side: 'canary' | 'baseline'; row: number }>();
  let cr = 0;
  let br = 0;
  for (let i = 0; i < S; i++) {
    const side = canary.has(i) ? 'canary' : 'baseline';
    rowOf.set(i, { side, row: side === 'canary' ? cr++ : br++ });
    for (const m of series) m[side].push([]);
  }
  const result: GateRunResult = { decision: 'continue', atMs: o.maxBakeMs, failed: [], outlierInCanary: model.outlier !== undefined && canary.has(model.outlier) };
  let judging = true;
  const horizon = Math.max(o.maxBakeMs, o.referenceAtMs ?? 0);
  for (let t = o.intervalMs; t <= horizon; t += o.intervalMs) {
    const samples = model.interval(states, t, o.intervalMs);
    const unresponsive: string[] = [];
    samples.forEach((values, i) => {
      const { side, row } = rowOf.get(i)!;
      if (!values) {
        if (side === 'canary') unresponsive.push(`server-${i}`);
        return;
      }
      for (const m of series) m[side][row].push(values[m.name] as Sample);
    });
    if (t === o.referenceAtMs) result.reference = referenceJudge(series);
    if (judging && t <= o.maxBakeMs) {
      const r = judgeGate({ alpha: o.alpha, metrics: series, elapsedMs: t, minBakeMs: o.minBakeMs, maxBakeMs: o.maxBakeMs, onInconclusive: 'rollback', unresponsive }, o.gateOptions);
      if (r.decision === 'pass') result.passAtMs ??= t;
      if (r.decision === 'fail') {
        result.firstFailAtMs = t;
        result.failed = unresponsive.length ? ['unresponsive'] : r.metrics.filter((m) => m.verdict === 'fail').map((m) => m.name);
      }
      const stop = r.decision === 'fail' || r.decision === 'inconclusive' || (r.decision === 'pass' && !o.lookPastPass) || t >= o.maxBakeMs;
      if (stop) {
        judging = false;
        result.decision = r.decision === 'fail' ? 'fail' : result.passAtMs !== undefined ? 'pass' : r.decision;
        result.atMs = t;
      }
    }
    if (!judging && (o.referenceAtMs === undefined || result.reference !== undefined)) break;
  }
  if (result.decision === 'continue' && result.passAtMs !== undefined) result.decision = 'pass';
  return result;
}
