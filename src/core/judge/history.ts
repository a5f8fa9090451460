// Each server against its own past. Servers differ persistently (one answers more errors, one is
// slower), and with a canary of one or two servers that difference looks like a regression, or
// hides one. Given every server's samples from before the deploy, the judge estimates each
// server's own level, shrunk toward the fleet's by how much servers really differ (empirical
// Bayes), and compares canary and baseline after taking it out: a difference-in-differences.
// Without history, or when servers do not differ beyond noise, nothing changes.
import { numericCells, rateCells, mean, median } from './series.js';
import { totals } from './rate-test.js';
import type { MetricKind, Sample } from './types.js';

type Rows = readonly (readonly (Sample | null)[])[];

export interface History {
  baseline: Rows;
  canary: Rows;
}

/** Per server, a factor for each side's rows (same order as the series' rows). */
export interface PerServer {
  baseline: number[];
  canary: number[];
}

/** Cells a server needs before the deploy for its own level to count. */
export const MIN_HISTORY_CELLS = 3;

function split(values: number[], b: number): PerServer {
  return { baseline: values.slice(0, b), canary: values.slice(b) };
}

/**
 * Ratio and count metrics: each server's relative propensity (1 = the fleet's rate before the
 * deploy), a gamma-Poisson posterior mean. Multiplying a server's exposure by it makes "no change"
 * mean "each server as before". The prior's variance is the between-server variance of rates
 * beyond what within-server noise explains (method of moments); zero variance gives factor 1 everywhere.
 */
export function rateFactors(kind: MetricKind, history: History): PerServer | undefined {
  const rows = [...history.baseline, ...history.canary];
  const cells = rateCells(kind, rows);
  const tot = cells.map(totals);
  const all = totals(tot);
  if (!(all.x > 0) || !(all.n > 0)) return undefined;
  const rate = all.x / all.n;
  // Within-server dispersion: every cell around its own server's rate.
  let chi2 = 0;
  let df = 0;
  cells.forEach((row, i) => {
    const own = tot[i].n > 0 ? tot[i].x / tot[i].n : 0;
    if (row.length < 2 || !(own > 0)) return;
    for (const c of row) chi2 += (c.x - c.n * own) ** 2 / (c.n * own);
    df += row.length - 1;
  });
  const phi = df > 0 ? Math.max(1, chi2 / df) : 1;
  let num = 0;
  let den = 0;
  let used = 0;
  cells.forEach((row, i) => {
    if (row.length < MIN_HISTORY_CELLS) return;
    const mu = tot[i].n * rate;
    num += (tot[i].x - mu) ** 2 - phi * mu;
    den += mu * mu;
    used++;
  });
  const between = used >= 3 && den > 0 ? Math.max(0, num / den) : 0;
  if (!(between > 0)) return undefined;
  const strength = 1 / between;
  const factors = cells.map((row, i) => {
    if (row.length < MIN_HISTORY_CELLS) return 1;
    const mu = tot[i].n * rate;
    return (tot[i].x / phi + strength) / (mu / phi + strength);
  });
  return split(factors, history.baseline.length);
}

/**
 * Continuous metrics: each server's shift from the fleet's level before the deploy (on the log
 * scale when every value is positive, as for latency and memory), shrunk by
 * between / (between + its median's sampling variance). Subtracting it (dividing, on the log
 * scale) takes a persistently slow server's slowness out of its samples.
 */
export function continuousShifts(history: History): (PerServer & { log: boolean }) | undefined {
  const raw = numericCells([...history.baseline, ...history.canary]);
  const flat = raw.flat();
  if (flat.length === 0) return undefined;
  const log = flat.every((x) => x > 0);
  const rows = raw.map((r) => (log ? r.map(Math.log) : r));
  const levels = rows.map((r) => (r.length >= MIN_HISTORY_CELLS ? median(r) : NaN));
  const usable = levels.map((l, i) => ({ l, n: rows[i].length })).filter((x) => Number.isFinite(x.l));
  if (usable.length < 3) return undefined;
  // Within-server spread, robustly: the median absolute deviation of every cell from its server's median.
  const deviations: number[] = [];
  rows.forEach((r, i) => {
    if (Number.isFinite(levels[i])) for (const x of r) deviations.push(Math.abs(x - levels[i]));
  });
  const within = (1.4826 * median(deviations)) ** 2;
  // Variance of a sample median: pi/2 sigma^2 / n.
  const se2 = (n: number) => ((Math.PI / 2) * within) / n;
  const centre = median(usable.map((x) => x.l));
  const spread = mean(usable.map((x) => (x.l - centre) ** 2)) * (usable.length / (usable.length - 1));
  const between = Math.max(0, spread - mean(usable.map((x) => se2(x.n))));
  if (!(between > 0)) return undefined;
  const shifts = levels.map((l, i) => (Number.isFinite(l) ? (between / (between + se2(rows[i].length))) * (l - centre) : 0));
  return { ...split(shifts, history.baseline.length), log };
}

/** A continuous series with each server's shift taken out. */
export function applyShifts(rows: Rows, shifts: readonly number[], log: boolean): (Sample | null)[][] {
  return rows.map((row, i) => {
    const s = shifts[i] ?? 0;
    if (s === 0) return [...row];
    return row.map((v) => (typeof v === 'number' && Number.isFinite(v) ? (log ? v * Math.exp(-s) : v - s) : v));
  });
}
