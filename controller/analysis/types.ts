/**
 * Shapes shared by metrics providers (which observe) and the judge (which decides). They are defined in the
 * engine (engine/observation.ts), which may not import the shell; providers use them from here.
 */
export type { Counts, Increment, IntervalCounts, Observation, QueryResult, RingContext, VerdictResult } from '../engine/observation';
export { pendingIntervalEnds } from '../engine/observation';
