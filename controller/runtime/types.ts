/** The runtime's seams: what it asks of the analysis (metrics + judge) and what it reports to telemetry. */
import type { PreflightResult, RingVerdict, RolloutState } from '../engine/state';
import type { Rollout } from '../spec/types';
import type { RolloutRecord } from '../store/types';

/** Computes the verdict of a rollout's exposed ring (provider + judge). Returns undefined when none is due. */
export interface Analyzer {
  analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined>;
  /** Cheap check, without I/O, whether analyze() would query anything now (the reconciler skips it otherwise). */
  due?(rollout: Rollout, state: RolloutState, now: Date): boolean;
  /**
   * Whether analyze() judges this rollout at all: declared metrics, or the built-in signals when a metrics provider
   * is configured. The engine then needs a passing verdict to advance a ring (otherwise: bake time alone).
   */
  judges?(rollout: Rollout): boolean;
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
  /** One pre-flight check ran (the artifact's fetch and verification counts as one): `ringmaster_preflight_checks_total{result}`. */
  preflightCheck?(result: 'passed' | 'failed'): void;
}

/**
 * Pre-flight results as facts (runtime/preflight.ts). The reconciler starts a rollout's run once its `preflight`
 * phase is committed (`ensure` returns at once, the checks run outside the pass), reads the result when it decides,
 * and lets go of the run when the rollout leaves the phase.
 */
export interface PreflightSource {
  result(rec: RolloutRecord): PreflightResult | undefined;
  ensure(rec: RolloutRecord): void;
  release(name: string): void;
}

/**
 * How many hosts belong to a ring of a channel's candidate plan: agents label `ringmaster_agent_hosts` with the ring
 * they are assigned to (engine/membership.assignedRing). The ramp sizes its waves with it (engine/ramp.ts).
 * null: unknown (no series yet, or the provider failed); never throws.
 */
export interface CensusSource {
  ringHosts(channel: string, ring: string, now: Date): Promise<number | null>;
}
