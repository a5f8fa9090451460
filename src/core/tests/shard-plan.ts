// Sharding a suite so the shards finish together: durations from history (unknown tests get an
// estimate), longest-processing-time-first assignment, and fastest-first order inside each shard.

export interface SuiteTest {
  /** Stable id: file + full title. */
  id: string;
  file: string;
  title: string;
}

export interface EstimatedTest extends SuiteTest {
  estimateMs: number;
  /** True when the estimate comes from this test's own history. */
  known: boolean;
}

export interface Shard {
  index: number;
  /** In run order: files with the smallest share of the shard first, tests in discovery order within a file. */
  tests: EstimatedTest[];
  estimateMs: number;
}

/**
 * Durations for every test: its own history when there is one; else the median of known tests in
 * the same file; else the median of all known tests; else `fallbackMs`.
 */
export function estimateDurations(tests: SuiteTest[], history: ReadonlyMap<string, number>, fallbackMs = 100): EstimatedTest[] {
  const byFile = new Map<string, number[]>();
  const all: number[] = [];
  for (const t of tests) {
    const d = history.get(t.id);
    if (d === undefined || !Number.isFinite(d)) continue;
    all.push(d);
    const list = byFile.get(t.file) ?? [];
    list.push(d);
    byFile.set(t.file, list);
  }
  const globalMedian = all.length ? median(all) : fallbackMs;
  return tests.map((t) => {
    const d = history.get(t.id);
    if (d !== undefined && Number.isFinite(d)) return { ...t, estimateMs: Math.max(0, d), known: true };
    const fileKnown = byFile.get(t.file);
    return { ...t, estimateMs: fileKnown ? median(fileKnown) : globalMedian, known: false };
  });
}

export function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Longest processing time first: tests by decreasing estimate, each to the least-loaded shard
 * (ties to the lowest index, so the plan is deterministic). Makespan <= (4/3 - 1/(3k)) * optimum.
 * Returns at most `slots` shards and never an empty one.
 */
export function planShards(tests: EstimatedTest[], slots: number): Shard[] {
  const k = Math.max(1, Math.min(Math.floor(slots), tests.length));
  if (!tests.length) return [];
  const order = tests.map((t, i) => ({ t, i })).sort((a, b) => b.t.estimateMs - a.t.estimateMs || a.i - b.i);
  const loads = new Array<number>(k).fill(0);
  const members: { t: EstimatedTest; i: number }[][] = Array.from({ length: k }, () => []);
  for (const item of order) {
    let best = 0;
    // Equal loads (zero-length tests): the shard with fewer tests, so no shard is left empty.
    for (let s = 1; s < k; s++)
      if (loads[s]! < loads[best]! || (loads[s] === loads[best] && members[s]!.length < members[best]!.length)) best = s;
    loads[best]! += item.t.estimateMs;
    members[best]!.push(item);
  }
  return members.map((m, index) => ({ index, tests: orderFastestFirst(m), estimateMs: loads[index]! }));
}

/**
 * Fastest first, as far as a file-based runner allows: files by their total estimate ascending,
 * tests in discovery order inside a file (mocha and node:test run a file's tests in source order).
 */
function orderFastestFirst(items: { t: EstimatedTest; i: number }[]): EstimatedTest[] {
  const files = new Map<string, { total: number; first: number; items: { t: EstimatedTest; i: number }[] }>();
  for (const it of items) {
    const f = files.get(it.t.file) ?? { total: 0, first: it.i, items: [] };
    f.total += it.t.estimateMs;
    f.first = Math.min(f.first, it.i);
    f.items.push(it);
    files.set(it.t.file, f);
  }
  return [...files.values()]
    .sort((a, b) => a.total - b.total || a.first - b.first)
    .flatMap((f) => f.items.sort((a, b) => a.i - b.i).map((x) => x.t));
}

/**
 * The default plan: whole files where they fit, single tests where a file is too long. Each file a
 * shard touches costs a load (imports, compiling TypeScript) that per-test durations do not show, so
 * a file stays whole unless its tests take more than half a fair share (total / slots); then its
 * tests are placed one by one. LPT over those units; makespan <= total/k + max(total/2k, longest test).
 */
export function planShardsHybrid(tests: EstimatedTest[], slots: number): Shard[] {
  if (!tests.length) return [];
  const k = Math.max(1, Math.floor(slots));
  const total = tests.reduce((s, t) => s + t.estimateMs, 0);
  const files = new Map<string, EstimatedTest[]>();
  for (const t of tests) files.set(t.file, [...(files.get(t.file) ?? []), t]);
  const units: EstimatedTest[] = [];
  const members = new Map<string, EstimatedTest[]>();
  for (const [file, ts] of files) {
    const sum = ts.reduce((a, t) => a + t.estimateMs, 0);
    if (ts.length > 1 && sum > total / k / 2) for (const t of ts) units.push(t);
    else {
      const id = `${file}\u0000file`;
      units.push({ id, file, title: file, estimateMs: sum, known: ts.every((t) => t.known) });
      members.set(id, ts);
    }
  }
  const order = new Map(tests.map((t, i) => [t.id, i]));
  return planShards(units, k).map((sh) => {
    const ts = sh.tests.flatMap((u) => members.get(u.id) ?? [u]);
    return { ...sh, tests: orderFastestFirst(ts.map((t) => ({ t, i: order.get(t.id)! }))) };
  });
}

/** Round-robin over files (what a naive CI split does): for comparison in benchmarks. */
export function planRoundRobinByFile(tests: EstimatedTest[], slots: number): Shard[] {
  const files = [...new Set(tests.map((t) => t.file))];
  const k = Math.max(1, Math.min(Math.floor(slots), files.length));
  const shards: Shard[] = Array.from({ length: k }, (_, index) => ({ index, tests: [], estimateMs: 0 }));
  files.forEach((f, i) => {
    const s = shards[i % k]!;
    for (const t of tests)
      if (t.file === f) {
        s.tests.push(t);
        s.estimateMs += t.estimateMs;
      }
  });
  return shards.filter((s) => s.tests.length);
}

/** Shards planned over whole files (runners that cannot select single tests): LPT on file totals. */
export function planShardsByFile(tests: EstimatedTest[], slots: number): Shard[] {
  const files = new Map<string, EstimatedTest[]>();
  for (const t of tests) files.set(t.file, [...(files.get(t.file) ?? []), t]);
  const units: EstimatedTest[] = [...files.entries()].map(([file, ts]) => ({
    id: file,
    file,
    title: file,
    estimateMs: ts.reduce((s, t) => s + t.estimateMs, 0),
    known: ts.every((t) => t.known),
  }));
  return planShards(units, slots).map((s) => ({ ...s, tests: s.tests.flatMap((u) => files.get(u.file)!) }));
}

/** The makespan no schedule can beat: max(total / workers, longest single test). */
export function makespanLowerBound(durations: number[], workers: number): number {
  if (!durations.length) return 0;
  const total = durations.reduce((s, d) => s + d, 0);
  return Math.max(total / Math.max(1, workers), Math.max(...durations));
}

export function makespan(shards: Pick<Shard, 'estimateMs'>[]): number {
  return shards.reduce((m, s) => Math.max(m, s.estimateMs), 0);
}

/**
 * Time left, from history: for each unfinished shard its estimate minus the time it has run
 * (never below zero), the largest of those. Shards not yet started count in full.
 */
export function etaMs(shards: { estimateMs: number; startedAt?: number; done: boolean }[], now: number): number {
  let eta = 0;
  for (const s of shards) {
    if (s.done) continue;
    const ran = s.startedAt === undefined ? 0 : now - s.startedAt;
    eta = Math.max(eta, Math.max(0, s.estimateMs - ran));
  }
  return Math.round(eta);
}
