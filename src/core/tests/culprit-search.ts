// Finding the first bad commit of a failed batch. Commits are indexed 0..n-1 oldest first; the
// commit before the batch is known good (index -1) and the batch tip (n-1) known bad. Probes may
// run in parallel: each free worker takes the midpoint of the largest unexplored gap, so one
// worker is plain bisection and k workers cut the range into k+1 parts per round.

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
 * Up to `free` new indices to test, given the ones already running. Each pick halves the largest
 * gap between known and running points, so picks are never wasted on a gap of width 1.
 */
export function nextProbes(s: CulpritSearch, free: number, running: readonly number[] = []): number[] {
  if (searchDone(s)) return [];
  const points = [s.lo, ...running.filter((i) => i > s.lo && i < s.hi), s.hi].sort((a, b) => a - b);
  const picks: number[] = [];
  for (let k = 0; k < free; k++) {
    let bestGap = 1;
    let at = -1;
    for (let j = 0; j + 1 < points.length; j++) {
      const gap = points[j + 1]! - points[j]!;
      if (gap > bestGap) { bestGap = gap; at = j; }
    }
    if (at < 0) break;
    const mid = Math.floor((points[at]! + points[at + 1]!) / 2);
    picks.push(mid);
    points.splice(at + 1, 0, mid);
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
