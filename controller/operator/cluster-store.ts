/**
 * The operator's Store: the runtime's StateStore (store/types.ts) over Kubernetes objects. Every replica keeps this
 * mirror of the cluster from its informers: Rollouts (spec + status), the channel ConfigMaps (lineage and manifest
 * content) and the kill-switch ConfigMap. Reads are synchronous and free of I/O, as the Reconciler and the engine
 * expect.
 *
 * Only the leader commits. A commit changes the mirror at once and marks what it touched dirty; the operator then
 * writes it to the cluster (operator.ts `flush`): each dirty Rollout's status by merge-patch with its read
 * resourceVersion as the precondition, then each dirty channel. The status is the authoritative state: a write
 * that gets 409 (another writer, a new leader) throws the mirror's version of that rollout away and re-reads it.
 * Lineage changes travel in the status's `outbox` with the state that caused them, and are applied to the channel
 * idempotently (keyed by rollout and transition), so a crash between the two writes repeats nothing and loses
 * nothing.
 */
import { TERMINAL_PHASES, type KillSwitchState, type Request, type RequestVerb, type RolloutState, type Transition } from '../engine/state';
import { lineageOfRecord, type ChannelLineage, type LineageEvent } from '../engine/scheduling';
import type { ManifestContent } from '../runtime/manifest';
import { stableArtifactAudit, StoreConflictError } from '../store/store';
import { auditHash, GENESIS_HASH } from '../store/canonical';
import type {
  AuditEntry,
  AuditInput,
  AuditVerifyResult,
  ChannelRecord,
  DecisionCommit,
  ManifestArtifactRef,
  RequestRecord,
  RolloutRecord,
  StateStore,
  StoredManifest,
} from '../store/types';

/** A human request recorded on a Rollout (annotation `ringmaster.dev/request.<id>`), and its outcome once consumed. */
export interface ClusterRequest extends Request {
  at: string;
  applied?: boolean;
  message?: string;
  consumedAt?: string;
}

/** A lineage change committed with a decision, not yet applied to its channel. */
export interface OutboxItem {
  key: string;
  channel: string;
  events: LineageEvent[];
  artifact: ManifestArtifactRef;
}

/** One Rollout as the mirror holds it. `rv` is the resourceVersion the record was read at (the write precondition). */
export interface RolloutEntry {
  namespace: string;
  uid: string;
  rv: string;
  generation: number;
  record: RolloutRecord;
  transitions: Transition[];
  /** Requests from the object's annotations that no decision consumed yet. */
  pending: ClusterRequest[];
  /** Consumed requests, newest last (bounded). */
  consumed: ClusterRequest[];
  outbox: OutboxItem[];
  /** The last transition number emitted as a Kubernetes Event. */
  eventsEmitted: number;
  deleting: boolean;
}

/** A channel's durable document (ConfigMap `ringmaster-channel-<channel>`, data `channel.json`). */
export interface ChannelDoc {
  record: ChannelRecord | null;
  /** The manifest content the leader built from the Rollouts' statuses, and its counter (revision without the kill switch). */
  manifest: { counter: number; issuedAt: string; contentHash: string; content: ManifestContent } | null;
  /** Outbox keys already applied (bounded), so that a replayed lineage change is applied once. */
  applied: string[];
  rv: string | null;
}

export const KEEP_CONSUMED_REQUESTS = 50;
const KEEP_APPLIED_KEYS = 500;

interface Snapshot {
  entries: Map<string, RolloutEntry>;
  channels: Map<string, ChannelDoc>;
  killSwitch: KillSwitchState;
  actions: ClusterStore['actions'];
  dirtyRollouts: Set<string>;
  dirtyChannels: Set<string>;
  audit: AuditInput[];
}

export class ClusterStore implements StateStore {
  readonly entries = new Map<string, RolloutEntry>();
  readonly channels = new Map<string, ChannelDoc>();
  killSwitch: KillSwitchState = { engaged: false, mode: 'freeze', reason: '', actor: '', since: null };
  /** The kill switch's write counter (its ConfigMap's `epoch`): part of every manifest revision. */
  killSwitchEpoch = 0;
  killSwitchAt: string | null = null;
  private actions: Array<{ key: string; rollout: string; kind: string; payload: unknown; createdAt: string }> = [];
  readonly dirtyRollouts = new Set<string>();
  readonly dirtyChannels = new Set<string>();
  /** Audit entries of committed changes, taken by the operator (Kubernetes Events, the optional audit file). */
  private stagedAudit: AuditInput[] = [];
  private readonly auditLog: AuditEntry[] = [];
  private depth = 0;
  private readonly committed: Array<() => void> = [];
  private requestSeq = 0;

  constructor(private readonly now: () => string = () => new Date().toISOString()) {}

  // ------------------------------------------------------------------------------------------ transactions

  transaction<T>(fn: () => T): T {
    const snap = this.snapshot();
    this.depth++;
    let out: T;
    try {
      out = fn();
    } catch (err) {
      this.restore(snap);
      if (this.depth === 1) this.committed.length = 0;
      throw err;
    } finally {
      this.depth--;
    }
    if (this.depth === 0) for (const cb of this.committed.splice(0)) cb();
    return out;
  }

  afterCommit(fn: () => void): void {
    if (this.depth > 0) this.committed.push(fn);
    else fn();
  }

  private snapshot(): Snapshot {
    return {
      entries: new Map(this.entries),
      channels: new Map(this.channels),
      killSwitch: this.killSwitch,
      actions: [...this.actions],
      dirtyRollouts: new Set(this.dirtyRollouts),
      dirtyChannels: new Set(this.dirtyChannels),
      audit: [...this.stagedAudit],
    };
  }

  private restore(s: Snapshot): void {
    replace(this.entries, s.entries);
    replace(this.channels, s.channels);
    this.killSwitch = s.killSwitch;
    this.actions = s.actions;
    replaceSet(this.dirtyRollouts, s.dirtyRollouts);
    replaceSet(this.dirtyChannels, s.dirtyChannels);
    this.stagedAudit = s.audit;
  }

  // ------------------------------------------------------------------------------------------ mirror upkeep (informers)

  /** The mirror's copy of a rollout from the cluster (an informer event, a re-read after 409). Unflushed changes win. */
  putEntry(entry: RolloutEntry): void {
    if (this.dirtyRollouts.has(entry.record.name)) return;
    this.entries.set(entry.record.name, entry);
  }

  /** Replaces the mirror's copy whatever it holds (after a failed write: the cluster's version is the truth). */
  resetEntry(name: string, entry: RolloutEntry | undefined): void {
    this.dirtyRollouts.delete(name);
    if (entry) this.entries.set(name, entry);
    else this.entries.delete(name);
  }

  removeEntry(name: string): void {
    this.entries.delete(name);
    this.dirtyRollouts.delete(name);
  }

  putChannel(channel: string, doc: ChannelDoc): void {
    if (this.dirtyChannels.has(channel)) return;
    this.channels.set(channel, doc);
  }

  resetChannel(channel: string, doc: ChannelDoc | undefined): void {
    this.dirtyChannels.delete(channel);
    if (doc) this.channels.set(channel, doc);
    else this.channels.delete(channel);
  }

  setKillSwitchFromCluster(ks: KillSwitchState, epoch: number, at: string | null): void {
    if (epoch < this.killSwitchEpoch) return;
    this.killSwitch = ks;
    this.killSwitchEpoch = epoch;
    this.killSwitchAt = at;
  }

  markChannelDirty(channel: string): void {
    this.dirtyChannels.add(channel);
  }

  /** Audit entries staged by commits since the last call. */
  takeAudit(): AuditInput[] {
    return this.stagedAudit.splice(0);
  }

  nextSeq(): number {
    let max = 0;
    for (const e of this.entries.values()) max = Math.max(max, e.record.seq);
    return max + 1;
  }

  // ------------------------------------------------------------------------------------------ rollouts

  insertRollout(input: Parameters<StateStore['insertRollout']>[0]): ReturnType<StateStore['insertRollout']> {
    const existing = this.entries.get(input.name);
    if (existing && existing.record.revision > 0) {
      return { status: existing.record.specHash === input.specHash ? 'unchanged' : 'conflict', record: existing.record };
    }
    if (!existing) throw new Error(`rollout ${input.name} is not in the cluster mirror`);
    const at = this.now();
    const record: RolloutRecord = { ...existing.record, channel: input.channel, spec: input.spec, specHash: input.specHash, policy: input.policy, state: input.state, revision: 1, seq: this.nextSeq(), updatedAt: at };
    this.entries.set(input.name, { ...existing, record });
    this.dirtyRollouts.add(input.name);
    this.foundChannel(input.channel, input.spec.spec.previousVersion, input.name, at);
    this.stagedAudit.push({ actor: input.actor, action: 'rollout.create', target: input.name, reason: input.reason, payload: { channel: input.channel, version: input.spec.spec.version, specHash: input.specHash, policy: input.policy } });
    return { status: 'created', record };
  }

  getRollout(name: string): RolloutRecord | undefined {
    const e = this.entries.get(name);
    return e && e.record.revision > 0 ? e.record : undefined;
  }

  listRollouts(filter: { channel?: string; activeOnly?: boolean } = {}): RolloutRecord[] {
    const out: RolloutRecord[] = [];
    for (const e of this.entries.values()) {
      const r = e.record;
      if (r.revision === 0) continue;
      if (filter.channel !== undefined && r.channel !== filter.channel) continue;
      if (filter.activeOnly && TERMINAL_PHASES.has(r.state.phase.kind)) continue;
      out.push(r);
    }
    return out.sort((a, b) => a.seq - b.seq);
  }

  commitDecision(input: DecisionCommit): { revision: number } {
    const e = this.entries.get(input.name);
    if (!e || e.record.revision !== input.expectedRevision) throw new StoreConflictError(`rollout ${input.name}: revision ${input.expectedRevision} is stale`);
    const at = this.now();
    const record = { ...e.record, state: input.state, revision: input.expectedRevision + 1, updatedAt: at };
    const outcomes = new Map(input.requestOutcomes.map((o) => [o.id, o]));
    const consumedNow = e.pending.filter((r) => outcomes.has(r.id)).map((r) => ({ ...r, applied: outcomes.get(r.id)?.applied ?? false, message: outcomes.get(r.id)?.message ?? '', consumedAt: at }));
    const outbox = [...e.outbox];
    if (input.lineage && input.lineage.length > 0) {
      const spec = e.record.spec.spec;
      const artifact: ManifestArtifactRef = { url: spec.artifact.url, sha256: spec.artifact.sha256 };
      if (spec.artifact.signature !== undefined) artifact.signature = spec.artifact.signature;
      const item: OutboxItem = { key: `${input.name}:${e.uid}:${input.state.transitions}`, channel: e.record.channel, events: input.lineage, artifact };
      outbox.push(item);
      this.applyOutboxItem(input.name, item);
    }
    this.entries.set(input.name, {
      ...e,
      record,
      transitions: [...e.transitions, ...input.transitions],
      pending: e.pending.filter((r) => !outcomes.has(r.id)),
      consumed: [...e.consumed, ...consumedNow].slice(-KEEP_CONSUMED_REQUESTS),
      outbox,
    });
    this.dirtyRollouts.add(input.name);
    this.stagedAudit.push(...input.audit);
    for (const a of input.actions) this.actions.push({ key: a.key, rollout: input.name, kind: a.kind, payload: a.payload, createdAt: at });
    return { revision: record.revision };
  }

  listTransitions(name: string): Transition[] {
    return this.entries.get(name)?.transitions ?? [];
  }

  // ------------------------------------------------------------------------------------------ requests

  /** In the cluster a request is an annotation written by the API (operator service); this records one in the mirror. */
  addRequest(input: { rollout: string; verb: RequestVerb; actor: string; reason: string }): number {
    const e = this.entries.get(input.rollout);
    if (!e) throw new Error(`rollout ${input.rollout} is not in the cluster mirror`);
    const id = newRequestId(++this.requestSeq);
    this.entries.set(input.rollout, { ...e, pending: [...e.pending, { id, verb: input.verb, actor: input.actor, reason: input.reason, at: this.now() }] });
    this.stagedAudit.push({ actor: input.actor, action: `request.${input.verb}`, target: input.rollout, reason: input.reason, payload: { request: id } });
    return id;
  }

  pendingRequests(rollout: string): Request[] {
    return (this.entries.get(rollout)?.pending ?? []).map((r) => ({ id: r.id, verb: r.verb, actor: r.actor, reason: r.reason }));
  }

  getRequest(id: number): RequestRecord | undefined {
    for (const [name, e] of this.entries) {
      const c = e.consumed.find((r) => r.id === id);
      if (c) return { id, rollout: name, verb: c.verb, actor: c.actor, reason: c.reason, consumedAt: c.consumedAt ?? null, applied: c.applied ?? null, message: c.message ?? null };
      const p = e.pending.find((r) => r.id === id);
      if (p) return { id, rollout: name, verb: p.verb, actor: p.actor, reason: p.reason, consumedAt: null, applied: null, message: null };
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------------------ kill switch

  getKillSwitch(): KillSwitchState {
    return this.killSwitch;
  }

  /** The mirror's side of a kill-switch write (the operator writes the ConfigMap, then calls this with its answer). */
  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): KillSwitchState {
    const prev = this.killSwitch;
    const at = this.now();
    const since = next.engaged ? (prev.engaged && prev.mode === next.mode ? prev.since : at) : null;
    this.killSwitch = { engaged: next.engaged, mode: next.mode, reason: next.reason, actor, since };
    this.stagedAudit.push({
      actor,
      action: next.engaged ? 'killswitch.engage' : 'killswitch.disengage',
      target: 'killswitch',
      reason: next.reason,
      payload: { engaged: next.engaged, mode: next.mode, previous: { engaged: prev.engaged, mode: prev.mode } },
    });
    return this.killSwitch;
  }

  // ------------------------------------------------------------------------------------------ channels

  getChannel(channel: string): ChannelRecord | undefined {
    return this.channels.get(channel)?.record ?? undefined;
  }

  lineage(channel: string): ChannelLineage | null {
    const rec = this.getChannel(channel);
    if (!rec) return null;
    return lineageOfRecord(rec);
  }

  seedStableArtifact(channel: string, version: string, artifact: ManifestArtifactRef, rollout: string, actor: string): boolean {
    const doc = this.channels.get(channel);
    const rec = doc?.record;
    if (!doc || !rec || rec.stable.version !== version || rec.stable.artifact !== null) return false;
    this.channels.set(channel, { ...doc, record: { ...rec, stable: { ...rec.stable, artifact } } });
    this.dirtyChannels.add(channel);
    this.stagedAudit.push(stableArtifactAudit(channel, version, artifact, rollout, actor));
    return true;
  }

  listChannels(): string[] {
    const out = new Set(this.channels.keys());
    for (const e of this.entries.values()) if (e.record.revision > 0) out.add(e.record.channel);
    return [...out].sort();
  }

  /** The first accepted rollout of a channel founds its lineage on its previousVersion (as store.ts does). */
  private foundChannel(channel: string, previousVersion: string | undefined, rollout: string, at: string): void {
    if (previousVersion === undefined || this.channels.get(channel)?.record) return;
    const doc = this.channels.get(channel) ?? emptyChannelDoc();
    const record: ChannelRecord = {
      channel,
      stable: { version: previousVersion, artifact: null, rollout: null, since: at },
      history: [{ version: previousVersion, event: 'initial', rollout, at, reason: `previousVersion of the first rollout, ${rollout}` }],
    };
    this.channels.set(channel, { ...doc, record });
    this.dirtyChannels.add(channel);
  }

  /** Applies a committed lineage change to its channel once (a replay after a crash finds its key applied). */
  applyOutboxItem(rollout: string, item: OutboxItem): void {
    const doc = this.channels.get(item.channel) ?? emptyChannelDoc();
    if (doc.applied.includes(item.key)) return;
    let record = doc.record ?? { channel: item.channel, stable: { version: item.events[0]?.version ?? '', artifact: null, rollout: null, since: this.now() }, history: [] };
    for (const ev of item.events) {
      if (ev.event === 'stable') record = { ...record, stable: { version: ev.version, artifact: item.artifact, rollout, since: ev.at } };
      record = { ...record, history: [...record.history, { version: ev.version, event: ev.event, rollout, at: ev.at, reason: ev.reason }] };
    }
    this.channels.set(item.channel, { ...doc, record, applied: [...doc.applied, item.key].slice(-KEEP_APPLIED_KEYS) });
    this.dirtyChannels.add(item.channel);
  }

  // ------------------------------------------------------------------------------------------ manifests

  /** Manifests are not stored here: each replica signs the channel document's content (operator/manifests.ts). */
  latestManifest(): StoredManifest | undefined {
    return undefined;
  }

  publishManifest(): { manifest: StoredManifest; changed: boolean } {
    throw new Error('ClusterStore.publishManifest: the operator publishes channel documents, not stored manifests');
  }

  // ------------------------------------------------------------------------------------------ outbox (in-process actions)

  pendingActions(): Array<{ key: string; rollout: string; kind: string; payload: unknown; createdAt: string }> {
    return [...this.actions];
  }

  markActionDone(key: string): void {
    this.actions = this.actions.filter((a) => a.key !== key);
  }

  // ------------------------------------------------------------------------------------------ audit

  /** Staged like a commit's entries: recorded (recordAudit, Events) by the operator once the change is written. */
  appendAudit(entry: AuditInput): AuditEntry {
    this.stagedAudit.push(entry);
    return { ...entry, id: 0, at: this.now(), prevHash: '', hash: '' };
  }

  /** Adds a taken entry to this replica's in-memory, hash-chained log (GET /v1/audit without --audit-db). */
  recordAudit(entry: AuditInput): AuditEntry {
    const prevHash = this.auditLog[this.auditLog.length - 1]?.hash ?? GENESIS_HASH;
    const id = this.auditLog.length + 1;
    const at = this.now();
    const hash = auditHash({ id, at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason, payload: entry.payload ?? null, prevHash });
    const full: AuditEntry = { ...entry, id, at, prevHash, hash };
    this.auditLog.push(full);
    return full;
  }

  listAudit(opts: { afterId?: number; limit?: number; target?: string } = {}): AuditEntry[] {
    const after = opts.afterId ?? 0;
    const rows = this.auditLog.filter((e) => e.id > after && (opts.target === undefined || e.target === opts.target));
    return rows.slice(0, opts.limit ?? 1000);
  }

  verifyAudit(): AuditVerifyResult {
    let prev = GENESIS_HASH;
    for (const e of this.auditLog) {
      const h = auditHash({ id: e.id, at: e.at, actor: e.actor, action: e.action, target: e.target, reason: e.reason, payload: e.payload ?? null, prevHash: prev });
      if (e.prevHash !== prev || e.hash !== h) return { ok: false, entries: this.auditLog.length, brokenAt: e.id, message: `entry ${e.id} does not chain` };
      prev = e.hash;
    }
    return { ok: true, entries: this.auditLog.length, head: prev };
  }

  close(): void {
    this.entries.clear();
    this.channels.clear();
  }
}

export function emptyChannelDoc(): ChannelDoc {
  return { record: null, manifest: null, applied: [], rv: null };
}

/** Unique without coordination between replicas: milliseconds, then a per-process counter and a random part. */
export function newRequestId(seq: number): number {
  return Date.now() * 1000 + ((seq * 7 + Math.floor(Math.random() * 1000)) % 1000);
}

function replace<K, V>(target: Map<K, V>, from: Map<K, V>): void {
  target.clear();
  for (const [k, v] of from) target.set(k, v);
}

function replaceSet<T>(target: Set<T>, from: Set<T>): void {
  target.clear();
  for (const v of from) target.add(v);
}

/** The state as stored in status (JSON text: a merge patch replaces it whole; an object would be merged key by key). */
export function encodeState(state: RolloutState): string {
  return JSON.stringify(state);
}
