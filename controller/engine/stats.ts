/**
 * Numerics for the health judge: special functions, the distribution tails the judge uses, and the
 * arithmetic of betting e-processes. Pure, dependency-free, double precision. The math is explained in
 * docs/analysis.md; the functions are checked against scipy reference values in test/unit/stats.test.ts.
 */

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

const LANCZOS_G = 7;
const LANCZOS_COEFFICIENTS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;
const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error about 1e-15). */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new RangeError(`logGamma: x must be > 0 (got ${x})`);
  if (x < 0.5) {
    // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS_COEFFICIENTS[0];
  for (let i = 1; i < LANCZOS_COEFFICIENTS.length; i++) sum += (LANCZOS_COEFFICIENTS[i] as number) / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return HALF_LOG_TWO_PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

const EPS = 1e-15;
const TINY = 1e-300;
const MAX_ITERATIONS = 10_000;

/** Regularized lower incomplete gamma P(a, x) = γ(a, x) / Γ(a), a > 0, x >= 0. */
export function regularizedGammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`regularizedGammaP: need a > 0, x >= 0 (got ${a}, ${x})`);
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x);
}

/** Regularized upper incomplete gamma Q(a, x) = 1 - P(a, x), computed without cancellation. */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) throw new RangeError(`regularizedGammaQ: need a > 0, x >= 0 (got ${a}, ${x})`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

function gammaSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
}

/** Q(a, x) by Lentz's continued fraction (x >= a + 1). */
function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
}

/** Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1)) {
    throw new RangeError(`regularizedBeta: need a, b > 0 and 0 <= x <= 1 (got x=${x}, a=${a}, b=${b})`);
  }
  if (x === 0) return 0;
  if (x === 1) return 1;
  const logFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

function betaContinuedFraction(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) break;
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// Distribution tails
// ---------------------------------------------------------------------------------------------

/**
 * P(X >= k) for X ~ Poisson(mu). Counts from PromQL may be fractional: X is an integer, and X >= k is taken as
 * X >= floor(k), which is the larger probability (the conservative side for a test that fails on a small tail).
 */
export function poissonUpperTail(k: number, mu: number): number {
  const n = Math.floor(k);
  if (n <= 0) return 1;
  if (mu === 0) return 0;
  return regularizedGammaP(n, mu);
}

/** P(X >= k) for X ~ Binomial(n, p), integers 0 <= k <= n + 1. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  return regularizedBeta(p, k, n - k + 1);
}

/** Standard normal CDF Φ(x), full double precision (through the incomplete gamma function). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  // erfc(z) = Q(1/2, z²) for z >= 0;  Φ(x) = erfc(-x/√2) / 2.
  const tail = 0.5 * regularizedGammaQ(0.5, (x * x) / 2);
  return x >= 0 ? 1 - tail : tail;
}

// ---------------------------------------------------------------------------------------------
// Betting e-processes
// ---------------------------------------------------------------------------------------------

/**
 * One round of a betting e-process on a normalised excess `x` whose conditional mean is <= 0 under the null and
 * which is bounded below by -1: wealth is multiplied by 1 + λ·x. With λ in [0, 1) the factor is positive, its
 * conditional mean is <= 1, and the wealth is a nonnegative supermartingale (Ville: P(ever >= 1/α) <= α).
 *
 * Two truncations, both on the safe side or reported:
 * - above, x is clipped so that ln(1 + λ·x) <= maxLog (clipping from above lowers the mean: still valid). This is
 *   how no single interval adds more than maxLog to a statistic.
 * - below, x < -1 breaks the bound the test assumes (the caller's cap on the baseline was exceeded); x is then
 *   raised to -1 and `belowCap` says so, so the caller can report it (docs/analysis.md, "Assumptions").
 */
export function betLogFactor(x: number, lambda: number, maxLog: number): { logFactor: number; belowCap: boolean; clipped: boolean } {
  if (!(lambda > 0) || !Number.isFinite(x)) return { logFactor: 0, belowCap: false, clipped: false };
  const belowCap = x < -1;
  const xMax = Math.expm1(maxLog) / lambda;
  const clipped = x > xMax;
  const v = Math.min(Math.max(x, -1), xMax);
  return { logFactor: Math.log1p(lambda * v), belowCap, clipped };
}

/**
 * The predictable plug-in bet for an excess with expected value `mean` and second moment `second` under the
 * alternative the data point to: λ ≈ mean / second (the maximiser of E ln(1 + λx) to second order), clamped to
 * [0, lambdaMax]. Any predictable choice keeps the e-process valid; this one gives it its power.
 */
export function plugInBet(mean: number, second: number, lambdaMax: number): number {
  if (!(mean > 0) || !(second > 0)) return 0;
  return Math.min(lambdaMax, mean / second);
}

/**
 * The share of `alpha` spent at look k (1-based) by a test that looks again and again at evidence that is not a
 * supermartingale: α·6/(π²·k²), whose sum over all k is α (a union bound over the looks).
 */
export function lookAlpha(alpha: number, look: number): number {
  const k = Math.max(1, look);
  return (alpha * 6) / (Math.PI * Math.PI * k * k);
}
