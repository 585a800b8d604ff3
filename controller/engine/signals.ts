/**
 * The built-in (always-on) signals, judged for every rollout whether it declares metrics or not (contracts §3,
 * docs/analysis.md "Built-in signals"):
 *
 *   update-failures  agents refusing or failing the update (signature, hash, download, apply), counted against
 *                    install attempts (failures + successful installs), not exposure: a refused update has no
 *                    exposure at all. A sequential binomial likelihood-ratio mixture of "more than 5% of the
 *                    attempts fail" against "at most 5% do"; fails when it crosses 1/α of its share.
 *   silent-hosts     candidate hosts that stopped reporting: hosts that took the update (reporting hosts plus the
 *                    boot crashes of hosts that no longer report) minus the hosts reporting now, against a
 *                    tolerated 10% (plus whatever share the whole fleet lost). A binomial tail at each look, its
 *                    α spent over the looks.
 *
 * Both fail (the engine rolls back, or halts without automatic rollback) only once minHosts hosts were involved;
 * below that, or past half their boundary, they raise `concern` (no next wave). Each takes one metric's share of
 * the rollout's α (judge.ts alphaLedger).
 */
import type { Observation } from './observation';
import type { AlphaShare, MetricJudgeState, MetricJudgement, MetricVerdict, SignalState } from './judge';
import { JUDGE_DEFAULTS } from '../spec/metric-rules';
import type { MetricSpec, RolloutSpec } from '../spec/types';
import { binomialUpperTail, lookAlpha } from './stats';

export const UPDATE_FAILURES = 'update-failures';
export const SILENT_HOSTS = 'silent-hosts';

/** Share of install attempts that may fail without a fail (download hiccups, retried applies). */
export const UPDATE_FAILURE_TOLERANCE = 0.05;
/** Failure shares the update-failures mixture weighs equally against the tolerance. */
export const UPDATE_FAILURE_ALTERNATIVES = [0.2, 0.5, 0.9] as const;
/** Share of the hosts that took the update that may stop reporting (beyond what the whole fleet lost). */
export const SILENT_TOLERANCE = 0.1;

/**
 * The signal metrics added to the declared ones: `update-failures` (type update-failure-rate) unless the rollout
 * declares a metric of that type or name, and `silent-hosts` (observed on the bsod-rate series: hosts and boot
 * crashes) unless it declares a metric of that name. minHosts: the smallest of the declared metrics', else 50.
 */
export function builtinSignals(spec: RolloutSpec): MetricSpec[] {
  const declared = spec.analysis?.metrics ?? [];
  const minHosts = declared.length > 0 ? Math.min(...declared.map((m) => m.minHosts ?? JUDGE_DEFAULTS.minHosts)) : JUDGE_DEFAULTS.minHosts;
  const out: MetricSpec[] = [];
  if (!declared.some((m) => m.type === 'update-failure-rate' || m.name === UPDATE_FAILURES)) {
    out.push({ name: UPDATE_FAILURES, type: 'update-failure-rate', minHosts });
  }
  if (!declared.some((m) => m.name === SILENT_HOSTS)) out.push({ name: SILENT_HOSTS, type: 'bsod-rate', minHosts });
  return out;
}

/** One line per signal, for `ringctl validate` and `status`. */
export function describeSignals(spec: RolloutSpec): string[] {
  return builtinSignals(spec).map((m) =>
    m.name === UPDATE_FAILURES
      ? `${m.name}: agents' update failures (signature, hash, download, apply) against install attempts; fails above ${UPDATE_FAILURE_TOLERANCE * 100}% of attempts`
      : `${m.name}: candidate hosts that stop reporting; fails above ${SILENT_TOLERANCE * 100}% of the hosts that took the update`,
  );
}

export function isSignalState(s: MetricJudgeState): boolean {
  return s.signal !== undefined;
}

/**
 * The signal part of a fresh state: the judge (judge.ts) puts it on its own initial state, so a signal's state has the
 * same shape as a metric's, and a restarted controller resumes it the same way.
 */
export function initialSignalState(metric: MetricSpec): SignalState {
  const kind: SignalState['kind'] = metric.name === SILENT_HOSTS ? 'silent-hosts' : 'update-failures';
  return { kind, logE: 0, attempts: 0, failures: 0, touched: 0, looks: 0, components: UPDATE_FAILURE_ALTERNATIVES.map(() => 0) };
}

function verdictBase(metric: MetricSpec, at: string, kind: SignalState['kind']): MetricVerdict {
  return {
    metric: metric.name,
    type: metric.type,
    signal: kind,
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
    notes: [],
  };
}

/** Judge a built-in signal at one evaluation, from its state (judge.ts starts it). Pure, like judgeMetric. */
export function judgeSignal(metric: MetricSpec, obs: Observation, state: MetricJudgeState, alpha: AlphaShare): MetricJudgement {
  const sig = state.signal as SignalState;
  const base = verdictBase(metric, obs.at, sig.kind);
  if (state.failure) return { verdict: { ...base, result: 'fail', reason: `${state.failure.reason} (since ${state.failure.at}; the test has stopped)` }, state };
  if (obs.kind === 'error') return { verdict: { ...base, result: 'error', reason: `provider error: ${obs.message}` }, state };
  if (obs.kind === 'no-data') return { verdict: { ...base, result: 'inconclusive', reason: `no data: ${obs.reason}` }, state };
  if (obs.kind === 'value') return { verdict: { ...base, result: 'error', reason: `${metric.name}: the provider returned a single value, not counts` }, state };
  const bad = [obs.candidateHosts, obs.baselineHosts, ...obs.intervals.flatMap((iv) => [iv.candidate.events, iv.candidate.exposureHours, iv.baseline.events, iv.baseline.exposureHours])].some(
    (x) => !(Number.isFinite(x) && x >= 0),
  );
  if (bad) return { verdict: { ...base, result: 'inconclusive', reason: `${metric.name}: invalid counts treated as no data` }, state };
  const after = state.consumedUntil === null ? -Infinity : Date.parse(state.consumedUntil);
  const fresh = obs.intervals.filter((iv) => Date.parse(iv.end) > after).sort((a, b) => Date.parse(a.end) - Date.parse(b.end));
  const events = fresh.reduce((a, iv) => a + iv.candidate.events, 0);
  const exposure = fresh.reduce((a, iv) => a + iv.candidate.exposureHours, 0);
  const next: MetricJudgeState = {
    ...state,
    consumedUntil: fresh.length > 0 ? (fresh[fresh.length - 1] as { end: string }).end : state.consumedUntil,
    candidate: { events: state.candidate.events + events, exposureHours: state.candidate.exposureHours + exposure },
    baseline: {
      events: state.baseline.events + fresh.reduce((a, iv) => a + iv.baseline.events, 0),
      exposureHours: state.baseline.exposureHours + fresh.reduce((a, iv) => a + iv.baseline.exposureHours, 0),
    },
    peakCandidateHosts: Math.max(state.peakCandidateHosts, obs.candidateHosts),
    peakFleetHosts: Math.max(state.peakFleetHosts, obs.candidateHosts + obs.baselineHosts),
    intervals: state.intervals + fresh.length,
    looks: state.looks + (fresh.length > 0 ? 1 : 0),
  };
  if (obs.candidateMissing === true && events === 0 && next.signal?.attempts === 0) {
    return { verdict: { ...base, result: 'inconclusive', reason: `${metric.name}: no data: the candidate has no series yet (nobody runs it)` }, state: next };
  }
  return sig.kind === 'update-failures'
    ? updateFailures(metric, obs, next, sig, events, alpha, base)
    : silentHosts(metric, obs, next, sig, fresh.length > 0, alpha, base);
}

function updateFailures(
  metric: MetricSpec,
  obs: Extract<Observation, { kind: 'counts' }>,
  state: MetricJudgeState,
  sig: SignalState,
  failures: number,
  alpha: AlphaShare,
  base: MetricVerdict,
): MetricJudgement {
  const minHosts = metric.minHosts ?? JUDGE_DEFAULTS.minHosts;
  // Successful installs: candidate hosts that appeared since the last look (the reporting peak only grows).
  const touched = Math.max(sig.touched, obs.candidateHosts);
  const installs = Math.max(0, touched - sig.touched);
  const p0 = UPDATE_FAILURE_TOLERANCE;
  const components = (sig.components ?? UPDATE_FAILURE_ALTERNATIVES.map(() => 0)).map(
    (w, i) => w + failures * Math.log((UPDATE_FAILURE_ALTERNATIVES[i] as number) / p0) + installs * Math.log((1 - (UPDATE_FAILURE_ALTERNATIVES[i] as number)) / (1 - p0)),
  );
  const logE = logMeanExp(components);
  const attempts = sig.attempts + failures + installs;
  const allFailures = sig.failures + failures;
  const nextSig: SignalState = { ...sig, logE, attempts, failures: allFailures, touched, components };
  const next: MetricJudgeState = { ...state, signal: nextSig };
  const threshold = Math.log(1 / alpha.metric);
  const share = attempts > 0 ? allFailures / attempts : null;
  const enoughToFail = attempts >= minHosts;
  const verdict: MetricVerdict = {
    ...base,
    sample: signalSample(minHosts, obs, state, touched, enoughToFail),
    guards: [{ guard: 'max', limit: p0, observed: share, statistic: logE, threshold, alpha: alpha.metric, breached: logE >= threshold }],
    concern: logE >= threshold / 2,
  };
  const shown =
    `${fmt(allFailures)} update failures (agents' signature, hash, download or apply refusals) and ${fmt(touched)} successful installs` +
    (share !== null ? ` (${pct(share)} of ${fmt(attempts)} attempts)` : '');
  if (logE >= threshold && enoughToFail) {
    const reason =
      `${metric.name}: agents refuse the update: ${shown}, above the tolerated ${pct(p0)} ` +
      `(e-value ln ${fmt(logE)} >= ${fmt(threshold)}; false-fail rate <= ${fmt(alpha.rollout)} per rollout)`;
    return { verdict: { ...verdict, result: 'fail', reason }, state: { ...next, failure: { at: obs.at, reason } } };
  }
  if (logE >= threshold) {
    return { verdict: { ...verdict, result: 'inconclusive', concern: true, reason: `${metric.name}: the refusals say fail but only ${fmt(attempts)} install attempts (need ${minHosts}); ${shown}` }, state: next };
  }
  return { verdict: { ...verdict, result: 'pass', reason: `${metric.name}: ${shown}; within tolerance` }, state: next };
}

/** What a signal's verdict says of its sample: a signal never holds a pass back on sample size (the metrics do). */
function signalSample(minHosts: number, obs: Extract<Observation, { kind: 'counts' }>, state: MetricJudgeState, touched: number, enoughToFail: boolean): MetricVerdict['sample'] {
  return {
    minHosts,
    minExposureHours: null,
    hosts: obs.candidateHosts,
    peakHosts: state.peakCandidateHosts,
    touchedHosts: touched,
    exposureHours: state.candidate.exposureHours,
    enoughToFail,
    enoughToPass: true,
  };
}

function silentHosts(
  metric: MetricSpec,
  obs: Extract<Observation, { kind: 'counts' }>,
  state: MetricJudgeState,
  sig: SignalState,
  looked: boolean,
  alpha: AlphaShare,
  base: MetricVerdict,
): MetricJudgement {
  const minHosts = metric.minHosts ?? JUDGE_DEFAULTS.minHosts;
  // Hosts that took the update: those reporting now plus the boot crashes counted on the candidate (a host that
  // crashes on boot leaves its event and stops reporting); the peak of reporting hosts is a lower bound too.
  const touched = Math.round(Math.max(sig.touched, state.peakCandidateHosts, obs.candidateHosts + state.candidate.events));
  const silent = Math.max(0, touched - Math.round(obs.candidateHosts));
  const fleetRetention = state.peakFleetHosts > 0 ? (obs.candidateHosts + obs.baselineHosts) / state.peakFleetHosts : 1;
  const q0 = Math.min(0.9, SILENT_TOLERANCE + Math.max(0, 1 - fleetRetention));
  const looks = sig.looks + (looked ? 1 : 0);
  const p = touched > 0 ? binomialUpperTail(silent, touched, q0) : 1;
  const lookA = lookAlpha(alpha.metric, Math.max(1, looks));
  const statistic = -Math.log(Math.max(p, Number.MIN_VALUE));
  const threshold = Math.log(1 / lookA);
  const nextSig: SignalState = { ...sig, logE: statistic, touched, looks };
  const next: MetricJudgeState = { ...state, signal: nextSig };
  const enoughToFail = touched >= minHosts;
  const breached = looks > 0 && p <= lookA;
  const verdict: MetricVerdict = {
    ...base,
    sample: signalSample(minHosts, obs, state, touched, enoughToFail),
    guards: [{ guard: 'max', limit: q0, observed: touched > 0 ? silent / touched : null, statistic, threshold, alpha: lookA, breached }],
    concern: statistic >= threshold / 2,
  };
  const shown = `${fmt(silent)} of ${fmt(touched)} candidate hosts that took the update no longer report (tolerated ${pct(q0)}; fleet kept ${pct(fleetRetention)})`;
  if (breached && enoughToFail) {
    const reason = `${metric.name}: ${shown} (binomial p ${p.toExponential(1)} <= ${lookA.toExponential(1)}; false-fail rate <= ${fmt(alpha.rollout)} per rollout)`;
    return { verdict: { ...verdict, result: 'fail', reason }, state: { ...next, failure: { at: obs.at, reason } } };
  }
  if (breached) {
    return { verdict: { ...verdict, result: 'inconclusive', concern: true, reason: `${metric.name}: ${shown}, but only ${fmt(touched)} hosts took it (need ${minHosts})` }, state: next };
  }
  return { verdict: { ...verdict, result: 'pass', reason: `${metric.name}: ${shown}` }, state: next };
}

function logMeanExp(xs: number[]): number {
  const max = Math.max(...xs);
  if (max === -Infinity) return -Infinity;
  return max + Math.log(xs.reduce((a, x) => a + Math.exp(x - max), 0) / xs.length);
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) return String(Number(x.toPrecision(3)));
  return x.toExponential(2);
}

function pct(x: number): string {
  return `${Number((100 * x).toPrecision(3))}%`;
}
