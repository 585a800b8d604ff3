/**
 * The Service facade that the HTTP API (and the simulator) call. Every human verb (apply, pause, resume,
 * approve, abort, rollback, the kill switch) is committed, decided and reflected in every affected manifest
 * synchronously: it never waits for a reconcile pass or a metrics query, so it answers in milliseconds whatever
 * Prometheus is doing.
 */
import { verifyArtifactSignature, type TrustedKey } from '../crypto/keys';
import { lineageAtApply, supersedePlan, undoPlan } from '../engine/scheduling';
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
import { ServiceClosedError, type ApplyResult, type AuditEntryView, type ChannelView, type ControllerService, type RequestResult, type RolloutView, type SignedManifest, type UndoResult } from './service';
import { rolloutView } from './view';
import type { Notifier } from './notifications';
import { breakGlassEvents, killSwitchEvents } from '../engine/events';
import { archiveDecision } from '../engine/archive';
import { missingPolicyProblems } from '../policy/reload';
import { InputError } from '../spec/errors';
import type { Policy } from '../spec/types';
import { loadPolicyFiles, type PolicySet, type PolicyView } from './policies';
import type { ArchiveResult, PolicyApplyResult, PolicyReloadResult, SeparationFacts } from './service';

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
  /** Files and API-applied policies behind `policies` (runtime/policies.ts); absent: the policies never change. */
  policySet?: PolicySet;
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

  supersede(rollout: Rollout, actor: string): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    return Promise.resolve(this.apply(rollout, actor, { supersede: true }));
  }

  /**
   * `undo`: a new rollout whose version is the earlier stable VERSION and whose previousVersion is the channel's stable
   * version now, with VERSION's artifact as recorded (its url, sha256 and signature, checked again like any apply) and
   * the rings, analysis, policy and rollback of the rollout of the current stable version. It goes through the rings
   * like any rollout, and becomes the stable version when it succeeds.
   */
  undo(channel: string, to: string, actor: string, reason: string): Promise<UndoResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store } = this.parts;
    const rec = store.getChannel(channel);
    const plan = undoPlan(channel, to, rec ? { stableVersion: rec.stable.version, stableRollout: rec.stable.rollout, history: rec.history } : null, this.parts.facts.inFlight(channel));
    if (!plan.ok) return Promise.resolve({ status: 'refused', code: plan.status, message: plan.message });
    const from = rec?.stable.version as string;
    const source = store.getRollout(plan.artifactFrom.rollout);
    const artifact = source?.spec.spec[plan.artifactFrom.field];
    if (!source || artifact === undefined) {
      return Promise.resolve({ status: 'refused', code: 409, message: `channel ${channel} records no artifact for ${to} (${plan.artifactFrom.rollout} set no ${plan.artifactFrom.field}); apply a rollout of it by hand` });
    }
    const ringsFrom = (plan.ringsFrom === null ? undefined : store.getRollout(plan.ringsFrom)) ?? source;
    const { previousArtifact: _dropped, ...base } = ringsFrom.spec.spec;
    const name = undoName(channel, to, (n) => store.getRollout(n) !== undefined);
    const doc: Rollout = {
      apiVersion: ringsFrom.spec.apiVersion,
      kind: ringsFrom.spec.kind,
      metadata: { name, annotations: { 'ringmaster.dev/undo-of': from, 'ringmaster.dev/undo-to': to, 'ringmaster.dev/undo-rings-from': ringsFrom.name, 'ringmaster.dev/undo-artifact-from': source.name } },
      spec: { ...base, version: to, previousVersion: from, artifact: { ...artifact } },
    };
    const res = store.transaction(() => {
      const r = this.apply(doc, actor, { reason: `undo ${channel} from ${from} to ${to}` });
      if (r.status === 'created') store.appendAudit({ actor, action: 'channel.undo', target: channel, reason, payload: { rollout: name, from, to, artifactFrom: source.name, ringsFrom: ringsFrom.name } });
      return r;
    });
    switch (res.status) {
      case 'created':
        return Promise.resolve({ status: 'created', rollout: res.rollout, undo: { channel, from, to, artifactFrom: source.name, ringsFrom: ringsFrom.name } });
      case 'unchanged':
      case 'conflict':
        return Promise.resolve({ status: 'refused', code: 409, message: res.status === 'conflict' ? res.message : `rollout ${name} exists already` });
      case 'invalid':
        return Promise.resolve({ status: 'invalid', errors: res.errors });
      default: {
        const _never: never = res;
        throw new Error(`unknown apply status ${String(_never)}`);
      }
    }
  }

  checkApply(rollout: Rollout, actor: string): Promise<ApplyResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    return Promise.resolve(this.apply(rollout, actor, { dryRun: true }));
  }

  /** `dryRun`: every check, the same answer, nothing written (the view is of the rollout as it would be created). */
  private apply(rollout: Rollout, actor: string, opts: { supersede?: boolean; reason?: string; dryRun?: boolean } = {}): ApplyResult {
    const { store } = this.parts;
    const checked = checkForApply(rollout, this.parts);
    if (!checked.ok) return { status: 'invalid', errors: checked.errors };
    const policyName = checked.policy;
    const name = rollout.metadata.name;
    const specHash = sha256Hex(canonicalJson(rollout));
    const existing = store.getRollout(name);
    if (existing?.archivedAt !== undefined) {
      return { status: 'conflict', message: `rollout "${name}" was deleted (archived) at ${existing.archivedAt}; a name is never reused (its record and audit stay): apply it under a new metadata.name` };
    }
    if (existing) {
      if (existing.specHash === specHash) return { status: 'unchanged', rollout: this.view(existing) };
      return { status: 'conflict', message: `rollout "${name}" already exists with a different spec; rollouts are immutable, use a new name` };
    }
    const { channel, version, previousVersion } = rollout.spec;
    const inFlight = this.parts.facts.inFlight(channel);
    let withdraw: string[] = [];
    if (opts.supersede === true) {
      const plan = supersedePlan(channel, version, previousVersion, store.lineage(channel), inFlight);
      if (!plan.ok) return { status: 'conflict', message: plan.message };
      withdraw = plan.withdraw;
    }
    const lineage = lineageAtApply(channel, version, previousVersion, store.lineage(channel), inFlight);
    if (!lineage.ok) return { status: 'conflict', message: lineage.message };
    const seed = this.previousArtifactSeed(rollout);
    if (!seed.ok) return { status: 'invalid', errors: [specError('spec.previousArtifact.sha256', seed.message)] };
    if (opts.dryRun === true) {
      const at = new Date().toISOString();
      const record: RolloutRecord = { name, channel, seq: 0, spec: rollout, specHash, policy: policyName, state: initialState(), revision: 0, createdAt: at, updatedAt: at };
      return { status: 'created', rollout: rolloutView(record, [], store.getKillSwitch(), this.parts.facts.engineConfig(record).analysisEnabled) };
    }
    const res = store.transaction(() => {
      // apply --supersede, one act: the old candidates are withdrawn (each decided at once: its rollback begins), then
      // the new rollout is accepted; it waits in pending while they drain, since a rollback holds the channel's slot.
      for (const old of withdraw) {
        store.addRequest({ rollout: old, verb: 'supersede', actor, reason: `${name} (${version}) replaces it` });
        this.parts.reconciler.decideNow(old);
      }
      const r = store.insertRollout({ name, channel, spec: rollout, specHash, policy: policyName, state: initialState(), actor, reason: opts.reason ?? `apply ${channel} ${version}` });
      if (r.status === 'created' && opts.supersede === true) {
        store.appendAudit({ actor, action: 'rollout.supersede', target: name, reason: withdraw.length > 0 ? `${name} (${version}) supersedes ${withdraw.join(', ')}` : `${name} (${version}): nothing in flight on ${channel} to supersede`, payload: { channel, version, superseded: withdraw } });
      }
      if (r.status === 'created') {
        if (seed.artifact && previousVersion !== undefined) store.seedStableArtifact(channel, previousVersion, seed.artifact, name, actor);
        this.parts.reconciler.decideNow(name);
        this.parts.publisher.publish(channel, actor);
      }
      return r;
    });
    if (res.status === 'conflict') return { status: 'conflict', message: `rollout "${name}" already exists with a different spec; rollouts are immutable, use a new name` };
    if (res.status === 'created') this.parts.log.info({ rollout: name, channel, version, actor, ...(opts.supersede === true ? { superseded: withdraw } : {}) }, 'rollout created');
    const view = this.view(store.getRollout(name) ?? res.record);
    return res.status === 'created' && opts.supersede === true ? { status: res.status, rollout: view, superseded: withdraw } : { status: res.status, rollout: view };
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

  listRollouts(opts: { archived?: boolean } = {}): RolloutView[] {
    const ks = this.parts.store.getKillSwitch();
    const all = this.parts.store.listRollouts();
    return (opts.archived ? all : all.filter((r) => r.archivedAt === undefined)).map((r) => this.view(r, ks));
  }

  getRollout(name: string): RolloutView | undefined {
    // The verb routes read the rollout before they act (the two-person rule): once stopped, that is a clean 503 too.
    if (this.closed) throw new ServiceClosedError();
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
    return Promise.resolve({ status: 'rejected' as const, message: outcome?.message ?? `${name} is ${rollout.phase.kind}; the request is recorded and the next pass decides it`, rollout });
  }

  getKillSwitch(): KillSwitchState {
    return this.parts.store.getKillSwitch();
  }

  archiveRollout(name: string, actor: string, reason: string): Promise<ArchiveResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store, log } = this.parts;
    const archive = store.archiveRollout?.bind(store);
    if (!archive) return Promise.resolve({ status: 'rejected' as const, message: 'this controller cannot archive rollouts' });
    const result = store.transaction((): ArchiveResult => {
      const rec = store.getRollout(name);
      if (!rec) return { status: 'not-found' };
      const d = archiveDecision(rec.state.phase, rec.archivedAt);
      if (!d.ok) return { status: 'rejected', message: d.message };
      archive(name, actor, reason);
      return { status: 'archived', rollout: this.view(store.getRollout(name) as RolloutRecord) };
    });
    if (result.status === 'archived') log.info({ rollout: name, actor }, 'rollout archived');
    return Promise.resolve(result);
  }

  // ---------------------------------------------------------------------------------------- policies

  listPolicies(): PolicyView[] {
    const set = this.parts.policySet;
    if (set) return set.views();
    return [...this.parts.policies].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, spec]) => ({ name, source: 'file' as const, file: null, appliedBy: null, appliedAt: null, spec }));
  }

  /** Stored, audited, in force, and decided for every unfinished rollout before the answer (like the kill switch). */
  applyPolicy(policy: Policy, actor: string, opts: { dryRun?: boolean } = {}): Promise<PolicyApplyResult> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store, policySet: set } = this.parts;
    const put = store.putPolicy?.bind(store);
    if (!set || !put) return Promise.resolve({ status: 'conflict' as const, message: 'this controller takes no policies through the API (its policies are given in-process)' });
    const name = policy.metadata.name;
    const specHash = sha256Hex(canonicalJson(policy.spec));
    const current = this.parts.policies.get(name);
    const viewOf = (): PolicyView => set.views().find((v) => v.name === name) as PolicyView;
    if (current !== undefined && sha256Hex(canonicalJson(current)) === specHash) return Promise.resolve({ status: 'unchanged' as const, policy: viewOf(), dryRun: opts.dryRun === true });
    const status = current === undefined ? ('created' as const) : ('configured' as const);
    if (opts.dryRun) {
      const file = set.views().find((v) => v.name === name)?.file ?? null;
      return Promise.resolve({ status, dryRun: true, policy: { name, source: 'api' as const, file, appliedBy: actor, appliedAt: null, spec: policy.spec } });
    }
    store.transaction(() => {
      const r = put({ name, spec: policy.spec, specHash, actor, reason: `apply policy ${name} via API (${status})` });
      set.putApi(r.policy);
      this.policiesChanged(actor);
    });
    this.parts.log.warn({ policy: name, actor, status }, `policy ${name} ${status} via the API`);
    return Promise.resolve({ status, policy: viewOf(), dryRun: false });
  }

  deletePolicy(name: string, actor: string, reason: string): ReturnType<NonNullable<ControllerService['deletePolicy']>> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store, policySet: set } = this.parts;
    const del = store.deleteStoredPolicy?.bind(store);
    if (!set || !del || !set.hasApi(name)) {
      const why = this.parts.policies.has(name) ? ` (policy "${name}" comes from a file: edit the file, then send SIGHUP to ringmaster serve)` : '';
      return Promise.resolve({ status: 'not-found' as const, message: `no API-applied policy named "${name}"${why}` });
    }
    const problems = missingPolicyProblems(set.namesWith({ remove: name }), this.unfinished());
    if (problems.length > 0) return Promise.resolve({ status: 'conflict' as const, message: `delete refused: ${problems.join('; ')}` });
    store.transaction(() => {
      del(name, actor, reason);
      set.removeApi(name);
      this.policiesChanged(actor);
    });
    this.parts.log.warn({ policy: name, actor }, `API-applied policy ${name} deleted`);
    return Promise.resolve({ status: 'deleted' as const, policies: set.views() });
  }

  /**
   * Re-reads the --policies directory (SIGHUP): validated with the one loader; a directory with a mistake, or one
   * that drops a policy an unfinished rollout uses, is refused and the old policies stay in force. Both audited.
   */
  reloadPolicies(actor: string): PolicyReloadResult {
    const { store, policySet: set, log } = this.parts;
    const refuse = (lines: string[]): PolicyReloadResult => {
      const first = lines[0] ?? 'refused';
      const more = lines.length > 1 ? ` (and ${lines.length - 1} more problem${lines.length === 2 ? '' : 's'})` : '';
      if (!this.closed) store.appendAudit({ actor, action: 'policy.reload-refused', target: 'policies', reason: `${first}${more}`.slice(0, 1000), payload: { problems: lines.slice(0, 20) } });
      log.error({ actor, problems: lines.slice(0, 20) }, `policy reload refused, the old policies stay in force: ${first}${more}`);
      return { ok: false, lines };
    };
    if (this.closed) return { ok: false, lines: ['the controller is shutting down'] };
    if (!set || set.dir === undefined) return refuse(['this controller was given its policies in-process; there is no --policies directory to re-read']);
    let files: ReturnType<typeof loadPolicyFiles>;
    try {
      files = loadPolicyFiles(set.dir);
    } catch (err) {
      if (err instanceof InputError) return refuse(err.lines);
      throw err;
    }
    const problems = missingPolicyProblems(set.namesWith({ files }), this.unfinished());
    if (problems.length > 0) return refuse(problems.map((p) => `${set.dir}: ${p}`));
    const before = new Map([...set.fileSpecs()].map(([name, f]) => [name, sha256Hex(canonicalJson(f.spec))]));
    const added: string[] = [];
    const changed: string[] = [];
    for (const [name, f] of files) {
      const h = before.get(name);
      if (h === undefined) added.push(name);
      else if (h !== sha256Hex(canonicalJson(f.spec))) changed.push(name);
    }
    const removed = [...before.keys()].filter((n) => !files.has(n));
    const shadowed = [...files.keys()].filter((n) => set.hasApi(n));
    store.transaction(() => {
      set.replaceFiles(files);
      const summary = `re-read ${set.dir}: ${files.size} polic${files.size === 1 ? 'y' : 'ies'} (added ${added.join(', ') || 'none'}; changed ${changed.join(', ') || 'none'}; removed ${removed.join(', ') || 'none'})`;
      store.appendAudit({ actor, action: 'policy.reload', target: 'policies', reason: summary, payload: { dir: set.dir, added, changed, removed, apiOverrides: shadowed } });
      this.policiesChanged(actor);
    });
    log.warn({ actor, dir: set.dir, added, changed, removed, apiOverrides: shadowed }, 'policies reloaded');
    return { ok: true, policies: [...set.live.keys()].sort(), added, changed, removed };
  }

  private unfinished(): Array<{ name: string; policy: string }> {
    return this.parts.store.listRollouts({ activeOnly: true }).map((r) => ({ name: r.name, policy: r.policy }));
  }

  /** In the caller's transaction: every unfinished rollout decides on the new policies now, and manifests follow. */
  private policiesChanged(actor: string): void {
    this.parts.reconciler.decideEach(this.unfinished().map((r) => r.name));
    this.parts.publisher.publishAll(actor);
  }

  /** Persisted and audited, then every in-flight rollout decides on it and every manifest shows it: all before the answer. */
  setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string, opts: { breakGlass?: boolean } = {}): Promise<KillSwitchState> {
    if (this.closed) return Promise.reject(new ServiceClosedError());
    const { store, reconciler, publisher, log } = this.parts;
    // One transaction: the switch and every rollout's decision on it commit together (one fsync, not one each).
    const state = store.transaction(() => {
      const prev = store.getKillSwitch();
      const ks = store.setKillSwitch(next, actor);
      // In this transaction: the event exists iff the switch moved.
      const nowMs = Date.now();
      this.parts.notifier?.enqueue(killSwitchEvents(prev, ks, ks.since ?? new Date(nowMs).toISOString()), nowMs);
      if (opts.breakGlass === true) this.parts.notifier?.enqueue(breakGlassEvents(ks, new Date(nowMs).toISOString()), nowMs);
      reconciler.decideEach(store.listRollouts({ activeOnly: true }).map((r) => r.name));
      publisher.publishAll(actor);
      return ks;
    });
    log.warn({ engaged: next.engaged, mode: next.mode, actor, reason: next.reason }, next.engaged ? 'kill switch engaged' : 'kill switch released');
    return Promise.resolve(state);
  }

  separationFacts(rollout?: string): SeparationFacts | undefined {
    if (this.closed) throw new ServiceClosedError();
    const { store, policies } = this.parts;
    const ks = store.getKillSwitch();
    const engager = ks.engaged ? ks.actor : null;
    const ruleOf = (r: RolloutRecord): SeparationFacts['distinctFrom'] => policies.get(r.policy)?.approvals?.distinctFrom ?? 'none';
    if (rollout === undefined) {
      const on = store.listRollouts({ activeOnly: true }).some((r) => ruleOf(r) === 'applier');
      return { distinctFrom: on ? 'applier' : 'none', applier: null, engager };
    }
    const r = store.getRollout(rollout);
    if (!r) return undefined;
    return { distinctFrom: ruleOf(r), applier: store.applierOf?.(rollout) ?? null, engager };
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

/** The name of an undo rollout: `CHANNEL-undo-VERSION`, then `-2`, `-3`... when taken (a valid rollout name). */
export function undoName(channel: string, to: string, taken: (name: string) => boolean): string {
  const base = `${channel}-undo-${to.toLowerCase().replace(/[^a-z0-9.-]/g, '-')}`.slice(0, 240).replace(/[-.]+$/, '');
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (!taken(name)) return name;
  }
}
