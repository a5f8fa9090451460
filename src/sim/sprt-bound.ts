// The best any test can do: Wald's expected time for an SPRT that knows the effect and the
// baseline exactly (the simulation's true parameters), at the same error rates. Our median time
// to detect is reported as a multiple of it.

/** Wald's approximation of the SPRT's expected number of nats needed under H1. */
export function waldNats(alpha: number, beta: number): number {
  return (1 - beta) * Math.log((1 - beta) / alpha) + beta * Math.log(beta / (1 - alpha));
}

/** KL divergence of Poisson(mu1) from Poisson(mu0). */
export function poissonKl(mu1: number, mu0: number): number {
  return mu1 * Math.log(mu1 / mu0) - mu1 + mu0;
}

/** KL divergence between normals with equal variance. */
export function gaussianKl(m1: number, m0: number, variance: number): number {
  return ((m1 - m0) * (m1 - m0)) / (2 * variance);
}

/** Expected seconds for the oracle SPRT, given the information (nats) one interval carries. */
export function sprtSeconds(natsPerInterval: number, intervalMs: number, alpha: number, beta: number): number {
  return natsPerInterval > 0 ? (waldNats(alpha, beta) / natsPerInterval) * (intervalMs / 1000) : Infinity;
}

/**
 * Log-likelihood ratio of one negative binomial count (mean m, shape k: a Poisson whose rate has
 * a gamma(k) spread) under mean m1 against mean m0.
 */
export function negBinomialLlr(x: number, m0: number, m1: number, k: number): number {
  if (!(m0 > 0) || !(m1 > 0)) return 0;
  return x * Math.log((m1 * (m0 + k)) / (m0 * (m1 + k))) + k * Math.log((m0 + k) / (m1 + k));
}

/** Log-likelihood ratio of a normal observation y, standard deviation sd, under mean mu1 against mu0. */
export function normalLlr(y: number, mu0: number, mu1: number, sd: number): number {
  return ((mu1 - mu0) * (y - (mu0 + mu1) / 2)) / (sd * sd);
}

/** Wald's upper boundary: the oracle SPRT decides "regression" once its log-likelihood ratio reaches it. */
export function waldUpper(alpha: number, beta: number): number {
  return Math.log((1 - beta) / alpha);
}
