/**
 * Numerics for the health judge: special functions, distribution tails and the sequential-test
 * arithmetic. Pure, dependency-free, double precision. The math is explained in docs/analysis.md.
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
// Distributions
// ---------------------------------------------------------------------------------------------

/** ln P(X = k) for X ~ Poisson(mu), integer k >= 0. */
export function logPoissonPmf(k: number, mu: number): number {
  if (mu === 0) return k === 0 ? 0 : -Infinity;
  return k * Math.log(mu) - mu - logGamma(k + 1);
}

/** P(X >= k) for X ~ Poisson(mu), integer k. */
export function poissonUpperTail(k: number, mu: number): number {
  if (k <= 0) return 1;
  if (mu === 0) return 0;
  return regularizedGammaP(k, mu);
}

/** ln P(X = k) for X ~ Binomial(n, p), integers 0 <= k <= n. */
export function logBinomialPmf(k: number, n: number, p: number): number {
  if (p === 0) return k === 0 ? 0 : -Infinity;
  if (p === 1) return k === n ? 0 : -Infinity;
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/** P(X >= k) for X ~ Binomial(n, p), integers 0 <= k <= n + 1. */
export function binomialUpperTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  return regularizedBeta(p, k, n - k + 1);
}

/** Standard normal CDF Φ(x), full double precision (through the incomplete gamma function). */
export function normalCdf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  // erfc(z) = Q(1/2, z²) for z >= 0;  Φ(x) = erfc(-x/√2) / 2.
  const tail = 0.5 * regularizedGammaQ(0.5, (x * x) / 2);
  return x >= 0 ? 1 - tail : tail;
}

/** Standard normal quantile Φ⁻¹(p), 0 < p < 1 (Acklam's rational approximation + one Halley step). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1) (got ${p})`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) / (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log1p(-p));
    x = -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1);
  }
  // One Halley step on Φ(x) - p brings the relative error to about 1e-15.
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** ln(Σ exp(v_i)) without overflow. */
export function logSumExp(values: readonly number[]): number {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

// ---------------------------------------------------------------------------------------------
// Sequential tests
// ---------------------------------------------------------------------------------------------

/**
 * Log-likelihood ratio of one interval of the conditional-binomial SPRT.
 *
 * Given n = c + b events in the interval, the candidate's share c is Binomial(n, p(θ)) with
 * p(θ) = θe / (θe + f), where e and f are the candidate's and the baseline's exposure in the
 * interval and θ the candidate/baseline rate ratio. The log-LR of θ1 against θ0 is
 *
 *   ℓ = c·ln(θ1/θ0) − n·ln((θ1·e + f) / (θ0·e + f)).
 *
 * Counts may be fractional (PromQL increase() extrapolates); the formula is used as is.
 * An interval with no exposure on either side carries no information: ℓ = 0.
 */
export function sprtIncrement(
  candidateEvents: number,
  baselineEvents: number,
  candidateExposure: number,
  baselineExposure: number,
  theta0: number,
  theta1: number,
): number {
  const n = candidateEvents + baselineEvents;
  if (n === 0) return 0;
  const e = candidateExposure;
  const f = baselineExposure;
  if (e + f <= 0) return 0;
  // ln((θ1e + f)/(θ0e + f)) = ln(1 + (θ1 − θ0)e / (θ0e + f)), accurate when e << f.
  const logNormaliser = Math.log1p(((theta1 - theta0) * e) / (theta0 * e + f));
  return candidateEvents * Math.log(theta1 / theta0) - n * logNormaliser;
}

/**
 * Wald's approximation of the exposure (candidate host-hours) at which the SPRT statistic is above
 * `upper` with probability 1 − β when the true ratio is θ1, the baseline rate is `baselineRate`
 * (events per host-hour) and the baseline accrues `exposureRatio` host-hours per candidate host-hour.
 *
 * Events arrive as a compound Poisson process, so the statistic after E candidate host-hours is
 * approximately Normal(D·E, S·E) with D and S the first two moments of ℓ per candidate host-hour.
 * Solving D·E − z_{1−β}·√(S·E) = upper gives E. This is the probability of being above the boundary
 * AT E, a lower bound on the probability of having crossed it BY E, so the estimate is conservative.
 * Returns null when it cannot be estimated (no baseline rate, no baseline exposure).
 */
export function sprtExposureForPower(
  baselineRate: number,
  exposureRatio: number,
  theta0: number,
  theta1: number,
  upper: number,
  beta: number,
): number | null {
  if (!(baselineRate > 0) || !(exposureRatio > 0) || !Number.isFinite(exposureRatio)) return null;
  const rho = exposureRatio;
  const eventsPerHour = baselineRate * (theta1 + rho);
  const p1 = theta1 / (theta1 + rho);
  const logNormaliser = Math.log((theta1 + rho) / (theta0 + rho));
  const candidateTerm = Math.log(theta1 / theta0) - logNormaliser;
  const baselineTerm = -logNormaliser;
  const drift = eventsPerHour * (p1 * candidateTerm + (1 - p1) * baselineTerm);
  const second = eventsPerHour * (p1 * candidateTerm ** 2 + (1 - p1) * baselineTerm ** 2);
  if (!(drift > 0)) return null;
  const z = normalQuantile(1 - beta);
  const zs = z * Math.sqrt(second);
  const root = (zs + Math.sqrt(zs * zs + 4 * drift * upper)) / (2 * drift);
  return root * root;
}

/**
 * Rate multiples of the absolute guard's alternatives: the guard's likelihood ratio is the
 * equal-weight mixture over rates r·max, r in this list (see poissonGuardLogLr).
 */
export const GUARD_ALTERNATIVE_MULTIPLES = [1.25, 1.5, 2, 4, 8] as const;

/**
 * Log of the mixture likelihood ratio of "the candidate's event rate is r·limit" (equal weights over
 * GUARD_ALTERNATIVE_MULTIPLES) against "it is `limit`", for `events` events in `exposureHours`
 * host-hours. Each component r^C·exp(−(r − 1)·limit·E) is a nonnegative supermartingale whenever the
 * true rate is at most `limit`, so is the mixture, and Ville's inequality bounds the chance it ever
 * exceeds 1/α by α.
 */
export function poissonGuardLogLr(events: number, exposureHours: number, limit: number): number {
  if (limit <= 0) return events > 0 ? Infinity : 0;
  const logWeight = -Math.log(GUARD_ALTERNATIVE_MULTIPLES.length);
  return logSumExp(
    GUARD_ALTERNATIVE_MULTIPLES.map((r) => logWeight + events * Math.log(r) - (r - 1) * limit * exposureHours),
  );
}
