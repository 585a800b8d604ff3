/**
 * Where health numbers come from. Small on purpose, in the spirit of Flagger's RunQuery / IsOnline:
 * one instant query, one range query, and a liveness check. Two implementations: the Prometheus HTTP API
 * (prometheus.ts) and the fleet simulator's in-process counters (agent-sim).
 *
 * Expected failures are values, never exceptions: an empty vector, NaN or ±Inf is `no-data` (never healthy);
 * an unreachable server, a timeout or a malformed answer is `error`.
 */
import type { QueryResult } from './types';

export interface RangeSeries {
  labels: Record<string, string>;
  /** [unix seconds, value] pairs; NaN values are kept as NaN. */
  points: Array<[number, number]>;
}

export type RangeResult = { kind: 'series'; series: RangeSeries[] } | { kind: 'no-data'; reason: string } | { kind: 'error'; message: string };

export interface MetricsProvider {
  /** Instant query at `at`. A vector must hold exactly one sample (sum() your query); several is an error. */
  query(promql: string, at: Date): Promise<QueryResult>;
  queryRange(promql: string, start: Date, end: Date, stepSeconds: number): Promise<RangeResult>;
  /** true when ready; otherwise the reason it is not. */
  isOnline(): Promise<true | string>;
}
