/**
 * What the HTTP API calls on an operator replica: the same ControllerService as `ringmaster serve`, so agents,
 * ringctl and the API work the same against either. Reads come from this replica's mirror of the cluster, with no
 * I/O. Writes go to the cluster, never to the mirror alone:
 *   apply       creates the Rollout object (after the same checks as `serve`); the leader accepts it
 *   verbs       an annotation on the Rollout; the leader decides it at once (without a metrics query) and the
 *               answer is read back from status, for up to 5 s
 *   kill switch the kill-switch ConfigMap; this replica's manifests show it as soon as the write returns, every
 *               other replica's as soon as its informer sees it
 * A write the API server refuses or does not take is a 503 naming why; nothing is reported done that is not.
 */
import { describeKubeError, KubeConflictError } from './kube';
import { TERMINAL_PHASES, type KillSwitchState, type RequestVerb } from '../engine/state';
import { channelView, checkForApply } from '../runtime/facade';
import { ServiceUnavailableError, type ApplyResult, type AuditEntryView, type ChannelView, type ControllerService, type RequestResult, type RolloutView, type SeparationFacts, type SignedManifest } from '../runtime/service';
import { rolloutView } from '../runtime/view';
import { engineConfigFor } from '../runtime/config';
import type { SignedRotation, TrustedKey } from '../crypto/keys';
import type { PreflightAllowlist } from '../content/allowlist';
import type { Rollout } from '../spec/types';
import type { AuditVerifyResult, RolloutRecord } from '../store/types';
import type { Operator } from './operator';
import { rolloutDocOf } from './status';

export interface OperatorServiceOptions {
  /** Where POST /v1/rollouts creates Rollout objects (default: the operator's namespace). */
  applyNamespace?: string;
  trustedKeys: TrustedKey[];
  preflightAllowlist?: PreflightAllowlist;
  /** The audit this replica keeps (default the mirror's in-memory chain; the optional SQLite file otherwise). */
  audit?: { list(opts: { afterId?: number; limit?: number }): AuditEntryView[]; verify(): AuditVerifyResult };
  /** How long apply waits for the leader to accept or reject the new object. Default 5 s. */
  acceptWaitMs?: number;
}

export class OperatorService implements ControllerService {
  constructor(
    private readonly op: Operator,
    private readonly opts: OperatorServiceOptions,
  ) {}

  ready(): boolean {
    return this.op.ready();
  }

  private view(r: RolloutRecord): RolloutView {
    const judged = engineConfigFor(r.spec, {}).analysisEnabled;
    return rolloutView(r, this.op.store.listTransitions(r.name), this.op.store.getKillSwitch(), judged, { timezone: this.op.policies.get(r.policy)?.timezone ?? null, manifestRevision: this.op.manifests.get(r.channel)?.revision ?? null });
  }

  async applyRollout(rollout: Rollout, actor: string): Promise<ApplyResult> {
    const checked = checkForApply(rollout, { policies: this.op.policies, trustedKeys: this.opts.trustedKeys, ...(this.opts.preflightAllowlist ? { preflightAllowlist: this.opts.preflightAllowlist } : {}) });
    if (!checked.ok) return { status: 'invalid', errors: checked.errors };
    const name = rollout.metadata.name;
    const existing = this.op.store.entries.get(name);
    if (existing) {
      const same = existing.record.revision > 0 ? rolloutDocOf({ metadata: { name }, spec: rollout.spec }) : null;
      if (same?.ok && same.specHash === existing.record.specHash) return { status: 'unchanged', rollout: this.view(existing.record) };
      if (existing.record.revision > 0) return { status: 'conflict', message: `rollout "${name}" already exists with a different spec; rollouts are immutable, use a new name` };
    }
    const namespace = this.opts.applyNamespace ?? this.op.namespace;
    try {
      await this.op.createRollout(namespace, rollout, actor);
    } catch (err) {
      if (err instanceof KubeConflictError) return { status: 'conflict', message: `rollout "${name}" already exists in namespace ${namespace}; rollouts are immutable, use a new name` };
      throw new ServiceUnavailableError(`the Rollout could not be created in the cluster: ${describeKubeError(err)}`);
    }
    await this.op.waitFor(() => (this.op.store.getRollout(name) !== undefined) || this.op.rejection(name) !== undefined, this.opts.acceptWaitMs ?? 5_000);
    const rejected = this.op.rejection(name);
    if (rejected) return { status: 'invalid', errors: [{ file: 'request', line: 0, col: 0, path: '', message: `${rejected.reason}: ${rejected.message}` }] };
    const rec = this.op.store.getRollout(name);
    const pending = this.op.store.entries.get(name)?.record;
    return { status: 'created', rollout: this.view(rec ?? (pending as RolloutRecord)) };
  }

  listRollouts(): RolloutView[] {
    return this.op.store.listRollouts().map((r) => this.view(r));
  }

  getRollout(name: string): RolloutView | undefined {
    const r = this.op.store.getRollout(name);
    return r ? this.view(r) : undefined;
  }

  async request(name: string, verb: RequestVerb, actor: string, reason: string): Promise<RequestResult> {
    const current = this.op.store.getRollout(name);
    if (!current) return { status: 'not-found' };
    // A final Rollout has let go of its finalizer: brought back to life it could be deleted in flight unnoticed.
    if (verb === 'retry' && TERMINAL_PHASES.has(current.state.phase.kind)) {
      return { status: 'rejected', message: `${name} is ${current.state.phase.kind} (terminal); the operator does not retry a finished Rollout: apply a new Rollout`, rollout: this.view(current) };
    }
    let written: { id: number; answered: boolean };
    try {
      written = await this.op.writeRequest(name, verb, actor, reason);
    } catch (err) {
      throw new ServiceUnavailableError(`the request could not be written to the cluster: ${describeKubeError(err)}`);
    }
    const outcome = this.op.store.getRequest(written.id);
    const rollout = this.view(this.op.store.getRollout(name) as RolloutRecord);
    if (outcome?.applied) return { status: 'applied', message: outcome.message ?? 'applied', rollout };
    if (outcome?.consumedAt) return { status: 'rejected', message: outcome.message ?? 'not applied', rollout };
    return { status: 'rejected', message: `not decided yet: request ${written.id} is recorded on the Rollout and the leader decides it when it sees it`, rollout };
  }

  getChannel(channel: string): ChannelView | undefined {
    return channelView(this.op.store, channel, this.op.manifests.get(channel)?.revision ?? null);
  }

  getKillSwitch(): KillSwitchState {
    return this.op.store.getKillSwitch();
  }

  async setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): Promise<KillSwitchState> {
    try {
      return await this.op.writeKillSwitch(next, actor);
    } catch (err) {
      throw new ServiceUnavailableError(`the kill switch could not be written to the cluster, so it is unchanged: ${describeKubeError(err)}`);
    }
  }

  /** The applier is the Rollout's ringmaster.dev/applied-by annotation; the policies are the operator's. */
  separationFacts(rollout?: string): SeparationFacts | undefined {
    const ks = this.op.store.getKillSwitch();
    const engager = ks.engaged ? ks.actor : null;
    const ruleOf = (r: RolloutRecord): SeparationFacts['distinctFrom'] => this.op.policies.get(r.policy)?.approvals?.distinctFrom ?? 'none';
    if (rollout === undefined) {
      const on = this.op.store.listRollouts({ activeOnly: true }).some((r) => ruleOf(r) === 'applier');
      return { distinctFrom: on ? 'applier' : 'none', applier: null, engager };
    }
    const r = this.op.store.getRollout(rollout);
    if (!r) return undefined;
    return { distinctFrom: ruleOf(r), applier: this.op.appliedBy(rollout) ?? null, engager };
  }

  listAudit(opts: { afterId?: number; limit?: number }): AuditEntryView[] {
    return this.opts.audit ? this.opts.audit.list(opts) : this.op.store.listAudit(opts);
  }

  verifyAudit(): AuditVerifyResult {
    return this.opts.audit ? this.opts.audit.verify() : this.op.store.verifyAudit();
  }

  manifest(channel: string): SignedManifest | undefined {
    return this.op.manifests.get(channel);
  }

  signingKey(): { algorithm: 'ed25519'; keyId: string; publicKeyPem: string; publicKey: string; rotations: SignedRotation[] } {
    return this.op.service.signingKey();
  }
}
