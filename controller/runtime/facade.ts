/**
 * The Service facade that the HTTP API (and the simulator) call. Every human verb (apply, pause, resume,
 * approve, abort, rollback, the kill switch) is committed, decided and reflected in every affected manifest
 * synchronously: it never waits for a reconcile pass or a metrics query, so it answers in milliseconds whatever
 * Prometheus is doing.
 */
import { verifyArtifactSignature, type TrustedKey } from '../crypto/keys';
import { lineageAtApply } from '../engine/scheduling';
import type { KillSwitchState, RequestVerb } from '../engine/state';
import { initialState } from '../engine/state';
import { POLICY_DEFAULTS } from '../spec/defaults';
import type { SpecError } from '../spec/errors';
import type { PolicySpec, Rollout } from '../spec/types';
import { canonicalJson, sha256Hex } from '../store/canonical';
import type { RolloutRecord, StateStore } from '../store/types';
import type { Logger } from '../telemetry/log';
import { policyNameOf } from './config';
import type { FactSource } from './facts';
import type { ManifestSink } from './publisher';
import type { SignedRotation } from '../crypto/keys';
import type { Reconciler } from './reconciler';
import { allowedNames, type PreflightAllowlist } from '../content/allowlist';
import { ServiceClosedError, type ApplyResult, type AuditEntryView, type ChannelView, type ControllerService, type RequestResult, type RolloutView, type SignedManifest } from './service';
import { rolloutView } from './view';
import type { Notifier } from './notifications';
import { killSwitchEvents } from '../engine/events';

export interface ServiceParts {
  store: StateStore;
  publisher: ManifestSink;
  reconciler: Reconciler;
  facts: FactSource;
  policies: ReadonlyMap<string, PolicySpec>;
  trustedKeys: TrustedKey[];
  signingKey: { keyId: string; publicKeyPem: string; publicKey: string; rotations: SignedRotation[] };
  log: Logger;
  /** What spec.preflight exec and webhook checks may name (ringmaster serve --preflight); absent: nothing. */
  preflightAllowlist?: PreflightAllowlist;
  /** Writes notification events in the transaction of the change (runtime/notifications.ts); absent: none. */
  notifier?: Notifier;
}

export class Service implements ControllerService {
  /** Set when the controller stops: a request still in flight (a slow body) must not write to a closed store. */
  protected closed = false;

  constructor(protected readonly parts: ServiceParts) {}

  ready(): boolean {
    return true;
  }

  applyRollout(rollout: Rollout, actor: string): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    return Promise.resolve(this.apply(rollout, actor));
  }

  private apply(rollout: Rollout, actor: string): ApplyResult {
    const { store } = this.parts;
    const checked = checkForApply(rollout, this.parts);
    if (!checked.ok) return { status: 'invalid', errors: checked.errors };
    const policyName = checked.policy;
    const name = rollout.metadata.name;
    const specHash = sha256Hex(canonicalJson(rollout));
    const existing = store.getRollout(name);
    if (existing) {
      if (existing.specHash === specHash) return { status: 'unchanged', rollout: this.view(existing) };
      return { status: 'conflict', message: `rollout "${name}" already exists with a different spec; rollouts are immutable, use a new name` };
    }
    const { channel, version, previousVersion } = rollout.spec;
    const lineage = lineageAtApply(channel, version, previousVersion, store.lineage(channel), this.parts.facts.inFlight(channel));
    if (!lineage.ok) return { status: 'conflict', message: lineage.message };
    const seed = this.previousArtifactSeed(rollout);
    if (!seed.ok) return { status: 'invalid', errors: [specError('spec.previousArtifact.sha256', seed.message)] };
    const res = store.transaction(() => {
      const r = store.insertRollout({ name, channel, spec: rollout, specHash, policy: policyName, state: initialState(), actor, reason: `apply ${channel} ${version}` });
      if (r.status === 'created') {
        if (seed.artifact && previousVersion !== undefined) store.seedStableArtifact(channel, previousVersion, seed.artifact, name, actor);
        this.parts.reconciler.decideNow(name);
        this.parts.publisher.publish(channel, actor);
      }
      return r;
    });
    if (res.status === 'conflict') return { status: 'conflict', message: `rollout "${name}" already exists with a different spec; rollouts are immutable, use a new name` };
    if (res.status === 'created') this.parts.log.info({ rollout: name, channel, version, actor }, 'rollout created');
    return { status: res.status, rollout: this.view(store.getRollout(name) ?? res.record) };
  }

  /**
   * What spec.previousArtifact gives the channel: its stable record's artifact when it has none yet (the channel is
   * new, or was founded without one) and the stable version is previousVersion. One that contradicts the artifact
   * the channel already records for that version is refused.
   */
  private previousArtifactSeed(rollout: Rollout): { ok: true; artifact?: { url: string; sha256: string; signature?: string } } | { ok: false; message: string } {
    const prev = rollout.spec.previousArtifact;
    const previousVersion = rollout.spec.previousVersion;
    if (prev === undefined || previousVersion === undefined) return { ok: true };
    const artifact: { url: string; sha256: string; signature?: string } = { url: prev.url, sha256: prev.sha256 };
    if (prev.signature !== undefined) artifact.signature = prev.signature;
    const rec = this.parts.store.getChannel(rollout.spec.channel);
    if (!rec) return { ok: true, artifact };
    if (rec.stable.version !== previousVersion) return { ok: true };
    const known = rec.stable.artifact;
    if (known === null) return { ok: true, artifact };
    if (known.sha256 !== prev.sha256) {
      return { ok: false, message: `channel ${rollout.spec.channel} records ${previousVersion} as artifact ${known.sha256} (${rec.stable.rollout ?? 'its first rollout'}); previousArtifact names ${prev.sha256}` };
    }
    return { ok: true };
  }

  listRollouts(): RolloutView[] {
    const ks = this.parts.store.getKillSwitch();
    return this.parts.store.listRollouts().map((r) => this.view(r, ks));
  }

  getRollout(name: string): RolloutView | undefined {
    const r = this.parts.store.getRollout(name);
    return r ? this.view(r) : undefined;
  }

  private view(r: RolloutRecord, ks = this.parts.store.getKillSwitch()): RolloutView {
    const config = this.parts.facts.engineConfig(r);
    return rolloutView(r, this.parts.store.listTransitions(r.name), ks, config.analysisEnabled, { timezone: this.parts.policies.get(r.policy)?.timezone ?? null, rollbackDrainMs: config.rollbackDrainMs, manifestRevision: this.parts.publisher.get(r.channel)?.revision ?? null });
  }

  request(name: string, verb: RequestVerb, actor: string, reason: string): Promise<RequestResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store } = this.parts;
    if (!store.getRollout(name)) return Promise.resolve({ status: 'not-found' as const });
    const id = store.transaction(() => {
      const requestId = store.addRequest({ rollout: name, verb, actor, reason });
      this.parts.reconciler.decideNow(name);
      return requestId;
    });
    const outcome = store.getRequest(id);
    const rollout = this.view(store.getRollout(name) as RolloutRecord);
    if (outcome?.applied) return Promise.resolve({ status: 'applied' as const, message: outcome.message ?? 'applied', rollout });
    return Promise.resolve({ status: 'rejected' as const, message: outcome?.message ?? 'not applied (the request is queued for the next pass)', rollout });
  }

  getKillSwitch(): KillSwitchState {
    return this.parts.store.getKillSwitch();
  }

  /** Persisted and audited, then every in-flight rollout decides on it and every manifest shows it: all before the answer. */
  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): Promise<KillSwitchState> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store, reconciler, publisher, log } = this.parts;
    // One transaction: the switch and every rollout's decision on it commit together (one fsync, not one each).
    const state = store.transaction(() => {
      const prev = store.getKillSwitch();
      const ks = store.setKillSwitch(next, actor);
      // In this transaction: the event exists iff the switch moved.
      const nowMs = Date.now();
      this.parts.notifier?.enqueue(killSwitchEvents(prev, ks, ks.since ?? new Date(nowMs).toISOString()), nowMs);
      reconciler.decideEach(store.listRollouts({ activeOnly: true }).map((r) => r.name));
      publisher.publishAll(actor);
      return ks;
    });
    log.warn({ engaged: next.engaged, mode: next.mode, actor, reason: next.reason }, next.engaged ? 'kill switch engaged' : 'kill switch released');
    return Promise.resolve(state);
  }

  getChannel(channel: string): ChannelView | undefined {
    return channelView(this.parts.store, channel, this.parts.publisher.get(channel)?.revision ?? null);
  }

  listAudit(opts: { afterId?: number; limit?: number }): AuditEntryView[] {
    return this.parts.store.listAudit(opts);
  }

  verifyAudit(): ReturnType<ControllerService['verifyAudit']> {
    return this.parts.store.verifyAudit();
  }

  manifest(channel: string): SignedManifest | undefined {
    return this.parts.publisher.get(channel);
  }

  signingKey(): { algorithm: 'ed25519'; keyId: string; publicKeyPem: string; publicKey: string; rotations: SignedRotation[] } {
    return { algorithm: 'ed25519', ...this.parts.signingKey };
  }
}

/**
 * What apply checks before a rollout is accepted, besides its schema: its policy is loaded, its artifacts are signed
 * by a trusted key when the policy requires it, and its pre-flight checks name entries of the allowlist. The
 * operator runs the same checks on the replica that answers the API (operator/service.ts).
 */
export function checkForApply(
  rollout: Rollout,
  parts: Pick<ServiceParts, 'policies' | 'trustedKeys' | 'preflightAllowlist'>,
): { ok: true; policy: string } | { ok: false; errors: SpecError[] } {
  const policyName = policyNameOf(rollout);
  const policy = parts.policies.get(policyName);
  if (!policy) {
    const known = [...parts.policies.keys()].join(', ') || 'none';
    return { ok: false, errors: [specError('spec.policy', `unknown policy "${policyName}" (loaded: ${known})`)] };
  }
  if (policy.requireSignedArtifacts ?? POLICY_DEFAULTS.requireSignedArtifacts) {
    const check = verifyArtifactSignature(rollout.spec.artifact, parts.trustedKeys);
    if (!check.ok) return { ok: false, errors: [specError(check.field, check.message)] };
    if (rollout.spec.previousArtifact !== undefined) {
      const prev = verifyArtifactSignature(rollout.spec.previousArtifact, parts.trustedKeys);
      if (!prev.ok) return { ok: false, errors: [specError(prev.field.replace(/^spec\.artifact\./, 'spec.previousArtifact.'), prev.message)] };
    }
  }
  const unknown = unknownPreflightNames(rollout, parts.preflightAllowlist);
  return unknown.length > 0 ? { ok: false, errors: unknown } : { ok: true, policy: policyName };
}

/** spec.preflight exec and webhook checks must name an entry of the operator's allowlist (never a command or a URL). */
function unknownPreflightNames(rollout: Rollout, allow: PreflightAllowlist | undefined): SpecError[] {
  const errors: SpecError[] = [];
  (rollout.spec.preflight ?? []).forEach((c, i) => {
    if (c.exec !== undefined && !allow?.executables.has(c.exec)) {
      errors.push(specError(`spec.preflight[${i}].exec`, `unknown executable ${JSON.stringify(c.exec)}: not in this controller's pre-flight allowlist (allowed: ${allowedNames(allow?.executables ?? new Map())}; ringmaster serve --preflight)`));
    }
    if (c.webhook !== undefined && !allow?.webhooks.has(c.webhook)) {
      errors.push(specError(`spec.preflight[${i}].webhook`, `unknown webhook ${JSON.stringify(c.webhook)}: not in this controller's pre-flight allowlist (allowed: ${allowedNames(allow?.webhooks ?? new Map())}; ringmaster serve --preflight)`));
    }
  });
  return errors;
}

/** GET /v1/channels/{channel}: the channel's lineage and rollouts from a store (SQLite or the operator's mirror). */
export function channelView(store: Pick<StateStore, 'getChannel' | 'listRollouts'>, channel: string, manifestRevision: number | null): ChannelView | undefined {
  const rec = store.getChannel(channel);
  const rollouts = store.listRollouts({ channel });
  if (!rec && rollouts.length === 0) return undefined;
  return {
    channel,
    stable: rec ? rec.stable : null,
    history: rec ? rec.history : [],
    rollouts: rollouts.map((r) => ({ name: r.name, version: r.spec.spec.version, previousVersion: r.spec.spec.previousVersion ?? null, phase: r.state.phase.kind })),
    manifestRevision,
  };
}

function specError(pathText: string, message: string): SpecError {
  return { file: 'request', line: 0, col: 0, path: pathText, message };
}
