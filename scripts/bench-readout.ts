// Benchmark: the readout of one experiment phase over 1,000,000 exposure events (target < 1 s):
// the SQLite tally (dedup, exclusion, attribution) plus the statistics. Prints figures and
// writes bench-results/readout.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb } from '../src/adapters/store/sqlite/db.js';
import { SqliteExperimentStore } from '../src/adapters/store/sqlite/experiments.js';
import { experimentConfig } from '../src/core/config/experiment.js';
import { nextPhase } from '../src/core/experiments/features.js';
import { computeReadout } from '../src/core/experiments/readout.js';
import type { ConversionEvent, ExposureEvent } from '../src/core/experiments/types.js';
import { createRandom } from '../src/sim/random.js';

const EVENTS = Number(process.env.EVENTS ?? 1_000_000);
const RUNS = 5;
const dir = mkdtempSync(join(tmpdir(), 'immune-bench-readout-'));
const db = openDb(join(dir, 'immune.db'));
const store = new SqliteExperimentStore(db);
const def = experimentConfig.parse({
  name: 'EnhancedCheckout',
  initial_rollout: '100%',
  branches: { Enhanced: '50%' },
  goals: ['checkout'],
  guardrails: ['error_rate'],
});
const phase = nextPhase(def, undefined, false, 0)!;
await store.startPhase(phase);

// 1,000,000 exposure events: 5% are repeats (several SDK instances), 0.1% of users see both branches.
const r = createRandom(42);
let t = performance.now();
const users = Math.round(EVENTS * 0.95);
let exposures: ExposureEvent[] = [];
let conversions: ConversionEvent[] = [];
let sent = 0;
let convCount = 0;
const flush = async (): Promise<void> => {
  await store.recordExposures(exposures);
  await store.recordConversions(conversions);
  exposures = [];
  conversions = [];
};
for (let i = 0; i < EVENTS; i++) {
  const u = i < users ? i : r.int(users);
  const userId = `user-${u}`;
  const enhanced = (u * 2654435761) % 1000 < 500;
  const branch = (i >= users && r.next() < 0.02) !== enhanced ? 'Enhanced' : 'control';
  exposures.push({ experiment: def.name, phase: 1, branch, userId, time: 1000 + i });
  if (i < users) {
    if (r.next() < (enhanced ? 0.11 : 0.1)) conversions.push({ userId, goal: 'checkout', value: 20, time: 2000 + i });
    if (r.next() < 0.02) conversions.push({ userId, goal: 'error_rate', time: 2000 + i });
  }
  if (exposures.length >= 50_000) {
    convCount += conversions.length;
    sent += exposures.length;
    await flush();
  }
}
convCount += conversions.length;
sent += exposures.length;
await flush();
const loadMs = performance.now() - t;

const times: number[] = [];
let out: ReturnType<typeof computeReadout> | undefined;
for (let i = 0; i < RUNS; i++) {
  t = performance.now();
  const tally = await store.tally(def.name, 1, ['checkout', 'error_rate']);
  out = computeReadout(def, phase, tally);
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(RUNS / 2)]!;
const result = {
  benchmark: 'readout',
  exposureEvents: sent,
  conversions: convCount,
  participants: out!.participants,
  excluded: out!.excluded,
  decision: out!.decision,
  loadSeconds: +(loadMs / 1000).toFixed(2),
  ingestEventsPerSecond: Math.round((sent + convCount) / (loadMs / 1000)),
  readoutMs: { median: +median.toFixed(2), min: +times[0]!.toFixed(2), max: +times[RUNS - 1]!.toFixed(2), runs: RUNS },
  targetMs: 1000,
  pass: median < 1000,
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverage1m: +loadavg()[0]!.toFixed(2) },
  date: new Date().toISOString(),
};
console.log(
  `readout of ${sent.toLocaleString('en')} exposure events (${out!.participants.toLocaleString('en')} participants, ${out!.excluded} excluded, ${convCount.toLocaleString('en')} conversions)`,
);
console.log(
  `  median ${median.toFixed(2)} ms over ${RUNS} runs (min ${times[0]!.toFixed(2)}, max ${times[RUNS - 1]!.toFixed(2)}); target < 1000 ms: ${result.pass ? 'met' : 'NOT met'}`,
);
console.log(`  ${out!.summary}`);
console.log(
  `  (storing the events took ${result.loadSeconds} s: ${result.ingestEventsPerSecond.toLocaleString('en')} events/s, counts kept as they arrive)`,
);
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/readout.json', `${JSON.stringify(result, null, 2)}\n`);
db.close();
rmSync(dir, { recursive: true, force: true });
