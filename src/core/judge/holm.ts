// Holm's step-down correction: the deploy-wide false-alarm rate stays at alpha however many
// metrics are watched, and is uniformly more powerful than Bonferroni. The weighted form (Holm
// 1979) spends alpha unevenly: hypothesis i gets alpha * w_i / (sum of weights still in play).

/** Holm-adjusted p-values, in the input order; `weights` default to 1 each (plain Holm). */
export function holmAdjust(pValues: readonly number[], weights?: readonly number[]): number[] {
  const k = pValues.length;
  const w = pValues.map((_, i) => (weights && weights[i] > 0 ? weights[i] : 1));
  let remaining = w.reduce((t, x) => t + x, 0);
  const order = pValues.map((p, i) => ({ q: (Number.isNaN(p) ? 1 : p) / w[i], i })).sort((a, b) => a.q - b.q);
  const out = new Array<number>(k);
  let running = 0;
  for (const { q, i } of order) {
    running = Math.max(running, Math.min(1, remaining * q));
    out[i] = running;
    remaining -= w[i];
  }
  return out;
}
