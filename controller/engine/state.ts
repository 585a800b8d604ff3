/**
 * The rollout state machine's data: phases, state, facts and actions. Plain data, JSON-serialisable,
 * so that the store can persist it and a restart resumes exactly where the last commit left off.
 */
import type { MetricJudgeState, MetricVerdict } from './judge';
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

/**
 * Why a rollback began (absent in states written before issue 15): a failing verdict, the kill switch, a human's
 * abort or rollback, or a newer version that superseded it (apply --supersede). `retry` reads it: a version that
 * failed its analysis is never retried.
 */
export type RollbackCause = 'analysis-failed' | 'kill-switch' | 'request' | 'superseded';

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
  /**
   * It had its channel slot and would start ring 0, but its spec.preflight checks run first (runtime/preflight.ts):
   * the artifact is fetched, verified and validated. Nothing is exposed and the manifest does not carry it. A result
   * counts only for the run that began at `since` (a rollout held and resumed runs its checks again).
   */
  | { kind: 'preflight'; since: string; reason: string }
  /** Final: a pre-flight check failed (`check` names it, `reason` is its message). It reached no host. */
  | { kind: 'preflight-failed'; reason: string; check: string }
  /** `ring` is ready to start but the policy window (or a freeze) does not allow it yet. */
  | { kind: 'waiting-for-window'; ring: number; reasons: WaitNote[] }
  /**
   * `ring` is exposed: it ramps in waves (state.wave) while bakeStartedAt is null, then bakes from bakeStartedAt,
   * the moment the whole ring was exposed.
   */
  | { kind: 'progressing'; ring: number; bakeStartedAt: string | null }
  /** `ring` needs a human: it requires approval to start (`approval-required`), or the ring before it reached maxBake undecided (`max-bake`). */
  | { kind: 'awaiting-approval'; ring: number; reason: string; cause: ApprovalCause }
  /** Held by a human; `resume` goes back to `from`. Exposure stays as it is. */
  | { kind: 'paused'; from: ResumablePhase; reason: string }
  /** Stopped; exposure frozen. Resume restarts the bake of `ring`; rollback withdraws the candidate. */
  | { kind: 'halted'; ring: number; reason: HaltReason; message: string }
  /** The candidate is withdrawn; agents revert on their next poll. Ends after the drain period. */
  | { kind: 'rolling-back'; since: string; reason: string; end: RollbackEnd; cause?: RollbackCause }
  | { kind: 'rolled-back'; reason: string; cause?: RollbackCause }
  | { kind: 'succeeded' }
  | { kind: 'aborted'; reason: string; cause?: RollbackCause };

export type PhaseKind = Phase['kind'];
export type ApprovalCause = 'approval-required' | 'max-bake';
export type ResumablePhase = Extract<Phase, { kind: 'waiting-for-window' | 'progressing' | 'awaiting-approval' }>;

// The phase sets, defined once (the store, the scheduler, the manifest and the CLI use these). Every phase is in
// exactly one of NOT_STARTED, PREFLIGHT, IN_FLIGHT and TERMINAL.
/** Final: nothing more happens to the rollout. */
export const TERMINAL_PHASES: ReadonlySet<PhaseKind> = new Set(['rolled-back', 'succeeded', 'aborted', 'preflight-failed']);
/** Accepted but not started, waiting for a channel slot (or a human): the candidate is on no host, and must not be. */
export const NOT_STARTED_PHASES: ReadonlySet<PhaseKind> = new Set(['pending', 'blocked', 'held']);
/** Its pre-flight checks run: it holds its channel's slot, but the candidate is on no host and not in the manifest. */
export const PREFLIGHT_PHASES: ReadonlySet<PhaseKind> = new Set(['preflight']);
/** In flight: started and not final. These hold their channel's slot, and the manifest carries their candidate. */
export const IN_FLIGHT_PHASES: ReadonlySet<PhaseKind> = new Set(['waiting-for-window', 'progressing', 'awaiting-approval', 'paused', 'halted', 'rolling-back']);
/** Phases that hold a channel slot (count against maxConcurrentRolloutsPerChannel). */
export const SLOT_PHASES: ReadonlySet<PhaseKind> = new Set([...PREFLIGHT_PHASES, ...IN_FLIGHT_PHASES]);
export const ALL_PHASES: readonly PhaseKind[] = [
  'pending',
  'blocked',
  'held',
  'preflight',
  'preflight-failed',
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
  metrics: MetricVerdict[];
}

/** The active ring's current wave (a ring ramps in waves before it bakes; engine/ramp.ts). */
export interface WaveState {
  /** 0: the census look; the first wave that exposes hosts is 1. */
  index: number;
  /** Share of the ring's hosts exposed, parts per million by wave position (0: the census look, before any host). */
  ppm: number;
  /** Hosts of the ring this wave aims at (cumulative); null while the ring's size is unknown. */
  target: number | null;
  /** The ring's size (census) the wave was sized with; null: unknown. */
  ringHosts: number | null;
  /** When the wave was published. */
  since: string;
  /** Candidate hosts that had run the update before the ring started (its earlier rings). */
  hostsBefore: number;
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
  /** Per-metric state of the sequential tests for the current ring (reset when a ring starts). */
  judgeStates: Record<string, MetricJudgeState>;
  /** The exposed ring's wave while it ramps; null when the whole ring is exposed (or none is). Absent in old states. */
  wave?: WaveState | null;
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
    wave: null,
  };
}

/** A human request, stored by the API and consumed by the next decision. */
/**
 * `promote` ends the current ring's bake early (or approves a ring that awaits approval); `promote-full` goes to the
 * last ring; `retry` restarts a halted, aborted or (not for a failing verdict) rolled-back rollout; `supersede` (not an
 * API verb: apply --supersede records it) withdraws it like `rollback`, with the cause `superseded`.
 */
export type RequestVerb = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback' | 'promote' | 'promote-full' | 'retry' | 'supersede';
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
  /** The built-in signals' and declared metrics' verdicts. */
  metrics: MetricVerdict[];
  judgeStates: Record<string, MetricJudgeState>;
  /** Candidate hosts that ran the update so far (max over metrics of sample.touchedHosts); null: unknown. */
  touchedHosts: number | null;
  /**
   * Some test points towards a fail it cannot declare yet (too few hosts, a statistic past half its boundary, a
   * guard breached below minHosts): exposure must not widen on this look (no next wave).
   */
  concern: boolean;
  /** The ring's size from the agents' census (filled by the reconciler while the ring ramps); null: unknown. */
  census?: { ringHosts: number | null };
}

/**
 * The result of a rollout's pre-flight checks (runtime/preflight.ts), for the run that began at `since` (the
 * preflight phase's): `passed` after the fetch, the verification and every validator passed; `failed` with the
 * first check that failed (`artifact` for the fetch, the hash or the signature) and its one-line message.
 */
export type PreflightResult =
  | { since: string; result: 'passed'; checks: number }
  | { since: string; result: 'failed'; check: string; reason: string };

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
  /** The pre-flight result of the run in progress, once it has one (only while the phase is `preflight`). */
  preflight?: PreflightResult;
  /**
   * May the last ring start now (for `promote-full`, whose bake the window is checked with)? Given by the runtime
   * when a request is pending; absent: `window` is used.
   */
  lastRingWindow?: WindowStatus;
  /**
   * May a finished rollout come back to life on its channel (engine/scheduling.retryLineage)? Given by the runtime
   * when a request is pending on a terminal rollout; absent: retry of a terminal rollout is refused.
   */
  retry?: { ok: true } | { ok: false; reason: string };
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
  /** The rollout's name and channel, for the words of refusals ("NAME was rolled back ..."). Absent: "the rollout". */
  name?: string;
  channel?: string;
  /** `ramp`: the ring's waves (first wave in hosts, growth factor), or null to expose the whole ring at once. */
  rings: Array<{ name: string; bakeMs: number; maxBakeMs: number | null; approvalRequired: boolean; ramp: { first: number; growth: number } | null }>;
  /** spec.analysis.interval: without analysis, a ramp grows once per interval. */
  analysisIntervalMs: number;
  /** Whether analysis runs (spec.analysis.metrics non-empty). Without metrics, rings advance on bake time alone. */
  analysisEnabled: boolean;
  noDataGraceMs: number;
  maxConsecutiveErrors: number;
  automaticRollback: boolean;
  /** How long a rollback waits (agents revert on their next poll) before it is complete. */
  rollbackDrainMs: number;
  /** spec.preflight is non-empty: ring 0 starts only after its checks passed. Absent: none. */
  preflight?: boolean;
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
