// A seeded random source for simulations and benchmarks: the same seed gives the same fleet,
// traffic and verdicts, so a surprising benchmark figure can be replayed.

export interface Random {
  /** Uniform on [0, 1). */
  next(): number;
  normal(): number;
  /** Poisson(mean); a normal approximation above 60 keeps large means cheap. */
  poisson(mean: number): number;
  /** Gamma(shape, scale 1/shape): mean 1, variance 1/shape. */
  gammaUnit(shape: number): number;
  int(n: number): number;
}

/** mulberry32: small, fast, good enough for Monte Carlo of this size. */
export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    let v = 0;
    let s = 0;
    do {
      u = 2 * next() - 1;
      v = 2 * next() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    spare = v * f;
    return u * f;
  };
  const poisson = (mean: number): number => {
    if (!(mean > 0)) return 0;
    if (mean > 60) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal()));
    // Multiplication method in chunks to avoid underflow of exp(-mean).
    let k = 0;
    let left = mean;
    while (left > 0) {
      const step = Math.min(left, 30);
      left -= step;
      const L = Math.exp(-step);
      let p = next();
      while (p > L) {
        k++;
        p *= next();
      }
    }
    return k;
  };
  const gammaUnit = (shape: number): number => {
    // Marsaglia-Tsang for shape >= 1, boosted for shape < 1; scaled to mean 1.
    const boost = shape < 1 ? Math.pow(next(), 1 / shape) : 1;
    const k = shape < 1 ? shape + 1 : shape;
    const d = k - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x = 0;
      let v = 0;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = next();
      if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return (boost * d * v) / shape;
    }
  };
  return { next, normal, poisson, gammaUnit, int: (n) => Math.floor(next() * n) };
}
