/** The runtime's seams: what it asks of the analysis (metrics + judge) and what it reports to telemetry. */
import type { RingVerdict, RolloutState } from '../engine/state';
import type { Rollout } from '../spec/types';

/** Computes the verdict of a rollout's exposed ring (provider + judge). Returns undefined when none is due. */
export interface Analyzer {
  analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined>;
  /** Cheap check, without I/O, whether analyze() would query anything now (the reconciler skips it otherwise). */
  due?(rollout: Rollout, state: RolloutState, now: Date): boolean;
}

/** What the runtime reports to telemetry (controller/telemetry implements it). */
export interface RuntimeObserver {
  rolloutPhase(rollout: string, channel: string, phase: string, ring: number): void;
  transition(toPhase: string): void;
  reconcileDuration(seconds: number): void;
  verdict(rollout: string, metric: string, result: string): void;
  verdictLatency(seconds: number): void;
  killSwitch(engaged: boolean): void;
  noDataSeconds(rollout: string, channel: string, ring: number, seconds: number): void;
}
