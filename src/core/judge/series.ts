// Turning a metric's raw samples (per server, per interval) into clean cells: malformed or
// missing values are dropped, never guessed, and what remains is counted as "samples used".
import type { MetricKind, Sample } from './types.js';
import type { RateCell } from './rate-test.js';

/** Per server, the usable numeric values of a continuous metric. */
export function numericCells(servers: readonly (readonly (Sample | null | undefined)[])[]): number[][] {
  return servers.map((row) => (row ?? []).filter((s): s is number => typeof s === 'number' && Number.isFinite(s)));
}

/** One sample as events/exposure, or null when it is missing or malformed. */
export function rateCell(kind: MetricKind, s: Sample | null | undefined): RateCell | null {
  if (kind === 'ratio') {
    if (Array.isArray(s) && Number.isFinite(s[0]) && Number.isFinite(s[1]) && s[0] >= 0 && s[1] > 0) return { x: s[0], n: s[1] };
    return null;
  }
  // A count is events per interval, or [events, exposure] when judged per unit of exposure (checkouts per request).
  if (Array.isArray(s)) return Number.isFinite(s[0]) && Number.isFinite(s[1]) && s[0] >= 0 && s[1] > 0 ? { x: s[0], n: s[1] } : null;
  return typeof s === 'number' && Number.isFinite(s) && s >= 0 ? { x: s, n: 1 } : null;
}

/** Per server, the usable events/exposure cells of a ratio or count metric. */
export function rateCells(kind: MetricKind, servers: readonly (readonly (Sample | null | undefined)[])[]): RateCell[][] {
  return servers.map((row) => {
    const out: RateCell[] = [];
    for (const s of row ?? []) {
      const c = rateCell(kind, s);
      if (c) out.push(c);
    }
    return out;
  });
}

/** The k-th smallest (0-based) of `a`, reordering it in place (Hoare's quickselect: linear on average, no sort of a large fleet's samples). */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k];
  }
  return a[k];
}

export function median(values: readonly number[]): number {
  const n = values.length;
  if (n === 0) return NaN;
  const a = Float64Array.from(values);
  const h = n >> 1;
  const upper = select(a, h);
  if (n % 2) return upper;
  // The largest of the lower half: after select, a[0..h-1] are all <= a[h].
  let lower = -Infinity;
  for (let i = 0; i < h; i++) if (a[i] > lower) lower = a[i];
  return (lower + upper) / 2;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let t = 0;
  for (let i = 0; i < values.length; i++) t += values[i]!;
  return t / values.length;
}

/** Per interval index, the events and exposure summed over the given servers (exposure times the server's weight, when given). */
export function intervalTotals(
  kind: MetricKind,
  servers: readonly (readonly (Sample | null | undefined)[])[],
  weights?: readonly number[],
): { x: number; n: number }[] {
  const out: { x: number; n: number }[] = [];
  servers.forEach((row, i) =>
    (row ?? []).forEach((s, t) => {
      out[t] ??= { x: 0, n: 0 };
      const c = rateCell(kind, s);
      if (c) {
        out[t].x += c.x;
        out[t].n += c.n * (weights?.[i] ?? 1);
      }
    }),
  );
  for (let t = 0; t < out.length; t++) out[t] ??= { x: 0, n: 0 };
  return out;
}
