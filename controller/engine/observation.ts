/**
 * Shapes shared by metrics providers (which observe) and the judge (which decides).
 * Expected failures are values: a provider never throws for "no data" or "Prometheus is down".
 *
 * Built-in metrics are observed as **aligned per-interval increments**: the ring's time since its start is cut into
 * intervals of `spec.analysis.interval`, [ringStart + (k-1)·I, ringStart + k·I] for k = 1, 2, ..., and each
 * interval's events and exposure are measured on their own (Prometheus: `increase(x[I])` evaluated at each
 * interval's end, which handles counter resets inside the interval). The judge consumes every interval once, in
 * order; an observation carries every complete interval that ended after `RingContext.after`, so a missed look is
 * caught up and never double counted.
 */

/** Events and exposure of one version in one interval. Counts may be fractional (PromQL extrapolation). */
export interface Increment {
  events: number;
  /** Host-hours of exposure in the interval. */
  exposureHours: number;
}

/** One aligned interval of a built-in metric: candidate and baseline increments over (end - I, end]. */
export interface IntervalCounts {
  /** The interval's end, ISO 8601 (ringStart + k·I). */
  end: string;
  candidate: Increment;
  baseline: Increment;
}

/**
 * Cumulative counts for one version since the ring started (what the judge reports to people: totals, rates).
 * Kept as the reporting shape; the judge builds it from the increments it consumed.
 */
export interface Counts {
  events: number;
  exposureHours: number;
  /** Hosts currently reporting on this version. */
  hosts: number;
}

/** What a provider saw for one metric at one evaluation. */
export type Observation =
  /**
   * Built-in metrics: the complete intervals not yet consumed (possibly none), and the hosts reporting now.
   * `candidateMissing`: the candidate's series do not exist yet (nobody runs it); the increments are then zero and
   * the judge treats the look as no data for health, but the baseline's hosts still count for sizing.
   */
  | { kind: 'counts'; at: string; intervals: IntervalCounts[]; candidateHosts: number; baselineHosts: number; candidateMissing?: boolean }
  /** Custom metrics: a value from a PromQL template, and optionally the baseline's value. */
  | { kind: 'value'; at: string; candidate: number; baseline?: number; candidateHosts?: number }
  /** Empty vector, NaN, a missing series or too few hosts: never healthy. */
  | { kind: 'no-data'; at: string; reason: string }
  /** The provider failed (unreachable, timeout, bad response). */
  | { kind: 'error'; at: string; message: string };

/** Result of one provider query. */
export type QueryResult =
  | { kind: 'value'; value: number }
  | { kind: 'no-data'; reason: string }
  | { kind: 'error'; message: string };

/** Where and what to observe: the active ring of a rollout. */
export interface RingContext {
  channel: string;
  /** The candidate version. */
  version: string;
  /** The version the rest of the fleet still runs. */
  baselineVersion: string;
  /** When the ring started (the interval grid is aligned here). */
  ringStartedAt: Date;
  /** Evaluation instant. */
  now: Date;
  /** The analysis interval I, ms (spec.analysis.interval). */
  intervalMs: number;
  /**
   * Wanted: every complete interval whose end is after this instant and at or before `now` (the end of the last
   * interval the judge consumed for this metric, or ringStartedAt).
   */
  after: Date;
}

/** The ends of the complete intervals of `ctx` not yet consumed: ringStart + k·I in (after, now]. */
export function pendingIntervalEnds(ctx: Pick<RingContext, 'ringStartedAt' | 'now' | 'intervalMs' | 'after'>): Date[] {
  const start = ctx.ringStartedAt.getTime();
  const step = ctx.intervalMs;
  if (!(step > 0)) return [];
  const first = Math.max(1, Math.floor((ctx.after.getTime() - start) / step) + 1);
  const last = Math.floor((ctx.now.getTime() - start) / step);
  const out: Date[] = [];
  for (let k = first; k <= last; k++) out.push(new Date(start + k * step));
  return out;
}

export type VerdictResult = 'pass' | 'fail' | 'inconclusive' | 'error';
