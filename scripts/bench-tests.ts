// `npm run bench:tests`: how close sharded test runs come to the best possible makespan, and what
// finding the culprit in a failed batch costs. Prints figures and saves bench-results/tests.json.
//
// Sharding, on three suites: a generated heavy-tailed suite, a published package's own mocha tests
// (bn.js 4.11.6, installed from the npm registry into a temp dir now), and this project's unit tests.
// For each: makespan over the lower bound max(total/workers, longest test) for our work queue
// (warm runners per slot) with history and without, the static LPT plan from history (one process
// per shard, what ran before the queue), round-robin by file, and mocha's own --parallel.
//
// Culprit finding, on real git repos with batches of 2, 4, 8, 16 commits where one commit breaks a
// test: runs and wall time for our search (parallel probes, re-runs) against plain bisection (one
// probe at a time, no re-runs), with and without a failing test that also flakes at good commits.
//
// Flags: --quick (fewer suites and batch sizes), --only sharding|culprit, --suites gen,pkg,unit
// (which sharding suites; default all, --quick: gen,pkg).
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pino from 'pino';
import { simpleGit } from 'simple-git';
import { createGitRepo } from '../src/adapters/git/git-repo.js';
import { createTestRunner, type RunReport } from '../src/adapters/runner/index.js';
import { openDb } from '../src/adapters/store/sqlite/db.js';
import { SqliteTestHistory } from '../src/adapters/store/sqlite/tests.js';
import { testsConfig } from '../src/core/config/tests.js';
import { applyVerdict, nextProbes, searchDone, startSearch } from '../src/core/tests/culprit-search.js';
import {
  estimateDurations,
  makespanLowerBound,
  planRoundRobinByFile,
  planShardsHybrid,
  type EstimatedTest,
  type Shard,
} from '../src/core/tests/shard-plan.js';
import { dispatchOrder, planUnits, queueMakespan } from '../src/core/tests/work-queue.js';
import { runTestStage } from '../src/engine/test-stage.js';
import { makeSuite, type FixtureFile } from '../test/fixtures/suites/make-suite.js';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const suites = new Set((args.includes('--suites') ? args[args.indexOf('--suites') + 1]! : quick ? 'gen,pkg' : 'gen,pkg,unit').split(','));
const log = pino({ level: 'silent' });
const checkoutOf = (dir: string) => ({ sha: 'bench', dir, dispose: async () => {} });

/** Small seeded PRNG (mulberry32), so the generated suite is the same every time. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 150 tests in 10 files: most take 10-60 ms, some 100-400 ms, a few 1.5-3 s, the slow ones clustered in two files. */
function heavyTailedSuite(): FixtureFile[] {
  const r = rng(42);
  const files: FixtureFile[] = [];
  for (let f = 0; f < 10; f++) {
    const tests = [];
    for (let i = 0; i < 15; i++) {
      const u = r();
      const slowFile = f === 2 || f === 7;
      const ms = slowFile && u < 0.25 ? 1500 + Math.round(r() * 1500) : u < 0.8 ? 10 + Math.round(r() * 50) : 100 + Math.round(r() * 300);
      tests.push({ title: `case ${i}`, ms });
    }
    files.push({ name: `f${f}.test.cjs`, suite: `file ${f}`, tests });
  }
  return files;
}

/** One way of running a suite, over the repetitions: each run against the bound of its own test durations. */
interface Measured {
  /** The run with the median ratio. */
  makespanMs: number;
  wallMs: number;
  lowerBoundMs: number;
  ratio: number;
  wallRatio: number;
  /** Every repetition's makespan over its own bound. */
  ratios: number[];
}

interface ShardingRow {
  suite: string;
  /** Interleaved repetitions of ours, static LPT, round-robin and mocha --parallel; each figure is the median run's. */
  reps: number;
  tests: number;
  workers: number;
  /** From history (mean durations over the recent runs): what the plan figure is measured against. */
  totalMs: number;
  longestMs: number;
  lowerBoundMs: number;
  /** The queue alone: its units handed out in order from history, makespan in test time (no start-up, no loads). */
  planned: { makespanMs: number; ratio: number };
  /** The work queue: warm runners per slot, planned from history. */
  ours: Measured;
  /** The queue on the first run (no history: lists every test first). */
  oursCold: Measured;
  /** The static hybrid LPT plan from history, one process per shard. */
  staticPlan: Measured & { plannedRatio: number };
  roundRobin: Measured;
  /** Wall time of the whole `mocha --parallel` command. */
  mochaParallel: Measured;
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** The lower bound max(total / workers, longest test) of one run, from the durations it measured itself. */
function runBound(durations: number[], workers: number): number {
  return makespanLowerBound(
    durations.filter((d) => Number.isFinite(d)),
    workers,
  );
}

/** Runs measured as (makespan, wall, own bound): the median run by ratio, and every ratio. */
function summarise(runs: { makespanMs: number; wallMs: number; lowerBoundMs: number }[]): Measured {
  const withRatio = runs.map((r) => ({ ...r, ratio: r.makespanMs / r.lowerBoundMs })).sort((a, b) => a.ratio - b.ratio);
  const mid = withRatio[Math.floor((withRatio.length - 1) / 2)]!;
  return {
    makespanMs: mid.makespanMs,
    wallMs: mid.wallMs,
    lowerBoundMs: Math.round(mid.lowerBoundMs),
    ratio: round2(mid.ratio),
    wallRatio: round2(mid.wallMs / mid.lowerBoundMs),
    ratios: runs.map((r) => round2(r.makespanMs / r.lowerBoundMs)),
  };
}

async function shardingBench(name: string, dir: string, files: string[], workers: number, reps = quick ? 1 : 3): Promise<ShardingRow> {
  const db = openDb(':memory:');
  const history = new SqliteTestHistory(db);
  const config = testsConfig.parse({ runner: 'mocha', files, workers, retries: 0, fail_fast: false, test_timeout: '120s', timeout: '20m' });
  // One runner per way of planning, kept across runs as `immune serve` keeps one per pipeline.
  const runners = new Map<unknown, ReturnType<typeof createTestRunner>>();
  const run = async (planner?: (t: EstimatedTest[], k: number) => Shard[]): Promise<RunReport> => {
    let runner = runners.get(planner);
    if (!runner) runners.set(planner, (runner = createTestRunner({ config, history, log, planner })));
    const rep = await runner.run(checkoutOf(dir), new AbortController().signal);
    if (!rep.ok) process.stdout.write(` (not ok: ${rep.summary.split('\n').slice(0, 2).join('; ')})`);
    await history.recordRun('bench', rep.results, Date.now());
    if (rep.fileLoads?.length) await history.recordFileLoads('bench', rep.fileLoads, Date.now());
    return rep;
  };
  // A run's makespan: its slowest runner process, from start to exit; its bound from its own test durations.
  const measured = (r: RunReport) => ({
    makespanMs: Math.max(...r.shards.map((s) => s.durationMs)),
    wallMs: r.durationMs,
    lowerBoundMs: runBound(
      r.results.filter((x) => x.state !== 'skipped').map((x) => x.durationMs),
      workers,
    ),
  });
  process.stdout.write(`  ${name}: cold run…`);
  const cold = await run();
  await run(); // a second sample of every duration, as a real line would have
  // The machine is shared: repeat each interleaved, keep every run, report the median.
  const warm: RunReport[] = [];
  const lpt: RunReport[] = [];
  const rr: RunReport[] = [];
  const mocha: { makespanMs: number; wallMs: number; lowerBoundMs: number }[] = [];
  const jsonOut = join(await mkdtemp(join(tmpdir(), 'immune-bench-mocha-')), 'report.json');
  for (let rep = 0; rep < reps; rep++) {
    process.stdout.write(` [${rep + 1}/${reps}] queue…`);
    warm.push(await run());
    process.stdout.write(' static LPT…');
    lpt.push(await run(planShardsHybrid));
    process.stdout.write(' round-robin…');
    rr.push(await run(planRoundRobinByFile));
    process.stdout.write(' mocha --parallel…');
    const t0 = Date.now();
    const res = await execa(
      'node',
      [
        'node_modules/mocha/bin/mocha.js',
        '--parallel',
        '--jobs',
        String(workers),
        '--reporter',
        'json',
        '--reporter-option',
        `output=${jsonOut}`,
        '--timeout',
        '120000',
        ...files,
      ],
      { cwd: dir, reject: false, all: true, env: { ...process.env, CI: 'true' } },
    );
    const wallMs = Date.now() - t0;
    const report = await readFile(jsonOut, 'utf8').then(
      (t) => JSON.parse(t) as { tests: { duration?: number }[] },
      () => undefined,
    );
    await rm(jsonOut, { force: true });
    if (!report) {
      process.stdout.write(
        ` (mocha --parallel wrote no report: exit ${res.exitCode ?? res.signal}; ${String(res.all).trim().split('\n').slice(-3).join(' | ')})`,
      );
      continue;
    }
    mocha.push({
      makespanMs: wallMs,
      wallMs,
      lowerBoundMs: runBound(
        report.tests.map((t) => t.duration ?? 0),
        workers,
      ),
    });
  }
  process.stdout.write(' done\n');
  await rm(dirname(jsonOut), { recursive: true, force: true });
  const known = await history.durations();
  const durations = [...known.values()];
  await Promise.all([...runners.values()].map((r) => r.close()));
  db.close();
  const lb = makespanLowerBound(durations, workers);
  const last = warm.at(-1)!;
  const estimated = estimateDurations(
    last.results.map((t) => ({ id: t.id, file: t.file, title: t.title })),
    known,
  );
  const planned = queueMakespan(
    dispatchOrder(planUnits(estimated, workers), workers).map((u) => u.estimateMs),
    workers,
  );
  const lptPlanned = planShardsHybrid(estimated, workers).reduce((m, sh) => Math.max(m, sh.estimateMs), 0);
  return {
    suite: name,
    reps,
    tests: last.total,
    workers,
    totalMs: Math.round(durations.reduce((s, d) => s + d, 0)),
    longestMs: Math.round(Math.max(...durations)),
    lowerBoundMs: Math.round(lb),
    planned: { makespanMs: Math.round(planned), ratio: round2(planned / lb) },
    ours: summarise(warm.map(measured)),
    oursCold: summarise([measured(cold)]),
    staticPlan: { ...summarise(lpt.map(measured)), plannedRatio: round2(lptPlanned / lb) },
    roundRobin: summarise(rr.map(measured)),
    mochaParallel: summarise(mocha.length ? mocha : [{ makespanMs: NaN, wallMs: NaN, lowerBoundMs: NaN }]),
  };
}

/**
 * bn.js 4.11.6 ships its mocha tests in its npm tarball (later versions do not): 166 tests over 6
 * files, heavy-tailed (two "pummel" tests take seconds, most take under 1 ms). Installed into a temp dir.
 */
const PUBLISHED = 'bn.js@4.11.6';

async function publishedSuite(): Promise<{ dir: string; files: string[]; cleanup(): Promise<void> }> {
  const base = await mkdtemp(join(tmpdir(), 'immune-bench-pkg-'));
  await writeFile(join(base, 'package.json'), JSON.stringify({ name: 'bench-host', private: true }));
  await execa('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', PUBLISHED], { cwd: base });
  const dir = join(base, 'node_modules', 'bn.js');
  // The package's own dependencies resolve from base/node_modules; mocha comes from this project.
  await mkdir(join(dir, 'node_modules'), { recursive: true });
  await symlink(join(root, 'node_modules', 'mocha'), join(dir, 'node_modules', 'mocha'));
  return { dir, files: ['test/*-test.js', 'test/pummel/*-test.js'], cleanup: () => rm(base, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------
// Culprit finding

interface CulpritRow {
  commits: number;
  flaky: boolean;
  method: 'ours' | 'bisection';
  parallel: number;
  runs: number;
  wallMs: number;
  correct: boolean;
}

function culpritSuite(stateDir: string): Record<string, string> {
  return {
    'package.json': JSON.stringify({ name: 'culprit-bench', private: true }),
    'lib/math.cjs': 'exports.add = (a, b) => a + b;\n',
    'test/math.test.cjs': `const fs = require('node:fs');
const { add } = require('../lib/math.cjs');
describe('math', () => {
  it('adds', () => {
    // With FLAKY=1 this test also fails its first attempt in every checkout: a flake at good commits.
    const marker = ${JSON.stringify(stateDir)} + '/' + Buffer.from(process.cwd()).toString('hex');
    const first = !fs.existsSync(marker);
    fs.writeFileSync(marker, '1');
    if (process.env.FLAKY === '1' && first) throw new Error('flaked');
    if (add(2, 2) !== 4) throw new Error('add is broken');
  });
});
`,
    'test/other.test.cjs': "describe('other', () => { for (let i = 0; i < 5; i++) it('holds ' + i, () => {}); });\n",
  };
}

async function culpritBench(sizes: number[]): Promise<CulpritRow[]> {
  const rows: CulpritRow[] = [];
  // As many probes at once as there are cores: more only compete for the CPU on one machine.
  const parallel = Math.max(2, Math.min(4, cpus().length));
  for (const n of sizes) {
    const tmp = await mkdtemp(join(tmpdir(), 'immune-bench-culprit-'));
    try {
      const origin = join(tmp, 'origin.git');
      await simpleGit().raw(['init', '--bare', '--initial-branch=main', origin]);
      const devDir = join(tmp, 'dev');
      await mkdir(devDir);
      const dev = simpleGit(devDir);
      await dev
        .init(['--initial-branch=main'])
        .addConfig('user.name', 'Bench')
        .addConfig('user.email', 'bench@example.test')
        .addRemote('origin', origin);
      const write = async (files: Record<string, string>, msg: string) => {
        for (const [p, c] of Object.entries(files)) {
          await mkdir(join(devDir, p, '..'), { recursive: true });
          await writeFile(join(devDir, p), c);
        }
        await dev.add(Object.keys(files)).commit(msg);
        return (await dev.revparse(['HEAD'])).trim();
      };
      await write(culpritSuite(join(tmp, 'state')), 'base');
      await mkdir(join(tmp, 'state'));
      // The culprit sits ~60% into the batch (never first, so a blamed first commit is visibly wrong).
      const bad = Math.max(1, Math.floor(n * 0.6));
      const shas: string[] = [];
      for (let i = 0; i < n; i++)
        shas.push(
          await write(
            { [`notes/${i}.txt`]: `${i}\n`, ...(i === bad ? { 'lib/math.cjs': 'exports.add = (a, b) => a * b + 1;\n' } : {}) },
            `change ${i}`,
          ),
        );
      await dev.push('origin', 'main');
      for (const flaky of [false, true]) {
        for (const method of ['ours', 'bisection'] as const) {
          process.env.FLAKY = flaky ? '1' : '0';
          const db = openDb(':memory:');
          const history = new SqliteTestHistory(db);
          const k = method === 'ours' ? parallel : 1;
          const runner = createTestRunner({
            config: testsConfig.parse({
              runner: 'mocha',
              files: ['test/*.test.cjs'],
              workers: k,
              retries: method === 'ours' ? 1 : 0,
              setup: [['ln', '-s', join(root, 'node_modules'), 'node_modules']],
            }),
            history,
            log,
          });
          const repo = createGitRepo({ url: origin, branch: 'main', remote: 'origin', workdir: join(tmp, `work-${method}-${flaky}`) });
          // The batch run itself is the same for both; time the search only (report.culprit).
          const res = await runTestStage({ repo, runner, history, log, parallel: k }, { shas }, new AbortController().signal);
          db.close();
          const c = res.culprit;
          rows.push({
            commits: n,
            flaky,
            method,
            parallel: k,
            runs: c?.runs ?? 0,
            wallMs: c?.durationMs ?? 0,
            correct: c?.sha === shas[bad],
          });
          process.stdout.write(
            `  n=${n} flaky=${flaky} ${method}: ${c?.runs ?? '-'} runs, ${((c?.durationMs ?? 0) / 1000).toFixed(1)}s, ${c?.sha === shas[bad] ? 'right commit' : `WRONG (${res.ok ? 'batch passed' : c ? `blamed #${shas.indexOf(c.sha)}` : 'no culprit'})`}\n`,
          );
        }
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  return rows;
}

/** Probes and rounds for every culprit position, from the pure search alone (no flakes). */
function searchCost(n: number, k: number): { meanRuns: number; maxRounds: number } {
  let runs = 0;
  let maxRounds = 0;
  for (let c = 0; c < n; c++) {
    let s = startSearch(n);
    let rounds = 0;
    while (!searchDone(s)) {
      rounds++;
      for (const p of nextProbes(s, k)) s = applyVerdict(s, p, p >= c ? 'bad' : 'good');
    }
    runs += s.runs;
    maxRounds = Math.max(maxRounds, rounds);
  }
  return { meanRuns: Math.round((runs / n) * 100) / 100, maxRounds };
}

// ---------------------------------------------------------------------------------------------

const out: Record<string, unknown> = { date: new Date().toISOString(), cpus: cpus().length, node: process.version };

if (only !== 'culprit') {
  console.log('Sharding: makespan over the lower bound max(total/workers, longest test)');
  const rows: ShardingRow[] = [];
  if (suites.has('gen')) {
    const gen = await makeSuite(heavyTailedSuite());
    try {
      rows.push(await shardingBench('generated heavy-tailed (150 tests)', gen.dir, ['test/*.test.cjs'], 4));
    } finally {
      await gen.cleanup();
    }
  }
  const pub = !suites.has('pkg')
    ? undefined
    : await publishedSuite().catch((err: Error) => {
        console.log(`  ${PUBLISHED}: could not install from the npm registry (${err.message.split('\n')[0]}); skipped`);
        return undefined;
      });
  if (pub) {
    try {
      rows.push(await shardingBench(`${PUBLISHED} (npm tarball tests)`, pub.dir, pub.files, 2));
    } finally {
      await pub.cleanup();
    }
  }
  if (suites.has('unit')) rows.push(await shardingBench('immune unit tests', root, ['test/unit/**/*.test.ts'], 2));
  console.log('');
  console.log(
    'suite                                   tests  W  LB(s)  plan  queue  queue-wall  cold  static-LPT  static-wall  rr-file  mocha--parallel',
  );
  for (const r of rows) {
    console.log(
      `${r.suite.padEnd(40)}${String(r.tests).padStart(5)}  ${r.workers}  ${(r.ours.lowerBoundMs / 1000).toFixed(1).padStart(5)}  ${r.planned.ratio.toFixed(2).padStart(4)}  ${r.ours.ratio.toFixed(2).padStart(5)}  ${r.ours.wallRatio.toFixed(2).padStart(10)}  ${r.oursCold.ratio.toFixed(2).padStart(4)}  ${r.staticPlan.ratio.toFixed(2).padStart(10)}  ${r.staticPlan.wallRatio.toFixed(2).padStart(11)}  ${r.roundRobin.ratio.toFixed(2).padStart(7)}  ${r.mochaParallel.ratio.toFixed(2).padStart(15)}`,
    );
  }
  console.log("(each run against the bound of its own test durations, median of the repetitions; LB = the median queue run's bound;");
  console.log(' plan = the queue handed out from history, in test time; queue = slowest warm runner incl. its start-up and file loads,');
  console.log(
    ' planned from history (only the spec files listed); queue-wall adds setup; cold = the queue without history (lists every test',
  );
  console.log(' first); static-LPT = the plan from history, one process per shard');
  console.log(' (its start-up and loads; static-wall adds the separate dry run that lists the tests);');
  console.log(' rr-file = round-robin by file; mocha --parallel is wall time)');
  for (const r of rows)
    console.log(`  ${r.suite}: queue runs ${r.ours.ratios.join(', ')}; mocha --parallel runs ${r.mochaParallel.ratios.join(', ')}`);
  out.sharding = rows;
}

if (only !== 'sharding') {
  const sizes = quick ? [2, 8] : [2, 4, 8, 16];
  console.log('\nCulprit search cost from the pure search (mean runs over every culprit position / worst rounds):');
  const model = sizes.map((n) => ({ commits: n, bisection: searchCost(n, 1), parallel2: searchCost(n, 2), parallel3: searchCost(n, 3) }));
  for (const m of model) {
    const f = (c: { meanRuns: number; maxRounds: number }) => `${c.meanRuns} runs / ${c.maxRounds} rounds`;
    console.log(
      `  n=${String(m.commits).padStart(2)}  bisection ${f(m.bisection)}   2 at once ${f(m.parallel2)}   3 at once ${f(m.parallel3)}`,
    );
  }
  console.log('\nCulprit search on real git repos (runs and wall time of the search after the failed batch run):');
  out.culpritModel = model;
  out.culprit = await culpritBench(sizes);
}

await mkdir(join(root, 'bench-results'), { recursive: true });
const file = join(root, 'bench-results', 'tests.json');
// --only keeps the other half of an earlier run's figures.
const earlier = only
  ? ((await readFile(file, 'utf8')
      .then(JSON.parse)
      .catch(() => ({}))) as Record<string, unknown>)
  : {};
await writeFile(file, JSON.stringify({ ...earlier, ...out }, null, 2) + '\n');
console.log('\nsaved bench-results/tests.json');
