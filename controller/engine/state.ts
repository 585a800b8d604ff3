/**
 * The rollout state machine's data: phases, state, facts and actions. Plain data, JSON-serialisable,
 * so that the store can persist it and a restart resumes exactly where the last commit left off.
 */
import type { VerdictResult } from './observation';

/** Why a rollout stopped. */
export type HaltReason =
  | 'analysis-failed'
  | 'no-data'
  | 'provider-error'
  | 'kill-switch';

/** A wait reason as carried in state (kind + human message). */
export interface WaitNote {
  kind: string;
  message: string;
}

/** What the rollout does with its exposure after a rollback completes. */
export type RollbackEnd = 'rolled-back' | 'aborted';

/** Phases of a rollout. `ring` is an index into spec.rings. */
export type Phase =
  /** Accepted; waits for a free slot on its channel. */
  | { kind: 'pending'; reason: string }
  /**
   * Its previousVersion is not what the channel runs (the version it builds on was rolled back, or another
   * version became stable): it never starts as it is. Re-evaluated on every tick; abort it and apply one
   * built on the channel's stable version.
   */
  | { kind: 'blocked'; reason: string; stableVersion: string; expectedVersion: string }
  /**
   * Applied (or queued) while the kill switch was engaged: releasing the switch never starts anything by
   * itself; an explicit `resume` (once the switch is released) sends it back to `pending`.
   */
  | { kind: 'held'; reason: string }
  /** `ring` is ready to start but the policy window (or a freeze) does not allow it yet. */
  | { kind: 'waiting-for-window'; ring: number; reasons: WaitNote[] }
  /** `ring` is exposed and baking since bakeStartedAt. */
  | { kind: 'progressing'; ring: number; bakeStartedAt: string }
  /** `ring` needs a human: either it requires approval to start, or the previous ring hit maxBake undecided. */
  | { kind: 'awaiting-approval'; ring: number; reason: string }
  /** Held by a human; `resume` goes back to `from`. Exposure stays as it is. */
  | { kind: 'paused'; from: ResumablePhase; reason: string }
  /** Stopped; exposure frozen. Resume restarts the bake of `ring`; rollback withdraws the candidate. */
  | { kind: 'halted'; ring: number; reason: HaltReason; message: string }
  /** The candidate is withdrawn; agents revert on their next poll. Ends after the drain period. */
  | { kind: 'rolling-back'; since: string; reason: string; end: RollbackEnd }
  | { kind: 'rolled-back'; reason: string }
  | { kind: 'succeeded' }
  | { kind: 'aborted'; reason: string };

export type PhaseKind = Phase['kind'];
export type ResumablePhase = Extract<Phase, { kind: 'waiting-for-window' | 'progressing' | 'awaiting-approval' }>;

export const TERMINAL_PHASES: ReadonlySet<PhaseKind> = new Set(['rolled-back', 'succeeded', 'aborted']);
export const ALL_PHASES: readonly PhaseKind[] = [
  'pending',
  'blocked',
  'held',
  'waiting-for-window',
  'progressing',
  'awaiting-approval',
  'paused',
  'halted',
  'rolling-back',
  'rolled-back',
  'succeeded',
  'aborted',
];

/** The last analysis verdict of the active ring, as shown to users. */
export interface RingVerdictNote {
  ring: number;
  at: string;
  result: VerdictResult;
  reason: string;
  /** Per-metric details (counts, exposure, ratio, statistic, boundaries) as the judge returned them. */
  metrics: unknown[];
}

export interface RolloutState {
  phase: Phase;
  /**
   * Rings 0..exposedRing are in effect for agents (cumulative); -1: nobody takes the candidate.
   * Kept separately from the phase because exposure outlives phases (waiting for ring i+1 keeps ring i exposed).
   */
  exposedRing: number;
  /** When the ring at exposedRing started (evidence is counted from here). */
  ringStartedAt: string | null;
  /** Number of transitions so far; the next transition gets this number + 1. */
  transitions: number;
  /** First evaluation without usable data in the current run of no-data (null while data flows). */
  noDataSince: string | null;
  consecutiveErrors: number;
  lastVerdict: RingVerdictNote | null;
  /** Opaque per-metric state of the sequential test for the current ring (reset when a ring starts). */
  judgeStates: Record<string, unknown>;
}

export function initialState(): RolloutState {
  return {
    phase: { kind: 'pending', reason: 'accepted' },
    exposedRing: -1,
    ringStartedAt: null,
    transitions: 0,
    noDataSince: null,
    consecutiveErrors: 0,
    lastVerdict: null,
    judgeStates: {},
  };
}

/** A human request, stored by the API and consumed by the next decision. */
export type RequestVerb = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback';
export interface Request {
  id: number;
  verb: RequestVerb;
  actor: string;
  reason: string;
}

export interface KillSwitchState {
  engaged: boolean;
  mode: 'freeze' | 'rollback';
  reason: string;
  actor: string;
  since: string | null;
}

/** The analysis verdict for the exposed ring, computed by the runtime from the provider and the judge. */
export interface RingVerdict {
  ring: number;
  result: VerdictResult;
  reason: string;
  /** Set when result is inconclusive because no usable data arrived (as opposed to: not enough evidence yet). */
  noData?: boolean;
  metrics: unknown[];
  judgeStates: Record<string, unknown>;
}

/** Whether a ring may start now under the policy. Computed by the runtime with policy/windows.isAllowed. */
export type WindowStatus = { allowed: true } | { allowed: false; reasons: WaitNote[] };

export interface Facts {
  /** Current instant, ISO 8601. */
  now: string;
  /** May a ring start now? (only consulted for ring starts; never for halts, rollbacks or the kill switch) */
  window: WindowStatus;
  /** May this rollout leave `pending` (engine/scheduling.channelSlot: FIFO, concurrency limit, lineage)? */
  channelSlot: SlotFact;
  /** Verdict of this tick's analysis of the exposed ring, if one ran. */
  verdict?: RingVerdict;
  requests: Request[];
  killSwitch: KillSwitchState;
}

/**
 * Whether a pending rollout may start: `free`; `wait` (a slot or an older rollout; it starts by itself later);
 * or `blocked` (its previousVersion is not the channel's stable version and nothing in flight will make it so).
 */
export type SlotFact =
  | { free: true }
  | { free: false; reason: string }
  | { free: false; blocked: true; reason: string; stableVersion: string; expectedVersion: string };

/** Settings of the engine that come from the spec and the runtime configuration. */
export interface EngineConfig {
  rings: Array<{ name: string; bakeMs: number; maxBakeMs: number | null; approvalRequired: boolean }>;
  /** Whether analysis runs (spec.analysis.metrics non-empty). Without metrics, rings advance on bake time alone. */
  analysisEnabled: boolean;
  noDataGraceMs: number;
  maxConsecutiveErrors: number;
  automaticRollback: boolean;
  /** How long a rollback waits (agents revert on their next poll) before it is complete. */
  rollbackDrainMs: number;
}

export interface Transition {
  /** 1-based sequence number within the rollout. */
  n: number;
  at: string;
  from: PhaseKind;
  to: PhaseKind;
  /** Ring index after the transition (-1 when none is exposed). */
  exposedRing: number;
  reason: string;
  actor: string;
}

export type Action =
  /** Rebuild, sign and publish the channel's manifest (exposure or state changed). */
  | { kind: 'publish-manifest' }
  /** Tell humans (log/audit/notification). */
  | { kind: 'notify'; severity: 'info' | 'warning' | 'critical'; message: string };

export interface Decision {
  state: RolloutState;
  transitions: Transition[];
  actions: Action[];
  /** Requests consumed by this decision, each applied or rejected with a reason. */
  requestOutcomes: Array<{ id: number; applied: boolean; message: string }>;
}
