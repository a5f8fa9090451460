// Detection benchmark (`npm run bench:detection`): null deploys and deploys with injected
// regressions, in virtual time, through the real gate (src/core/judge) on a simulated fleet
// (src/sim), and a Kayenta-style reference judge on the same data. Prints false-alarm rate,
// power, time to detect and the ratio to the oracle SPRT's expected time; writes
// bench-results/detection.json and bench-results/detection.png.
//
// Also the one-shot fleet-like suite (scripts/bench-oneshot.ts: `immune judge` against a per-server
// t-test and a Kayenta-style test on 2-of-20-server fleets, 6 intervals, no history) and the
// gate's own cost per look at 1,000 servers x 60 intervals (scripts/bench-gate-cost.ts: on the engine's
// thread and through the worker judge, and what an HTTP server on the engine's thread sees meanwhile).
//
//   npm run bench:detection -- --help
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runGate, type GateRunOptions, type GateRunResult } from '../src/sim/gate-run.js';
import { MODEL_DEFAULTS, SIM_METRICS, type Regression } from '../src/sim/model.js';
import { createRandom } from '../src/sim/random.js';
import { gaussianKl, poissonKl, sprtSeconds } from '../src/sim/sprt-bound.js';
import { runGateCost } from './bench-gate-cost.js';
import { printOneShot, runOneShot } from './bench-oneshot.js';

const USAGE = `Usage: npm run bench:detection -- [options]

The gate's detection benchmark on a simulated fleet, with reference methods in the same run.

Options:
  --suite <name>          all (default), sequential (deploys looked at every 5 s, own history),
                          oneshot (immune judge vs a per-server t-test and a Kayenta-style test),
                          cost (one look at 1,000 servers, on the engine thread and the worker)
  --quick                 fewer runs (200 nulls, 40 per regression, 400 one-shot)
  --nulls <n>             null deploys judged to min bake (1000)
  --horizon-nulls <n>     null deploys looked at to max bake (200)
  --runs <n>              runs per regression scenario (200)
  --tolerated <n>         runs per within-tolerance and outlier scenario (500)
  --seed <n>              first seed (sequential 1, one-shot 900000); the runs take consecutive
                          seeds, nulls first. Another --seed is data the figures were not tuned
                          on (e.g. --seed 50000)
  --only <ids>            only these scenarios, comma-separated (ids below)
  --alpha <p>             deploy-wide alpha (0.01), between 0 and 0.5
  --no-history            no own history before the deploy
  --oneshot-runs <n>      harmless deploys per one-shot row (2000; regressions a quarter, at least 50)
  --cost-servers <n>      servers in the cost suite (1000)
  --workers <n>           worker threads (2, at most the cores)
  --out <dir>             where detection.json and detection.png go (bench-results)
  --no-png                do not draw the chart (it needs Chromium)
  --chart-only            redraw the chart from <out>/detection.json and stop
  -h, --help              this text
`;

function parseCli() {
  try {
    return parseArgs({
      options: {
        suite: { type: 'string', default: 'all' },
        quick: { type: 'boolean', default: false },
        nulls: { type: 'string' },
        'horizon-nulls': { type: 'string' },
        runs: { type: 'string' },
        tolerated: { type: 'string' },
        seed: { type: 'string' },
        only: { type: 'string' },
        alpha: { type: 'string' },
        'no-history': { type: 'boolean', default: false },
        'oneshot-runs': { type: 'string' },
        'cost-servers': { type: 'string' },
        workers: { type: 'string' },
        out: { type: 'string', default: 'bench-results' },
        'no-png': { type: 'boolean', default: false },
        'chart-only': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`bench-detection: ${(e as Error).message}\nSee npm run bench:detection -- --help\n`);
    process.exit(2);
  }
}
const CLI = parseCli();
const QUICK = CLI.quick;
const SUITE = CLI.suite;
if (!['all', 'sequential', 'oneshot', 'cost'].includes(SUITE)) {
  process.stderr.write(`bench-detection: --suite is all, sequential, oneshot or cost, got "${SUITE}"\n`);
  process.exit(2);
}

// Servers warm up after a start (the canaries at the deploy, a server back from another release).
const FLEET = { servers: 20, rps: 100, errorRate: 0.01, checkoutShare: 0.1, p99: 0.25, outlierProbability: 0.02, warmup: true };
/** A canary that ran another (known-bad) release until 2 minutes before the deploy, in 30% of deploys: its past on that release is not its own past. */
const RECENT_RELEASE = { probability: 0.3, regression: { errorFactor: 3, latencyFactor: 1.3 }, agoMs: 120_000 };
const CONFIG = {
  fleet: FLEET,
  canaries: 2,
  intervalMs: 5000,
  minBakeMs: 60_000,
  maxBakeMs: 300_000,
  alpha: argFloat('alpha', 0.01),
  referenceAtMs: 120_000,
  /** Every server's own past the gate also compares it with (rollout.history, default 5m). */
  historyIntervals: CLI['no-history'] ? 0 : 60,
};
const BETA = 0.05;
/** The per-server t-test reference looks once, at min bake and (separately) at the Kayenta-style reference's window. */
const T_REFERENCE_AT_MS = [CONFIG.minBakeMs, CONFIG.referenceAtMs];
/** Share of runs the per-server t-test failed at each of its looks: { '60': 0.02, '120': 0.05 }. */
function tPower(rs: TaskResult[]): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const at of T_REFERENCE_AT_MS) {
    const judged = rs.filter((r) => r.tReference?.some((x) => x.atMs === at));
    const failed = judged.filter((r) => r.tReference!.some((x) => x.atMs === at && x.verdict === 'fail')).length;
    out[String(at / 1000)] = judged.length ? round(failed / judged.length) : null;
  }
  return out;
}

interface Scenario {
  id: string;
  label: string;
  /** A change smaller than every tolerance: failing it is a false alarm too. */
  tolerated?: boolean;
  regression?: Regression;
  /** Nats per interval the oracle SPRT gets from the canary servers (undefined: no fixed effect). */
  nats?: number;
  /** The oracle SPRT run on the same data and looks (H0 at the tolerance boundary, H1 the true effect). */
  oracle?: GateRunOptions['oracle'];
  /** Fleet overrides (e.g. an outlier server always present). */
  fleet?: Partial<typeof FLEET>;
  /** Watch only these metrics (default all seven): shows what judging many metrics costs. */
  metrics?: string[];
  /** Per-metric share of alpha (rollout weights; default 1 each). */
  weights?: Record<string, number>;
}

const secsPerInterval = CONFIG.intervalMs / 1000;
const C = CONFIG.canaries;
const errorMu = FLEET.rps * secsPerInterval * FLEET.errorRate;
const errorNats = (f: number) => (C * poissonKl(errorMu * f, errorMu * 1.1) * (errorMu * f)) / (errorMu * f + (errorMu * f) ** 2 / 20);
const latencySigma = 0.06 + 0.6 / Math.sqrt(FLEET.rps * secsPerInterval);
const checkoutMu = FLEET.rps * secsPerInterval * FLEET.checkoutShare;
const checkoutNats = (f: number) => C * gaussianKl(f * checkoutMu, 0.97 * checkoutMu, checkoutMu + checkoutMu ** 2 / 40);

const errorOracle = (f: number) => ({ metric: 'error_rate' as const, h0: 1.1, h1: f, beta: BETA });
const checkoutOracle = (f: number) => ({ metric: 'checkouts' as const, h0: 0.97, h1: f, beta: BETA });
const SCENARIOS: Scenario[] = [
  { id: 'null', label: 'no change' },
  { id: 'null-outlier', label: 'no change, outlier server', tolerated: true, fleet: { outlierProbability: 1 } },
  { id: 'error-x1.5', label: 'error rate x1.5', regression: { errorFactor: 1.5 }, nats: errorNats(1.5), oracle: errorOracle(1.5) },
  { id: 'error-x2', label: 'error rate x2', regression: { errorFactor: 2 }, nats: errorNats(2), oracle: errorOracle(2) },
  {
    id: 'error-x2-alone',
    label: 'error x2, 1 metric',
    regression: { errorFactor: 2 },
    nats: errorNats(2),
    oracle: errorOracle(2),
    metrics: ['error_rate'],
  },
  {
    id: 'error-x2-weighted',
    label: 'error x2, weight 3',
    regression: { errorFactor: 2 },
    nats: errorNats(2),
    oracle: errorOracle(2),
    weights: { error_rate: 3 },
  },
  { id: 'error-x5', label: 'error rate x5', regression: { errorFactor: 5 }, nats: errorNats(5), oracle: errorOracle(5) },
  {
    id: 'p99+20%',
    label: 'p99 latency +20%',
    regression: { latencyFactor: 1.2 },
    nats: C * gaussianKl(Math.log(1.2), Math.log(1.1), latencySigma ** 2),
    oracle: { metric: 'latency_p99', h0: 1.1, h1: 1.2, beta: BETA },
  },
  {
    id: 'checkouts-10%',
    label: 'checkouts -10%',
    regression: { checkoutFactor: 0.9 },
    nats: checkoutNats(0.9),
    oracle: checkoutOracle(0.9),
  },
  {
    id: 'checkouts-30%',
    label: 'checkouts -30%',
    regression: { checkoutFactor: 0.7 },
    nats: checkoutNats(0.7),
    oracle: checkoutOracle(0.7),
  },
  { id: 'leak', label: 'memory leak 5%/min', regression: { leakPerMinute: 0.05 } },
  { id: 'hung', label: 'server hangs at 30 s', regression: { hangAfterMs: 30_000 } },
  {
    id: 'within-tolerance',
    label: 'changes within tolerance',
    tolerated: true,
    regression: { errorFactor: 1.05, latencyFactor: 1.05, checkoutFactor: 0.99, cpuFactor: 1.05 },
  },
];
const REGRESSIONS = SCENARIOS.filter((s) => s.regression && !s.tolerated);
if (CLI.help) {
  process.stdout.write(`${USAGE}\nScenarios: ${SCENARIOS.map((s) => s.id).join(', ')}\n`);
  process.exit(0);
}
/** --only a,b: just these scenarios (tuning one metric's test; the other rows read 0 of 0). */
const ONLY = CLI.only !== undefined ? new Set(CLI.only.split(',').map((x) => x.trim())) : undefined;
const unknown = [...(ONLY ?? [])].filter((x) => x && !SCENARIOS.some((s) => s.id === x));
if (unknown.length) {
  process.stderr.write(
    `bench-detection: --only: no scenario ${unknown.map((x) => `"${x}"`).join(', ')}; scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}\n`,
  );
  process.exit(2);
}
const TOLERATED = SCENARIOS.filter((s) => s.tolerated);

interface Task {
  scenario: string;
  seed: number;
  /** Look past a pass up to max bake (false alarms over the whole horizon; regressions caught by later looks). */
  lookPastPass: boolean;
  reference: boolean;
  /** Carried in the task: workers do not see the parent's flags. */
  alpha: number;
  historyIntervals: number;
}

interface TaskResult extends GateRunResult {
  scenario: string;
  lookPastPass: boolean;
}

function runTask(t: Task): TaskResult {
  const sc = SCENARIOS.find((s) => s.id === t.scenario)!;
  const opts: GateRunOptions = {
    ...CONFIG,
    fleet: { ...CONFIG.fleet, ...sc.fleet },
    historyIntervals: t.historyIntervals,
    recentRelease: t.historyIntervals > 0 ? RECENT_RELEASE : undefined,
    metrics: (sc.metrics ? SIM_METRICS.filter((m) => sc.metrics!.includes(m.name)) : SIM_METRICS).map((m) => ({
      ...m,
      weight: sc.weights?.[m.name],
    })),
    oracle: sc.oracle,
    alpha: t.alpha,
    referenceAtMs: t.reference ? CONFIG.referenceAtMs : undefined,
    tReferenceAtMs: t.reference ? T_REFERENCE_AT_MS : undefined,
    regression: sc.regression,
    lookPastPass: t.lookPastPass,
    gateOptions: { decisionsOnly: true },
  };
  return { ...runGate(opts, createRandom(t.seed)), scenario: t.scenario, lookPastPass: t.lookPastPass };
}

/** The options that take a whole number. */
const COUNT_OPTIONS = ['nulls', 'horizon-nulls', 'runs', 'tolerated', 'seed', 'oneshot-runs', 'cost-servers', 'workers'] as const;
type NumberOption = 'alpha' | (typeof COUNT_OPTIONS)[number];

function argFloat(name: NumberOption, fallback: number): number {
  const raw = CLI[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!(v > 0 && v < 0.5)) {
    process.stderr.write(`bench-detection: --${name} needs a number between 0 and 0.5, got "${raw}"\n`);
    process.exit(2);
  }
  return v;
}

function arg(name: NumberOption, fallback: number): number {
  const raw = CLI[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < 0) {
    process.stderr.write(`bench-detection: --${name} needs a whole number, got "${raw}"\n`);
    process.exit(2);
  }
  return v;
}

// Every number is checked before anything runs: a typo fails at once, not after the one-shot suite.
for (const name of COUNT_OPTIONS) arg(name, 0);

/** Wilson score interval for k successes in n trials. */
function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

function quantile(xs: number[], q: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const round = (x: number | null, d = 4) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d);

async function runAll(tasks: Task[], workers: number): Promise<TaskResult[]> {
  if (workers <= 1) return tasks.map(runTask);
  const shares: Task[][] = Array.from({ length: workers }, () => []);
  tasks.forEach((t, i) => shares[i % workers].push(t));
  const parts = await Promise.all(
    shares.map(
      (share) =>
        new Promise<TaskResult[]>((resolve, reject) => {
          // Workers do not inherit the TypeScript loader: register it first, then load this file.
          const boot = `(async () => { const { register } = await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}); register(); await import(${JSON.stringify(import.meta.url)}); })()`;
          const w = new Worker(boot, { eval: true, workerData: share });
          w.once('message', resolve);
          w.once('error', reject);
          w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  return parts.flat();
}

async function main(): Promise<void> {
  if (SUITE === 'oneshot' || SUITE === 'cost' || SUITE === 'all') {
    if (SUITE !== 'cost') {
      const n = arg('oneshot-runs', QUICK ? 400 : 2000);
      const t0 = Date.now();
      // --seed moves the one-shot suite to other seeds too (its own default first seed is 900,000).
      const rows = runOneShot(
        { harmless: n, regressions: Math.max(50, Math.round(n / 4)) },
        CONFIG.alpha,
        CLI.seed !== undefined ? arg('seed', 1) : undefined,
      );
      process.stdout.write(`${printOneShot(rows, CONFIG.alpha)}\n(${((Date.now() - t0) / 1000).toFixed(1)}s)\n\n`);
      mkdirSync(CLI.out, { recursive: true });
      writeFileSync(join(CLI.out, 'detection-oneshot.json'), JSON.stringify(rows, null, 2) + '\n');
    }
    if (SUITE === 'cost' || SUITE === 'all') {
      process.stdout.write(`${await runGateCost({ servers: arg('cost-servers', 1000) })}\n\n`);
    }
    if (SUITE !== 'all') return;
  }
  const nulls = arg('nulls', QUICK ? 200 : 1000);
  const runs = arg('runs', QUICK ? 40 : 200);
  const horizonNulls = arg('horizon-nulls', QUICK ? 40 : 200);
  const workers = arg('workers', Math.max(1, Math.min(2, availableParallelism())));
  const outDir = CLI.out;
  if (CLI['chart-only']) {
    // Redraw the chart from the saved figures, without running anything.
    const saved = JSON.parse(readFileSync(join(outDir, 'detection.json'), 'utf8')) as Report;
    await screenshot(chart(saved), join(outDir, 'detection.png'));
    process.stdout.write(`chart: ${join(outDir, 'detection.png')}\n`);
    return;
  }
  const started = Date.now();
  const tasks: Task[] = [];
  let seed = arg('seed', 1);
  for (let i = 0; i < nulls; i++)
    tasks.push({
      scenario: 'null',
      seed: seed++,
      lookPastPass: false,
      reference: true,
      alpha: CONFIG.alpha,
      historyIntervals: CONFIG.historyIntervals,
    });
  for (let i = 0; i < horizonNulls; i++)
    tasks.push({
      scenario: 'null',
      seed: seed++,
      lookPastPass: true,
      reference: false,
      alpha: CONFIG.alpha,
      historyIntervals: CONFIG.historyIntervals,
    });
  for (const sc of REGRESSIONS)
    for (let i = 0; i < runs; i++)
      tasks.push({
        scenario: sc.id,
        seed: seed++,
        lookPastPass: true,
        reference: true,
        alpha: CONFIG.alpha,
        historyIntervals: CONFIG.historyIntervals,
      });
  const tolerated = arg('tolerated', QUICK ? 100 : 500);
  for (const sc of TOLERATED)
    for (let i = 0; i < tolerated; i++)
      tasks.push({
        scenario: sc.id,
        seed: seed++,
        lookPastPass: false,
        reference: true,
        alpha: CONFIG.alpha,
        historyIntervals: CONFIG.historyIntervals,
      });
  const results = await runAll(ONLY ? tasks.filter((t) => ONLY.has(t.scenario)) : tasks, workers);
  const elapsed = (Date.now() - started) / 1000;

  const opNull = results.filter((r) => r.scenario === 'null' && !r.lookPastPass);
  const hzNull = results.filter((r) => r.scenario === 'null' && r.lookPastPass);
  const fa = opNull.filter((r) => r.firstFailAtMs !== undefined).length;
  const faHz = hzNull.filter((r) => r.firstFailAtMs !== undefined).length;
  const refFa = opNull.filter((r) => r.reference?.verdict === 'fail').length;
  const refSeconds = CONFIG.referenceAtMs / 1000;
  const nullSummary = {
    runs: opNull.length,
    falseAlarms: fa,
    rate: round(fa / Math.max(1, opNull.length)),
    ci95: wilson(fa, opNull.length).map((x) => round(x)),
    failedMetrics: tally(opNull.flatMap((r) => r.failed)),
    outlierInCanary: opNull.filter((r) => r.outlierInCanary).length,
    inconclusive: opNull.filter((r) => r.decision === 'inconclusive').length,
    medianPassSeconds: quantile(
      opNull.filter((r) => r.passAtMs !== undefined).map((r) => r.passAtMs! / 1000),
      0.5,
    ),
    horizon: {
      runs: hzNull.length,
      lookedUntilSeconds: CONFIG.maxBakeMs / 1000,
      falseAlarms: faHz,
      rate: round(faHz / Math.max(1, hzNull.length)),
      ci95: wilson(faHz, hzNull.length).map((x) => round(x)),
    },
    reference: {
      falseAlarms: refFa,
      rate: round(refFa / Math.max(1, opNull.length)),
      ci95: wilson(refFa, opNull.length).map((x) => round(x)),
    },
    tReference: tPower(opNull),
  };

  const falseAlarms = (id: string) => {
    const sc = SCENARIOS.find((s) => s.id === id)!;
    const rs = results.filter((r) => r.scenario === id);
    const fa = rs.filter((r) => r.firstFailAtMs !== undefined).length;
    const ref = rs.filter((r) => r.reference?.verdict === 'fail').length;
    return {
      change: sc.regression ?? null,
      fleet: sc.fleet ?? null,
      runs: rs.length,
      falseAlarms: fa,
      rate: round(fa / Math.max(1, rs.length)),
      ci95: wilson(fa, rs.length).map((x) => round(x)),
      reference: { falseAlarms: ref, rate: round(ref / Math.max(1, rs.length)), ci95: wilson(ref, rs.length).map((x) => round(x)) },
      tReference: tPower(rs),
    };
  };
  const withinTolerance = falseAlarms('within-tolerance');
  const outlierServer = falseAlarms('null-outlier');

  const scenarios = REGRESSIONS.map((sc) => {
    const rs = results.filter((r) => r.scenario === sc.id);
    const n = rs.length;
    const times = rs.filter((r) => r.firstFailAtMs !== undefined).map((r) => r.firstFailAtMs! / 1000);
    const byMin = rs.filter((r) => r.firstFailAtMs !== undefined && r.firstFailAtMs <= CONFIG.minBakeMs).length;
    const median = times.length * 2 > n ? quantile(times, 0.5) : null;
    const bound = sc.nats !== undefined ? sprtSeconds(sc.nats, CONFIG.intervalMs, CONFIG.alpha, BETA) : null;
    const oracleTimes = rs.filter((r) => r.oracleAtMs !== undefined).map((r) => r.oracleAtMs! / 1000);
    const oracleMedian = sc.oracle && oracleTimes.length * 2 > n ? quantile(oracleTimes, 0.5) : null;
    const refPower = rs.filter((r) => r.reference?.verdict === 'fail').length / Math.max(1, n);
    // Let through: the gate passed the step before any fail (the rollout would have gone on with it).
    const letThrough = rs.filter(
      (r) => r.passAtMs !== undefined && !(r.firstFailAtMs !== undefined && r.firstFailAtMs <= r.passAtMs),
    ).length;
    return {
      id: sc.id,
      label: sc.label,
      runs: n,
      ours: {
        powerByMinBake: round(byMin / Math.max(1, n)),
        powerByMaxBake: round(times.length / Math.max(1, n)),
        ci95ByMinBake: wilson(byMin, n).map((x) => round(x)),
        medianSeconds: median,
        p90Seconds: times.length * 10 >= n * 9 ? quantile(times, 0.9) : null,
        /** Share of runs the gate passed before failing: the regression went on to the next step (a single-look test lets through 1 - its power). */
        passed: round(letThrough / Math.max(1, n)),
        failedMetrics: tally(rs.flatMap((r) => r.failed)),
      },
      reference: { power: round(refPower), seconds: refSeconds },
      tReference: tPower(rs),
      sprtBoundSeconds: round(bound, 1),
      ratioToBound: median !== null && bound !== null && Number.isFinite(bound) ? round(median / bound, 2) : null,
      oracle: sc.oracle ? { medianSeconds: oracleMedian, power: round(oracleTimes.length / Math.max(1, n)) } : null,
      ratioToOracle: median !== null && oracleMedian !== null ? round(median / oracleMedian, 2) : null,
      speedupVsReference: median !== null && refPower > 0.5 ? round(refSeconds / median, 2) : null,
    };
  });

  const report = {
    benchmark: 'detection',
    config: { ...CONFIG, beta: BETA, metrics: SIM_METRICS, workers },
    model: MODEL_DEFAULTS,
    seconds: round(elapsed, 1),
    /** Metric verdicts of pass with the estimate beyond tolerance and an interval excluding no change, over every look of every run (target 0). */
    visiblePasses: results.reduce((t, r) => t + r.visiblePasses, 0),
    /** Harmless deploys held at max bake under the shipped policy (hold): not a false alarm, a captain's call. */
    held: {
      null: opNull.filter((r) => r.decision === 'inconclusive').length,
      withinTolerance: results.filter((r) => r.scenario === 'within-tolerance' && r.decision === 'inconclusive').length,
      outlier: results.filter((r) => r.scenario === 'null-outlier' && r.decision === 'inconclusive').length,
      recentOtherRelease: opNull.filter((r) => r.recentOther).length,
    },
    nulls: nullSummary,
    withinTolerance,
    outlierServer,
    scenarios,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'detection.json'), JSON.stringify(report, null, 2) + '\n');
  print(report);
  if (!CLI['no-png']) {
    const svg = chart(report);
    try {
      await screenshot(svg, join(outDir, 'detection.png'));
      process.stdout.write(`chart: ${join(outDir, 'detection.png')}\n`);
    } catch (err) {
      // No browser here: keep the chart as SVG instead.
      writeFileSync(join(outDir, 'detection.svg'), svg);
      process.stdout.write(`chart: PNG not rendered (${(err as Error).message.split('\n')[0]}); SVG at ${join(outDir, 'detection.svg')}\n`);
    }
  }
}

function tally(xs: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const x of xs) t[x] = (t[x] ?? 0) + 1;
  return t;
}

type FalseAlarms = {
  runs: number;
  falseAlarms: number;
  rate: number | null;
  ci95: (number | null)[];
  reference: { rate: number | null; ci95: (number | null)[] };
  tReference?: Record<string, number | null>;
};

type Report = {
  config: typeof CONFIG & { beta: number; metrics: unknown[]; workers: number };
  seconds: number | null;
  visiblePasses?: number;
  held?: { null: number; withinTolerance: number; outlier: number; recentOtherRelease: number };
  withinTolerance: FalseAlarms;
  outlierServer: FalseAlarms;
  nulls: {
    runs: number;
    falseAlarms: number;
    rate: number | null;
    ci95: (number | null)[];
    horizon: { runs: number; falseAlarms: number; rate: number | null; ci95: (number | null)[] };
    reference: { rate: number | null; ci95: (number | null)[] };
    tReference?: Record<string, number | null>;
  };
  scenarios: {
    id: string;
    label: string;
    runs: number;
    ours: {
      powerByMinBake: number | null;
      powerByMaxBake: number | null;
      medianSeconds: number | null;
      p90Seconds: number | null;
      passed?: number | null;
    };
    reference: { power: number | null; seconds: number };
    tReference?: Record<string, number | null>;
    sprtBoundSeconds: number | null;
    ratioToBound: number | null;
    oracle: { medianSeconds: number | null; power: number | null } | null;
    ratioToOracle: number | null;
    speedupVsReference: number | null;
  }[];
};

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`;
}

function print(r: Report): void {
  const c = r.config;
  const out: string[] = [];
  out.push(
    `detection benchmark: ${c.fleet.servers} servers at ${c.fleet.rps} req/s, canary ${c.canaries} (${Math.round((100 * c.canaries) / c.fleet.servers)}%), look every ${c.intervalMs / 1000}s, min bake ${c.minBakeMs / 1000}s, max bake ${c.maxBakeMs / 1000}s, alpha ${c.alpha}, ${c.metrics.length} metrics; ${r.seconds}s on ${c.workers} worker(s)`,
  );
  const n = r.nulls;
  out.push(
    `false alarms per deploy (gate to min bake): ${n.falseAlarms}/${n.runs} = ${pct(n.rate)} (95% CI ${pct(n.ci95[0])}..${pct(n.ci95[1])})`,
  );
  out.push(
    `false alarms looking every interval to max bake: ${n.horizon.falseAlarms}/${n.horizon.runs} = ${pct(n.horizon.rate)} (95% CI ${pct(n.horizon.ci95[0])}..${pct(n.horizon.ci95[1])})`,
  );
  out.push(
    `reference (Kayenta-style, MW 98% + effect size at ${c.referenceAtMs / 1000}s): false alarms ${pct(n.reference.rate)} (95% CI ${pct(n.reference.ci95[0])}..${pct(n.reference.ci95[1])})`,
  );
  const tAt = (x: Record<string, number | null> | undefined) =>
    T_REFERENCE_AT_MS.map((at) => `${pct(x?.[String(at / 1000)])} at ${at / 1000}s`).join(', ');
  out.push(
    `reference (per-server t-test on log levels against the tolerance, one look, Bonferroni over ${c.metrics.length} metrics at alpha ${c.alpha}): false alarms ${tAt(n.tReference)}; within tolerance ${tAt(r.withinTolerance.tReference)}; outlier ${tAt(r.outlierServer.tReference)}`,
  );
  const w = r.withinTolerance;
  out.push(
    `changes within tolerance (errors +5%, p99 +5%, cpu +5%, checkouts -1%): false alarms ${w.falseAlarms}/${w.runs} = ${pct(w.rate)} (95% CI ${pct(w.ci95[0])}..${pct(w.ci95[1])}); reference ${pct(w.reference.rate)} (95% CI ${pct(w.reference.ci95[0])}..${pct(w.reference.ci95[1])})`,
  );
  const o = r.outlierServer;
  out.push(
    `no change, one outlier server (x2 errors, +30% latency) always in the fleet: false alarms ${o.falseAlarms}/${o.runs} = ${pct(o.rate)} (95% CI ${pct(o.ci95[0])}..${pct(o.ci95[1])}); reference ${pct(o.reference.rate)} (95% CI ${pct(o.reference.ci95[0])}..${pct(o.reference.ci95[1])})`,
  );
  out.push(
    `each server also compared with its own past: ${c.historyIntervals > 0 ? `yes, ${(c.historyIntervals * c.intervalMs) / 1000}s before the deploy (only on the baseline's release, after warm-up; a canary ran a bad release until 2 min before in ${r.held?.recentOtherRelease ?? 0}/${n.runs} null deploys)` : 'no (--no-history)'}`,
  );
  if (r.held)
    out.push(
      `held at max bake under the shipped policy (hold), not counted as false alarms: no change ${r.held.null}/${n.runs}, within tolerance ${r.held.withinTolerance}/${w.runs}, outlier ${r.held.outlier}/${o.runs}`,
    );
  out.push(
    `metric passes with the estimate beyond tolerance and an interval excluding no change, every look of every run: ${r.visiblePasses ?? 'n/a'}`,
  );
  out.push('');
  out.push(
    [
      'scenario'.padEnd(22),
      'power@min'.padStart(9),
      'power@max'.padStart(9),
      'passed'.padStart(7),
      'median s'.padStart(9),
      'p90 s'.padStart(7),
      'SPRT s'.padStart(7),
      'x bound'.padStart(8),
      'oracle s'.padStart(9),
      'x oracle'.padStart(9),
      'ref power'.padStart(9),
      'ref s'.padStart(6),
      'speedup'.padStart(8),
      `t@${c.minBakeMs / 1000}s`.padStart(8),
      `t@${c.referenceAtMs / 1000}s`.padStart(8),
    ].join(' '),
  );
  for (const s of r.scenarios) {
    out.push(
      [
        s.label.padEnd(22),
        pct(s.ours.powerByMinBake).padStart(9),
        pct(s.ours.powerByMaxBake).padStart(9),
        pct(s.ours.passed).padStart(7),
        String(s.ours.medianSeconds ?? 'n/a').padStart(9),
        String(s.ours.p90Seconds ?? 'n/a').padStart(7),
        String(s.sprtBoundSeconds ?? 'n/a').padStart(7),
        String(s.ratioToBound ?? 'n/a').padStart(8),
        String(s.oracle?.medianSeconds ?? 'n/a').padStart(9),
        String(s.ratioToOracle ?? 'n/a').padStart(9),
        pct(s.reference.power).padStart(9),
        String(s.reference.seconds).padStart(6),
        String(s.speedupVsReference ?? 'n/a').padStart(8),
        pct(s.tReference?.[String(c.minBakeMs / 1000)]).padStart(8),
        pct(s.tReference?.[String(c.referenceAtMs / 1000)]).padStart(8),
      ].join(' '),
    );
  }
  process.stdout.write(out.join('\n') + '\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

/** Horizontal bars per scenario: our median time to detect, the reference's, and the SPRT bound as a tick. */
function chart(r: Report): string {
  const rows = r.scenarios;
  const W = 900;
  const left = 190;
  const right = 30;
  const rowH = 46;
  const top = 80;
  const H = top + rows.length * rowH + 60;
  const maxS = r.config.maxBakeMs / 1000;
  const x = (s: number) => left + ((W - left - right) * Math.min(s, maxS)) / maxS;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(
    `<text x="${left}" y="24" font-size="15" font-weight="bold">Median time to detect (simulated seconds): immune vs Kayenta-style reference</text>`,
  );
  parts.push(
    `<text x="${left}" y="44" fill="#555">false alarms per deploy: immune ${pct(r.nulls.rate)} (95% CI to ${pct(r.nulls.ci95[1])}), reference ${pct(r.nulls.reference.rate)}; label = power by ${maxS}s</text>`,
  );
  parts.push(
    `<text x="${left}" y="60" fill="#555">black tick = Wald's SPRT bound; green dashes = oracle SPRT on the same 5 s looks (median)</text>`,
  );
  for (let s = 0; s <= maxS; s += 60) {
    parts.push(`<line x1="${x(s)}" x2="${x(s)}" y1="${top - 8}" y2="${H - 50}" stroke="#eee"/>`);
    parts.push(`<text x="${x(s)}" y="${H - 34}" text-anchor="middle" fill="#555">${s}s</text>`);
  }
  rows.forEach((s, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${left - 8}" y="${y + 20}" text-anchor="end">${esc(s.label)}</text>`);
    const ours = s.ours.medianSeconds;
    parts.push(
      ours !== null
        ? `<rect x="${left}" y="${y + 4}" width="${Math.max(2, x(ours) - left)}" height="16" fill="#2b7bb9"/><text x="${x(ours) + 4}" y="${y + 16}" fill="#2b7bb9">${ours}s (${pct(s.ours.powerByMaxBake)})</text>`
        : `<text x="${left + 4}" y="${y + 16}" fill="#2b7bb9">immune: not detected by ${maxS}s in most runs (${pct(s.ours.powerByMaxBake)})</text>`,
    );
    const ref = s.reference.power !== null && s.reference.power > 0.5 ? s.reference.seconds : null;
    parts.push(
      ref !== null
        ? `<rect x="${left}" y="${y + 22}" width="${x(ref) - left}" height="16" fill="#e08a2c"/><text x="${x(ref) + 4}" y="${y + 34}" fill="#b0651a">${ref}s (${pct(s.reference.power)})</text>`
        : `<text x="${left + 4}" y="${y + 34}" fill="#b0651a">reference: missed in most runs (${pct(s.reference.power)})</text>`,
    );
    if (s.sprtBoundSeconds !== null)
      parts.push(
        `<line x1="${x(s.sprtBoundSeconds)}" x2="${x(s.sprtBoundSeconds)}" y1="${y + 1}" y2="${y + 41}" stroke="#000" stroke-width="2"/>`,
      );
    const oracle = s.oracle?.medianSeconds ?? null;
    if (oracle !== null)
      parts.push(
        `<line x1="${x(oracle)}" x2="${x(oracle)}" y1="${y + 1}" y2="${y + 41}" stroke="#2a9d3a" stroke-width="3" stroke-dasharray="4 3"/>`,
      );
  });
  parts.push(
    `<rect x="${left}" y="${H - 22}" width="12" height="12" fill="#2b7bb9"/><text x="${left + 16}" y="${H - 12}">immune (sequential gate)</text>`,
  );
  parts.push(
    `<rect x="${left + 200}" y="${H - 22}" width="12" height="12" fill="#e08a2c"/><text x="${left + 216}" y="${H - 12}">Kayenta-style reference (fixed ${r.config.referenceAtMs / 1000}s window)</text>`,
  );
  parts.push(`</svg>`);
  return parts.join('\n');
}

async function screenshot(svg: string, file: string): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  try {
    const page = await browser.newPage();
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    const el = await page.$('svg');
    await el!.screenshot({ path: file });
  } finally {
    await browser.close();
  }
}

// Last, so that every constant above is initialized before main() or a worker runs.
if (!isMainThread) {
  const tasks = workerData as Task[];
  const out: TaskResult[] = [];
  for (const t of tasks) out.push(runTask(t));
  parentPort!.postMessage(out);
} else {
  await main();
}
