// histogram_quantile as Prometheus computes it, over one interval's bucket increases.

export interface Bucket {
  /** Upper bound; Infinity for +Inf. */
  le: number;
  /** Cumulative count of observations <= le. */
  count: number;
}

/**
 * The q-quantile (0 < q < 1) of a histogram from its cumulative buckets, interpolating linearly
 * inside the bucket holding the rank, like PromQL's histogram_quantile. Null when there are no
 * observations or no +Inf bucket. A rank in the +Inf bucket answers the highest finite bound.
 */
export function histogramQuantile(q: number, buckets: Bucket[]): number | null {
  if (!(q > 0 && q < 1)) return null;
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  if (sorted.length < 2 || sorted[sorted.length - 1].le !== Infinity) return null;
  // Cumulative counts can dip when buckets are summed from scrapes at slightly different moments.
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].count < sorted[i - 1].count) sorted[i] = { ...sorted[i], count: sorted[i - 1].count };
  const total = sorted[sorted.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let b = sorted.findIndex((x) => x.count >= rank);
  if (b === sorted.length - 1) return sorted[sorted.length - 2].le;
  if (b < 0) b = sorted.length - 1;
  const upper = sorted[b].le;
  const lower = b === 0 ? (upper > 0 ? 0 : upper) : sorted[b - 1].le;
  const below = b === 0 ? 0 : sorted[b - 1].count;
  const inBucket = sorted[b].count - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
