/**
 * The pure-judge noise harness (issue 10, item 3 "Targets"): one ring of a 1,000,000-host fleet judged by the real
 * judgeMetric, one aligned interval per look, under four noise models of the per-interval counts. Used by
 * test/unit/judge-stats.test.ts (>= 500 runs per model) and bench/judge/soak.ts (the 2,000-run tables).
 *
 * Per interval of I = 1 minute, the candidate (ring) has e = ringHosts/60 host-hours of exposure and the baseline
 * (the rest of the fleet) f = (fleet - ringHosts)/60; the baseline rate is `rate` events per host-hour and the
 * candidate's is `ratio` times that. Noise models (each mean-one: they change the spread, never the mean):
 *   poisson   c ~ Poisson(ratio·rate·e), b ~ Poisson(rate·f)
 *   gamma     an independent gamma factor (shape 4, CV 50%) per version per interval multiplies each mean
 *   clustered compound Poisson: clusters ~ Poisson(mean / clusterSize), each of 1 + Poisson(clusterSize - 1) events
 *             (crash loops on a few hosts), independently per version
 *   common    one gamma factor (shape 4) per interval shared by both versions, on top of a day/night cycle of
 *             amplitude 0.9 (noise that hits both versions alike)
 */
import { Rng } from '../../agent-sim/random';
import type { IntervalCounts, Observation } from '../../controller/engine/observation';
import { judgeMetric, type JudgeOptions, type MetricJudgeState } from '../../controller/engine/judge';
import type { MetricSpec } from '../../controller/spec/types';

export const NOISE_MODELS = ['poisson', 'gamma', 'clustered', 'common'] as const;
export type NoiseModel = (typeof NOISE_MODELS)[number];

export const FLEET_HOSTS = 1_000_000;
export const GAMMA_SHAPE = 4;
export const CLUSTER_SIZE = 5;
export const DIURNAL_AMPLITUDE = 0.9;

export interface RingRun {
  ringHosts: number;
  looks: number;
  /** True candidate/baseline rate ratio. */
  ratio: number;
  noise: NoiseModel;
  /** Baseline events per host-hour. */
  rate: number;
  metric: MetricSpec;
  opts?: JudgeOptions;
  /** Candidate rate multiplier against `max` instead of the baseline (guard runs): candidate rate = this x max. */
  candidateRate?: number;
}

export interface RingOutcome {
  /** 1-based look of the first fail, or null. */
  failAt: number | null;
  /** The verdict of the last look. */
  last: 'pass' | 'fail' | 'inconclusive' | 'error';
  /** The judge's largest relative statistic and how many intervals hit the baseline cap. */
  maxLogE: number;
  belowCap: number;
  /** The smallest ratio ruled out at the end (pass evidence), null: none. */
  ruledOutRatio: number | null;
  /** Which test failed: the relative test, the `max` guard or the catastrophic test; null: no fail. */
  failedBy: 'relative' | 'max' | 'catastrophic' | null;
}

const T0 = Date.UTC(2026, 10, 30, 14, 0);
const INTERVAL_MS = 60_000;

function draw(rng: Rng, mean: number, noise: NoiseModel, factor: number): number {
  switch (noise) {
    case 'poisson':
      return rng.poisson(mean);
    case 'gamma':
      return rng.poisson(mean * rng.gamma(GAMMA_SHAPE, 1 / GAMMA_SHAPE));
    case 'clustered': {
      // k clusters of 1 + Poisson(size - 1) events each: k + Poisson(k·(size - 1)) in one draw.
      const clusters = rng.poisson(mean / CLUSTER_SIZE);
      return clusters + rng.poisson(clusters * (CLUSTER_SIZE - 1));
    }
    case 'common':
      return rng.poisson(mean * factor);
    default: {
      const _exhaustive: never = noise;
      throw new Error(`unknown noise ${String(_exhaustive)}`);
    }
  }
}

/** One ring, judged look by look until the first fail or the last look. */
export function runRing(rng: Rng, run: RingRun): RingOutcome {
  const e = run.ringHosts / 60;
  const f = (FLEET_HOSTS - run.ringHosts) / 60;
  let state: MetricJudgeState | undefined;
  let last: RingOutcome['last'] = 'inconclusive';
  let failAt: number | null = null;
  let failedBy: RingOutcome['failedBy'] = null;
  let ruledOutRatio: number | null = null;
  const cand = { events: 0, exposure: 0 };
  for (let look = 1; look <= run.looks; look++) {
    const end = T0 + look * INTERVAL_MS;
    let common = 1;
    if (run.noise === 'common') {
      const hour = (look / 60) % 24;
      common = (1 + DIURNAL_AMPLITUDE * Math.sin((2 * Math.PI * hour) / 24)) * rng.gamma(GAMMA_SHAPE, 1 / GAMMA_SHAPE);
    }
    const candidateMean = run.candidateRate !== undefined && run.metric.max !== undefined ? run.candidateRate * run.metric.max * e : run.ratio * run.rate * e;
    const c = draw(rng, candidateMean, run.noise, common);
    const b = draw(rng, run.rate * f, run.noise, common);
    cand.events += c;
    cand.exposure += e;
    const iv: IntervalCounts = { end: new Date(end).toISOString(), candidate: { events: c, exposureHours: e }, baseline: { events: b, exposureHours: f } };
    const obs: Observation = { kind: 'counts', at: iv.end, intervals: [iv], candidateHosts: run.ringHosts, baselineHosts: FLEET_HOSTS - run.ringHosts };
    const j = judgeMetric(run.metric, obs, state, run.opts);
    state = j.state;
    last = j.verdict.result;
    ruledOutRatio = j.verdict.relative?.ruledOutRatio ?? null;
    if (last === 'fail') {
      failAt = look;
      const g = j.verdict.guards.find((x) => x.breached);
      failedBy = g ? (g.guard === 'catastrophic' ? 'catastrophic' : 'max') : 'relative';
      break;
    }
  }
  const rel = state?.relative;
  return { failAt, last, maxLogE: rel?.maxLogE ?? 0, belowCap: rel?.belowCap ?? 0, ruledOutRatio, failedBy };
}

export interface Tally {
  runs: number;
  fails: number;
  /** Looks to detection of the runs that failed, sorted. */
  looksToFail: number[];
  passesAtEnd: number;
  belowCapRuns: number;
  /** Fails by test. */
  by: { relative: number; max: number; catastrophic: number };
  /** Runs whose pass evidence ruled out a ratio <= the metric's detectRatio at the end. */
  evidenceAtDetect: number;
}

/** `runs` seeded rings (seed, seed+1, ...: each run its own stream, so a subset reproduces). */
export function tally(run: RingRun, runs: number, seed: number): Tally {
  const looksToFail: number[] = [];
  let passesAtEnd = 0;
  let belowCapRuns = 0;
  let evidenceAtDetect = 0;
  const by = { relative: 0, max: 0, catastrophic: 0 };
  const detect = run.metric.detectRatio ?? 2;
  for (let i = 0; i < runs; i++) {
    const out = runRing(new Rng(seed + i), run);
    if (out.failAt !== null) looksToFail.push(out.failAt);
    if (out.failedBy !== null) by[out.failedBy]++;
    if (out.last === 'pass') passesAtEnd++;
    if (out.belowCap > 0) belowCapRuns++;
    if (out.ruledOutRatio !== null && out.ruledOutRatio <= detect) evidenceAtDetect++;
  }
  looksToFail.sort((a, b) => a - b);
  return { runs, fails: looksToFail.length, looksToFail, passesAtEnd, belowCapRuns, by, evidenceAtDetect };
}

export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** The smallest k with P(Binomial(n, p) <= k) >= q (exact, by summing the pmf in log space). */
export function binomialQuantile(n: number, p: number, q: number): number {
  let cdf = 0;
  let logPmf = n * Math.log1p(-p);
  for (let k = 0; k <= n; k++) {
    cdf += Math.exp(logPmf);
    if (cdf >= q) return k;
    logPmf += Math.log((n - k) / (k + 1)) + Math.log(p) - Math.log1p(-p);
  }
  return n;
}

/**
 * The sensitive example's crash metric (examples/rollouts/content-update-sensitive.yaml), its `max` guard included: a
 * ring of a one-ring rollout with this one metric spends α = 0.01 over its three tests (relative 0.005, max 0.0025,
 * catastrophic 0.0025; judge.ts TEST_SHARES), and any of them failing counts as a false fail.
 */
export const SENSITIVE_METRIC: MetricSpec = { name: 'crashes', type: 'crash-rate', max: 0.05, maxRatio: 1.1, detectRatio: 1.5, minHosts: 50, minExposure: 25, alpha: 0.01 };
/** The same metric without its guard: the relative test alone spends the whole α = 0.01 (the strict check). */
export const RELATIVE_ONLY_METRIC: MetricSpec = { name: 'crashes', type: 'crash-rate', maxRatio: 1.1, detectRatio: 1.5, minHosts: 50, minExposure: 25, alpha: 0.01 };
/** Baseline crash rate of the noisy healthy fleet of the issue (0.02 per host-hour). */
export const CRASH_RATE = 0.02;
