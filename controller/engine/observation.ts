/**
 * Shapes shared by metrics providers (which observe) and the judge (which decides).
 * Expected failures are values: a provider never throws for "no data" or "Prometheus is down".
 */

/** Cumulative counts for one version of a channel since the ring started. */
export interface Counts {
  /** Events (crashes, BSODs, update failures) since the ring started. */
  events: number;
  /** Host-hours of exposure since the ring started. */
  exposureHours: number;
  /** Hosts currently reporting on this version. */
  hosts: number;
}

/** What a provider saw for one metric at one evaluation. */
export type Observation =
  /** Built-in metrics: event counts and exposure, candidate vs baseline. */
  | { kind: 'counts'; at: string; candidate: Counts; baseline: Counts }
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
  /** When the ring started (exposure and events are counted from here). */
  ringStartedAt: Date;
  /** Evaluation instant. */
  now: Date;
}

export type VerdictResult = 'pass' | 'fail' | 'inconclusive' | 'error';
