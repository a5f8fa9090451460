// Finding the first bad commit of a failed batch. Commits are indexed 0..n-1 oldest first; the
// commit before the batch is known good (index -1) and the batch tip (n-1) known bad. Probes may
// run in parallel: free workers split the largest unexplored gaps evenly, so one worker is plain
// bisection and k workers cut the range into k+1 parts per round.

export type ProbeVerdict = 'good' | 'bad';

export interface CulpritSearch {
  n: number;
  /** Highest index known good (-1 = the commit before the batch). */
  lo: number;
  /** Lowest index known bad. */
  hi: number;
  runs: number;
}

export function startSearch(n: number): CulpritSearch {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`a batch needs at least one commit, got ${n}`);
  return { n, lo: -1, hi: n - 1, runs: 0 };
}

export function searchDone(s: CulpritSearch): boolean {
  return s.hi - s.lo <= 1;
}

/** The culprit's index once the search is done. */
export function culpritIndex(s: CulpritSearch): number | undefined {
  return searchDone(s) ? s.hi : undefined;
}

/**
 * Up to `free` new indices to test, given the ones already running. New probes go to the gaps
 * between known and running points where they shrink the worst gap most, and split each gap
 * evenly: one probe is plain bisection, k probes cut a range into k+1 equal parts.
 */
export function nextProbes(s: CulpritSearch, free: number, running: readonly number[] = []): number[] {
  if (searchDone(s)) return [];
  const points = [s.lo, ...running.filter((i) => i > s.lo && i < s.hi), s.hi].sort((a, b) => a - b);
  const gaps = points.slice(1).map((b, j) => ({ a: points[j]!, b, alloc: 0 }));
  for (let k = 0; k < free; k++) {
    let best: (typeof gaps)[number] | undefined;
    for (const g of gaps) {
      // A gap (a, b) has b - a - 1 untested commits inside; it can take that many probes at most.
      if (g.alloc >= g.b - g.a - 1) continue;
      if (!best || (g.b - g.a) / (g.alloc + 1) > (best.b - best.a) / (best.alloc + 1)) best = g;
    }
    if (!best) break;
    best.alloc++;
  }
  const picks: number[] = [];
  for (const g of gaps) {
    for (let j = 1; j <= g.alloc; j++) {
      const p = g.a + Math.round((j * (g.b - g.a)) / (g.alloc + 1));
      if (p > g.a && p < g.b && !picks.includes(p)) picks.push(p);
    }
  }
  return picks;
}

/** Fold one probe's verdict in. A verdict outside the open range changes nothing (it came too late). */
export function applyVerdict(s: CulpritSearch, index: number, verdict: ProbeVerdict): CulpritSearch {
  const runs = s.runs + 1;
  if (verdict === 'bad' && index < s.hi && index > s.lo) return { ...s, hi: index, runs };
  if (verdict === 'good' && index > s.lo && index < s.hi) return { ...s, lo: index, runs };
  return { ...s, runs };
}

/** Running probes that can no longer matter (outside the open range) and may be cancelled. */
export function obsoleteProbes(s: CulpritSearch, running: readonly number[]): number[] {
  return running.filter((i) => i <= s.lo || i >= s.hi);
}
