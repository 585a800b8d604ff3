/**
 * What the HTTP API (and the simulator) ask of the controller. The runtime implements it; handlers stay
 * thin: parse and authorise the request, call one method, render the result.
 */
import type { DistinctFrom } from '../policy/two-person';
import type { SignedRotation } from '../crypto/keys';
import type { SpecError } from '../spec/errors';
import type { Policy, Rollout } from '../spec/types';
import type { PolicyView } from './policies';
import type { KillSwitchState, Phase, RequestVerb, RingVerdictNote, Transition } from '../engine/state';

export interface RolloutView {
  name: string;
  channel: string;
  version: string;
  previousVersion: string | null;
  policy: string;
  /** The policy's IANA time zone (ringctl shows times in it); null when the policy is unknown. Absent from older servers. */
  timezone?: string | null;
  phase: Phase;
  /** The ring exposed to agents (rings 0..exposedRing are in effect), -1 when none. */
  exposedRing: number;
  /** The ring the phase is about (starting, baking or awaiting), null when none. */
  ring: { index: number; name: string } | null;
  /** Human explanation of why the rollout is not moving, null when it is. */
  waitingReason: string | null;
  /** The bake of the exposed ring; null while it ramps (the bake starts once the ring is wholly exposed). */
  bake: { startedAt: string; minEndsAt: string; maxEndsAt: string | null } | null;
  /**
   * Whether the analysis judges this rollout (declared metrics, or the built-in signals with a metrics provider); if
   * not, its rings advance on bake time alone. Absent from servers older than issue 10.
   */
  judged?: boolean;
  /** The exposed ring's current wave while it ramps (engine/ramp.ts); null when wholly exposed. */
  wave: { index: number; ppm: number; sharePercent: number; targetHosts: number | null; ringHosts: number | null; since: string } | null;
  /** While rolling back: when the drain (agents revert on their next poll) began and ends. Absent from older servers. */
  drain?: { since: string; endsAt: string } | null;
  lastVerdict: RingVerdictNote | null;
  history: Transition[];
  /** Counts the changes of this rollout's record (state, phase, verdicts). */
  revision: number;
  /** The revision of the channel's signed manifest now served; a counter of the channel. Absent from older servers. */
  manifestRevision?: number | null;
  createdAt: string;
  updatedAt: string;
  /** When `ringctl delete` archived it; absent while it is listed (GET /v1/rollouts?archived=true lists both). */
  archivedAt?: string;
  spec: Rollout;
}

export type ApplyResult =
  /** `superseded`: the rollouts apply --supersede withdrew (created only; absent without --supersede). */
  | { status: 'created' | 'unchanged'; rollout: RolloutView; superseded?: string[] }
  /** Same name, different spec: rollouts are immutable once accepted. */
  | { status: 'conflict'; message: string }
  /** Failed validation (schema, semantics, unknown policy, signature): 422. */
  | { status: 'invalid'; errors: SpecError[] };

/** `ringctl delete NAME`: archived, refused for a rollout that has not finished (409), or no such rollout. */
export type ArchiveResult = { status: 'archived'; rollout: RolloutView } | { status: 'rejected'; message: string } | { status: 'not-found' };

/** POST /v1/policies: stored and in force (created, configured), or the same spec is in force already. */
export type PolicyApplyResult =
  | { status: 'created' | 'configured' | 'unchanged'; policy: PolicyView; dryRun: boolean }
  | { status: 'conflict'; message: string }
  | { status: 'invalid'; errors: SpecError[] };

/** A re-read of the --policies directory (SIGHUP): in force, or refused with the old policies still in force. */
export type PolicyReloadResult =
  | { ok: true; policies: string[]; added: string[]; changed: string[]; removed: string[] }
  | { ok: false; lines: string[] };

export type RequestResult =
  | { status: 'applied'; message: string; rollout: RolloutView }
  | { status: 'rejected'; message: string; rollout: RolloutView }
  | { status: 'not-found' };

export interface SignedManifest {
  channel: string;
  revision: number;
  /** The exact bytes served; the signature covers them. */
  body: Buffer;
  /** base64 ed25519 signature of body. */
  signature: string;
  /** Strong ETag, quoted. */
  etag: string;
}

export interface AuditEntryView {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  payload?: unknown;
  prevHash: string;
  hash: string;
}

/** A channel as GET /v1/channels/{channel} shows it: what it runs, its lineage, its rollouts. */
export interface ChannelView {
  channel: string;
  /** null only before any rollout founded the channel's lineage. */
  stable: { version: string; artifact: { url: string; sha256: string; signature?: string } | null; rollout: string | null; since: string } | null;
  /** Oldest first: the founding version, each version that became stable, each one rolled back or aborted. */
  history: Array<{ version: string; event: 'initial' | 'stable' | 'rolled-back' | 'aborted' | 'retried'; rollout: string | null; at: string; reason: string }>;
  rollouts: Array<{ name: string; version: string; previousVersion: string | null; phase: string }>;
  manifestRevision: number | null;
}

/**
 * `undo CHANNEL --to VERSION`: the new rollout of the earlier stable version (`rollout`), or why not (`refused`, with
 * the HTTP status to answer: 404 unknown channel, 409 the channel's state does not allow it, 422 a VERSION that was
 * never stable there).
 */
export type UndoResult =
  | { status: 'created'; rollout: RolloutView; undo: { channel: string; from: string; to: string; artifactFrom: string; ringsFrom: string } }
  | { status: 'refused'; code: 404 | 409 | 422; message: string }
  | { status: 'invalid'; errors: SpecError[] };

/** A mutation that arrived after the controller began to stop (the API answers 503). */
export class ServiceClosedError extends Error {
  constructor(message = 'the controller is shutting down; retry against the new process') {
    super(message);
  }
}

/** The service cannot do it now (the operator could not write to the Kubernetes API); the API answers 503. */
export class ServiceUnavailableError extends ServiceClosedError {}

export interface SeparationFacts {
  distinctFrom: DistinctFrom;
  applier: string | null;
  engager: string | null;
}

export interface ControllerService {
  /** `rollout` has passed schema/semantic validation already; the service checks policy, signature and conflicts. */
  applyRollout(rollout: Rollout, actor: string): Promise<ApplyResult>;
  /** Archived rollouts (`ringctl delete`) are left out unless `archived` is true. */
  listRollouts(opts?: { archived?: boolean }): RolloutView[];
  getRollout(name: string): RolloutView | undefined;
  /**
   * apply --supersede: like applyRollout, and in the same transaction every rollout holding the channel's slot is
   * withdrawn (engine/scheduling.supersedePlan); one audit entry `rollout.supersede` names both. Absent on servers
   * that do not support it (the operator).
   */
  supersede?(rollout: Rollout, actor: string): Promise<ApplyResult>;
  /** undo CHANNEL --to VERSION (engine/scheduling.undoPlan); absent on servers that do not support it. */
  undo?(channel: string, to: string, actor: string, reason: string): Promise<UndoResult>;
  /** Records the request and decides the rollout at once (no I/O, no wait), so the answer says what happened. */
  request(name: string, verb: RequestVerb, actor: string, reason: string): Promise<RequestResult>;
  /** The channel's stable version and lineage history; undefined for a channel nothing was ever applied to. */
  getChannel(channel: string): ChannelView | undefined;
  getKillSwitch(): KillSwitchState;
  /**
   * Persisted, audited, decided for every in-flight rollout and published in every manifest before it returns.
   * `breakGlass`: the actor used a break-glass credential (a critical notification goes out, even when the switch
   * was engaged already).
   */
  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string, opts?: { breakGlass?: boolean }): Promise<KillSwitchState>;
  /**
   * The facts of the two-person rule (policy/two-person.ts): for a rollout, its policy's approvals.distinctFrom and
   * who applied it (undefined: no such rollout); for the kill switch (no name), who engaged it and `applier` when
   * any in-flight rollout's policy asks for the rule.
   */
  separationFacts(rollout?: string): SeparationFacts | undefined;
  listAudit(opts: { afterId?: number; limit?: number }): AuditEntryView[];
  verifyAudit(): { ok: true; entries: number; head: string } | { ok: false; entries: number; brokenAt: number; message: string };
  /** Hot path: the precomputed signed manifest of a channel, or undefined. Synchronous, no I/O. */
  manifest(channel: string): SignedManifest | undefined;
  /** The manifest-signing key, and its rotation statements oldest first (agents follow them to the current key). */
  signingKey(): { algorithm: 'ed25519'; keyId: string; publicKeyPem: string; publicKey: string; rotations: SignedRotation[] };
  /**
   * Issue 15. What apply would do, with every check apply makes (schema done by the caller; policy, signature,
   * pre-flight names, lineage, conflicts) and nothing stored: `apply --dry-run=server`, `diff`.
   */
  checkApply?(rollout: Rollout, actor: string): Promise<ApplyResult>;
  /** Archives a terminal rollout (audited); absent where the store cannot (the operator: kubectl delete). */
  archiveRollout?(name: string, actor: string, reason: string): Promise<ArchiveResult>;
  /** The policies in force, with where each comes from. */
  listPolicies?(): PolicyView[];
  /** Stores a Policy applied through the API (role admin, audited); in force from this answer on. */
  applyPolicy?(policy: Policy, actor: string, opts?: { dryRun?: boolean }): Promise<PolicyApplyResult>;
  /** Removes an API-applied policy (audited): the file of that name, if any, is in force again. */
  deletePolicy?(name: string, actor: string, reason: string): Promise<{ status: 'deleted'; policies: PolicyView[] } | { status: 'not-found'; message: string } | { status: 'conflict'; message: string }>;
  /** True once the store is open and the first reconcile has run. */
  ready(): boolean;
}
