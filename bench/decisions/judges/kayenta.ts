/**
 * A Kayenta-style judge, written for the bench from Kayenta's public source and documentation (bench/README.md cites
 * the files): the Mann–Whitney U test with its confidence interval (normal approximation, tie and continuity
 * correction, the interval's ends found as roots of the standardised rank-sum statistic by Brent's method with
 * Kayenta's absolute tolerance of 1e-4), the Mann–Whitney metric
 * classifier (High / Low / Pass / Nodata, confidence 0.98, tolerance 0.25 as Kayenta's NetflixACAJudge builds it)
 * and the weighted-sum scorer (a group's score is Pass / (Pass + High + Low + NodataFailMetric) × 100; a critical
 * metric that is not Pass, or Nodata for half the metrics or more, scores 0). Pure, no I/O.
 */

export type KayentaLabel = 'Pass' | 'High' | 'Low' | 'Nodata' | 'NodataFailMetric' | 'Error';
export type Direction = 'increase' | 'decrease' | 'either';
export type NaNStrategy = 'remove' | 'replace';

/** Average ranks (1-based) of `xs`, ties sharing the mean of their ranks. */
export function averageRanks(xs: readonly number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => (xs[a] as number) - (xs[b] as number));
  const ranks = new Array<number>(xs.length);
  let i = 0;
  while (i < idx.length) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1] as number] === xs[idx[i] as number]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[idx[k] as number] = r;
    i = j + 1;
  }
  return ranks;
}

/** The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? -Infinity : p === 1 ? Infinity : NaN;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  let x: number;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - lo) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  return x;
}


/**
 * The standardised rank-sum statistic of x - mu against y, minus `quantile` (Kayenta's wilcoxonDiff: normal
 * approximation with the tie correction of the variance and a continuity correction of 0.5 towards 0).
 */
export function wilcoxonDiff(mu: number, quantile: number, x: readonly number[], y: readonly number[]): number {
  const nx = x.length;
  const ny = y.length;
  const ranks = averageRanks([...x.map((v) => v - mu), ...y]);
  let sx = 0;
  for (let i = 0; i < nx; i++) sx += ranks[i] as number;
  const dz = sx - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
  const counts = new Map<number, number>();
  for (const r of ranks) counts.set(r, (counts.get(r) ?? 0) + 1);
  let ties = 0;
  for (const t of counts.values()) ties += t * t * t - t;
  const n = nx + ny;
  const sigma = Math.sqrt(((nx * ny) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (sigma === 0) throw new Error('cannot compute confidence interval when all observations are tied');
  return (dz - Math.sign(dz) * 0.5) / sigma - quantile;
}

/** Kayenta's root finder settings: Brent's method with an absolute tolerance of 1e-4 (so the interval's ends are
 * found to within about 5e-5 in the metric's own unit: the bench's rates are per 1000 host-hours, values of order 1). */
export const ROOT_TOLERANCE = 1e-4;
const EPSILON = 2.220446049250313e-16;

/** Brent's method (1973: bisection, secant and inverse quadratic interpolation) for a sign change of f on [ax, bx]. */
export function brent(ax: number, bx: number, fax: number, fbx: number, f: (x: number) => number, tol = ROOT_TOLERANCE): number {
  let a = ax;
  let b = bx;
  let fa = fax;
  let fb = fbx;
  if (Math.abs(fa) < 1e-300) return a;
  if (Math.abs(fb) < 1e-300) return b;
  let c = a;
  let fc = fa;
  for (let it = 0; it <= 1000; it++) {
    const prev = b - a;
    if (Math.abs(fc) < Math.abs(fb)) {
      a = b;
      b = c;
      c = a;
      fa = fb;
      fb = fc;
      fc = fa;
    }
    const tolAct = 2 * EPSILON * Math.abs(b) + tol / 2;
    let step = (c - b) / 2;
    if (Math.abs(step) <= tolAct || fb === 0) return b;
    if (Math.abs(prev) >= tolAct && Math.abs(fa) > Math.abs(fb)) {
      let p: number;
      let q: number;
      const cb = c - b;
      if (a === c) {
        const t1 = fb / fa;
        p = cb * t1;
        q = 1 - t1;
      } else {
        const qa = fa / fc;
        const qb = fb / fc;
        const rb = fb / fa;
        p = rb * (cb * qa * (qa - qb) - (b - a) * (qb - 1));
        q = (qa - 1) * (qb - 1) * (rb - 1);
      }
      if (p > 0) q = -q;
      else p = -p;
      if (p < 0.75 * cb * q - Math.abs(tolAct * q) / 2 && p < Math.abs((prev * q) / 2)) step = p / q;
    }
    if (Math.abs(step) < tolAct) step = step > 0 ? tolAct : -tolAct;
    a = b;
    fa = fb;
    b += step;
    fb = f(b);
    if ((fb > 0 && fc > 0) || (fb < 0 && fc < 0)) {
      c = a;
      fc = fa;
    }
  }
  return b;
}

export interface MannWhitneyResult {
  lower: number;
  upper: number;
  /** The Hodges–Lehmann estimate of the location shift x - y. */
  estimate: number;
}

/** The two-sided Mann–Whitney test of x against y: a confidence interval and estimate of the shift x - y. */
export function mannWhitney(x: readonly number[], y: readonly number[], confidence: number): MannWhitneyResult {
  const alpha = 1 - confidence;
  const muMin = Math.min(...x) - Math.max(...y);
  const muMax = Math.max(...x) - Math.min(...y);
  const root = (zq: number, guard: boolean): number => {
    const f = (mu: number): number => wilcoxonDiff(mu, zq, x, y);
    const fl = f(muMin);
    const fu = f(muMax);
    if (guard && fl <= 0) return muMin;
    if (guard && fu >= 0) return muMax;
    return brent(muMin, muMax, fl, fu, f);
  };
  const zq = normalQuantile(alpha / 2);
  return { lower: root(-zq, true), upper: root(zq, true), estimate: root(0, false) };
}

const mean = (xs: readonly number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;

/** Mean ratio experiment / control; NaN when either mean is 0. */
export function meanRatio(control: readonly number[], experiment: readonly number[]): number {
  const c = mean(control);
  const e = mean(experiment);
  return c === 0 || e === 0 ? NaN : e / c;
}

/** Common-language effect size (Vargha–Delaney A): the share of pairs where the experiment is higher. */
export function cles(control: readonly number[], experiment: readonly number[]): number {
  const m = experiment.length;
  const n = control.length;
  const ranks = averageRanks([...experiment, ...control]);
  let r1 = 0;
  for (let i = 0; i < m; i++) r1 += ranks[i] as number;
  return (2 * r1 - m * (m + 1)) / (2 * n * m);
}

export interface ClassifierConfig {
  tolerance: number;
  confLevel: number;
  /** (allowed decrease, allowed increase). */
  effectSizeThresholds: [number, number];
  criticalThresholds: [number, number];
  effectSizeMeasure: 'meanRatio' | 'cles';
}

/** The classifier as Kayenta's judge builds it (tolerance 0.25, confidence 0.98, mean ratio thresholds 1). */
export const KAYENTA_JUDGE_CLASSIFIER: ClassifierConfig = { tolerance: 0.25, confLevel: 0.98, effectSizeThresholds: [1, 1], criticalThresholds: [1, 1], effectSizeMeasure: 'meanRatio' };
/** The classifier's own defaults (tolerance 0.25, confidence 0.95). */
export const CLASSIFIER_DEFAULTS: ClassifierConfig = { tolerance: 0.25, confLevel: 0.95, effectSizeThresholds: [1, 1], criticalThresholds: [1, 1], effectSizeMeasure: 'meanRatio' };

export interface Classification {
  classification: KayentaLabel;
  reason: string | null;
  deviation: number;
  critical: boolean;
}

/** Deterministic N(0, sd) draws for the degenerate case (Kayenta adds Gaussian noise; the bench seeds it). */
function gaussian(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

function withNoise(values: readonly number[], next: () => number): number[] {
  const sd = (values[0] as number) * 1e-5;
  return values.map((v) => v + next() * sd);
}

/** Kayenta's Mann–Whitney metric classification of `experiment` against `control`. */
export function classify(
  control: readonly number[],
  experiment: readonly number[],
  opts: { config?: Partial<ClassifierConfig>; direction?: Direction; nanStrategy?: NaNStrategy; critical?: boolean; dataRequired?: boolean; name?: string; seed?: number } = {},
): Classification {
  const cfg = { ...CLASSIFIER_DEFAULTS, ...opts.config };
  const direction = opts.direction ?? 'either';
  const isCritical = opts.critical === true;
  const name = opts.name ?? 'metric';
  if (experiment.length === 0 || control.length === 0) {
    if ((opts.nanStrategy ?? 'remove') === 'remove') {
      const reason = `Missing data for ${name}`;
      if (opts.dataRequired === true && !isCritical) return { classification: 'NodataFailMetric', reason, deviation: 1, critical: false };
      return { classification: 'Nodata', reason, deviation: 1, critical: isCritical };
    }
    return { classification: 'Pass', reason: null, deviation: 1, critical: false };
  }
  const se = [...experiment].sort((a, b) => a - b);
  const sc = [...control].sort((a, b) => a - b);
  if (se.length === sc.length && se.every((v, i) => v === sc[i])) return { classification: 'Pass', reason: 'The experiment and control data are identical', deviation: 1, critical: false };
  if (new Set([...experiment, ...control]).size === 1) return { classification: 'Pass', reason: null, deviation: 1, critical: false };

  const degenerate = new Set(experiment).size === 1 && new Set(control).size === 1;
  const next = gaussian(opts.seed ?? 0x9e3779b9);
  const x = degenerate ? withNoise(experiment, next) : [...experiment];
  const y = degenerate ? withNoise(control, next) : [...control];
  let mw: MannWhitneyResult;
  try {
    mw = mannWhitney(x, y, cfg.confLevel);
  } catch (err) {
    return { classification: 'Error', reason: (err as Error).message, deviation: NaN, critical: isCritical };
  }
  const deviation = meanRatio(y, x);
  const effect = cfg.effectSizeMeasure === 'cles' ? cles(y, x) : meanRatio(y, x);
  const critical = Math.abs(mw.estimate) * cfg.tolerance;
  const high = (direction === 'increase' || direction === 'either') && mw.lower > critical && (Number.isNaN(effect) || effect >= cfg.effectSizeThresholds[1]);
  const low = (direction === 'decrease' || direction === 'either') && mw.upper < -critical && (Number.isNaN(effect) || effect <= cfg.effectSizeThresholds[0]);
  const label: KayentaLabel = high ? 'High' : low ? 'Low' : 'Pass';
  if (isCritical && label === 'High' && (Number.isNaN(effect) || effect >= cfg.criticalThresholds[1])) return { classification: 'High', reason: `The metric ${name} was classified as High (Critical)`, deviation, critical: true };
  if (isCritical && label === 'Low' && (Number.isNaN(effect) || effect <= cfg.criticalThresholds[0])) return { classification: 'Low', reason: `The metric ${name} was classified as Low (Critical)`, deviation, critical: true };
  return { classification: label, reason: label === 'Pass' ? null : `${name} was classified as ${label}`, deviation, critical: false };
}

export interface ScoredMetric {
  name: string;
  classification: KayentaLabel;
  critical: boolean;
  groups: string[];
}

export interface ScoreResult {
  summaryScore: number;
  groupScores: Array<{ name: string; score: number; noData: boolean }>;
  reason: string | null;
}

/** Half-up rounding to `digits` decimals (what commons-math Precision.round does by default). */
function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.sign(x) * Math.round(Math.abs(x) * f + 1e-9) / f;
}

/** Kayenta's weighted-sum scorer. */
export function score(results: readonly ScoredMetric[], groupWeights: Record<string, number> = {}): ScoreResult {
  const byGroup = new Map<string, KayentaLabel[]>();
  for (const r of results) for (const g of r.groups) byGroup.set(g, [...(byGroup.get(g) ?? []), r.classification]);
  const groupScores = [...byGroup.entries()].map(([name, labels]) => {
    const n = (l: KayentaLabel): number => labels.filter((x) => x === l).length;
    const total = n('High') + n('Low') + n('Pass') + n('NodataFailMetric');
    return { name, score: total === 0 ? 0 : (n('Pass') / total) * 100, noData: total === 0 };
  });
  const critical = results.find((r) => r.critical && r.classification !== 'Pass');
  if (critical) return { summaryScore: 0, groupScores, reason: `Canary Failed: ${critical.name} ${critical.classification}` };
  const nodata = results.filter((r) => r.classification === 'Nodata').length;
  if (results.length > 0 && (nodata / results.length) * 100 >= 50) return { summaryScore: 0, groupScores, reason: 'Canary Failed: 50% or more metrics returned NODATA' };
  const weightSum = Object.values(groupWeights).reduce((s, w) => s + w, 0);
  const unweighted = groupScores.filter((g) => !(g.name in groupWeights));
  const calculated = unweighted.length > 0 ? (100 - weightSum) / unweighted.length : 0;
  let summary = 0;
  for (const g of groupScores) summary += (g.noData ? 100 : g.score) * ((groupWeights[g.name] ?? calculated) / 100);
  return { summaryScore: round(summary, 2), groupScores, reason: null };
}

/** Kayenta's canary scoring thresholds (Spinnaker's canary stage): marginal 75, pass 95. */
export interface KayentaThresholds {
  marginal: number;
  pass: number;
}
export const KAYENTA_THRESHOLDS: KayentaThresholds = { marginal: 75, pass: 95 };

/** What one canary analysis (interim or final) decides from its score. */
export function decideScore(summaryScore: number, final: boolean, t: KayentaThresholds = KAYENTA_THRESHOLDS): 'fail' | 'continue' | 'pass' | 'human' {
  if (summaryScore <= t.marginal) return 'fail';
  if (!final) return 'continue';
  return summaryScore >= t.pass ? 'pass' : 'human';
}
