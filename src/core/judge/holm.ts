// Holm's step-down correction: the deploy-wide false-alarm rate stays at alpha however many
// metrics are watched, and is uniformly more powerful than Bonferroni.

/** Holm-adjusted p-values, in the input order. */
export function holmAdjust(pValues: number[]): number[] {
  const k = pValues.length;
  const order = pValues.map((p, i) => ({ p: Number.isNaN(p) ? 1 : p, i })).sort((a, b) => a.p - b.p);
  const out = new Array<number>(k);
  let running = 0;
  order.forEach(({ p, i }, rank) => {
    running = Math.max(running, Math.min(1, (k - rank) * p));
    out[i] = running;
  });
  return out;
}
