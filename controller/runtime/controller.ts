/**
 * The reconcile loop: for each rollout, gather facts, call the pure engine, commit the decision (state,
 * transitions, audit, outbox) in one transaction, then run the actions. Actions are idempotent and keyed by
 * rollout, revision and transition number, so a crash at any point resumes without repeating or skipping a ring.
 *
 * All reconciles run one at a time (a promise chain), so API requests, the kill switch and the loop never race.
 */
import * as path from 'node:path';
import { keyId, loadOrCreateSigningKey, publicKeyPem, publicKeyRaw, sign, verifyArtifactSignature, type KeyPair, type TrustedKey } from '../crypto/keys';
import { decide, holdsChannelSlot, isTerminal, ringAwaitingStart } from '../engine/decide';
import type { Facts, KillSwitchState, RequestVerb, RingVerdict, RolloutState, WindowStatus } from '../engine/state';
import { initialState } from '../engine/state';
import { isAllowed } from '../policy/windows';
import type { SpecError } from '../spec/errors';
import type { PolicySpec, Rollout } from '../spec/types';
import { canonicalJson, sha256Hex } from '../store/canonical';
import { Store, type RolloutRecord } from '../store/store';
import { realClock, type Clock } from './clock';
import { engineConfigFor, loadTrustedKeys, policyNameOf } from './config';
import { buildManifestContent, manifestBody, manifestContentHash, type ChannelRollout } from './manifest';
import type { ApplyResult, AuditEntryView, ControllerService, RequestResult, RolloutView, SignedManifest } from './service';
import { rolloutView } from './view';

/** Computes the verdict of a rollout's exposed ring (provider + judge). Returns undefined when none is due. */
export interface Analyzer {
  analyze(rollout: Rollout, state: RolloutState, now: Date): Promise<RingVerdict | undefined>;
}

/** What the runtime reports to telemetry (controller/telemetry implements it). */
export interface RuntimeObserver {
  rolloutPhase(rollout: string, channel: string, phase: string, ring: number): void;
  transition(toPhase: string): void;
  reconcileDuration(seconds: number): void;
  verdict(rollout: string, metric: string, result: string): void;
  verdictLatency(seconds: number): void;
  killSwitch(engaged: boolean): void;
  noDataSeconds(rollout: string, channel: string, ring: number, seconds: number): void;
}

export interface ControllerOptions {
  dataDir: string;
  policiesDir: string;
  trustedKeysFile?: string;
  /** Already loaded policies (tests, simulator); overrides policiesDir. */
  policies?: Map<string, PolicySpec>;
  trustedKeys?: TrustedKey[];
  tickMs?: number;
  clock?: Clock;
  rollbackDrainMs?: number;
  analyzer?: Analyzer;
  observer?: RuntimeObserver;
  log?: (line: string) => void;
}

export class Controller implements ControllerService {
  private readonly manifests = new Map<string, SignedManifest & { contentHash: string }>();
  private chain: Promise<unknown> = Promise.resolve();
  private cancelTimer: (() => void) | null = null;
  private stopped = false;
  private isReady = false;
  private readonly clock: Clock;
  private readonly publicKey: { pem: string; raw: string; id: string };

  private constructor(
    readonly store: Store,
    private readonly key: KeyPair,
    private readonly policies: Map<string, PolicySpec>,
    private readonly trustedKeys: TrustedKey[],
    private readonly opts: ControllerOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.publicKey = { pem: publicKeyPem(key.publicKey), raw: publicKeyRaw(key.publicKey).toString('base64'), id: keyId(key.publicKey) };
  }

  /** Opens the store (migrations), loads keys and policies, replays unfinished actions, publishes manifests. */
  static async open(opts: ControllerOptions): Promise<Controller> {
    const policies = opts.policies ?? (await import('./policies')).loadPolicies(opts.policiesDir);
    const trusted = opts.trustedKeys ?? loadTrustedKeys(opts.trustedKeysFile);
    const key = loadOrCreateSigningKey(opts.dataDir);
    const store = Store.open(path.join(opts.dataDir, 'ringmaster.db'), { now: () => new Date((opts.clock ?? realClock).now()).toISOString() });
    const c = new Controller(store, key, policies, trusted, opts);
    if (key.created) c.log({ msg: 'signing key created', keyId: c.publicKey.id });
    for (const channel of store.listChannels()) {
      const m = store.latestManifest(channel);
      if (m) c.manifests.set(channel, { channel, revision: m.revision, body: m.body, signature: m.signature, etag: `"r${m.revision}"`, contentHash: m.contentHash });
    }
    await c.serial(() => c.runPendingActions());
    await c.reconcileAll();
    c.isReady = true;
    return c;
  }

  /** Starts the periodic reconcile loop. */
  start(): void {
    const tick = this.opts.tickMs ?? 1000;
    const loop = (): void => {
      if (this.stopped) return;
      this.reconcileAll().finally(() => {
        if (!this.stopped) this.cancelTimer = this.clock.setTimer(tick, loop);
      });
    };
    this.cancelTimer = this.clock.setTimer(tick, loop);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    await this.chain.catch(() => undefined);
    this.store.close();
  }

  ready(): boolean {
    return this.isReady && !this.stopped;
  }

  private log(fields: Record<string, unknown>): void {
    this.opts.log?.(JSON.stringify({ at: new Date(this.clock.now()).toISOString(), ...fields }));
  }

  /** Runs fn after every previously queued reconcile. */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  // ------------------------------------------------------------------------------------------ reconcile

  /** One pass over every non-terminal rollout, in creation order. */
  reconcileAll(): Promise<void> {
    return this.serial(async () => {
      const started = process.hrtime.bigint();
      for (const rec of this.store.listRollouts({ activeOnly: true })) {
        try {
          await this.reconcileOne(rec.name);
        } catch (err) {
          this.log({ level: 'error', msg: 'reconcile failed', rollout: rec.name, error: (err as Error).message, stack: (err as Error).stack });
        }
      }
      this.publishAll('controller');
      this.opts.observer?.killSwitch(this.store.getKillSwitch().engaged);
      this.opts.observer?.reconcileDuration(Number(process.hrtime.bigint() - started) / 1e9);
    });
  }

  private async reconcileOne(name: string): Promise<void> {
    const before = this.store.getRollout(name);
    if (!before || isTerminal(before.state.phase)) return;
    // Analysis is I/O (Prometheus): run it first, then decide on the freshest stored state.
    const nowMs = this.clock.now();
    let verdict: RingVerdict | undefined;
    if (this.opts.analyzer && before.state.exposedRing >= 0) {
      verdict = await this.opts.analyzer.analyze(before.spec, before.state, new Date(nowMs));
    }
    const rec = this.store.getRollout(name);
    if (!rec) return;
    if (verdict && verdict.ring !== rec.state.exposedRing) verdict = undefined;
    const policy = this.policies.get(rec.policy);
    const facts: Facts = {
      now: new Date(nowMs).toISOString(),
      window: this.windowFact(rec, policy, nowMs),
      channelSlot: this.channelSlot(rec, policy),
      requests: this.store.pendingRequests(name),
      killSwitch: this.store.getKillSwitch(),
    };
    if (verdict) facts.verdict = verdict;
    const config = engineConfigFor(rec.spec, this.opts.rollbackDrainMs === undefined ? {} : { rollbackDrainMs: this.opts.rollbackDrainMs });
    const d = decide(rec.state, facts, config);
    if (verdict) this.observeVerdict(rec, verdict, nowMs);
    const unchanged = d.transitions.length === 0 && d.requestOutcomes.length === 0 && JSON.stringify(d.state) === JSON.stringify(rec.state);
    if (unchanged) return;
    const revision = rec.revision + 1;
    const audit = d.transitions.map((t) => ({
      actor: t.actor,
      action: 'rollout.transition',
      target: name,
      reason: t.reason,
      payload: { n: t.n, from: t.from, to: t.to, exposedRing: t.exposedRing, revision },
    }));
    for (const o of d.requestOutcomes) {
      const req = facts.requests.find((r) => r.id === o.id);
      audit.push({
        actor: req?.actor ?? 'controller',
        action: o.applied ? 'request.applied' : 'request.rejected',
        target: name,
        reason: o.message,
        payload: { n: d.state.transitions, from: rec.state.phase.kind, to: d.state.phase.kind, exposedRing: d.state.exposedRing, revision },
      });
    }
    const lastN = d.transitions[d.transitions.length - 1]?.n ?? d.state.transitions;
    const actions = d.actions.map((a, i) => ({ key: `${name}:${revision}:${lastN}:${i}`, kind: a.kind, payload: { ...a, channel: rec.channel, rollout: name } }));
    this.store.commitDecision({ name, expectedRevision: rec.revision, state: d.state, transitions: d.transitions, audit, actions, requestOutcomes: d.requestOutcomes });
    for (const t of d.transitions) {
      this.opts.observer?.transition(t.to);
      this.log({ level: t.to === 'halted' || t.to === 'rolling-back' ? 'warn' : 'info', msg: 'transition', rollout: name, n: t.n, from: t.from, to: t.to, ring: t.exposedRing, reason: t.reason, actor: t.actor });
    }
    this.opts.observer?.rolloutPhase(name, rec.channel, d.state.phase.kind, d.state.exposedRing);
    // Only now, after the commit, do the actions run.
    this.runPendingActions();
  }

  private observeVerdict(rec: RolloutRecord, v: RingVerdict, nowMs: number): void {
    const obs = this.opts.observer;
    if (!obs) return;
    for (const m of v.metrics as Array<{ metric?: string; result?: string }>) {
      if (m && typeof m.metric === 'string' && typeof m.result === 'string') obs.verdict(rec.name, m.metric, m.result);
    }
    const started = rec.state.ringStartedAt ? Date.parse(rec.state.ringStartedAt) : nowMs;
    if (v.result === 'pass' || v.result === 'fail') {
      if (rec.state.lastVerdict === null || rec.state.lastVerdict.result === 'inconclusive' || rec.state.lastVerdict.ring !== v.ring) {
        obs.verdictLatency((nowMs - started) / 1000);
      }
    }
    const noDataSince = rec.state.noDataSince;
    obs.noDataSeconds(rec.name, rec.channel, v.ring, v.noData || v.result === 'error' ? (noDataSince ? (nowMs - Date.parse(noDataSince)) / 1000 : 0) : 0);
  }

  private windowFact(rec: RolloutRecord, policy: PolicySpec | undefined, nowMs: number): WindowStatus {
    const ring = ringAwaitingStart(rec.state);
    if (ring === undefined) return { allowed: true };
    if (policy === undefined) return { allowed: false, reasons: [{ kind: 'invalid-policy', message: `policy "${rec.policy}" is not loaded` }] };
    const spec = rec.spec.spec.rings[ring];
    const bakeMs = spec ? engineConfigFor(rec.spec).rings[ring]?.bakeMs ?? 0 : 0;
    const a = isAllowed(policy, new Date(nowMs), 'ring-start', { bakeMs });
    return a.allowed ? a : { allowed: false, reasons: a.reasons.map((r) => ({ kind: r.kind, message: r.message })) };
  }

  /** FIFO per channel: a pending rollout may start when fewer than the limit hold slots and none older waits. */
  private channelSlot(rec: RolloutRecord, policy: PolicySpec | undefined): Facts['channelSlot'] {
    if (rec.state.phase.kind !== 'pending') return { free: true };
    const limit = policy?.maxConcurrentRolloutsPerChannel ?? 1;
    const others = this.store.listRollouts({ channel: rec.channel, activeOnly: true }).filter((r) => r.name !== rec.name);
    const holders = others.filter((r) => holdsChannelSlot(r.state.phase));
    if (holders.length >= limit) {
      return { free: false, reason: `waiting for ${holders.map((h) => h.name).join(', ')} on channel ${rec.channel} (maxConcurrentRolloutsPerChannel ${limit})` };
    }
    const olderPending = others.find((r) => r.state.phase.kind === 'pending' && r.seq < rec.seq);
    if (olderPending) return { free: false, reason: `queued behind ${olderPending.name} on channel ${rec.channel}` };
    return { free: true };
  }

  // ------------------------------------------------------------------------------------------ actions

  /** Runs every committed, unfinished action (after a commit, and after a restart). Idempotent. */
  private runPendingActions(): void {
    for (const a of this.store.pendingActions()) {
      const payload = a.payload as { kind?: string; channel?: string; message?: string; severity?: string };
      if (a.kind === 'publish-manifest' && payload.channel) this.publishChannel(payload.channel, 'controller');
      else if (a.kind === 'notify') this.log({ level: payload.severity === 'critical' ? 'warn' : 'info', msg: 'notify', rollout: a.rollout, message: payload.message });
      this.store.markActionDone(a.key);
    }
  }

  private publishAll(actor: string): void {
    const channels = new Set([...this.store.listChannels(), ...this.store.listRollouts().map((r) => r.channel)]);
    for (const ch of channels) this.publishChannel(ch, actor);
  }

  /** Rebuilds the channel manifest; a new revision only when its content changed. */
  private publishChannel(channel: string, actor: string): void {
    const rollouts: ChannelRollout[] = this.store
      .listRollouts({ channel })
      .map((r) => ({ name: r.name, spec: r.spec, state: r.state, seq: r.seq, updatedAt: r.updatedAt }));
    const content = buildManifestContent(channel, rollouts, (ro) => this.policies.get(policyNameOf(ro)), this.store.getKillSwitch());
    const contentHash = manifestContentHash(content);
    if (this.manifests.get(channel)?.contentHash === contentHash) return;
    const { manifest } = this.store.publishManifest(
      channel,
      (revision) => {
        const body = manifestBody(content, revision);
        return { body, signature: sign(this.key.privateKey, body), contentHash };
      },
      actor,
    );
    this.manifests.set(channel, {
      channel,
      revision: manifest.revision,
      body: manifest.body,
      signature: manifest.signature,
      etag: `"r${manifest.revision}"`,
      contentHash: manifest.contentHash,
    });
  }

  // ------------------------------------------------------------------------------------------ service

  async applyRollout(rollout: Rollout, actor: string): Promise<ApplyResult> {
    const policyName = policyNameOf(rollout);
    const policy = this.policies.get(policyName);
    if (!policy) {
      const known = [...this.policies.keys()].join(', ') || 'none';
      return { status: 'invalid', errors: [specError('spec.policy', `unknown policy "${policyName}" (loaded: ${known})`)] };
    }
    if (policy.requireSignedArtifacts ?? true) {
      const check = verifyArtifactSignature(rollout.spec.artifact, this.trustedKeys);
      if (!check.ok) return { status: 'invalid', errors: [specError(check.field, check.message)] };
    }
    const specHash = sha256Hex(canonicalJson(rollout));
    return this.serial(async () => {
      const res = this.store.insertRollout({
        name: rollout.metadata.name,
        channel: rollout.spec.channel,
        spec: rollout,
        specHash,
        policy: policyName,
        state: initialState(),
        actor,
        reason: `apply ${rollout.spec.channel} ${rollout.spec.version}`,
      });
      if (res.status === 'conflict') {
        return { status: 'conflict' as const, message: `rollout "${rollout.metadata.name}" already exists with a different spec; rollouts are immutable, use a new name` };
      }
      if (res.status === 'created') {
        this.log({ level: 'info', msg: 'rollout created', rollout: rollout.metadata.name, actor });
        await this.reconcileOne(rollout.metadata.name);
        this.publishAll(actor);
      }
      return { status: res.status, rollout: this.view(this.store.getRollout(rollout.metadata.name) ?? res.record) };
    });
  }

  listRollouts(): RolloutView[] {
    return this.store.listRollouts().map((r) => this.view(r));
  }

  getRollout(name: string): RolloutView | undefined {
    const r = this.store.getRollout(name);
    return r ? this.view(r) : undefined;
  }

  private view(r: RolloutRecord): RolloutView {
    return rolloutView(r, this.store.listTransitions(r.name), this.store.getKillSwitch());
  }

  request(name: string, verb: RequestVerb, actor: string, reason: string): Promise<RequestResult> {
    return this.serial(async () => {
      if (!this.store.getRollout(name)) return { status: 'not-found' as const };
      const id = this.store.addRequest({ rollout: name, verb, actor, reason });
      await this.reconcileOne(name);
      this.publishAll(actor);
      const outcome = this.store.getRequest(id);
      const rollout = this.view(this.store.getRollout(name) as RolloutRecord);
      if (outcome?.applied) return { status: 'applied' as const, message: outcome.message ?? 'applied', rollout };
      return { status: 'rejected' as const, message: outcome?.message ?? 'not applied', rollout };
    });
  }

  getKillSwitch(): KillSwitchState {
    return this.store.getKillSwitch();
  }

  async setKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): Promise<KillSwitchState> {
    const state = await this.serial(() => this.store.setKillSwitch(next, actor));
    this.log({ level: 'warn', msg: next.engaged ? 'kill switch engaged' : 'kill switch disengaged', mode: next.mode, actor, reason: next.reason });
    await this.reconcileAll();
    return state;
  }

  listAudit(opts: { afterId?: number; limit?: number }): AuditEntryView[] {
    return this.store.listAudit(opts);
  }

  verifyAudit(): ReturnType<ControllerService['verifyAudit']> {
    return this.store.verifyAudit();
  }

  manifest(channel: string): SignedManifest | undefined {
    return this.manifests.get(channel);
  }

  signingKey(): { algorithm: 'ed25519'; keyId: string; publicKeyPem: string; publicKey: string } {
    return { algorithm: 'ed25519', keyId: this.publicKey.id, publicKeyPem: this.publicKey.pem, publicKey: this.publicKey.raw };
  }
}

function specError(pathText: string, message: string): SpecError {
  return { file: 'request', line: 0, col: 0, path: pathText, message };
}

