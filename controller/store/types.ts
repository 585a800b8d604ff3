/**
 * The store as the runtime sees it: one interface, so that state can live in SQLite (`Store`, the standalone
 * controller) or in Kubernetes `Rollout` status (the operator) behind the same calls. Every method is
 * synchronous and every write is atomic: a decision (state, transitions, audit, outbox, consumed requests,
 * lineage) commits as one unit or not at all, and only if the rollout's revision is still the one it read.
 */
import type { ChannelLineage, LineageEvent } from '../engine/scheduling';
import type { KillSwitchState, Request, RequestVerb, RolloutState, Transition } from '../engine/state';
import type { PolicySpec, Rollout } from '../spec/types';

export interface RolloutRecord {
  name: string;
  channel: string;
  seq: number;
  spec: Rollout;
  specHash: string;
  policy: string;
  state: RolloutState;
  revision: number;
  createdAt: string;
  updatedAt: string;
  /** When `ringctl delete` archived it (terminal rollouts only); absent while it is listed. */
  archivedAt?: string;
}

/** A Policy applied through the API (POST /v1/policies), stored beside the rollouts. */
export interface StoredPolicy {
  name: string;
  spec: PolicySpec;
  specHash: string;
  actor: string;
  createdAt: string;
  updatedAt: string;
}

export interface AuditInput {
  actor: string;
  action: string;
  target: string;
  reason: string;
  payload?: unknown;
}

export interface AuditEntry extends AuditInput {
  id: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface StoredManifest {
  channel: string;
  revision: number;
  body: Buffer;
  signature: string;
  contentHash: string;
  publishedAt: string;
}

export interface ManifestArtifactRef {
  url: string;
  sha256: string;
  signature?: string;
}

/** A channel's durable lineage: what it runs, and every version that became stable or was withdrawn. */
export interface ChannelRecord {
  channel: string;
  stable: { version: string; artifact: ManifestArtifactRef | null; rollout: string | null; since: string };
  history: Array<{ version: string; event: 'initial' | 'stable' | 'rolled-back' | 'aborted' | 'retried'; rollout: string | null; at: string; reason: string }>;
}

export interface DecisionCommit {
  name: string;
  expectedRevision: number;
  state: RolloutState;
  transitions: Transition[];
  audit: AuditInput[];
  actions: Array<{ key: string; kind: string; payload: unknown }>;
  requestOutcomes: Array<{ id: number; applied: boolean; message: string }>;
  /** What the transitions mean for the channel (engine/scheduling.lineageEvents). */
  lineage?: LineageEvent[];
}

export type RequestRecord = {
  id: number;
  rollout: string;
  verb: RequestVerb;
  actor: string;
  reason: string;
  consumedAt: string | null;
  applied: boolean | null;
  message: string | null;
};

export type AuditVerifyResult = { ok: true; entries: number; head: string } | { ok: false; entries: number; brokenAt: number; message: string };

export interface StateStore {
  /** Runs fn atomically; nested calls join the outer transaction (in a savepoint of their own). */
  transaction<T>(fn: () => T): T;
  /** Runs fn after the outermost transaction in progress commits (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void;
  insertRollout(input: {
    name: string;
    channel: string;
    spec: Rollout;
    specHash: string;
    policy: string;
    state: RolloutState;
    actor: string;
    reason: string;
  }): { status: 'created' | 'unchanged' | 'conflict'; record: RolloutRecord };
  getRollout(name: string): RolloutRecord | undefined;
  listRollouts(filter?: { channel?: string; activeOnly?: boolean }): RolloutRecord[];
  /** Throws StoreConflictError when the rollout's revision is no longer `expectedRevision`. */
  commitDecision(input: DecisionCommit): { revision: number };
  listTransitions(name: string): Transition[];

  addRequest(input: { rollout: string; verb: RequestVerb; actor: string; reason: string }): number;
  pendingRequests(rollout: string): Request[];
  getRequest(id: number): RequestRecord | undefined;

  getKillSwitch(): KillSwitchState;
  /** Who applied a rollout (its rollout.create actor); absent where the store cannot say (the two-person rule then refuses). */
  applierOf?(name: string): string | undefined;
  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): KillSwitchState;

  getChannel(channel: string): ChannelRecord | undefined;
  /**
   * Records `artifact` as the channel's stable artifact when its stable version is `version` and it has none yet
   * (spec.previousArtifact of a channel's first rollout); audited with the actor. False when nothing changed.
   */
  seedStableArtifact(channel: string, version: string, artifact: ManifestArtifactRef, rollout: string, actor: string): boolean;
  /** The channel's lineage as the engine sees it; null when the channel has no record yet. */
  lineage(channel: string): ChannelLineage | null;
  /** Every channel that has a manifest, a lineage record or a rollout. */
  listChannels(): string[];

  latestManifest(channel: string): StoredManifest | undefined;
  publishManifest(
    channel: string,
    build: (revision: number) => { body: Buffer; signature: string; contentHash: string },
    actor?: string,
    /** Publish a new revision even when the content is unchanged (why: a refresh before agents' maximum age, a new signing key). */
    opts?: { reissue?: string },
  ): { manifest: StoredManifest; changed: boolean };

  pendingActions(): Array<{ key: string; rollout: string; kind: string; payload: unknown; createdAt: string }>;
  markActionDone(key: string): void;

  appendAudit(entry: AuditInput): AuditEntry;
  listAudit(opts?: { afterId?: number; limit?: number; target?: string }): AuditEntry[];
  verifyAudit(): AuditVerifyResult;

  /**
   * Archiving and API-applied policies (issue 15): the SQLite store has them; a store without them (the operator's
   * mirror of Kubernetes, where Policy objects and `kubectl delete` do these jobs) leaves them out, and the API says so.
   */
  archiveRollout?(name: string, actor: string, reason: string): boolean;
  listStoredPolicies?(): StoredPolicy[];
  putPolicy?(input: { name: string; spec: PolicySpec; specHash: string; actor: string; reason: string }): { status: 'created' | 'configured' | 'unchanged'; policy: StoredPolicy };
  deleteStoredPolicy?(name: string, actor: string, reason: string): boolean;

  close(): void;
}
