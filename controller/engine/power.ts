/**
 * The power of the judge's relative test (engine/judge.ts), before a rollout runs: how much candidate exposure it
 * takes to detect a given candidate/baseline ratio with a given power, and the smallest ratio detected within a
 * number of intervals. Pure and deterministic; `ringctl plan --power` prints it (docs/analysis.md, "Sizing rings").
 *
 * The test is the judge's own, interval by interval:
 *   - the bets come from sizeRelativeBet, the function consumeInterval sizes its bets with, fed with the estimator
 *     state (baseline-rate predictor, deviations, excess, residuals) that the judge would hold on average: each
 *     interval updates it with the expected counts and their expected squares under the assumed ratio;
 *   - each interval's ln-factor ln(1 + λ·x), with x = (c - ρ·b)/L clamped as betLogFactor clamps it (below at -1,
 *     above so that no interval adds more than ½·ln(1/α)), has its mean and variance computed over the Poisson laws
 *     of c (candidate, mean ratio·rate·e) and b (baseline, mean rate·f): exactly for small means, on a normal grid
 *     for large ones;
 *   - the power after n intervals is P(ln E_n >= ln(1/α)) for the sum of those increments, by the normal
 *     approximation. The judge fails as soon as ln E crosses at any look, so this is a lower bound of the chance it
 *     has failed by then, up to the approximations; test/unit/power.test.ts measures it on simulated streams.
 * After STEADY_INTERVALS the estimators have converged (half-lives of 5 and 30 intervals) and later intervals repeat
 * the last one's mean and variance, so long bakes cost no more than short ones.
 *
 * Not counted: the `max` guard and the catastrophic test (they can only fail a ring sooner), over-dispersion of the
 * counts (a noisier fleet needs more exposure; the judge estimates it as it goes), and the ramp of the ring (the
 * exposure is what matters; the time assumes the ring's hosts are all exposed).
 */
import { baselineRate, EXCESS_DECAY, RATE_DECAY, sizeRelativeBet, initialJudgeState, type RelativeState } from './judge';
import { normalCdf } from './stats';

/** One ring's setting of one metric's relative test. */
export interface PowerSetting {
  /** The baseline's rate, events per host-hour. */
  baselineRate: number;
  /** Hosts on the candidate (the ring and the rings before it) and on the baseline (the rest of the fleet). */
  candidateHosts: number;
  baselineHosts: number;
  /** The analysis interval, hours. */
  intervalHours: number;
  /** The metric's maxRatio (the null) and detectRatio (the ratio the bets are designed for). */
  maxRatio: number;
  detectRatio: number;
  /** The relative test's α in this ring (its share of the rollout's: alphaLedger, shareOf, testAlphas). */
  alpha: number;
}

/** Intervals computed one by one before the per-interval increment is taken as constant. */
export const STEADY_INTERVALS = 150;
/** The longest horizon searched (intervals): a regression that needs longer is "not detectable". */
export const MAX_INTERVALS = 10_000_000;
/** Means below this are summed over the exact Poisson law; above, over a normal grid. */
const EXACT_POISSON_BELOW = 60;
const GRID_SIGMAS = 5;
const GRID_POINTS = 21;
/** Support points less likely than this are left out (the rest renormalised). */
const NEGLIGIBLE = 1e-10;

/** Support points and probabilities of Poisson(mean). */
function poissonSupport(mean: number): { values: number[]; probs: number[] } {
  if (!(mean > 0)) return { values: [0], probs: [1] };
  const values: number[] = [];
  const probs: number[] = [];
  if (mean < EXACT_POISSON_BELOW) {
    const top = Math.ceil(mean + 12 * Math.sqrt(mean) + 12);
    let logP = -mean;
    let total = 0;
    for (let k = 0; k <= top; k++) {
      if (k > 0) logP += Math.log(mean / k);
      const p = Math.exp(logP);
      values.push(k);
      probs.push(p);
      total += p;
    }
    return trimmed(values, probs, total);
  }
  const sd = Math.sqrt(mean);
  let total = 0;
  for (let i = 0; i < GRID_POINTS; i++) {
    const z = -GRID_SIGMAS + (2 * GRID_SIGMAS * i) / (GRID_POINTS - 1);
    const p = Math.exp(-0.5 * z * z);
    values.push(Math.max(0, mean + z * sd));
    probs.push(p);
    total += p;
  }
  return trimmed(values, probs, total);
}

function trimmed(values: number[], probs: number[], total: number): { values: number[]; probs: number[] } {
  const keep = probs.map((p, i) => ({ v: values[i] as number, p: p / total })).filter((x) => x.p >= NEGLIGIBLE);
  const kept = keep.reduce((a, x) => a + x.p, 0);
  return { values: keep.map((x) => x.v), probs: keep.map((x) => x.p / kept) };
}

/** Mean and variance of each interval's ln-factor of the relative test, for `intervals` intervals at `ratio`. */
export function intervalIncrements(s: PowerSetting, ratio: number, intervals: number): Array<{ mean: number; variance: number }> {
  const e = s.candidateHosts * s.intervalHours;
  const f = s.baselineHosts * s.intervalHours;
  const cMean = ratio * s.baselineRate * e;
  const bMean = s.baselineRate * f;
  const cLaw = poissonSupport(cMean);
  const bLaw = poissonSupport(bMean);
  const bVar = bMean;
  const cVar = cMean;
  const metric = { name: 'power', type: 'crash-rate' as const, maxRatio: s.maxRatio, detectRatio: s.detectRatio };
  let rel: RelativeState = initialJudgeState(metric).relative;
  /** Σ D^j and Σ D^2j over the bet intervals so far (D = EXCESS_DECAY): the weights of the excess estimate. */
  let weights = { sum: 0, squares: 0 };
  let carry = 0;
  const out: Array<{ mean: number; variance: number }> = [];
  const n = Math.min(intervals, STEADY_INTERVALS);
  for (let k = 0; k < n; k++) {
    const rateB = baselineRate(rel);
    const bet = sizeRelativeBet(rel, e, f, s.maxRatio, s.detectRatio, s.alpha);
    let mean = 0;
    let variance = 0;
    if (bet !== null) {
      // The bet depends on the data through the excess estimate z (the judge's kappa): average over its law.
      let m1 = 0;
      let m2 = 0;
      /** Σ prob·g² over the bins, g the bin's mean increment: the spread of the mean that the bet's law causes. */
      let between = 0;
      for (const { lambda, prob } of betLaw(rel, weights, cMean, bMean, bet.rho, e, f, s)) {
        if (!(lambda > 0)) continue;
        let g = 0;
        // betLogFactor's clamp: x in [-1, expm1(maxLog)/λ].
        const xMax = Math.expm1(bet.maxLog) / lambda;
        for (let j = 0; j < bLaw.values.length; j++) {
          const rb = bet.rho * (bLaw.values[j] as number);
          const pb = prob * (bLaw.probs[j] as number);
          for (let i = 0; i < cLaw.values.length; i++) {
            const x = Math.min(Math.max(((cLaw.values[i] as number) - rb) / bet.L, -1), xMax);
            const lf = Math.log1p(lambda * x);
            const p = pb * (cLaw.probs[i] as number);
            m1 += p * lf;
            m2 += p * lf * lf;
            g += (pb / prob) * (cLaw.probs[i] as number) * lf;
          }
        }
        between += prob * g * g;
      }
      mean = m1;
      // The excess estimate moves slowly (half-life EXCESS_HALF_LIFE), so the bets, and the means of nearby
      // increments with them, are correlated: covariance D^|j-k| x the spread of the mean, summed over earlier
      // intervals (carry = Σ_{j<k} D^(k-j)).
      const spread = Math.max(0, between - m1 * m1);
      variance = Math.max(0, m2 - m1 * m1) + 2 * spread * carry;
      carry = EXCESS_DECAY * (carry + 1);
      weights = { sum: EXCESS_DECAY * weights.sum + 1, squares: EXCESS_DECAY * EXCESS_DECAY * weights.squares + 1 };
    }
    out.push({ mean, variance });
    // The estimators, fed with what the judge would see on average (consumeInterval's updates, in expectation).
    const next: RelativeState = { ...rel };
    if (bet !== null) {
      const z = cMean - bet.rho * bMean;
      const bias = z - bet.kappa * bet.m;
      next.residual = {
        squares: rel.residual.squares + cVar + bet.rho * bet.rho * bVar + bias * bias,
        poisson: rel.residual.poisson + bet.m * (1 + bet.rho),
        m2: rel.residual.m2 + 2 * bet.m * bet.m,
      };
      next.excess = { z: EXCESS_DECAY * rel.excess.z + z, m: EXCESS_DECAY * rel.excess.m + bet.m };
    }
    if (f > 0) {
      if (rateB > 0) {
        const bHat = rateB * f;
        next.deviation = { n: rel.deviation.n + 1, squares: rel.deviation.squares + (bVar + (bMean - bHat) ** 2) / (bHat * bHat), poisson: rel.deviation.poisson + 1 / bHat };
      }
      next.baseline = { events: RATE_DECAY * rel.baseline.events + bMean, exposure: RATE_DECAY * rel.baseline.exposure + f };
    }
    rel = next;
  }
  return out;
}

/** Bins of the bet's law (equal probability, by λ). */
const BET_BINS = 10;

/**
 * The law of the judge's bet λ at an interval: λ depends on the data only through the excess estimate
 * z = Σ D^j (c_j - ρ·b_j) over the earlier bet intervals. Its candidate part is taken as a scaled Poisson with the
 * same mean and variance (w·N, w = ΣD^2j/ΣD^j: skewed like the counts when they are rare), its baseline part as a
 * normal; each point's λ is what sizeRelativeBet gives for that z. Returned as BET_BINS bins of equal probability.
 */
function betLaw(rel: RelativeState, weights: { sum: number; squares: number }, cMean: number, bMean: number, rho: number, e: number, f: number, s: PowerSetting): Array<{ lambda: number; prob: number }> {
  const lambdaAt = (z: number): number => sizeRelativeBet({ ...rel, excess: { z, m: rel.excess.m } }, e, f, s.maxRatio, s.detectRatio, s.alpha)?.lambda ?? 0;
  if (weights.sum === 0) return [{ lambda: lambdaAt(rel.excess.z), prob: 1 }];
  const w = weights.squares / weights.sum;
  const counts = poissonSupport((cMean * weights.sum) / w);
  const bMeanW = rho * bMean * weights.sum;
  const bSd = rho * Math.sqrt(bMean * weights.squares);
  const BASE_POINTS = [-2, -1, 0, 1, 2];
  const baseProbs = BASE_POINTS.map((u) => Math.exp(-0.5 * u * u));
  const baseTotal = baseProbs.reduce((a, b) => a + b, 0);
  const points: Array<{ lambda: number; prob: number }> = [];
  for (let i = 0; i < counts.values.length; i++) {
    const pc = counts.probs[i] as number;
    if (pc < 1e-12) continue;
    BASE_POINTS.forEach((u, j) => {
      points.push({ lambda: lambdaAt(w * (counts.values[i] as number) - (bMeanW + u * bSd)), prob: (pc * (baseProbs[j] as number)) / baseTotal });
    });
  }
  points.sort((a, b) => a.lambda - b.lambda);
  const total = points.reduce((a, p) => a + p.prob, 0);
  const bins: Array<{ lambda: number; prob: number }> = [];
  let acc = { l: 0, p: 0 };
  let edge = total / BET_BINS;
  for (const pt of points) {
    acc = { l: acc.l + pt.lambda * pt.prob, p: acc.p + pt.prob };
    if (acc.p >= edge - 1e-15) {
      bins.push({ lambda: acc.l / acc.p, prob: acc.p / total });
      acc = { l: 0, p: 0 };
      edge = total / BET_BINS;
    }
  }
  if (acc.p > 0) bins.push({ lambda: acc.l / acc.p, prob: acc.p / total });
  return bins;
}

/** P(ln E >= ln(1/α)) by the normal approximation of a sum with this mean and variance. */
function crossing(mean: number, variance: number, threshold: number): number {
  if (variance <= 0) return mean >= threshold ? 1 : 0;
  return normalCdf((mean - threshold) / Math.sqrt(variance));
}

/** Whether a setting can detect anything: exposure on both sides and a positive rate. */
export function powerProblem(s: PowerSetting): string | null {
  if (!(s.baselineRate > 0)) return 'the baseline rate must be > 0';
  if (!(s.candidateHosts > 0)) return 'no candidate hosts';
  if (!(s.baselineHosts > 0)) return 'no baseline hosts (a 100% ring without holdback): the relative test has no information, guards only';
  if (!(s.intervalHours > 0)) return 'the analysis interval must be > 0';
  if (!(s.detectRatio > s.maxRatio)) return 'detectRatio must be greater than maxRatio';
  if (!(s.alpha > 0 && s.alpha < 1)) return 'alpha must be in (0, 1)';
  return null;
}

/** The power of the relative test after `intervals` intervals when the true ratio is `ratio`. */
export function powerAfter(s: PowerSetting, ratio: number, intervals: number): number {
  if (powerProblem(s) !== null || intervals < 1) return 0;
  const inc = intervalIncrements(s, ratio, intervals);
  let mean = 0;
  let variance = 0;
  for (const x of inc) {
    mean += x.mean;
    variance += x.variance;
  }
  const last = inc[inc.length - 1] ?? { mean: 0, variance: 0 };
  const extra = intervals - inc.length;
  return crossing(mean + extra * last.mean, variance + extra * last.variance, Math.log(1 / s.alpha));
}

/**
 * The fewest intervals after which the relative test detects `ratio` with at least `power`, or null when it does
 * not within MAX_INTERVALS (a ratio at or below maxRatio never is).
 */
export function intervalsForPower(s: PowerSetting, ratio: number, power = 0.95): number | null {
  if (powerProblem(s) !== null || !(ratio > s.maxRatio)) return null;
  const threshold = Math.log(1 / s.alpha);
  const inc = intervalIncrements(s, ratio, STEADY_INTERVALS);
  let mean = 0;
  let variance = 0;
  for (let k = 0; k < inc.length; k++) {
    mean += (inc[k] as { mean: number }).mean;
    variance += (inc[k] as { variance: number }).variance;
    if (crossing(mean, variance, threshold) >= power) return k + 1;
  }
  const last = inc[inc.length - 1] ?? { mean: 0, variance: 0 };
  if (!(last.mean > 0)) return null;
  const at = (n: number): number => crossing(mean + (n - inc.length) * last.mean, variance + (n - inc.length) * last.variance, threshold);
  let hi = inc.length * 2;
  while (at(hi) < power) {
    hi *= 2;
    if (hi > MAX_INTERVALS) return null;
  }
  let lo = Math.floor(hi / 2);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (at(mid) >= power) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * The smallest ratio the relative test detects with at least `power` within `intervals` intervals (to 0.5%), or
 * null when even 1000 x maxRatio is not (too little exposure).
 */
export function smallestDetectableRatio(s: PowerSetting, intervals: number, power = 0.95): number | null {
  if (powerProblem(s) !== null || intervals < 1) return null;
  const ok = (r: number): boolean => powerAfter(s, r, intervals) >= power;
  let hi = s.maxRatio * 1.25;
  while (!ok(hi)) {
    hi *= 2;
    if (hi > 1000 * s.maxRatio) return null;
  }
  let lo = s.maxRatio;
  while (hi / lo > 1.005) {
    const mid = Math.sqrt(lo * hi);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
