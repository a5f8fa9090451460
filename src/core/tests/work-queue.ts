// Dynamic distribution of a suite over worker slots: the suite is cut into units (whole files, or
// groups of a long file's tests), each unit's estimate includes what loading its file costs, and
// units are handed out one at a time to whichever slot is idle, longest first (LPT as a list
// schedule), so a unit that runs slower than its history delays only its own slot.
import type { EstimatedTest, SuiteTest } from './shard-plan.js';
import { median } from './shard-plan.js';

/**
 * Which of its file's tests a unit runs: the named ones (full titles), or every one but the named
 * (`{ except: [] }`: the whole file). A plan from history uses `except` for whole files and for the
 * last group of a split file, so tests history has not seen yet (added since) still run, once.
 */
export type Selection = { only: string[] } | { except: string[] };

export interface WorkUnit {
  /** Stable within a run: the file, or file#group for a long file cut into groups. */
  id: string;
  file: string;
  /** In source order: the tests it runs (`select` only) or is expected to run (`select` except, from history). */
  tests: EstimatedTest[];
  select: Selection;
  /** The tests' estimates plus the file's load cost. */
  estimateMs: number;
  /** Part of a long file that was cut into groups. */
  split: boolean;
}

/**
 * Load cost per file: its own history; else the median of the known files; else 0 (the first run
 * learns them).
 */
export function loadCosts(files: string[], history: ReadonlyMap<string, number>): Map<string, number> {
  const known = files.map((f) => history.get(f)).filter((x): x is number => x !== undefined && Number.isFinite(x));
  const fallback = known.length ? median(known) : 0;
  return new Map(files.map((f) => [f, Math.max(0, history.get(f) ?? fallback)]));
}

/** How finely a long file may be cut, as shares of a fair share: the plan takes whichever the queue would finish soonest with. */
export const CUTS = [1 / 4, 1 / 8, 1 / 16, 1 / 32];

/**
 * Units over a suite: a file stays whole unless its tests take more than half a fair share
 * (total / slots / 2) and there is more than one slot; such a file is cut into runs of consecutive
 * tests of at most `cut` of a fair share each (a test longer than that is a unit of its own).
 * Finer cuts even out the end of the queue, but each cut costs another load of the file: without
 * `cut`, each of CUTS is planned and the one the queue would finish soonest with (loads included)
 * is kept, the coarser on a tie. Every unit pays its file's load.
 *
 * `open`: the tests come from history, not from a listing of this checkout, so the file may hold
 * tests history does not know: a whole file runs without naming its tests, and the last group of a
 * split file runs every test the file's other groups do not name.
 */
export function planUnits(
  tests: EstimatedTest[],
  slots: number,
  loadMs: ReadonlyMap<string, number> = new Map(),
  open = false,
  cut?: number,
): WorkUnit[] {
  if (!tests.length) return [];
  if (cut === undefined) {
    let best: { units: WorkUnit[]; span: number } | undefined;
    for (const c of CUTS) {
      const units = planUnits(tests, slots, loadMs, open, c);
      const span = queueMakespan(
        dispatchOrder(units, slots).map((u) => u.estimateMs),
        slots,
      );
      if (!best || span < best.span) best = { units, span };
    }
    return best!.units;
  }
  const k = Math.max(1, Math.floor(slots));
  const total = tests.reduce((s, t) => s + t.estimateMs, 0);
  const files = new Map<string, EstimatedTest[]>();
  for (const t of tests) files.set(t.file, [...(files.get(t.file) ?? []), t]);
  const units: WorkUnit[] = [];
  const cap = (total / k) * cut;
  for (const [file, ts] of files) {
    const load = loadMs.get(file) ?? 0;
    const sum = ts.reduce((a, t) => a + t.estimateMs, 0);
    if (k < 2 || ts.length < 2 || sum <= total / k / 2) {
      units.push({
        id: file,
        file,
        tests: ts,
        select: open ? { except: [] } : { only: ts.map((t) => t.title) },
        estimateMs: sum + load,
        split: false,
      });
      continue;
    }
    const first = units.length;
    let group: EstimatedTest[] = [];
    let groupMs = 0;
    const close = () => {
      if (!group.length) return;
      units.push({
        id: `${file}#${units.length - first}`,
        file,
        tests: group,
        select: { only: group.map((t) => t.title) },
        estimateMs: groupMs + load,
        split: true,
      });
      group = [];
      groupMs = 0;
    };
    for (const t of ts) {
      if (group.length && groupMs + t.estimateMs > cap) close();
      group.push(t);
      groupMs += t.estimateMs;
    }
    close();
    if (open) units[units.length - 1]!.select = { except: units.slice(first, -1).flatMap((u) => u.tests.map((t) => t.title)) };
  }
  return units;
}

/**
 * Units for a run planned from history instead of a listing: `files` are the spec files of this
 * checkout, `known` the tests history saw in them (others are ignored: files gone since). Files
 * history knows are planned as by planUnits (open); a file it does not know is one whole unit,
 * estimated at `unknownFileMs` plus its load.
 */
export function planUnitsFromHistory(
  files: string[],
  known: EstimatedTest[],
  slots: number,
  loadMs: ReadonlyMap<string, number>,
  unknownFileMs: number,
): WorkUnit[] {
  const present = new Set(files);
  const units = planUnits(
    known.filter((t) => present.has(t.file)),
    slots,
    loadMs,
    true,
  );
  const planned = new Set(units.map((u) => u.file));
  for (const file of files) {
    if (!planned.has(file))
      units.push({
        id: file,
        file,
        tests: [],
        select: { except: [] },
        estimateMs: Math.max(0, unknownFileMs) + (loadMs.get(file) ?? 0),
        split: false,
      });
  }
  return units;
}

/** What a unit still has to run after it reported `reported` (full titles) and stopped: its tests not reported, and for an open unit anything else not named. */
export function remainder(unit: WorkUnit, reported: ReadonlySet<string>): Pick<WorkUnit, 'tests' | 'select'> {
  const tests = unit.tests.filter((t) => !reported.has(t.title));
  if ('except' in unit.select) return { tests, select: { except: [...unit.select.except, ...reported] } };
  return { tests, select: { only: tests.map((t) => t.title) } };
}

/**
 * The order units are handed out in: longest first (what keeps the finish times together), except
 * that units holding a test whose latest run failed (`failing`, test ids) go first, quickest first,
 * so a failure that persists shows within moments; then the quickest units, one per slot and as
 * many more as fit in `quickShare` of the work, so every slot reports at once and a broken quick
 * test shows early. Ties keep the plan's order.
 */
export function dispatchOrder(units: WorkUnit[], slots = 1, quickShare = 0.02, failing: ReadonlySet<string> = new Set()): WorkUnit[] {
  const idx = new Map(units.map((u, i) => [u, i]));
  const byEstimate = (a: WorkUnit, b: WorkUnit) => a.estimateMs - b.estimateMs || idx.get(a)! - idx.get(b)!;
  const first = failing.size ? units.filter((u) => u.tests.some((t) => failing.has(t.id))).sort(byEstimate) : [];
  if (first.length) {
    const firstSet = new Set(first);
    return [
      ...first,
      ...dispatchOrder(
        units.filter((u) => !firstSet.has(u)),
        Math.max(0, slots - first.length),
        quickShare,
      ),
    ];
  }
  const total = units.reduce((s, u) => s + u.estimateMs, 0);
  const asc = [...units].sort(byEstimate);
  const quick = new Set<WorkUnit>();
  let acc = 0;
  for (const u of asc) {
    if (quick.size >= slots && acc + u.estimateMs > quickShare * total) break;
    quick.add(u);
    acc += u.estimateMs;
  }
  // Never all of them: with fewer units than slots, longest first is the whole plan.
  if (quick.size >= units.length) return asc.reverse();
  const rest = units.filter((u) => !quick.has(u)).sort((a, b) => b.estimateMs - a.estimateMs || idx.get(a)! - idx.get(b)!);
  return [...quick, ...rest];
}

/**
 * When the queue would finish: slots busy for `busyMs` each (the rest idle), then the queued
 * estimates handed out in order to whichever slot frees first. With nothing busy this is the
 * planned makespan.
 */
export function queueMakespan(queued: number[], slots: number, busyMs: number[] = []): number {
  const k = Math.max(1, Math.floor(slots), busyMs.length);
  const free = Array.from({ length: k }, (_, i) => Math.max(0, busyMs[i] ?? 0));
  for (const ms of queued) {
    let best = 0;
    for (let s = 1; s < k; s++) if (free[s]! < free[best]!) best = s;
    free[best]! += Math.max(0, ms);
  }
  return Math.round(Math.max(0, ...free));
}

/** A file's tests history still counts as the file's: those seen within this long of the file's latest run. */
export const HISTORY_SUITE_MS = 24 * 3_600_000;

/**
 * The suite as history knows it: per file, the tests a run reported within `windowMs` of the file's
 * latest run (a test not seen for longer is taken to be gone). Undefined when history knows none.
 */
export function suiteFromHistory(
  stats: { id: string; file: string; title: string; lastSeen: number }[],
  windowMs = HISTORY_SUITE_MS,
): SuiteTest[] | undefined {
  const seen = stats.filter((s) => s.file && s.lastSeen > 0);
  const latest = new Map<string, number>();
  for (const s of seen) latest.set(s.file, Math.max(latest.get(s.file) ?? 0, s.lastSeen));
  const tests = seen.filter((s) => s.lastSeen >= latest.get(s.file)! - windowMs).map(({ id, file, title }) => ({ id, file, title }));
  return tests.length ? tests : undefined;
}

/** The median of the files' estimated totals (what a file history has not seen is guessed to take); 0 with none. */
export function medianFileMs(tests: EstimatedTest[]): number {
  const byFile = new Map<string, number>();
  for (const t of tests) byFile.set(t.file, (byFile.get(t.file) ?? 0) + t.estimateMs);
  return byFile.size ? median([...byFile.values()]) : 0;
}
