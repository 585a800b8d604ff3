/**
 * A small in-memory ControllerService for API tests that need a service which misbehaves on purpose
 * (throws, not ready) or a manifest the test controls. It keeps the contract's observable behaviour:
 * idempotent apply, a tiny verb state machine, a hash-chained audit log with actors, signed manifests.
 */
import * as crypto from 'node:crypto';
import { generateKeyPair, keyId, publicKeyPem, publicKeyRaw, sign, type KeyPair } from '../../controller/crypto/keys';
import type { KillSwitchState, Phase, RequestVerb } from '../../controller/engine/state';
import type { ApplyResult, AuditEntryView, ControllerService, RequestResult, RolloutView, SignedManifest } from '../../controller/runtime/service';
import type { Rollout } from '../../controller/spec/types';

export class FakeService implements ControllerService {
  readonly key: KeyPair = generateKeyPair();
  readonly rollouts = new Map<string, RolloutView>();
  readonly audit: AuditEntryView[] = [];
  readonly manifests = new Map<string, SignedManifest>();
  killSwitch: KillSwitchState = { engaged: false, mode: 'freeze', reason: '', actor: '', since: null };
  isReady = true;
  /** When set, every method that mutates throws it (to test the 500 path). */
  failWith: Error | undefined;
  policies = new Set(['default', 'open']);
  private revision = 0;

  async applyRollout(rollout: Rollout, actor: string): Promise<ApplyResult> {
    this.maybeFail();
    const policy = rollout.spec.policy ?? 'default';
    if (!this.policies.has(policy)) {
      return { status: 'invalid', errors: [{ file: 'request', line: 0, col: 0, path: 'spec.policy', message: `unknown policy "${policy}"` }] };
    }
    const existing = this.rollouts.get(rollout.metadata.name);
    if (existing) {
      if (JSON.stringify(existing.spec) === JSON.stringify(rollout)) return { status: 'unchanged', rollout: existing };
      return { status: 'conflict', message: `rollout "${rollout.metadata.name}" already exists with a different spec` };
    }
    const now = new Date().toISOString();
    const view: RolloutView = {
      name: rollout.metadata.name,
      channel: rollout.spec.channel,
      version: rollout.spec.version,
      previousVersion: rollout.spec.previousVersion ?? null,
      policy,
      // Like the real engine under an open window: ring 0 starts, unless it needs an approval first.
      phase: rollout.spec.rings[0]?.approval === 'required' ? { kind: 'awaiting-approval', ring: 0, reason: 'approval required', cause: 'approval-required' } : { kind: 'progressing', ring: 0, bakeStartedAt: now },
      exposedRing: 0,
      ring: { index: 0, name: rollout.spec.rings[0]?.name ?? 'ring0' },
      waitingReason: null,
      bake: null,
      wave: null,
      lastVerdict: null,
      history: [],
      revision: 1,
      createdAt: now,
      updatedAt: now,
      spec: rollout,
    };
    this.rollouts.set(view.name, view);
    this.addAudit(actor, 'rollout.apply', view.name, `apply ${view.channel} ${view.version}`);
    this.publish(view.channel);
    return { status: 'created', rollout: view };
  }

  listRollouts(): RolloutView[] {
    return [...this.rollouts.values()];
  }

  getRollout(name: string): RolloutView | undefined {
    return this.rollouts.get(name);
  }

  async request(name: string, verb: RequestVerb, actor: string, reason: string): Promise<RequestResult> {
    this.maybeFail();
    const r = this.rollouts.get(name);
    if (!r) return { status: 'not-found' };
    const next = transition(r.phase, verb);
    this.addAudit(actor, next ? 'request.applied' : 'request.rejected', name, reason);
    if (!next) return { status: 'rejected', message: `cannot ${verb} a rollout that is ${r.phase.kind}`, rollout: r };
    const updated: RolloutView = { ...r, phase: next, revision: r.revision + 1, updatedAt: new Date().toISOString() };
    this.rollouts.set(name, updated);
    this.publish(r.channel);
    return { status: 'applied', message: `${verb} applied`, rollout: updated };
  }

  getChannel(): undefined {
    return undefined;
  }

  getKillSwitch(): KillSwitchState {
    return this.killSwitch;
  }

  /** No policy asks for the two-person rule here. */
  separationFacts(): { distinctFrom: 'none'; applier: null; engager: null } {
    return { distinctFrom: 'none', applier: null, engager: null };
  }

  async setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): Promise<KillSwitchState> {
    this.maybeFail();
    this.killSwitch = { ...next, actor, since: next.engaged ? new Date().toISOString() : null };
    this.addAudit(actor, next.engaged ? 'killswitch.engage' : 'killswitch.disengage', 'global', next.reason);
    for (const ch of new Set([...this.rollouts.values()].map((r) => r.channel))) this.publish(ch);
    return this.killSwitch;
  }

  listAudit(opts: { afterId?: number; limit?: number }): AuditEntryView[] {
    return this.audit.filter((e) => e.id > (opts.afterId ?? 0)).slice(0, opts.limit ?? 100);
  }

  verifyAudit(): ReturnType<ControllerService['verifyAudit']> {
    let prev = '0'.repeat(64);
    for (const e of this.audit) {
      if (e.prevHash !== prev || e.hash !== entryHash(e)) return { ok: false, entries: this.audit.length, brokenAt: e.id, message: 'hash mismatch' };
      prev = e.hash;
    }
    return { ok: true, entries: this.audit.length, head: prev };
  }

  manifest(channel: string): SignedManifest | undefined {
    return this.manifests.get(channel);
  }

  signingKey(): ReturnType<ControllerService['signingKey']> {
    return { algorithm: 'ed25519', keyId: keyId(this.key.publicKey), publicKeyPem: publicKeyPem(this.key.publicKey), publicKey: publicKeyRaw(this.key.publicKey).toString('base64'), rotations: [] };
  }

  ready(): boolean {
    return this.isReady;
  }

  /** Publishes a manifest with the given content (tests of the fast path). */
  publishRaw(channel: string, content: Record<string, unknown>): SignedManifest {
    this.revision++;
    const body = Buffer.from(JSON.stringify({ channel, revision: this.revision, ...content }));
    const m: SignedManifest = { channel, revision: this.revision, body, signature: sign(this.key.privateKey, body), etag: `"r${this.revision}"` };
    this.manifests.set(channel, m);
    return m;
  }

  private publish(channel: string): void {
    const candidates = [...this.rollouts.values()]
      .filter((r) => r.channel === channel)
      .map((r) => ({ rollout: r.name, version: r.version, state: r.phase.kind }));
    this.publishRaw(channel, { candidates, killSwitch: { engaged: this.killSwitch.engaged, mode: this.killSwitch.mode } });
  }

  private addAudit(actor: string, action: string, target: string, reason: string): void {
    const prevHash = this.audit[this.audit.length - 1]?.hash ?? '0'.repeat(64);
    const e: AuditEntryView = { id: this.audit.length + 1, at: new Date().toISOString(), actor, action, target, reason, prevHash, hash: '' };
    e.hash = entryHash(e);
    this.audit.push(e);
  }

  private maybeFail(): void {
    if (this.failWith) throw this.failWith;
  }
}

function entryHash(e: AuditEntryView): string {
  return crypto.createHash('sha256').update(JSON.stringify([e.id, e.actor, e.action, e.target, e.reason, e.prevHash])).digest('hex');
}

function transition(phase: Phase, verb: RequestVerb): Phase | undefined {
  const terminal = phase.kind === 'succeeded' || phase.kind === 'aborted' || phase.kind === 'rolled-back';
  switch (verb) {
    case 'pause':
      return phase.kind === 'progressing' ? { kind: 'paused', from: phase, reason: 'paused' } : undefined;
    case 'resume':
      return phase.kind === 'paused' ? phase.from : undefined;
    case 'approve':
      return phase.kind === 'awaiting-approval' ? { kind: 'progressing', ring: phase.ring, bakeStartedAt: new Date().toISOString() } : undefined;
    case 'abort':
      return terminal ? undefined : { kind: 'aborted', reason: 'aborted' };
    case 'rollback':
      return terminal ? undefined : { kind: 'rolled-back', reason: 'rolled back' };
  }
}
