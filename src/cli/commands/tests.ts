// `immune tests slowest|flaky|quarantine`: what the per-test history says (read from the SQLite store).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { TestHistoryStore, TestStats } from '../../ports.js';
import { table } from '../output.js';
import { suiteFromHistory } from '../../core/tests/work-queue.js';
import { InputError } from '../../core/errors.js';

const DEFAULT_DB = '.immune/immune.db';

type Stat = TestStats;

async function open(file: string): Promise<{ history: TestHistoryStore; close(): Promise<void> }> {
  if (!existsSync(file)) throw new InputError('--db', `no database at ${file} (run immune serve first, or pass --db FILE)`);
  // Loaded here, not at the top: the composition root costs every other command its start-up.
  const { openStateStore } = await import('../../runtime.js');
  const store = openStateStore(file);
  return { history: store.tests, close: () => store.close() };
}

function limitOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InputError('--limit', `"${v}" is not a positive whole number`);
  return n;
}

/** Tests still in the suite as history sees it (seen within a day of their file's latest run); `all`: every test with runs. */
export function current(stats: Stat[], all = false): Stat[] {
  const ids = all ? undefined : new Set(suiteFromHistory(stats)?.map((t) => t.id));
  return stats.filter((s) => s.runs > 0 && (!ids || ids.has(s.id)));
}

export function slowest(stats: Stat[], limit: number): Stat[] {
  return stats
    .filter((s) => s.runs > 0)
    .sort((a, b) => b.meanMs - a.meanMs || a.id.localeCompare(b.id))
    .slice(0, limit);
}

/** Per file: the sum of its tests' mean durations (what a file costs a shard, loading aside). */
export function slowestFiles(stats: Stat[], limit: number): { file: string; meanMs: number; tests: number }[] {
  const files = new Map<string, { file: string; meanMs: number; tests: number }>();
  for (const s of stats) {
    if (s.runs === 0) continue;
    const f = files.get(s.file) ?? { file: s.file, meanMs: 0, tests: 0 };
    f.meanMs += s.meanMs;
    f.tests++;
    files.set(s.file, f);
  }
  return [...files.values()].sort((a, b) => b.meanMs - a.meanMs || a.file.localeCompare(b.file)).slice(0, limit);
}

export function flaky(stats: Stat[], limit: number): (Stat & { rate: number })[] {
  return stats
    .filter((s) => s.flakes > 0 || s.quarantined)
    .map((s) => ({ ...s, rate: s.runs ? s.flakes / s.runs : 0 }))
    .sort((a, b) => b.rate - a.rate || b.flakes - a.flakes || a.id.localeCompare(b.id))
    .slice(0, limit);
}

/** Runs `fn` on the store's test history in `file`, closing the store after. */
async function withHistory(file: string, fn: (history: TestHistoryStore) => Promise<void>): Promise<void> {
  const s = await open(file);
  try {
    await fn(s.history);
  } finally {
    await s.close();
  }
}

/** With --json the rows as JSON; else a table of them, or `empty` when there are none. */
function printRows<T>(
  rows: T[],
  o: { json?: boolean },
  view: { json: (r: T) => unknown; empty: string; header: string[]; cells: (r: T) => string[] },
): void {
  if (o.json) process.stdout.write(JSON.stringify(rows.map(view.json), null, 2) + '\n');
  else if (!rows.length) process.stdout.write(`${view.empty}\n`);
  else process.stdout.write(`${table(rows.map(view.cells), view.header)}\n`);
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;
const tenths = (ms: number): number => Math.round(ms * 10) / 10;

/** A command that lists from the history: --db, --limit and --json. */
function listCommand(tests: Command, name: string, description: string): Command {
  return tests
    .command(name)
    .description(description)
    .option('--db <file>', 'SQLite store', DEFAULT_DB)
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'machine-readable output');
}

function registerSlowest(tests: Command): void {
  listCommand(tests, 'slowest', 'Tests (or files, with --files) by mean duration over their recent runs, slowest first.')
    .option('--files', 'per test file (sum of its tests) instead of per test')
    .option('--all', 'also tests no run has reported for a day before their file last ran (removed or renamed)')
    .action(async (o: { db: string; limit: string; json?: boolean; files?: boolean; all?: boolean }) => {
      const limit = limitOf(o.limit);
      await withHistory(o.db, async (history) => {
        const stats = current(await history.stats(), o.all);
        if (o.files) {
          printRows(slowestFiles(stats, limit), o, {
            json: (f) => ({ ...f, meanMs: tenths(f.meanMs) }),
            empty: 'no test runs recorded yet',
            header: ['MEAN', 'TESTS', 'FILE'],
            cells: (f) => [seconds(f.meanMs), String(f.tests), f.file],
          });
          return;
        }
        printRows(slowest(stats, limit), o, {
          json: (r) => ({ id: r.id, meanMs: tenths(r.meanMs), runs: r.runs, failures: r.failures, flakes: r.flakes }),
          empty: 'no test runs recorded yet',
          header: ['MEAN', 'RUNS', 'TEST'],
          cells: (r) => [seconds(r.meanMs), String(r.runs), r.id],
        });
      });
    });
}

function registerFlaky(tests: Command): void {
  listCommand(tests, 'flaky', 'Tests that failed and then passed on a re-run, by flake rate; quarantined ones too.').action(
    async (o: { db: string; limit: string; json?: boolean }) => {
      const limit = limitOf(o.limit);
      await withHistory(o.db, async (history) => {
        printRows(flaky(await history.stats(), limit), o, {
          json: (r) => ({ id: r.id, rate: r.rate, flakes: r.flakes, runs: r.runs, failures: r.failures, quarantined: r.quarantined }),
          empty: 'no flaky tests recorded',
          header: ['RATE', 'FLAKES/RUNS', 'QUARANTINED', 'TEST'],
          cells: (r) => [`${(r.rate * 100).toFixed(1)}%`, `${r.flakes}/${r.runs}`, r.quarantined ? 'yes' : 'no', r.id],
        });
      });
    },
  );
}

function registerQuarantine(tests: Command): void {
  tests
    .command('quarantine <id>')
    .description('Quarantine a test by id (file::full title): it gets extra re-runs; a test that always fails still blocks.')
    .option('--db <file>', 'SQLite store', DEFAULT_DB)
    .option('--release', 'take the test out of quarantine')
    .action(async (id: string, o: { db: string; release?: boolean }) => {
      await withHistory(o.db, async (history) => {
        if (!(await history.stats()).some((x) => x.id === id))
          throw new InputError('id', `no test "${id}" in the history (see immune tests slowest)`);
        await history.setQuarantined(id, !o.release);
        process.stdout.write(`${o.release ? 'released' : 'quarantined'} ${id}\n`);
      });
    });
}

export function register(program: Command): void {
  const tests = program
    .command('tests')
    .description('Per-test history: the slowest tests, the flaky ones, quarantine.')
    .addHelpText('after', '\nExit codes: 0 ok, 2 bad input (unknown flag, no database).');
  registerSlowest(tests);
  registerFlaky(tests);
  registerQuarantine(tests);
}
