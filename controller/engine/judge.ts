/**
 * The health judge: pure functions from (metric spec, provider observation, previous test state) to a
 * verdict with the numbers behind it. The statistics are explained in docs/analysis.md.
 *
 * Built-in metrics (crash-rate, bsod-rate, update-failure-rate) consume aligned per-interval increments
 * (engine/observation.ts) of the candidate's and the baseline's events and exposure, once each, in order:
 *   - a relative test of "candidate rate <= maxRatio x baseline rate": a betting e-process on the per-interval
 *     excess Z = c - maxRatio·(e/f)·b, whose conditional mean is <= 0 under the null for any mean-one noise,
 *     common to both versions or not; bets are predictable plug-ins sized by a dispersion estimated on past
 *     intervals, and no single interval adds more than ½·ln(1/α) to it;
 *   - an absolute guard `max`, the same kind of e-process on c - max·e (exact: bounded below by -1·max·e);
 *   - a catastrophic test (candidate rate >= 10 x max): the only test that may fail on the first look.
 * α is per rollout: alphaLedger splits it across rings, metrics (and the built-in signals, engine/signals.ts) and
 * tests, and every verdict states the rollout's rate. Custom metrics (one value per version) have guards only.
 *
 * No data, NaN, negative or infinite counts, and provider errors never pass.
 */
import type { Counts, IntervalCounts, Observation, VerdictResult } from './observation';
import { CATASTROPHIC_MULTIPLE, JUDGE_DEFAULTS, resolveParams, validateMetricForJudge, type JudgeParams } from '../spec/metric-rules';
import type { MetricSpec, RolloutSpec } from '../spec/types';
import { betLogFactor, lookAlpha, normalCdf, plugInBet, poissonUpperTail } from './stats';
import { builtinSignals, initialSignalState, judgeSignal, isSignalState } from './signals';

export { JUDGE_DEFAULTS, resolveParams, validateMetricForJudge, type JudgeParams };

// ---------------------------------------------------------------------------------------------
// Constants of the method (docs/analysis.md, "The relative test")
// ---------------------------------------------------------------------------------------------

/**
 * A ring whose reporting hosts fell below this fraction of their peak, relative to how the whole fleet
 * (candidate + baseline) kept its hosts, cannot pass: hosts that crash on boot stop reporting.
 */
export const MIN_RELATIVE_RETENTION = 0.5;

/** Largest bet (fraction of the wealth at risk per interval): the wealth keeps at least 1 - LAMBDA_MAX. */
export const LAMBDA_MAX = 0.9;
/** Half-life, in intervals, of the baseline-rate predictor (short: it follows the day/night cycle). */
const RATE_HALF_LIFE = 5;
/** Half-life, in intervals, of the excess and candidate-rate estimates the bets are sized with. */
const EXCESS_HALF_LIFE = 30;
/**
 * The cap on the baseline's count in an interval that keeps the normalised excess >= -1:
 * B = b̂·(1 + CAP_SIGMAS·ŝ) + CAP_EVENTS, with ŝ the baseline's relative deviation from its prediction.
 */
const CAP_SIGMAS = 6;
const CAP_EVENTS = 12;
/** Prior of the relative deviation ŝ² (CV 50%) and of the dispersion φ, with the weight of this many intervals. */
const PRIOR_DEVIATION = 0.25;
const PRIOR_WEIGHT = 1;
/** Ratios the evidence of a pass is stated against (the smallest one ruled out is reported). */
export const EVIDENCE_RATIOS = [1.05, 1.1, 1.2, 1.3, 1.5, 1.75, 2, 2.5, 3, 4, 5, 10] as const;
/** Shares of a counts metric's α: relative test, `max` guard, catastrophic test (without `max`: all relative). */
export const TEST_SHARES = { relative: 0.5, guard: 0.25, catastrophic: 0.25 } as const;

export type MetricType = MetricSpec['type'];
const BUILTIN_TYPES: readonly MetricType[] = ['crash-rate', 'bsod-rate', 'update-failure-rate'];

// ---------------------------------------------------------------------------------------------
// α per rollout
// ---------------------------------------------------------------------------------------------

/** The α a metric's tests may spend in one ring, and the rollout's bound they are part of. */
export interface AlphaShare {
  /** The per-rollout false-fail bound (the smallest alpha of the rollout's metrics; default 0.01). */
  rollout: number;
  /** This metric's share in this ring: rollout / rings / (metrics + signals). */
  metric: number;
}

export interface AlphaLedger {
  rollout: number;
  rings: number;
  /** Names of the declared metrics and the built-in signals that get a share. */
  metrics: string[];
  /** The share of each (same for all: rollout / rings / metrics). */
  perMetric: number;
}

/**
 * How α is split for a rollout: by rings, then equally over the declared counts metrics and the built-in signals,
 * then over the tests of a metric (TEST_SHARES). Custom metrics are point comparisons on a value: no share.
 * A union bound over the parts: the chance that any test of any ring false-fails is at most `rollout`.
 */
export function alphaLedger(spec: RolloutSpec): AlphaLedger {
  const declared = spec.analysis?.metrics ?? [];
  const rollout = declared.reduce((a, m) => Math.min(a, resolveParams(m).alpha), JUDGE_DEFAULTS.alpha as number);
  const names = [...declared.filter((m) => m.type !== 'custom').map((m) => m.name), ...builtinSignals(spec).map((m) => m.name)];
  const rings = Math.max(1, spec.rings.length);
  return { rollout, rings, metrics: names, perMetric: rollout / rings / Math.max(1, names.length) };
}

export function shareOf(ledger: AlphaLedger, metric: string): AlphaShare {
  return { rollout: ledger.rollout, metric: ledger.metrics.includes(metric) ? ledger.perMetric : ledger.rollout / ledger.rings };
}

// ---------------------------------------------------------------------------------------------
// State and verdict shapes
// ---------------------------------------------------------------------------------------------

/** Exponentially weighted sums (events, exposure) of one version. */
export interface RateSums {
  events: number;
  exposure: number;
}

/** The relative test's running state. */
export interface RelativeState {
  /** ln of the e-process (wealth), and its largest value so far. */
  logE: number;
  maxLogE: number;
  /** Intervals that carried a bet; intervals whose baseline exceeded the cap (the excess was raised to -1). */
  bets: number;
  belowCap: number;
  /** Baseline-rate predictor (half-life RATE_HALF_LIFE intervals). */
  baseline: RateSums;
  /** The baseline's relative deviations from the prediction: count, Σ(b/b̂ - 1)², Σ 1/b̂ (its Poisson part). */
  deviation: { n: number; squares: number; poisson: number };
  /** Weighted Σ excess and Σ predicted count (half-life EXCESS_HALF_LIFE): the plug-in estimate of the excess. */
  excess: { z: number; m: number };
  /**
   * Residuals of the excess around its estimate, for the dispersion φ̂ of Var(Z) = m(1 + ρ) + 2φm²: Σ r², their
   * Poisson part Σ m(1 + ρ), and Σ 2m². Common-mode noise cancels in Z, so it does not inflate φ̂.
   */
  residual: { squares: number; poisson: number; m2: number };
  /** Expected ln-growth and its variance at detectRatio, summed over the bets (the power statement). */
  design: { growth: number; variance: number };
  /** ln e-process of "ratio >= r" for each r of EVIDENCE_RATIOS (the evidence a pass states). */
  evidence: number[];
}

/** The `max` guard's running state. */
export interface GuardState {
  logE: number;
  maxLogE: number;
  /** Candidate rate estimate (half-life EXCESS_HALF_LIFE) and its relative deviations (dispersion). */
  candidate: RateSums;
  deviation: { n: number; squares: number; poisson: number };
}

/**
 * What the judge carries from one evaluation of a metric to the next, within one ring. Plain JSON: the engine
 * persists it with the rollout state, so a restarted controller resumes the tests exactly. Start with `undefined`.
 */
export interface MetricJudgeState {
  v: 2;
  /** Hypotheses of the relative test; if the spec changes them, the test restarts. */
  theta0: number;
  theta1: number;
  /** ISO end of the last interval consumed (null: none yet; the next look starts at the ring's start). */
  consumedUntil: string | null;
  /** Totals since the ring started (sums of the consumed increments). */
  candidate: { events: number; exposureHours: number };
  baseline: { events: number; exposureHours: number };
  /** Most candidate hosts seen reporting at one evaluation, and most candidate + baseline hosts. */
  peakCandidateHosts: number;
  peakFleetHosts: number;
  /** Intervals consumed, and looks that brought at least one. */
  intervals: number;
  looks: number;
  relative: RelativeState;
  guard: GuardState;
  /** A fail is final for the ring: the tests stopped. */
  failure: { at: string; reason: string } | null;
  /** State of a built-in signal (engine/signals.ts); absent for metrics. */
  signal?: SignalState;
}

/** A built-in signal's state (engine/signals.ts owns its meaning). */
export interface SignalState {
  kind: 'update-failures' | 'silent-hosts';
  /** ln e-process (update failures) or the last look's -ln p (silent hosts). */
  logE: number;
  /** Install attempts and failures counted so far (update failures). */
  attempts: number;
  failures: number;
  /** Candidate hosts that took the update (max over looks of reporting hosts + their boot events). */
  touched: number;
  /** Looks of the silent-hosts test (its α is spent over them). */
  looks: number;
  /** ln likelihood ratio of each alternative failure share (update failures: UPDATE_FAILURE_ALTERNATIVES). */
  components?: number[];
}

export interface SampleEvidence {
  minHosts: number;
  /** null for custom metrics (no exposure). */
  minExposureHours: number | null;
  /** Candidate hosts reporting now (null when the provider did not say). */
  hosts: number | null;
  peakHosts: number;
  /**
   * Upper estimate of candidate hosts that ran the update: max(peak reporting hosts, reporting hosts +
   * events). A host that crashes on boot stops reporting but leaves its event. Fails need this >= minHosts.
   */
  touchedHosts: number | null;
  exposureHours: number | null;
  /** Whether a failing test may fail the metric (touchedHosts >= minHosts). */
  enoughToFail: boolean;
  /** Whether the sample allows a pass (hosts now >= minHosts, exposure >= minExposure, hosts retained). */
  enoughToPass: boolean;
}

export interface VersionEvidence {
  events: number;
  exposureHours: number;
  hosts: number;
  /** Events per host-hour; null without exposure. */
  rate: number | null;
}

export interface GuardEvidence {
  /** `max`: the sequential guard; `catastrophic`: rate >= CATASTROPHIC_MULTIPLE x max; `maxRatio`: custom metrics. */
  guard: 'max' | 'catastrophic' | 'maxRatio';
  limit: number;
  /** Candidate rate (counts) or value (custom), or the candidate/baseline ratio. null if undefined. */
  observed: number | null;
  /** ln e-value (max), -ln p (catastrophic); null for point comparisons. */
  statistic: number | null;
  /** The boundary the statistic is compared with; null for point comparisons. */
  threshold: number | null;
  /** The α this test spends (its share of the rollout's); null or absent for point comparisons. */
  alpha?: number | null;
  breached: boolean;
}

export interface RelativeEvidence {
  /** Null hypothesis: ratio <= theta0 (maxRatio). The bets are sized for theta1 (detectRatio) at first. */
  theta0: number;
  theta1: number;
  /** This test's α (its share) and the rollout's bound. */
  alpha: number;
  rolloutAlpha: number;
  /** ln e-process so far, its boundary ln(1/alpha) and this look's increment. */
  logE: number;
  threshold: number;
  increment: number;
  /** No interval adds more than this: ½·ln(1/alpha). */
  maxIntervalIncrement: number;
  /** False when there is no baseline exposure (e.g. a 100% ring without holdback): no relative information. */
  active: boolean;
  /** Intervals that carried a bet; intervals whose baseline count exceeded the cap. */
  bets: number;
  belowCap: number;
  /** The dispersion φ̂ (variance = m + φ·m²) the bets are sized with, estimated on past baseline intervals. */
  dispersion: number;
  /** The smallest ratio of EVIDENCE_RATIOS the data rule out (at alpha), or null: none yet. */
  ruledOutRatio: number | null;
  /** Estimated chance that the test would have failed by now if the ratio were theta1 (normal approximation). */
  powerAtDetectRatio: number | null;
}

export interface ValueEvidence {
  candidate: number;
  baseline: number | null;
  /** candidate / baseline; null when undefined (no baseline, or a zero baseline). */
  ratio: number | null;
}

export interface MetricVerdict {
  metric: string;
  type: MetricType;
  /** Set for the built-in signals (engine/signals.ts). */
  signal?: SignalState['kind'];
  result: VerdictResult;
  /** One sentence an operator can act on. */
  reason: string;
  /** The observation's timestamp. */
  at: string;
  sample: SampleEvidence | null;
  candidate: VersionEvidence | null;
  baseline: VersionEvidence | null;
  /** Candidate rate / baseline rate (built-in metrics); null when undefined. */
  ratio: number | null;
  guards: GuardEvidence[];
  relative: RelativeEvidence | null;
  value: ValueEvidence | null;
  /**
   * Some test points towards a fail it cannot declare yet (too few hosts, a statistic past half its boundary):
   * the engine does not widen exposure on this look.
   */
  concern: boolean;
  /** Data-quality notes: restarted test, inactive relative test, cap exceeded... */
  notes: string[];
}

export interface MetricJudgement {
  verdict: MetricVerdict;
  state: MetricJudgeState;
}

/** Options of one evaluation: the α share (default: the metric's alpha alone) and requireEvidence. */
export interface JudgeOptions {
  alpha?: AlphaShare;
  /** A pass needs the smallest ratio ruled out to be <= detectRatio (spec.analysis.requireEvidence). */
  requireEvidence?: boolean;
}

// ---------------------------------------------------------------------------------------------
// judgeMetric
// ---------------------------------------------------------------------------------------------

/** A built-in signal's fresh state: a metric's, with the signal's own part (engine/signals.ts). */
export function initialSignalJudgeState(metric: MetricSpec): MetricJudgeState {
  return { ...initialJudgeState(metric), signal: initialSignalState(metric) };
}

export function initialJudgeState(metric: MetricSpec): MetricJudgeState {
  const p = resolveParams(metric);
  return {
    v: 2,
    theta0: p.maxRatio,
    theta1: p.detectRatio,
    consumedUntil: null,
    candidate: { events: 0, exposureHours: 0 },
    baseline: { events: 0, exposureHours: 0 },
    peakCandidateHosts: 0,
    peakFleetHosts: 0,
    intervals: 0,
    looks: 0,
    relative: {
      logE: 0,
      maxLogE: 0,
      bets: 0,
      belowCap: 0,
      baseline: { events: 0, exposure: 0 },
      deviation: { n: 0, squares: 0, poisson: 0 },
      excess: { z: 0, m: 0 },
      residual: { squares: 0, poisson: 0, m2: 0 },
      design: { growth: 0, variance: 0 },
      evidence: EVIDENCE_RATIOS.map(() => 0),
    },
    guard: { logE: 0, maxLogE: 0, candidate: { events: 0, exposure: 0 }, deviation: { n: 0, squares: 0, poisson: 0 } },
    failure: null,
  };
}

/** A state from before this judge (v1: an SPRT) cannot be resumed: the test restarts (the caller notes it). */
function usableState(prev: MetricJudgeState | undefined): prev is MetricJudgeState {
  return prev !== undefined && (prev as { v?: number }).v === 2;
}

/**
 * Judge one metric at one evaluation. Pure: the same (metric, observation, prev, opts) always gives the same
 * result, and `prev` is not modified. Pass `undefined` as prev at the start of a ring.
 */
export function judgeMetric(metric: MetricSpec, observation: Observation, prev: MetricJudgeState | undefined, opts: JudgeOptions = {}): MetricJudgement {
  const params = resolveParams(metric);
  const notes: string[] = [];
  const isBuiltin = BUILTIN_TYPES.includes(metric.type);
  if (prev !== undefined && !usableState(prev)) notes.push('the saved test state is from an older judge: the tests restarted');
  let state = usableState(prev) ? prev : initialJudgeState(metric);
  if (isBuiltin && (state.theta0 !== params.maxRatio || state.theta1 !== params.detectRatio)) {
    // The accumulated statistic belongs to other hypotheses. Restart it from the next interval; what was consumed
    // stays consumed (every interval enters a test once), peaks and a recorded failure are kept.
    notes.push(
      `the metric's hypotheses changed (maxRatio ${state.theta0} -> ${params.maxRatio}, detectRatio ${state.theta1} -> ` +
        `${params.detectRatio}): the relative test restarted`,
    );
    state = {
      ...initialJudgeState(metric),
      consumedUntil: state.consumedUntil,
      candidate: state.candidate,
      baseline: state.baseline,
      peakCandidateHosts: state.peakCandidateHosts,
      peakFleetHosts: state.peakFleetHosts,
      failure: state.failure,
    };
  }
  const alpha = opts.alpha ?? { rollout: params.alpha, metric: params.alpha };
  const base = emptyVerdict(metric, observation.at, notes);

  if (state.failure) {
    return { verdict: { ...base, result: 'fail', reason: `${state.failure.reason} (since ${state.failure.at}; the tests have stopped)` }, state };
  }
  const problems = validateMetricForJudge(metric);
  if (problems.length > 0) return { verdict: { ...base, result: 'error', reason: problems.join('; ') }, state };

  switch (observation.kind) {
    case 'error':
      return { verdict: { ...base, result: 'error', reason: `provider error: ${observation.message}` }, state };
    case 'no-data':
      return { verdict: { ...base, result: 'inconclusive', reason: `no data: ${observation.reason}` }, state };
    case 'counts':
      if (!isBuiltin) {
        return { verdict: { ...base, result: 'error', reason: `metric ${metric.name} is custom but the provider returned event counts` }, state };
      }
      return judgeCounts(metric, params, alpha, opts.requireEvidence === true, observation, state, base);
    case 'value':
      if (isBuiltin) {
        return {
          verdict: { ...base, result: 'error', reason: `metric ${metric.name} is ${metric.type} (event counts) but the provider returned a single value` },
          state,
        };
      }
      return judgeValue(params, observation, state, base);
    default: {
      const _exhaustive: never = observation;
      throw new Error(`unknown observation ${JSON.stringify(_exhaustive)}`);
    }
  }
}

export function emptyVerdict(metric: MetricSpec, at: string, notes: string[]): MetricVerdict {
  return {
    metric: metric.name,
    type: metric.type,
    result: 'inconclusive',
    reason: '',
    at,
    sample: null,
    candidate: null,
    baseline: null,
    ratio: null,
    guards: [],
    relative: null,
    value: null,
    concern: false,
    notes,
  };
}

const finiteNonNegative = (x: number): boolean => Number.isFinite(x) && x >= 0;

/** The first problem with the observation's numbers, or null. */
export function countsProblem(obs: Extract<Observation, { kind: 'counts' }>): string | null {
  if (!finiteNonNegative(obs.candidateHosts) || !finiteNonNegative(obs.baselineHosts)) {
    return `hosts must be finite and >= 0 (candidate ${obs.candidateHosts}, baseline ${obs.baselineHosts})`;
  }
  for (const iv of obs.intervals) {
    const all = [iv.candidate.events, iv.candidate.exposureHours, iv.baseline.events, iv.baseline.exposureHours];
    if (!all.every(finiteNonNegative) || !Number.isFinite(Date.parse(iv.end))) {
      return `interval ending ${iv.end}: increments must be finite and >= 0 (candidate ${describeIncrement(iv.candidate)}, baseline ${describeIncrement(iv.baseline)})`;
    }
  }
  return null;
}

/** The intervals of `obs` not consumed yet, in order (an interval already consumed is never counted twice). */
export function newIntervals(obs: Extract<Observation, { kind: 'counts' }>, consumedUntil: string | null): IntervalCounts[] {
  const after = consumedUntil === null ? -Infinity : Date.parse(consumedUntil);
  return [...obs.intervals].filter((iv) => Date.parse(iv.end) > after).sort((a, b) => Date.parse(a.end) - Date.parse(b.end));
}

function judgeCounts(
  metric: MetricSpec,
  p: JudgeParams,
  alpha: AlphaShare,
  requireEvidence: boolean,
  obs: Extract<Observation, { kind: 'counts' }>,
  prev: MetricJudgeState,
  base: MetricVerdict,
): MetricJudgement {
  const problem = countsProblem(obs);
  if (problem !== null) {
    return { verdict: { ...base, result: 'inconclusive', reason: `${metric.name}: invalid counts treated as no data: ${problem}` }, state: prev };
  }
  const notes = base.notes;
  const alphas = testAlphas(alpha, p);
  const fresh = newIntervals(obs, prev.consumedUntil);
  let state: MetricJudgeState = {
    ...prev,
    peakCandidateHosts: Math.max(prev.peakCandidateHosts, obs.candidateHosts),
    peakFleetHosts: Math.max(prev.peakFleetHosts, obs.candidateHosts + obs.baselineHosts),
  };
  const before = { relative: prev.relative.logE, guard: prev.guard.logE };
  for (const iv of fresh) state = consumeInterval(state, iv, p, alphas, obs.candidateMissing === true);
  if (fresh.length > 0) state = { ...state, looks: state.looks + 1 };

  const candidate = versionEvidence(state.candidate, obs.candidateHosts);
  const baseline = versionEvidence(state.baseline, obs.baselineHosts);
  const ratio = candidate.rate !== null && baseline.rate !== null && baseline.rate > 0 ? candidate.rate / baseline.rate : null;

  // Guards on the candidate's own rate.
  const guards: GuardEvidence[] = [];
  if (p.max !== undefined) {
    if (p.max === 0) {
      guards.push({ guard: 'max', limit: 0, observed: candidate.rate, statistic: null, threshold: null, alpha: null, breached: candidate.events > 0 });
    } else {
      const catLimit = CATASTROPHIC_MULTIPLE * p.max;
      const pValue = poissonUpperTail(state.candidate.events, catLimit * state.candidate.exposureHours);
      const catAlpha = lookAlpha(alphas.catastrophic, Math.max(1, state.looks));
      const catStat = -Math.log(Math.max(pValue, Number.MIN_VALUE));
      guards.push({ guard: 'catastrophic', limit: catLimit, observed: candidate.rate, statistic: catStat, threshold: Math.log(1 / catAlpha), alpha: catAlpha, breached: state.looks > 0 && pValue <= catAlpha });
      const threshold = Math.log(1 / alphas.guard);
      guards.push({ guard: 'max', limit: p.max, observed: candidate.rate, statistic: state.guard.logE, threshold, alpha: alphas.guard, breached: state.guard.logE >= threshold });
    }
  }

  const rel = state.relative;
  const relThreshold = Math.log(1 / alphas.relative);
  const active = state.baseline.exposureHours > 0;
  if (!active) notes.push('no baseline exposure: the relative test has no information (guards only)');
  if (rel.belowCap > 0) notes.push(`${rel.belowCap} interval(s) had a baseline count above the cap the relative test assumes (docs/analysis.md)`);
  if (obs.candidateMissing) notes.push('the candidate has no series yet (nobody runs it): no data for health');
  const ruledOutIndex = rel.evidence.findIndex((x) => x >= relThreshold);
  const relative: RelativeEvidence = {
    theta0: state.theta0,
    theta1: state.theta1,
    alpha: alphas.relative,
    rolloutAlpha: alpha.rollout,
    logE: rel.logE,
    threshold: relThreshold,
    increment: rel.logE - before.relative,
    maxIntervalIncrement: relThreshold / 2,
    active,
    bets: rel.bets,
    belowCap: rel.belowCap,
    dispersion: rel.residual.m2 > 0 ? Math.max(0, (rel.residual.squares - rel.residual.poisson) / rel.residual.m2) : 0,
    ruledOutRatio: ruledOutIndex >= 0 ? (EVIDENCE_RATIOS[ruledOutIndex] as number) : null,
    powerAtDetectRatio: rel.design.variance > 0 ? normalCdf((rel.design.growth - relThreshold) / Math.sqrt(rel.design.variance)) : null,
  };

  // Sample size. Fails need enough hosts to have run the update; passes need enough hosts reporting now,
  // enough exposure, and no unexplained disappearance of candidate hosts.
  const touchedHosts = Math.max(state.peakCandidateHosts, obs.candidateHosts + state.candidate.events);
  const enoughToFail = touchedHosts >= p.minHosts;
  const candidateRetention = state.peakCandidateHosts > 0 ? obs.candidateHosts / state.peakCandidateHosts : 1;
  const fleetRetention = state.peakFleetHosts > 0 ? (obs.candidateHosts + obs.baselineHosts) / state.peakFleetHosts : 1;
  const hostsVanished = state.peakCandidateHosts >= p.minHosts && candidateRetention < MIN_RELATIVE_RETENTION * fleetRetention;
  const hostsOk = obs.candidateHosts >= p.minHosts;
  const exposureOk = state.candidate.exposureHours >= p.minExposureHours;
  const sample: SampleEvidence = {
    minHosts: p.minHosts,
    minExposureHours: p.minExposureHours,
    hosts: obs.candidateHosts,
    peakHosts: state.peakCandidateHosts,
    touchedHosts,
    exposureHours: state.candidate.exposureHours,
    enoughToFail,
    enoughToPass: hostsOk && exposureOk && !hostsVanished,
  };

  const halfway =
    rel.logE >= relThreshold / 2 || guards.some((g) => g.statistic !== null && g.threshold !== null && g.statistic >= g.threshold / 2);
  const breachedGuard = guards.find((g) => g.breached);
  const relativeRejects = rel.logE >= relThreshold;
  const concern = halfway || breachedGuard !== undefined || relativeRejects;
  const verdict: MetricVerdict = { ...base, sample, candidate, baseline, ratio, guards, relative, concern, notes };
  const rates =
    `candidate ${fmtRate(candidate.rate)} (${fmt(candidate.events)} events / ${fmt(candidate.exposureHours)} host-h), ` +
    `baseline ${fmtRate(baseline.rate)} (${fmt(baseline.events)} / ${fmt(baseline.exposureHours)} host-h)` +
    (ratio !== null ? `, ratio ${fmt(ratio)}` : '');
  const what = metric.type.replace(/-rate$/, '');
  const rolloutRate = `false-fail rate <= ${fmt(alpha.rollout)} per rollout`;

  if (enoughToFail && (breachedGuard || relativeRejects)) {
    let reason: string;
    if (breachedGuard?.guard === 'catastrophic') {
      reason =
        `${metric.name}: catastrophic ${what} rate, above ${CATASTROPHIC_MULTIPLE} x max ${fmt(p.max as number)}/host-h ` +
        `(Poisson p ${fmtP(Math.exp(-(breachedGuard.statistic as number)))} at rate ${fmt(breachedGuard.limit)} <= ${fmtP(breachedGuard.alpha as number)}; ${rolloutRate}); ${rates}`;
    } else if (breachedGuard) {
      reason =
        `${metric.name}: candidate ${what} rate is above max ${fmt(breachedGuard.limit)}/host-h ` +
        (breachedGuard.statistic !== null ? `(e-value ln ${fmt(breachedGuard.statistic)} >= ${fmt(breachedGuard.threshold as number)}; ${rolloutRate}); ` : '; ') +
        rates;
    } else {
      reason =
        `${metric.name}: candidate ${what} rate exceeds ${fmt(state.theta0)}x baseline (e-value ln ${fmt(rel.logE)} >= ${fmt(relThreshold)}; ` +
        `${rolloutRate}); ${rates}`;
    }
    return { verdict: { ...verdict, result: 'fail', reason }, state: { ...state, failure: { at: obs.at, reason } } };
  }
  if (breachedGuard || relativeRejects) {
    const reason = `${metric.name}: the evidence says fail but only ${fmt(touchedHosts)} candidate hosts ran the update (need minHosts ${p.minHosts}); ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (obs.candidateMissing) {
    return { verdict: { ...verdict, result: 'inconclusive', reason: `${metric.name}: no data: the candidate has no series yet (nobody runs it); ${rates}` }, state };
  }
  if (hostsVanished) {
    const reason =
      `${metric.name}: candidate hosts reporting fell from ${fmt(state.peakCandidateHosts)} to ${fmt(obs.candidateHosts)} ` +
      `(${pct(candidateRetention)}) while the fleet kept ${pct(fleetRetention)}: hosts may be crashing without reporting`;
    return { verdict: { ...verdict, result: 'inconclusive', concern: true, reason }, state };
  }
  if (!hostsOk) {
    const reason = `${metric.name}: ${fmt(obs.candidateHosts)} candidate hosts reporting, need minHosts ${p.minHosts}; ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (state.intervals === 0) {
    return { verdict: { ...verdict, result: 'inconclusive', reason: `${metric.name}: no complete analysis interval yet; ${rates}` }, state };
  }
  if (!exposureOk) {
    const reason = `${metric.name}: ${fmt(state.candidate.exposureHours)} candidate host-hours, need minExposure ${p.minExposureHours}; ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  const evidence =
    relative.ruledOutRatio !== null
      ? `ratios >= ${fmt(relative.ruledOutRatio)} ruled out`
      : active
        ? 'no ratio ruled out yet'
        : 'relative test inactive: no baseline';
  const power = relative.powerAtDetectRatio !== null ? `, power at ${fmt(state.theta1)}x ${pct(relative.powerAtDetectRatio)}` : '';
  if (requireEvidence && (relative.ruledOutRatio === null || relative.ruledOutRatio > state.theta1)) {
    const reason = `${metric.name}: requireEvidence: ${evidence}${power}, need a ratio <= detectRatio ${fmt(state.theta1)} ruled out; ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  const reason =
    `${metric.name}: no regression detected (e-value ln ${fmt(rel.logE)} < ${fmt(relThreshold)}; ${evidence}${power}; ` +
    `guards ${guards.length === 0 ? 'none' : 'ok'}; ${rolloutRate}); ${rates}`;
  return { verdict: { ...verdict, result: 'pass', reason }, state };
}

/** The α of each test of a counts metric from the metric's share. */
export function testAlphas(alpha: AlphaShare, p: Pick<JudgeParams, 'max'>): { relative: number; guard: number; catastrophic: number } {
  const guarded = p.max !== undefined && p.max > 0;
  return {
    relative: alpha.metric * (guarded ? TEST_SHARES.relative : 1),
    guard: alpha.metric * TEST_SHARES.guard,
    catastrophic: alpha.metric * TEST_SHARES.catastrophic,
  };
}

const decay = (halfLife: number): number => Math.pow(2, -1 / halfLife);
export const RATE_DECAY = decay(RATE_HALF_LIFE);
export const EXCESS_DECAY = decay(EXCESS_HALF_LIFE);

/** φ̂: relative variance beyond Poisson, from deviations (with the prior), >= 0. */
function dispersionOf(d: { n: number; squares: number; poisson: number }): number {
  const s2 = (d.squares + PRIOR_WEIGHT * PRIOR_DEVIATION) / (d.n + PRIOR_WEIGHT);
  const poisson = d.n > 0 ? d.poisson / d.n : 0;
  return Math.max(0, s2 - poisson);
}

function relativeDeviation(d: { n: number; squares: number }): number {
  return (d.squares + PRIOR_WEIGHT * PRIOR_DEVIATION) / (d.n + PRIOR_WEIGHT);
}

/** The baseline-rate predictor's current rate (0 before any baseline exposure). */
export function baselineRate(rel: Pick<RelativeState, 'baseline'>): number {
  return rel.baseline.events > 0 && rel.baseline.exposure > 0 ? rel.baseline.events / rel.baseline.exposure : 0;
}

/** How the relative test bets on the next interval, from earlier intervals only (see consumeInterval). */
export interface RelativeBet {
  /** Predicted baseline count, and the cap on it that keeps the normalised excess >= -1. */
  bHat: number;
  cap: number;
  /** rho = theta0·e/f; the normaliser L = rho·cap; m = theta0·e·rate, the null's mean of rho·b. */
  rho: number;
  L: number;
  m: number;
  /** Dispersion estimate and the variance of the excess the bet is sized with. */
  phi: number;
  variance: number;
  /** The relative excess the test is designed for, (theta1 - theta0)/theta0, and the current estimate. */
  kappa0: number;
  kappa: number;
  /** The bet, and the most one interval may add to ln E (½·ln(1/alpha)). */
  lambda: number;
  maxLog: number;
}

/**
 * The relative test's bet for an interval with candidate exposure e and baseline exposure f (host-hours), or null
 * when the interval carries no bet (no exposure on either side, or no baseline rate yet). Pure; shared by the judge
 * (consumeInterval) and the power calculation (engine/power.ts), so that both size the same bets.
 */
export function sizeRelativeBet(rel: RelativeState, e: number, f: number, theta0: number, theta1: number, alphaRelative: number): RelativeBet | null {
  const rateB = baselineRate(rel);
  if (!(e > 0 && f > 0 && rateB > 0)) return null;
  const bHat = rateB * f;
  const s2 = Math.max(relativeDeviation(rel.deviation), 1 / bHat);
  const cap = bHat * (1 + CAP_SIGMAS * Math.sqrt(s2)) + CAP_EVENTS;
  const rho = (theta0 * e) / f;
  const L = rho * cap;
  const m = theta0 * e * rateB;
  const phi = Math.max(0, (rel.residual.squares - rel.residual.poisson + PRIOR_WEIGHT * PRIOR_DEVIATION * 2 * m * m) / (rel.residual.m2 + PRIOR_WEIGHT * 2 * m * m));
  const variance = m * (1 + rho) + 2 * phi * m * m;
  const kappa0 = (theta1 - theta0) / theta0;
  const kappa = (rel.excess.z + kappa0 * PRIOR_WEIGHT * m) / (rel.excess.m + PRIOR_WEIGHT * m);
  const delta = kappa * m;
  const lambda = plugInBet(delta / L, (variance + delta * delta) / (L * L), LAMBDA_MAX);
  return { bHat, cap, rho, L, m, phi, variance, kappa0, kappa, lambda, maxLog: Math.log(1 / alphaRelative) / 2 };
}

/**
 * One interval into the tests (docs/analysis.md). Every quantity that sizes a bet comes from earlier intervals
 * only; the interval's own counts enter the wealth, then the estimators.
 */
function consumeInterval(
  s: MetricJudgeState,
  iv: IntervalCounts,
  p: JudgeParams,
  alphas: { relative: number; guard: number; catastrophic: number },
  candidateMissing: boolean,
): MetricJudgeState {
  const c = iv.candidate.events;
  const e = iv.candidate.exposureHours;
  const b = iv.baseline.events;
  const f = iv.baseline.exposureHours;
  const theta0 = s.theta0;
  const theta1 = s.theta1;
  const rel: RelativeState = { ...s.relative, evidence: [...s.relative.evidence] };

  // --- relative test
  const rateB = baselineRate(s.relative);
  const sized = candidateMissing ? null : sizeRelativeBet(rel, e, f, theta0, theta1, alphas.relative);
  if (sized !== null) {
    const { cap, rho, L, m, phi, variance, kappa0, kappa, lambda, maxLog } = sized;
    const x = (c - rho * b) / L;
    const bet = betLogFactor(x, lambda, maxLog);
    rel.logE += bet.logFactor;
    rel.maxLogE = Math.max(rel.maxLogE, rel.logE);
    if (lambda > 0) rel.bets++;
    if (bet.belowCap) rel.belowCap++;
    // What a regression at theta1 would have gained on this interval (the power statement).
    const d1 = kappa0 * m;
    const l1 = plugInBet(d1 / L, (variance + d1 * d1) / (L * L), LAMBDA_MAX);
    rel.design = {
      growth: rel.design.growth + (l1 * d1) / L - (l1 * l1 * (variance + d1 * d1)) / (2 * L * L),
      variance: rel.design.variance + (l1 * l1 * variance) / (L * L),
    };
    // Evidence against "ratio >= r": the mirrored excess r·(e/f)·b - c, bets sized for the estimated ratio.
    const thetaHat = theta0 * (1 + Math.max(kappa, -0.99));
    EVIDENCE_RATIOS.forEach((r, i) => {
      const Lr = ((r * e) / f) * cap;
      const dr = (r - thetaHat) * e * rateB;
      const vr = e * rateB * thetaHat + ((r * r * e) / f) * e * rateB + 2 * phi * (e * rateB * r) ** 2;
      const lr = plugInBet(dr / Lr, (vr + dr * dr) / (Lr * Lr), LAMBDA_MAX);
      const xr = (((r * e) / f) * b - c) / Lr;
      rel.evidence[i] = (rel.evidence[i] as number) + betLogFactor(xr, lr, maxLog).logFactor;
    });
    const r = c - rho * b - kappa * m;
    rel.residual = { squares: rel.residual.squares + r * r, poisson: rel.residual.poisson + m * (1 + rho), m2: rel.residual.m2 + 2 * m * m };
    rel.excess = { z: EXCESS_DECAY * rel.excess.z + (c - rho * b), m: EXCESS_DECAY * rel.excess.m + m };
  }
  if (f > 0) {
    if (rateB > 0) {
      const bHat = rateB * f;
      rel.deviation = { n: rel.deviation.n + 1, squares: rel.deviation.squares + (b / bHat - 1) ** 2, poisson: rel.deviation.poisson + 1 / bHat };
    }
    rel.baseline = { events: RATE_DECAY * rel.baseline.events + b, exposure: RATE_DECAY * rel.baseline.exposure + f };
  }

  // --- `max` guard: the excess c - max·e is >= -max·e, so x = c/(max·e) - 1 >= -1 exactly.
  let guard = s.guard;
  if (!candidateMissing && p.max !== undefined && p.max > 0 && e > 0) {
    const mu0 = p.max * e;
    const g = s.guard;
    const priorRate = 2 * p.max;
    const rateC = (g.candidate.events + priorRate * PRIOR_WEIGHT * e) / (g.candidate.exposure + PRIOR_WEIGHT * e);
    const muC = rateC * e;
    const phiC = dispersionOf(g.deviation);
    const delta = muC - mu0;
    const lambda = plugInBet(delta / mu0, (muC + phiC * muC * muC + delta * delta) / (mu0 * mu0), LAMBDA_MAX);
    const bet = betLogFactor(c / mu0 - 1, lambda, Math.log(1 / alphas.guard) / 2);
    const observedRate = g.candidate.exposure > 0 ? g.candidate.events / g.candidate.exposure : 0;
    const expected = observedRate * e;
    guard = {
      logE: g.logE + bet.logFactor,
      maxLogE: Math.max(g.maxLogE, g.logE + bet.logFactor),
      candidate: { events: EXCESS_DECAY * g.candidate.events + c, exposure: EXCESS_DECAY * g.candidate.exposure + e },
      deviation:
        expected > 0
          ? { n: g.deviation.n + 1, squares: g.deviation.squares + (c / expected - 1) ** 2, poisson: g.deviation.poisson + 1 / expected }
          : g.deviation,
    };
  }

  return {
    ...s,
    consumedUntil: iv.end,
    candidate: { events: s.candidate.events + c, exposureHours: s.candidate.exposureHours + e },
    baseline: { events: s.baseline.events + b, exposureHours: s.baseline.exposureHours + f },
    intervals: s.intervals + 1,
    relative: rel,
    guard,
  };
}

function versionEvidence(totals: { events: number; exposureHours: number }, hosts: number): VersionEvidence {
  return {
    events: totals.events,
    exposureHours: totals.exposureHours,
    hosts,
    rate: totals.exposureHours > 0 ? totals.events / totals.exposureHours : null,
  };
}

function judgeValue(p: JudgeParams, obs: Extract<Observation, { kind: 'value' }>, prev: MetricJudgeState, base: MetricVerdict): MetricJudgement {
  const name = base.metric;
  const hostsKnown = obs.candidateHosts !== undefined;
  if (
    !Number.isFinite(obs.candidate) ||
    (obs.baseline !== undefined && !Number.isFinite(obs.baseline)) ||
    (hostsKnown && !(Number.isFinite(obs.candidateHosts) && (obs.candidateHosts as number) >= 0))
  ) {
    return {
      verdict: {
        ...base,
        result: 'inconclusive',
        reason: `${name}: invalid value treated as no data (candidate ${obs.candidate}, baseline ${obs.baseline ?? 'none'}, hosts ${obs.candidateHosts ?? 'unknown'})`,
      },
      state: prev,
    };
  }
  const hosts = obs.candidateHosts ?? null;
  const state: MetricJudgeState = { ...prev, peakCandidateHosts: Math.max(prev.peakCandidateHosts, hosts ?? 0) };
  const baselineValue = obs.baseline ?? null;
  let ratio: number | null = null;
  let ratioInfinite = false;
  if (baselineValue !== null) {
    if (baselineValue > 0) ratio = obs.candidate / baselineValue;
    else if (baselineValue === 0) ratioInfinite = obs.candidate > 0;
  }

  const guards: GuardEvidence[] = [];
  if (p.max !== undefined) {
    guards.push({ guard: 'max', limit: p.max, observed: obs.candidate, statistic: null, threshold: null, alpha: null, breached: obs.candidate > p.max });
  }
  let ratioUnchecked = false;
  if (p.maxRatioSet) {
    if (baselineValue === null || baselineValue < 0) ratioUnchecked = true;
    else
      guards.push({
        guard: 'maxRatio',
        limit: p.maxRatio,
        observed: ratio,
        statistic: null,
        threshold: null,
        alpha: null,
        breached: ratioInfinite || (ratio !== null && ratio > p.maxRatio),
      });
  }

  const enoughToFail = p.minHosts === 0 || state.peakCandidateHosts >= p.minHosts;
  const enoughToPass = p.minHosts === 0 || (hosts !== null && hosts >= p.minHosts);
  const sample: SampleEvidence = {
    minHosts: p.minHosts,
    minExposureHours: null,
    hosts,
    peakHosts: state.peakCandidateHosts,
    touchedHosts: hosts === null ? null : state.peakCandidateHosts,
    exposureHours: null,
    enoughToFail,
    enoughToPass,
  };
  const value: ValueEvidence = { candidate: obs.candidate, baseline: baselineValue, ratio };
  const verdict: MetricVerdict = { ...base, sample, guards, value };
  const shown =
    `candidate ${fmt(obs.candidate)}` +
    (baselineValue !== null ? `, baseline ${fmt(baselineValue)}` : '') +
    (ratio !== null ? `, ratio ${fmt(ratio)}` : ratioInfinite ? ', ratio infinite (baseline 0)' : '');

  const breached = guards.filter((g) => g.breached);
  if (breached.length > 0) {
    const which = breached.map((g) => (g.guard === 'max' ? `above max ${fmt(g.limit)}` : `above maxRatio ${fmt(g.limit)} x baseline`)).join(' and ');
    if (enoughToFail) {
      const reason = `${name}: candidate value ${which}; ${shown}`;
      return { verdict: { ...verdict, result: 'fail', reason }, state: { ...state, failure: { at: obs.at, reason } } };
    }
    const reason = `${name}: candidate value ${which} but ${hosts === null ? 'the candidate host count is unknown' : `only ${fmt(hosts)} candidate hosts`} (need minHosts ${p.minHosts}); ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', concern: true, reason }, state };
  }
  if (ratioUnchecked) {
    const reason = `${name}: maxRatio is set but the baseline value is ${baselineValue === null ? 'missing' : 'negative'}; ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (!enoughToPass) {
    const reason = `${name}: ${hosts === null ? 'candidate host count unknown' : `${fmt(hosts)} candidate hosts reporting`}, need minHosts ${p.minHosts}; ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  return {
    verdict: { ...verdict, result: 'pass', reason: `${name}: within guards (${guards.length === 0 ? 'none set' : guards.map((g) => g.guard).join(', ')}); ${shown}` },
    state,
  };
}

// ---------------------------------------------------------------------------------------------
// judgeRing
// ---------------------------------------------------------------------------------------------

export interface RingJudgement {
  result: VerdictResult;
  metrics: MetricVerdict[];
  /** New state for each metric and signal, by name (states of removed metrics are dropped). */
  states: Record<string, MetricJudgeState>;
  reason: string;
  /** Some test points towards a fail it cannot declare yet: do not widen exposure on this look. */
  concern: boolean;
  /** Candidate hosts that ran the update (max over metrics of sample.touchedHosts); null: unknown. */
  touchedHosts: number | null;
}

export interface RingJudgeOptions {
  /** The built-in signals to judge beside the declared metrics (engine/signals.ts builtinSignals). */
  signals?: MetricSpec[];
  /** α per rollout (alphaLedger); without it each metric spends its own alpha. */
  ledger?: AlphaLedger;
  requireEvidence?: boolean;
}

/**
 * Judge a ring: any fail -> fail; else any error -> error; else any inconclusive -> inconclusive; else pass.
 * A metric without an observation is inconclusive (no data). Nothing to judge (no metrics, no signals) -> pass
 * (the ring is gated by its bake time alone; the reason says so).
 */
export function judgeRing(
  metrics: MetricSpec[],
  observations: Record<string, Observation>,
  states: Record<string, MetricJudgeState>,
  opts: RingJudgeOptions = {},
): RingJudgement {
  const ats = Object.values(observations).map((o) => o.at).sort();
  const at = ats[ats.length - 1] ?? '';
  const verdicts: MetricVerdict[] = [];
  const nextStates: Record<string, MetricJudgeState> = {};
  const signals = opts.signals ?? [];
  const all: Array<{ metric: MetricSpec; signal: boolean }> = [...metrics.map((m) => ({ metric: m, signal: false })), ...signals.map((m) => ({ metric: m, signal: true }))];
  for (const { metric, signal } of all) {
    const observation: Observation = Object.prototype.hasOwnProperty.call(observations, metric.name)
      ? (observations[metric.name] as Observation)
      : { kind: 'no-data', at, reason: `no observation for metric ${metric.name}` };
    const prev = Object.prototype.hasOwnProperty.call(states, metric.name) ? states[metric.name] : undefined;
    const alpha = opts.ledger ? shareOf(opts.ledger, metric.name) : undefined;
    const { verdict, state } = signal
      ? judgeSignal(metric, observation, prev !== undefined && isSignalState(prev) ? prev : initialSignalJudgeState(metric), alpha ?? { rollout: JUDGE_DEFAULTS.alpha, metric: JUDGE_DEFAULTS.alpha })
      : judgeMetric(metric, observation, prev, { ...(alpha ? { alpha } : {}), requireEvidence: opts.requireEvidence === true });
    verdicts.push(verdict);
    nextStates[metric.name] = state;
  }
  const concern = verdicts.some((v) => v.concern);
  const touched = verdicts.map((v) => v.sample?.touchedHosts).filter((x): x is number => typeof x === 'number');
  const touchedHosts = touched.length > 0 ? Math.max(...touched) : null;
  if (all.length === 0) return { result: 'pass', metrics: [], states: {}, reason: 'no metrics configured: bake time only', concern: false, touchedHosts: null };
  const order: VerdictResult[] = ['fail', 'error', 'inconclusive'];
  for (const result of order) {
    const hit = verdicts.filter((v) => v.result === result);
    if (hit.length > 0) return { result, metrics: verdicts, states: nextStates, reason: `${result}: ${hit.map((v) => v.reason).join(' | ')}`, concern, touchedHosts };
  }
  const rollout = opts.ledger ? `; false-fail rate <= ${fmt(opts.ledger.rollout)} per rollout` : '';
  return { result: 'pass', metrics: verdicts, states: nextStates, reason: `pass: ${verdicts.map((v) => v.metric).join(', ')} healthy${rollout}`, concern, touchedHosts };
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) return String(Number(x.toPrecision(3)));
  return x.toExponential(2);
}

function fmtP(x: number): string {
  return x === 0 ? '< 1e-300' : x.toExponential(1);
}

function fmtRate(rate: number | null): string {
  return rate === null ? 'n/a' : `${fmt(rate)}/host-h`;
}

export function pct(x: number): string {
  return `${Number((100 * x).toPrecision(3))}%`;
}

function describeIncrement(c: { events: number; exposureHours: number }): string {
  return `{events ${c.events}, exposure ${c.exposureHours} host-h}`;
}

/** For reports: cumulative counts in the reporting shape. */
export function countsOf(state: MetricJudgeState, hosts: { candidate: number; baseline: number }): { candidate: Counts; baseline: Counts } {
  return {
    candidate: { ...state.candidate, hosts: hosts.candidate },
    baseline: { ...state.baseline, hosts: hosts.baseline },
  };
}
