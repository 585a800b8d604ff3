/**
 * Rollout objects <-> the mirror's entries, and the status the operator writes. The status is the authoritative
 * state: `acceptedSpec` (the spec the rollout runs, fixed at acceptance), `state` (the engine's RolloutState as JSON
 * text, so that a merge patch replaces it whole), `revision`, `transitions`, consumed `requests` and the `outbox`
 * of lineage changes not yet applied to the channel. The summary fields (phase, ring, verdict, message) and the
 * conditions are derived from them, for kubectl.
 */
import { TERMINAL_PHASES, type KillSwitchState, type RolloutState, type Transition } from '../engine/state';
import { rolloutView } from '../runtime/view';
import { canonicalJson, sha256Hex } from '../store/canonical';
import { validateRolloutObject } from '../spec/load';
import { policyNameOf } from '../spec/defaults';
import type { Rollout } from '../spec/types';
import type { SpecError } from '../spec/errors';
import { formatSpecError } from '../spec/errors';
import { KEEP_CONSUMED_REQUESTS, type ClusterRequest, type OutboxItem, type RolloutEntry } from './cluster-store';
import { API_VERSION, REQUEST_ANNOTATION_PREFIX, type KubeObject } from './kube';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Why the operator does not run a Rollout object's spec (Accepted=False), kept in the status. */
export interface Rejection {
  reason: 'Invalid' | 'UnknownPolicy' | 'LineageConflict' | 'SpecChangeRejected' | 'NameConflict';
  message: string;
}

function iso(t: string | Date | undefined): string {
  if (t === undefined) return new Date(0).toISOString();
  return typeof t === 'string' ? t : t.toISOString();
}

/** The Ringmaster document of a Rollout object (what `ringctl validate` reads), validated with the one loader. */
export function rolloutDocOf(obj: KubeObject): { ok: true; doc: Rollout; specHash: string } | { ok: false; errors: SpecError[] } {
  const source = `Rollout ${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
  const r = validateRolloutObject({ apiVersion: API_VERSION, kind: 'Rollout', metadata: { name: obj.metadata.name }, spec: obj.spec }, source);
  if (!r.ok) return r;
  return { ok: true, doc: r.doc, specHash: sha256Hex(canonicalJson(r.doc)) };
}

export function errorLines(errors: SpecError[]): string {
  return errors.map((e) => (e.line > 0 ? formatSpecError(e) : `${e.path}: ${e.message}`)).join('; ');
}

/** Requests written as annotations by the API (`ringmaster.dev/request.<id>`), oldest first. */
export function annotationRequests(obj: KubeObject): ClusterRequest[] {
  const out: ClusterRequest[] = [];
  for (const [key, value] of Object.entries(obj.metadata.annotations ?? {})) {
    if (!key.startsWith(REQUEST_ANNOTATION_PREFIX)) continue;
    const id = Number(key.slice(REQUEST_ANNOTATION_PREFIX.length));
    try {
      const v = JSON.parse(value) as { verb?: unknown; actor?: unknown; reason?: unknown; at?: unknown };
      const verbs = ['pause', 'resume', 'approve', 'abort', 'rollback'];
      if (!Number.isSafeInteger(id) || typeof v.verb !== 'string' || !verbs.includes(v.verb)) continue;
      out.push({ id, verb: v.verb as ClusterRequest['verb'], actor: typeof v.actor === 'string' ? v.actor : 'kubernetes', reason: typeof v.reason === 'string' ? v.reason : '', at: typeof v.at === 'string' ? v.at : '' });
    } catch {
      // an annotation that is not a request document is ignored
    }
  }
  return out.sort((a, b) => a.id - b.id);
}

/** The mirror's entry for a Rollout object: accepted (its status holds a state) or not yet (revision 0). */
export function entryFromObject(obj: KubeObject): RolloutEntry {
  const st = (obj.status ?? {}) as {
    acceptedSpec?: Rollout;
    state?: string;
    revision?: number;
    seq?: number;
    specHash?: string;
    transitions?: Transition[];
    requests?: ClusterRequest[];
    outbox?: OutboxItem[];
    eventsEmitted?: number;
  };
  const name = obj.metadata.name;
  let state: RolloutState | undefined;
  if (typeof st.state === 'string') {
    try {
      state = JSON.parse(st.state) as RolloutState;
    } catch {
      state = undefined;
    }
  }
  const accepted = state !== undefined && st.acceptedSpec !== undefined && typeof st.revision === 'number' && st.revision > 0;
  const spec = (accepted ? st.acceptedSpec : { apiVersion: API_VERSION, kind: 'Rollout', metadata: { name }, spec: obj.spec }) as Rollout;
  const consumed = Array.isArray(st.requests) ? st.requests : [];
  const consumedIds = new Set(consumed.map((r) => r.id));
  const created = iso(obj.metadata.creationTimestamp);
  return {
    namespace: obj.metadata.namespace ?? 'default',
    uid: obj.metadata.uid ?? '',
    rv: obj.metadata.resourceVersion ?? '',
    generation: obj.metadata.generation ?? 1,
    record: {
      name,
      channel: (spec.spec as { channel?: string } | undefined)?.channel ?? '',
      seq: accepted ? (st.seq ?? 0) : 0,
      spec,
      specHash: accepted ? (st.specHash ?? '') : '',
      policy: spec.spec ? policyNameOf(spec.spec) : 'default',
      state: state ?? { phase: { kind: 'pending', reason: 'not accepted yet' }, exposedRing: -1, ringStartedAt: null, transitions: 0, noDataSince: null, consecutiveErrors: 0, lastVerdict: null, judgeStates: {}, wave: null },
      revision: accepted ? (st.revision as number) : 0,
      createdAt: created,
      updatedAt: created,
    },
    transitions: accepted && Array.isArray(st.transitions) ? st.transitions : [],
    pending: annotationRequests(obj).filter((r) => !consumedIds.has(r.id)),
    consumed,
    outbox: accepted && Array.isArray(st.outbox) ? st.outbox : [],
    eventsEmitted: accepted ? (st.eventsEmitted ?? 0) : 0,
    deleting: obj.metadata.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null,
  };
}

function condition(prev: Condition[], type: string, status: Condition['status'], reason: string, message: string, generation: number, now: string): Condition {
  const old = prev.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : now;
  return { type, status, reason, message, lastTransitionTime, observedGeneration: generation };
}

/** The conditions kubectl shows and `kubectl wait --for=condition=Succeeded` waits on. */
export function conditionsFor(entry: RolloutEntry, prev: Condition[], ks: KillSwitchState, rejection: Rejection | null, now: string): Condition[] {
  const g = entry.generation;
  const accepted = entry.record.revision > 0;
  const phase = entry.record.state.phase;
  const kind = phase.kind;
  const reasonText = (phase as { reason?: unknown }).reason;
  const message = typeof reasonText === 'string' ? reasonText : typeof (phase as { message?: unknown }).message === 'string' ? String((phase as { message?: unknown }).message) : '';
  const terminal = accepted && TERMINAL_PHASES.has(kind);
  const camel = kind.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
  const out: Condition[] = [];
  if (rejection) out.push(condition(prev, 'Accepted', 'False', rejection.reason, rejection.message, g, now));
  else out.push(condition(prev, 'Accepted', accepted ? 'True' : 'Unknown', accepted ? 'Accepted' : 'Pending', accepted ? `running the spec accepted at revision 1${ks.engaged ? '; the kill switch is engaged' : ''}` : 'waiting for the leader', g, now));
  out.push(condition(prev, 'Progressing', accepted && !terminal ? 'True' : 'False', accepted ? camel : 'NotAccepted', message, g, now));
  out.push(condition(prev, 'Halted', kind === 'halted' ? 'True' : 'False', kind === 'halted' ? camel : 'NotHalted', kind === 'halted' ? message : '', g, now));
  out.push(condition(prev, 'Completed', terminal ? 'True' : 'False', terminal ? camel : 'InFlight', terminal ? message : '', g, now));
  out.push(condition(prev, 'Succeeded', kind === 'succeeded' && accepted ? 'True' : terminal ? 'False' : 'Unknown', terminal ? camel : 'InFlight', terminal ? message : '', g, now));
  return out;
}

/** The status body of an entry (a merge patch replaces each of these fields whole). */
export function statusOf(entry: RolloutEntry, prev: Record<string, unknown> | undefined, ks: KillSwitchState, rejection: Rejection | null, analysisEnabled: boolean, now: string): Record<string, unknown> {
  const prevConditions = (Array.isArray(prev?.conditions) ? prev.conditions : []) as Condition[];
  const conditions = conditionsFor(entry, prevConditions, ks, rejection, now);
  const rec = entry.record;
  if (rec.revision === 0) {
    return { observedGeneration: entry.generation, phase: rejection ? 'rejected' : 'pending', ring: '-', verdict: '', message: rejection?.message ?? 'waiting for the leader', conditions };
  }
  const view = rolloutView(rec, entry.transitions, ks, analysisEnabled);
  const rings = rec.spec.spec.rings.length;
  return {
    observedGeneration: entry.generation,
    phase: rec.state.phase.kind,
    ring: view.ring ? `${view.ring.name} (${view.ring.index + 1}/${rings})` : rec.state.exposedRing >= 0 ? `${rec.spec.spec.rings[rec.state.exposedRing]?.name ?? '?'} (${rec.state.exposedRing + 1}/${rings})` : '-',
    exposedRing: rec.state.exposedRing,
    verdict: rec.state.lastVerdict?.result ?? '',
    message: rejection?.message ?? view.waitingReason ?? conditions.find((c) => c.type === 'Progressing')?.message ?? '',
    revision: rec.revision,
    seq: rec.seq,
    specHash: rec.specHash,
    acceptedSpec: rec.spec,
    state: JSON.stringify(rec.state),
    transitions: entry.transitions,
    requests: entry.consumed.slice(-KEEP_CONSUMED_REQUESTS),
    outbox: entry.outbox,
    eventsEmitted: entry.eventsEmitted,
    conditions,
  };
}
