// Turn the sampler's ticks (every server, every interval) into the judge's series:
// one array per server, one sample per interval, canary and baseline apart.
import type { MetricSeries, MetricSpec, Sample } from '../judge/types.js';

export interface Tick {
  time: number;
  /** `release`: what the server ran in this interval, and `since` when it started it (-Infinity: long before), when known;
   * `error`: why a failed sample failed (no answer, HTTP status, a body that is not metrics). */
  samples: { server: string; ok: boolean; error?: string; values: Record<string, Sample | null>; release?: string; since?: number }[];
}

/**
 * One side's servers and time range; with `release`, an interval counts only when the server ran
 * that release and had been on it longer than `warmupMs` (the watch leaves out each server's
 * start-up after it switched to the new build: start-up CPU and memory are not a slow failure).
 */
export interface SeriesSide {
  servers: string[];
  from: number;
  to: number;
  release?: string;
  warmupMs?: number;
  /** With `release`: a sample whose release the sampler does not know (the fleet could not say) still counts. */
  trustUnknown?: boolean;
  /** With `release`: the most a metric's own `warmupMs` may lengthen this side's warm-up. */
  warmupCapMs?: number;
  /**
   * Baseline side: its servers restarted with the canaries (the fresh baseline, plan.ts). A metric
   * with a `warmupMs` (one that depends on a process's age) gets their row numbers as `fresh`.
   */
  fresh?: string[];
}

/** After a server starts a release its first minute is warm-up (caches, JIT, pools): never part of its own past. */
export const WARMUP_MS = 60_000;

/** A window of every server's own past: only intervals on `release` count, after the warm-up. */
export interface HistoryWindow {
  from: number;
  to: number;
  /** The release the baseline runs now: an interval on any other release is not the server's own past. */
  release?: string;
  warmupMs?: number;
}

/** A metric as the series are built: `per` makes a count judged per unit of that ratio metric's denominator. */
export type SeriesSpec = MetricSpec & { per?: string; warmupMs?: number };

export function toSeries(
  specs: SeriesSpec[],
  ticks: readonly Tick[],
  sides: { baseline: SeriesSide; canary: SeriesSide },
  /**
   * Also every server's own samples in this window (before the deploy), as `before`: with
   * `release`, an interval counts only when the server ran that release and had been on it
   * longer than the warm-up; any other interval is null (a sample with no recorded release is
   * not trusted either).
   */
  history?: HistoryWindow,
): MetricSeries[] {
  // Each side's samples as a grid (server x tick in its range), looked up once for all metrics: a
  // search of every tick for every server and metric was quadratic in the fleet (1.4 s of a look
  // at 1,000 servers). The first sample of a server in a tick wins, as that search did.
  type Cell = Tick['samples'][number] | undefined;
  const indexes = new Map<Tick, Map<string, Tick['samples'][number]>>();
  const indexOf = (t: Tick) => {
    let m = indexes.get(t);
    if (!m) {
      m = new Map();
      for (const s of t.samples) if (!m.has(s.server)) m.set(s.server, s);
      indexes.set(t, m);
    }
    return m;
  };
  const grid = (side: SeriesSide) => {
    const inRange = ticks.filter((t) => t.time > side.from && t.time <= side.to);
    const index = inRange.map(indexOf);
    return { side, times: inRange.map((t) => t.time), rows: side.servers.map((server): Cell[] => index.map((m) => m.get(server))) };
  };
  // A missing sample stays in place as null, so interval i is the same interval on every server.
  const collect = (m: SeriesSpec, { side, times, rows }: ReturnType<typeof grid>): (Sample | null)[][] => {
    const warm = Math.max(side.warmupMs ?? WARMUP_MS, Math.min(m.warmupMs ?? 0, side.warmupCapMs ?? 0));
    return rows.map((row) =>
      row.map((s, i) => {
        const own =
          side.release === undefined ||
          (s?.release === undefined ? side.trustUnknown === true : s.release === side.release && times[i]! - (s.since ?? Infinity) > warm);
        return s?.ok && own ? sampleOf(m, s.values) : null;
      }),
    );
  };
  const withHistory = history && history.to > history.from ? history : undefined;
  // Each side's rows now and, with a history window, before (in the same server order).
  const rows = (side: SeriesSide) => ({ now: grid(side), before: withHistory && grid({ ...withHistory, servers: side.servers }) });
  const baseline = rows(sides.baseline);
  const canary = rows(sides.canary);
  const freshIds = new Set(sides.baseline.fresh);
  const fresh = sides.baseline.servers.flatMap((id, i) => (freshIds.has(id) ? [i] : []));
  return specs.map((m) => ({
    ...m,
    baseline: collect(m, baseline.now),
    canary: collect(m, canary.now),
    ...(baseline.before && canary.before ? { before: { baseline: collect(m, baseline.before), canary: collect(m, canary.before) } } : {}),
    ...(fresh.length && (m.warmupMs ?? 0) > 0 ? { fresh } : {}),
  }));
}

/** One server-interval's sample; a count with `per` becomes [count, exposure] (null without both). */
export function sampleOf(m: SeriesSpec, values: Readonly<Record<string, Sample | null>>): Sample | null {
  const v = values[m.name] ?? null;
  if (m.kind !== 'count' || m.per === undefined) return v;
  const e = values[m.per];
  return typeof v === 'number' && Array.isArray(e) ? [v, e[1]] : null;
}

/**
 * Canary servers that failed the last `consecutive` scrapes since `from`: a hard lock-up fails the
 * gate at once, while one lost scrape is not a lock-up.
 */
export function unresponsive(ticks: Tick[], servers: string[], from: number, consecutive = 2): string[] {
  const recent = ticks.filter((t) => t.time > from).slice(-consecutive);
  if (recent.length < consecutive) return [];
  return servers.filter((id) => recent.every((t) => t.samples.find((s) => s.server === id)?.ok === false));
}

/** Why a server's last sample failed (the source's own words), for the gate's explanation. */
export function lastError(ticks: Tick[], server: string): string | undefined {
  for (let i = ticks.length - 1; i >= 0; i--) {
    const s = ticks[i]!.samples.find((x) => x.server === server);
    if (s && !s.ok) return s.error;
    if (s?.ok) return undefined;
  }
  return undefined;
}

/**
 * Who is to blame for the servers that stopped answering. Only a server on the new build counts
 * against the change: in a gate the canaries; in the watch (every server is on the new build) a
 * server that answered at least once since the watch began, i.e. answered on the new build and
 * then stopped. The rest (a baseline server that died, a server already down before the watch)
 * are incidents to report, kept out of the samples, not evidence against the commit.
 */
export function splitUnresponsive(
  ticks: Tick[],
  sides: { onNew: string[]; others: string[]; from: number; watch?: boolean },
  consecutive = 2,
): { blamed: string[]; incidents: string[]; reasons: Record<string, string> } {
  const down = unresponsive(ticks, [...sides.onNew, ...sides.others], sides.from, consecutive);
  const answeredSince = (id: string): boolean => ticks.some((t) => t.time > sides.from && t.samples.some((s) => s.server === id && s.ok));
  const blamed = down.filter((id) => sides.onNew.includes(id) && (!sides.watch || answeredSince(id)));
  const incidents = down.filter((id) => !blamed.includes(id));
  const reasons: Record<string, string> = {};
  for (const id of down) {
    const why = lastError(ticks, id);
    if (why) reasons[id] = why;
  }
  return { blamed, incidents, reasons };
}
