/**
 * The health judge: pure functions from (metric spec, provider observation, previous test state) to a
 * verdict with the numbers behind it. The statistics are explained in docs/analysis.md.
 *
 * Built-in metrics (crash-rate, bsod-rate, update-failure-rate) compare the candidate's event rate per
 * host-hour with the baseline's, over the same time window since the ring started:
 *   - an absolute guard `max` (events per candidate host-hour), a sequential Poisson test against it;
 *   - a sequential probability ratio test (SPRT) of "ratio <= maxRatio" against "ratio = detectRatio"
 *     on the conditional binomial of candidate events among all events, interval by interval;
 *     its false-alarm rate is at most α however often it is evaluated (Ville's inequality).
 * Custom metrics (one value per version) have guards only.
 *
 * No data, NaN, negative or infinite counts, and provider errors never pass.
 */
import type { Counts, Observation, VerdictResult } from './observation';
import { METRIC_DEFAULTS, metricParamsOf } from '../spec/defaults';
import type { MetricSpec } from '../spec/types';
import { poissonGuardLogLr, sprtExposureForPower, sprtIncrement } from './stats';

// ---------------------------------------------------------------------------------------------
// Defaults and constants
// ---------------------------------------------------------------------------------------------

/**
 * Values used when a metric leaves a field unset: the `default` keywords of the metric schema (spec/schema.ts, the
 * one place they are defined; see docs/analysis.md, "Defaults"). alpha: false-alarm rate of each sequential test
 * under continuous monitoring; beta: miss rate at detectRatio; detectRatio: the SPRT's alternative; maxRatio: the
 * tolerated candidate/baseline ratio (its null); minHosts: candidate hosts reporting before a pass;
 * minExposureHours: candidate host-hours before a pass (built-in metrics).
 */
export const JUDGE_DEFAULTS = {
  alpha: METRIC_DEFAULTS.alpha,
  beta: METRIC_DEFAULTS.beta,
  detectRatio: METRIC_DEFAULTS.detectRatio,
  maxRatio: METRIC_DEFAULTS.maxRatio,
  minHosts: METRIC_DEFAULTS.minHosts,
  minExposureHours: METRIC_DEFAULTS.minExposure,
} as const;

/**
 * A ring whose reporting hosts fell below this fraction of their peak, relative to how the whole fleet
 * (candidate + baseline) kept its hosts, cannot pass: hosts that crash on boot stop reporting.
 */
export const MIN_RELATIVE_RETENTION = 0.5;

export type MetricType = MetricSpec['type'];
const BUILTIN_TYPES: readonly MetricType[] = ['crash-rate', 'bsod-rate', 'update-failure-rate'];

/** Resolved parameters of one metric (spec + defaults). */
export interface JudgeParams {
  alpha: number;
  beta: number;
  detectRatio: number;
  maxRatio: number;
  minHosts: number;
  minExposureHours: number;
  /** Absolute guard; undefined when the metric has none. */
  max: number | undefined;
  /** Whether maxRatio was set explicitly (custom metrics only check an explicit maxRatio). */
  maxRatioSet: boolean;
}

export function resolveParams(metric: MetricSpec): JudgeParams {
  const p = metricParamsOf(metric);
  return {
    alpha: p.alpha,
    beta: p.beta,
    detectRatio: p.detectRatio,
    maxRatio: p.maxRatio,
    minHosts: p.minHosts,
    minExposureHours: p.minExposure,
    max: metric.max,
    maxRatioSet: metric.maxRatio !== undefined,
  };
}

/**
 * Problems with a metric that the JSON Schema cannot express, as messages naming the field
 * (empty when fine). The spec's semantic validation can reuse this; the judge returns 'error' for them.
 */
export function validateMetricForJudge(metric: MetricSpec): string[] {
  const problems: string[] = [];
  if (metric.type === 'custom') return problems;
  const p = resolveParams(metric);
  if (!(p.detectRatio > p.maxRatio)) {
    problems.push(
      `metric ${metric.name}: detectRatio (${p.detectRatio}${metric.detectRatio === undefined ? ', default' : ''}) ` +
        `must be greater than maxRatio (${p.maxRatio}${metric.maxRatio === undefined ? ', default' : ''})`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// State and verdict shapes
// ---------------------------------------------------------------------------------------------

/**
 * What the judge carries from one evaluation of a metric to the next, within one ring.
 * Plain JSON (finite numbers, strings, null): the engine persists it with the rollout state so a
 * restarted controller resumes the sequential test exactly. Start a ring with `undefined`.
 */
export interface MetricJudgeState {
  v: 1;
  /** Hypotheses of the accumulated SPRT statistic; if the spec changes them, the test restarts. */
  theta0: number;
  theta1: number;
  /** Last valid cumulative counts as the provider reported them; increments are measured from here. */
  last: { at: string; candidate: Counts; baseline: Counts } | null;
  /** Totals since ring start, corrected for counter resets (sums of the accepted increments). */
  candidate: { events: number; exposureHours: number };
  baseline: { events: number; exposureHours: number };
  /** Most candidate hosts seen reporting at one evaluation (also for custom metrics, when known). */
  peakCandidateHosts: number;
  /** Most candidate + baseline hosts seen reporting at one evaluation. */
  peakFleetHosts: number;
  /** SPRT log-likelihood ratio of θ1 against θ0, summed over intervals. */
  llr: number;
  /** When the SPRT statistic first reached the acceptance boundary (informational), or null. */
  acceptedAt: string | null;
  /** A fail is final for the ring: the test stopped. */
  failure: { at: string; reason: string } | null;
  /** Evaluations whose increments entered the statistic, and counter resets seen. */
  intervals: number;
  resets: number;
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
  guard: 'max' | 'maxRatio';
  limit: number;
  /** Candidate rate (counts) or value (custom), or the candidate/baseline ratio. null if undefined. */
  observed: number | null;
  /** Counts `max` guard: log mixture likelihood ratio against rate = limit; null for point comparisons. */
  statistic: number | null;
  /** ln(1/α) for the counts guard; null for point comparisons. */
  threshold: number | null;
  breached: boolean;
}

export interface SprtEvidence {
  /** Null hypothesis: ratio <= theta0 (maxRatio). Alternative: ratio = theta1 (detectRatio). */
  theta0: number;
  theta1: number;
  alpha: number;
  beta: number;
  /** Log-likelihood ratio of θ1 against θ0 so far. */
  llr: number;
  /** Rejection boundary ln(1/α): reaching it fails. */
  upper: number;
  /** Acceptance boundary ln(β): informational (evidence that the ratio is below detectRatio). */
  lower: number;
  /** This evaluation's increment of the statistic. */
  increment: number;
  acceptedH0: boolean;
  /** False when the baseline has no exposure (e.g. a 100% ring): no relative information. */
  active: boolean;
  /** Candidate host-hours at which the test has power ≈ 1−β at θ1 (Wald approximation), or null. */
  exposureForPowerHours: number | null;
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
  sprt: SprtEvidence | null;
  value: ValueEvidence | null;
  /** Data-quality notes: counter resets, restarted test, inactive relative test... */
  notes: string[];
}

export interface MetricJudgement {
  verdict: MetricVerdict;
  state: MetricJudgeState;
}

// ---------------------------------------------------------------------------------------------
// judgeMetric
// ---------------------------------------------------------------------------------------------

export function initialJudgeState(metric: MetricSpec): MetricJudgeState {
  const p = resolveParams(metric);
  return {
    v: 1,
    theta0: p.maxRatio,
    theta1: p.detectRatio,
    last: null,
    candidate: { events: 0, exposureHours: 0 },
    baseline: { events: 0, exposureHours: 0 },
    peakCandidateHosts: 0,
    peakFleetHosts: 0,
    llr: 0,
    acceptedAt: null,
    failure: null,
    intervals: 0,
    resets: 0,
  };
}

/**
 * Judge one metric at one evaluation. Pure: the same (metric, observation, prev) always gives the same
 * result, and `prev` is not modified. Pass `undefined` as prev at the start of a ring.
 */
export function judgeMetric(metric: MetricSpec, observation: Observation, prev: MetricJudgeState | undefined): MetricJudgement {
  const params = resolveParams(metric);
  const notes: string[] = [];
  const isBuiltin = BUILTIN_TYPES.includes(metric.type);
  let state = prev ?? initialJudgeState(metric);
  if (isBuiltin && (state.theta0 !== params.maxRatio || state.theta1 !== params.detectRatio)) {
    // The accumulated statistic belongs to other hypotheses. Restart it; the next counts observation is
    // then one interval from ring start. Peaks and a recorded failure are kept.
    notes.push(
      `the metric's hypotheses changed (maxRatio ${state.theta0} -> ${params.maxRatio}, detectRatio ${state.theta1} -> ` +
        `${params.detectRatio}): the sequential test restarted from the cumulative counts`,
    );
    state = {
      ...initialJudgeState(metric),
      peakCandidateHosts: state.peakCandidateHosts,
      peakFleetHosts: state.peakFleetHosts,
      failure: state.failure,
    };
  }
  const base = emptyVerdict(metric, observation.at, notes);

  if (state.failure) {
    return {
      verdict: { ...base, result: 'fail', reason: `${state.failure.reason} (since ${state.failure.at}; the test has stopped)` },
      state,
    };
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
        return {
          verdict: { ...base, result: 'error', reason: `metric ${metric.name} is custom but the provider returned event counts` },
          state,
        };
      }
      return judgeCounts(metric, params, observation, state, base);
    case 'value':
      if (isBuiltin) {
        return {
          verdict: {
            ...base,
            result: 'error',
            reason: `metric ${metric.name} is ${metric.type} (event counts) but the provider returned a single value`,
          },
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

function emptyVerdict(metric: MetricSpec, at: string, notes: string[]): MetricVerdict {
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
    sprt: null,
    value: null,
    notes,
  };
}

function validCounts(c: Counts): boolean {
  return [c.events, c.exposureHours, c.hosts].every((x) => Number.isFinite(x) && x >= 0);
}

function judgeCounts(
  metric: MetricSpec,
  p: JudgeParams,
  obs: Extract<Observation, { kind: 'counts' }>,
  prev: MetricJudgeState,
  base: MetricVerdict,
): MetricJudgement {
  if (!validCounts(obs.candidate) || !validCounts(obs.baseline)) {
    return {
      verdict: {
        ...base,
        result: 'inconclusive',
        reason: `invalid counts (NaN, infinite or negative) treated as no data: candidate ${describeCounts(obs.candidate)}, baseline ${describeCounts(obs.baseline)}`,
      },
      state: prev,
    };
  }
  const notes = base.notes;

  // Increments since the last valid observation. A decrease of a cumulative count is a counter reset
  // (or series churn): that side's increments are dropped for this interval and the baseline for the
  // next increment is the new value. The SPRT skips the whole interval.
  const last = prev.last;
  const dc = increments(obs.candidate, last?.candidate);
  const db = increments(obs.baseline, last?.baseline);
  const reset = dc.reset || db.reset;
  if (dc.reset) notes.push(`candidate counter went down (${describeCounts(last?.candidate)} -> ${describeCounts(obs.candidate)}): treated as a reset`);
  if (db.reset) notes.push(`baseline counter went down (${describeCounts(last?.baseline)} -> ${describeCounts(obs.baseline)}): treated as a reset`);

  const increment = reset ? 0 : sprtIncrement(dc.events, db.events, dc.exposureHours, db.exposureHours, prev.theta0, prev.theta1);
  const candidateTotals = { events: prev.candidate.events + dc.events, exposureHours: prev.candidate.exposureHours + dc.exposureHours };
  const baselineTotals = { events: prev.baseline.events + db.events, exposureHours: prev.baseline.exposureHours + db.exposureHours };
  const llr = prev.llr + increment;
  const upper = Math.log(1 / p.alpha);
  const lower = Math.log(p.beta);
  const acceptedAt = prev.acceptedAt ?? (llr <= lower ? obs.at : null);
  const state: MetricJudgeState = {
    ...prev,
    last: { at: obs.at, candidate: { ...obs.candidate }, baseline: { ...obs.baseline } },
    candidate: candidateTotals,
    baseline: baselineTotals,
    peakCandidateHosts: Math.max(prev.peakCandidateHosts, obs.candidate.hosts),
    peakFleetHosts: Math.max(prev.peakFleetHosts, obs.candidate.hosts + obs.baseline.hosts),
    llr,
    acceptedAt,
    intervals: prev.intervals + (reset ? 0 : 1),
    resets: prev.resets + (reset ? 1 : 0),
  };

  const candidate = versionEvidence(candidateTotals, obs.candidate.hosts);
  const baseline = versionEvidence(baselineTotals, obs.baseline.hosts);
  const ratio = candidate.rate !== null && baseline.rate !== null && baseline.rate > 0 ? candidate.rate / baseline.rate : null;

  // Absolute guard on the candidate's rate: a sequential Poisson test of "rate <= max".
  const guards: GuardEvidence[] = [];
  if (p.max !== undefined) {
    if (p.max === 0) {
      guards.push({ guard: 'max', limit: 0, observed: candidate.rate, statistic: null, threshold: null, breached: candidate.events > 0 });
    } else {
      const statistic = poissonGuardLogLr(candidate.events, candidate.exposureHours, p.max);
      guards.push({ guard: 'max', limit: p.max, observed: candidate.rate, statistic, threshold: upper, breached: statistic >= upper });
    }
  }

  const active = baselineTotals.exposureHours > 0 && baselineTotals.events + candidateTotals.events > 0;
  if (baselineTotals.exposureHours === 0) notes.push('no baseline exposure: the relative test has no information (guards only)');
  const sprt: SprtEvidence = {
    theta0: prev.theta0,
    theta1: prev.theta1,
    alpha: p.alpha,
    beta: p.beta,
    llr,
    upper,
    lower,
    increment,
    acceptedH0: acceptedAt !== null,
    active,
    exposureForPowerHours:
      baseline.rate !== null && candidate.exposureHours > 0
        ? sprtExposureForPower(baseline.rate, baselineTotals.exposureHours / candidateTotals.exposureHours, prev.theta0, prev.theta1, upper, p.beta)
        : null,
  };

  // Sample size. Fails need enough hosts to have run the update; passes need enough hosts reporting now,
  // enough exposure, and no unexplained disappearance of candidate hosts.
  const touchedHosts = Math.max(state.peakCandidateHosts, obs.candidate.hosts + candidateTotals.events);
  const enoughToFail = touchedHosts >= p.minHosts;
  const candidateRetention = state.peakCandidateHosts > 0 ? obs.candidate.hosts / state.peakCandidateHosts : 1;
  const fleetRetention = state.peakFleetHosts > 0 ? (obs.candidate.hosts + obs.baseline.hosts) / state.peakFleetHosts : 1;
  const hostsVanished = state.peakCandidateHosts >= p.minHosts && candidateRetention < MIN_RELATIVE_RETENTION * fleetRetention;
  const hostsOk = obs.candidate.hosts >= p.minHosts;
  const exposureOk = candidateTotals.exposureHours >= p.minExposureHours;
  const sample: SampleEvidence = {
    minHosts: p.minHosts,
    minExposureHours: p.minExposureHours,
    hosts: obs.candidate.hosts,
    peakHosts: state.peakCandidateHosts,
    touchedHosts,
    exposureHours: candidateTotals.exposureHours,
    enoughToFail,
    enoughToPass: hostsOk && exposureOk && !hostsVanished,
  };

  const verdict: MetricVerdict = { ...base, sample, candidate, baseline, ratio, guards, sprt, notes };
  const rates = `candidate ${fmtRate(candidate.rate)} (${fmt(candidate.events)} events / ${fmt(candidate.exposureHours)} host-h), ` +
    `baseline ${fmtRate(baseline.rate)} (${fmt(baseline.events)} / ${fmt(baseline.exposureHours)} host-h)` +
    (ratio !== null ? `, ratio ${fmt(ratio)}` : '');
  const what = metric.type.replace(/-rate$/, '');

  const breachedGuard = guards.find((g) => g.breached);
  const sprtRejects = llr >= upper;
  if (enoughToFail && (breachedGuard || sprtRejects)) {
    const reason = breachedGuard
      ? `${metric.name}: candidate ${what} rate is above max ${fmt(breachedGuard.limit)}/host-h ` +
        (breachedGuard.statistic !== null ? `(log-LR against the max ${fmt(breachedGuard.statistic)} >= ${fmt(upper)}, alpha ${p.alpha}); ` : '; ') + rates
      : `${metric.name}: candidate ${what} rate exceeds ${fmt(prev.theta0)}x baseline (SPRT log-LR ${fmt(llr)} >= ${fmt(upper)}, ` +
        `alpha ${p.alpha}, H1 ratio ${fmt(prev.theta1)}); ${rates}`;
    return { verdict: { ...verdict, result: 'fail', reason }, state: { ...state, failure: { at: obs.at, reason } } };
  }
  if (breachedGuard || sprtRejects) {
    const reason = `${metric.name}: the evidence says fail but only ${fmt(touchedHosts)} candidate hosts (need minHosts ${p.minHosts}); ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (reset) {
    return { verdict: { ...verdict, result: 'inconclusive', reason: `${metric.name}: counter reset in this interval (${notes.join('; ')}); ${rates}` }, state };
  }
  if (hostsVanished) {
    const reason = `${metric.name}: candidate hosts reporting fell from ${fmt(state.peakCandidateHosts)} to ${fmt(obs.candidate.hosts)} ` +
      `(${pct(candidateRetention)}) while the fleet kept ${pct(fleetRetention)}: hosts may be crashing without reporting`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (!hostsOk) {
    const reason = `${metric.name}: ${fmt(obs.candidate.hosts)} candidate hosts reporting, need minHosts ${p.minHosts}; ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (!exposureOk) {
    const reason = `${metric.name}: ${fmt(candidateTotals.exposureHours)} candidate host-hours, need minExposure ${p.minExposureHours}; ${rates}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  const reason = `${metric.name}: no regression detected (SPRT log-LR ${fmt(llr)} < ${fmt(upper)}` +
    (acceptedAt !== null ? `, H0 accepted at ${acceptedAt}` : '') + (active ? '' : ', relative test inactive: no baseline') +
    `; guards ${guards.length === 0 ? 'none' : 'ok'}); ${rates}`;
  return { verdict: { ...verdict, result: 'pass', reason }, state };
}

function increments(now: Counts, last: Counts | undefined): { events: number; exposureHours: number; reset: boolean } {
  if (!last) return { events: now.events, exposureHours: now.exposureHours, reset: false };
  const events = now.events - last.events;
  const exposureHours = now.exposureHours - last.exposureHours;
  if (events < 0 || exposureHours < 0) return { events: 0, exposureHours: 0, reset: true };
  return { events, exposureHours, reset: false };
}

function versionEvidence(totals: { events: number; exposureHours: number }, hosts: number): VersionEvidence {
  return {
    events: totals.events,
    exposureHours: totals.exposureHours,
    hosts,
    rate: totals.exposureHours > 0 ? totals.events / totals.exposureHours : null,
  };
}

function judgeValue(
  p: JudgeParams,
  obs: Extract<Observation, { kind: 'value' }>,
  prev: MetricJudgeState,
  base: MetricVerdict,
): MetricJudgement {
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
    guards.push({ guard: 'max', limit: p.max, observed: obs.candidate, statistic: null, threshold: null, breached: obs.candidate > p.max });
  }
  let ratioUnchecked = false;
  if (p.maxRatioSet) {
    if (baselineValue === null || baselineValue < 0) ratioUnchecked = true;
    else guards.push({ guard: 'maxRatio', limit: p.maxRatio, observed: ratio, statistic: null, threshold: null, breached: ratioInfinite || (ratio !== null && ratio > p.maxRatio) });
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
  const shown = `candidate ${fmt(obs.candidate)}` + (baselineValue !== null ? `, baseline ${fmt(baselineValue)}` : '') +
    (ratio !== null ? `, ratio ${fmt(ratio)}` : ratioInfinite ? ', ratio infinite (baseline 0)' : '');

  const breached = guards.filter((g) => g.breached);
  if (breached.length > 0) {
    const which = breached.map((g) => (g.guard === 'max' ? `above max ${fmt(g.limit)}` : `above maxRatio ${fmt(g.limit)} x baseline`)).join(' and ');
    if (enoughToFail) {
      const reason = `${name}: candidate value ${which}; ${shown}`;
      return { verdict: { ...verdict, result: 'fail', reason }, state: { ...state, failure: { at: obs.at, reason } } };
    }
    const reason = `${name}: candidate value ${which} but ${hosts === null ? 'the candidate host count is unknown' : `only ${fmt(hosts)} candidate hosts`} (need minHosts ${p.minHosts}); ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (ratioUnchecked) {
    const reason = `${name}: maxRatio is set but the baseline value is ${baselineValue === null ? 'missing' : 'negative'}; ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  if (!enoughToPass) {
    const reason = `${name}: ${hosts === null ? 'candidate host count unknown' : `${fmt(hosts)} candidate hosts reporting`}, need minHosts ${p.minHosts}; ${shown}`;
    return { verdict: { ...verdict, result: 'inconclusive', reason }, state };
  }
  return { verdict: { ...verdict, result: 'pass', reason: `${name}: within guards (${guards.length === 0 ? 'none set' : guards.map((g) => g.guard).join(', ')}); ${shown}` }, state };
}

// ---------------------------------------------------------------------------------------------
// judgeRing
// ---------------------------------------------------------------------------------------------

export interface RingJudgement {
  result: VerdictResult;
  metrics: MetricVerdict[];
  /** New state for each metric of the spec, by metric name (states of removed metrics are dropped). */
  states: Record<string, MetricJudgeState>;
  reason: string;
}

/**
 * Judge a ring: any fail -> fail; else any error -> error; else any inconclusive -> inconclusive;
 * else pass. A metric without an observation is inconclusive (no data). No metrics -> pass (the ring
 * is gated by its bake time alone; the reason says so).
 */
export function judgeRing(
  metrics: MetricSpec[],
  observations: Record<string, Observation>,
  states: Record<string, MetricJudgeState>,
): RingJudgement {
  const ats = Object.values(observations).map((o) => o.at).sort();
  const at = ats[ats.length - 1] ?? '';
  const verdicts: MetricVerdict[] = [];
  const nextStates: Record<string, MetricJudgeState> = {};
  for (const metric of metrics) {
    const observation: Observation = Object.prototype.hasOwnProperty.call(observations, metric.name)
      ? (observations[metric.name] as Observation)
      : { kind: 'no-data', at, reason: `no observation for metric ${metric.name}` };
    const prev = Object.prototype.hasOwnProperty.call(states, metric.name) ? states[metric.name] : undefined;
    const { verdict, state } = judgeMetric(metric, observation, prev);
    verdicts.push(verdict);
    nextStates[metric.name] = state;
  }
  if (metrics.length === 0) return { result: 'pass', metrics: [], states: {}, reason: 'no metrics configured: bake time only' };
  const order: VerdictResult[] = ['fail', 'error', 'inconclusive'];
  for (const result of order) {
    const hit = verdicts.filter((v) => v.result === result);
    if (hit.length > 0) return { result, metrics: verdicts, states: nextStates, reason: `${result}: ${hit.map((v) => v.reason).join(' | ')}` };
  }
  return { result: 'pass', metrics: verdicts, states: nextStates, reason: `pass: ${verdicts.map((v) => v.metric).join(', ')} healthy` };
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) return String(Number(x.toPrecision(3)));
  return x.toExponential(2);
}

function fmtRate(rate: number | null): string {
  return rate === null ? 'n/a' : `${fmt(rate)}/host-h`;
}

function pct(x: number): string {
  return `${Number((100 * x).toPrecision(3))}%`;
}

function describeCounts(c: Counts | undefined): string {
  if (!c) return 'none';
  return `{events ${c.events}, exposure ${c.exposureHours} host-h, hosts ${c.hosts}}`;
}
