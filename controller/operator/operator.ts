/**
 * `ringmaster operator`: Ringmaster in Kubernetes. Not a second controller: the same Reconciler, the same engine
 * `decide`, the same FactSource, ActionRunner and Service facade run over one more Store (ClusterStore, a mirror of
 * Rollout status fed by informers), fed by a work queue instead of a timer.
 *
 *   informers      Rollouts (all or listed namespaces), the operator's ConfigMaps and Policies -> the mirror
 *   work queue     one key per Rollout (its name), deduplicated, requeued with backoff on errors and every tick
 *   leader         a Lease (lease.ts); only the leader accepts, decides and writes; every replica serves
 *   flush          after a decision: status by merge-patch (resourceVersion precondition, 409 -> re-read and
 *                  decide again), then the channel ConfigMaps, then Events, then the status outbox is cleared
 *   manifests      every replica signs the channel content with the kill switch it sees (manifests.ts)
 *
 * A Rollout is accepted once: the spec it runs is kept in status.acceptedSpec. A spec changed afterwards is
 * rejected with the condition Accepted=False (reason SpecChangeRejected) and the accepted spec keeps running:
 * rollouts are immutable, as `ringmaster serve` answers 409 to a changed apply (docs/kubernetes.md).
 * Deleting a Rollout in flight aborts it, withdraws its candidate from the channel's manifest, records the version
 * as aborted in the lineage, and only then releases the finalizer.
 */
import * as crypto from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { keyId, publicKeyPem, publicKeyRaw, type KeyPair } from '../crypto/keys';
import { TERMINAL_PHASES, type KillSwitchState } from '../engine/state';
import { SERVE_DEFAULTS } from '../config/serve';
import { EMPTY_ALLOWLIST, type PreflightAllowlist } from '../content/allowlist';
import type { TrustedKey } from '../crypto/keys';
import { realClock, type Clock } from '../runtime/clock';
import { policyNameOf } from '../runtime/config';
import { Service } from '../runtime/facade';
import { FactSource } from '../runtime/facts';
import { ActionRunner } from '../runtime/outbox';
import { PreflightRunner } from '../runtime/preflight';
import { Reconciler } from '../runtime/reconciler';
import type { Analyzer, CensusSource, RuntimeObserver } from '../runtime/types';
import { DEFAULT_MANIFEST_REISSUE_MS } from '../runtime/publisher';
import { durationMs } from '../spec/duration';
import { validatePolicyObject } from '../spec/load';
import type { PolicySpec } from '../spec/types';
import type { AuditInput } from '../store/types';
import { silentLogger, type Logger } from '../telemetry/log';
import { ClusterStore, emptyChannelDoc, type ChannelDoc, type RolloutEntry } from './cluster-store';
import {
  API_VERSION,
  clientNodeClusterApi,
  configMapSource,
  describeKubeError,
  FINALIZER,
  KILLSWITCH_CONFIGMAP,
  KubeConflictError,
  LEASE_NAME,
  MANAGED_LABELS,
  policySource,
  REQUEST_ANNOTATION_PREFIX,
  RestartingInformer,
  rolloutSources,
  type ClusterApi,
  type KubeObject,
} from './kube';
import { clientNodeLeaseApi, LeaderElector, type LeaseApi } from './lease';
import { channelConfigMap, channelConfigMapName, channelContent, channelDocFromConfigMap, nextChannelManifest, ReplicaManifests } from './manifests';
import { WorkQueue, runWorkers } from './queue';
import { entryFromObject, errorLines, rolloutDocOf, statusOf, type Condition, type Rejection } from './status';

export interface OperatorOptions {
  kubeConfig: k8s.KubeConfig;
  /** The operator's namespace: its Lease, ConfigMaps and Policies, and where the API creates Rollouts. */
  namespace: string;
  /** Namespaces whose Rollouts it runs; empty: all. */
  watchNamespaces?: string[];
  /** This replica's name in the Lease (the pod name). */
  identity: string;
  signingKey: KeyPair;
  /** Policies from files (`--policies`); Policy objects of the operator's namespace override them by name. */
  policies?: Map<string, PolicySpec>;
  trustedKeys?: TrustedKey[];
  leaseDurationMs?: number;
  renewPeriodMs?: number;
  /** How often each in-flight Rollout is reconciled again (level-triggered). Default the serve tick. */
  tickMs?: number;
  rollbackDrainMs?: number;
  manifestReissueMs?: number;
  analyzer?: Analyzer;
  census?: CensusSource;
  observer?: RuntimeObserver;
  preflightAllowlist?: PreflightAllowlist;
  log?: Logger;
  clock?: Clock;
  /** Where the verdict deadline is set (ReconcilerOptions). */
  analysisDeadlineMs?: number;
  /** Injected for tests (default: client-node over kubeConfig). */
  api?: ClusterApi;
  leaseApi?: LeaseApi;
  /** Each audit entry this replica records (the optional SQLite audit file; `ringmaster operator --audit-db`). */
  auditSink?: (entry: AuditInput) => void;
  workers?: number;
}

/** How long the API waits for the leader to answer a request it wrote as an annotation. */
const REQUEST_ANSWER_MS = 5_000;

export class Operator {
  readonly store: ClusterStore;
  readonly manifests: ReplicaManifests;
  readonly policies: Map<string, PolicySpec>;
  readonly api: ClusterApi;
  readonly service: Service;
  readonly elector: LeaderElector;
  readonly namespace: string;
  private readonly filePolicies: Map<string, PolicySpec>;
  private readonly reconciler: Reconciler;
  private readonly facts: FactSource;
  private readonly queue: WorkQueue<string>;
  private readonly informers: Array<RestartingInformer<KubeObject>> = [];
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly reissueMs: number;
  private readonly preflight: PreflightRunner;
  private readonly rejections = new Map<string, Rejection>();
  private readonly lastStatus = new Map<string, Record<string, unknown>>();
  /** The latest Rollout object of each name (from the informers), and the generation whose spec was last compared. */
  private readonly objects = new Map<string, KubeObject>();
  private readonly checkedGeneration = new Map<string, number>();
  private leading = false;
  private synced = false;
  private stopped = false;
  private workers: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private mutex: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<() => void>();
  /** Counters the tests and /metrics read. */
  readonly stats = { statusConflicts: 0, statusWrites: 0, channelWrites: 0, events: 0 };

  constructor(private readonly opts: OperatorOptions) {
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? realClock;
    this.namespace = opts.namespace;
    this.tickMs = opts.tickMs ?? durationMs(SERVE_DEFAULTS.tick);
    this.reissueMs = opts.manifestReissueMs ?? DEFAULT_MANIFEST_REISSUE_MS;
    this.api = opts.api ?? clientNodeClusterApi(opts.kubeConfig);
    this.store = new ClusterStore(() => new Date(this.clock.now()).toISOString());
    this.filePolicies = new Map(opts.policies ?? []);
    this.policies = new Map(this.filePolicies);
    this.manifests = new ReplicaManifests(this.store, opts.signingKey, (channel) => this.store.markChannelDirty(channel));
    const analyzer = opts.analyzer;
    const allowlist = opts.preflightAllowlist ?? EMPTY_ALLOWLIST;
    this.preflight = new PreflightRunner({
      allowlist,
      trustedKeys: opts.trustedKeys ?? [],
      policyOf: (r) => this.policies.get(policyNameOf(r)),
      log: this.log,
      ...(opts.observer ? { observer: opts.observer } : {}),
      onResult: (rollout) => this.queue.add(rollout),
    });
    this.facts = new FactSource(this.store, this.policies, opts.rollbackDrainMs, analyzer?.judges ? (r) => analyzer.judges?.(r) ?? false : undefined, this.preflight);
    const runner = new ActionRunner(this.store, this.manifests, this.log);
    this.reconciler = new Reconciler(this.store, this.facts, runner, this.clock, this.log, analyzer, opts.observer, {
      preflight: this.preflight,
      ...(opts.census ? { census: opts.census } : {}),
      ...(opts.analysisDeadlineMs !== undefined ? { analysisDeadlineMs: opts.analysisDeadlineMs } : {}),
    });
    const pub = opts.signingKey.publicKey;
    this.service = new Service({
      store: this.store,
      publisher: this.manifests,
      reconciler: this.reconciler,
      facts: this.facts,
      policies: this.policies,
      trustedKeys: opts.trustedKeys ?? [],
      signingKey: { keyId: keyId(pub), publicKeyPem: publicKeyPem(pub), publicKey: publicKeyRaw(pub).toString('base64'), rotations: [] },
      log: this.log,
      preflightAllowlist: allowlist,
    });
    this.queue = new WorkQueue<string>({ baseDelayMs: 200, maxDelayMs: 30_000, jitter: 0.1 });
    this.elector = new LeaderElector({
      api: opts.leaseApi ?? clientNodeLeaseApi(opts.kubeConfig),
      namespace: opts.namespace,
      name: LEASE_NAME,
      identity: opts.identity,
      ...(opts.leaseDurationMs !== undefined ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewPeriodMs !== undefined ? { renewPeriodMs: opts.renewPeriodMs, retryPeriodMs: Math.min(2000, Math.max(100, opts.renewPeriodMs / 2)) } : {}),
      log: this.log,
      onStartedLeading: (epoch) => this.startLeading(epoch),
      onStoppedLeading: (reason) => this.stopLeading(reason),
    });
  }

  isLeader(): boolean {
    return this.leading && this.elector.isLeader();
  }

  /** Starts the informers, waits for their first lists, then joins the election and the work queue. */
  async start(): Promise<void> {
    const kc = this.opts.kubeConfig;
    const watch = this.opts.watchNamespaces ?? [];
    for (const source of rolloutSources(kc, watch)) {
      this.informers.push(new RestartingInformer(kc, source, { upsert: (o) => this.onRollout(o), remove: (o) => this.onRolloutGone(o) }, this.log));
    }
    this.informers.push(new RestartingInformer(kc, configMapSource(kc, this.namespace), { upsert: (o) => this.onConfigMap(o), remove: () => undefined }, this.log));
    this.informers.push(new RestartingInformer(kc, policySource(kc, this.namespace), { upsert: (o) => this.onPolicy(o), remove: (o) => this.onPolicyGone(o) }, this.log));
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.synced$()));
    this.synced = true;
    this.workers = runWorkers(this.queue, this.opts.workers ?? 2, (key) => this.reconcileKey(key), this.log);
    this.elector.start();
  }

  /** /readyz: the informers have delivered their first lists, so the mirror (and the manifests) are the cluster's. */
  ready(): boolean {
    return this.synced && !this.stopped;
  }

  informerRestarts(): number {
    return this.informers.reduce((n, i) => n + i.restarts, 0);
  }

  /** Graceful: the work in progress ends, the lease is released at once (another replica takes over now). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.elector.stop();
    this.queue.shutdown();
    await this.workers.catch(() => undefined);
    await this.mutex.catch(() => undefined);
    await this.preflight.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  // ------------------------------------------------------------------------------------------ leadership

  private startLeading(epoch: number): void {
    this.leading = true;
    this.log.info({ identity: this.opts.identity, epoch }, 'leading: this replica reconciles');
    // Lineage changes committed by an earlier leader but not applied to their channels yet.
    for (const [name, e] of this.store.entries) for (const item of e.outbox) this.store.applyOutboxItem(name, item);
    for (const channel of this.store.listChannels()) this.store.markChannelDirty(channel);
    this.enqueueAll();
    const tick = (): void => {
      if (!this.isLeader()) return;
      this.markStaleChannels();
      this.enqueueAll(true);
      this.ticker = setTimeout(tick, this.tickMs);
      this.ticker.unref();
    };
    this.ticker = setTimeout(tick, this.tickMs);
    this.ticker.unref();
  }

  private async stopLeading(reason: string): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    if (this.ticker) clearTimeout(this.ticker);
    this.log.warn({ identity: this.opts.identity, reason }, 'stopped leading: this replica only serves');
    // The decision in progress, if any, ends before the lease is let go.
    await this.mutex.catch(() => undefined);
  }

  /** Every in-flight rollout decided at once on the facts without I/O (the kill switch), then written. */
  private decideAllNow(why: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.isLeader()) return;
      const names = this.store.listRollouts({ activeOnly: true }).map((r) => r.name);
      this.reconciler.decideEach(names);
      await this.flush();
      this.log.info({ rollouts: names.length, why }, 'decided every in-flight rollout');
    }).catch((err: unknown) => this.log.error({ err: describeKubeError(err) }, 'deciding on the kill switch failed; the next tick retries'));
  }

  /** Channels whose manifest is older than the re-issue period: re-issued (same content, new counter) before agents refuse it. */
  private markStaleChannels(): void {
    const now = this.clock.now();
    for (const [channel, doc] of this.store.channels) {
      if (doc.manifest && now - Date.parse(doc.manifest.issuedAt) >= this.reissueMs) this.store.markChannelDirty(channel);
    }
  }

  private enqueueAll(activeOnly = false): void {
    for (const [name, e] of this.store.entries) {
      if (activeOnly && e.record.revision > 0 && TERMINAL_PHASES.has(e.record.state.phase.kind) && !e.deleting && e.pending.length === 0) continue;
      this.queue.add(name);
    }
    if (this.store.dirtyChannels.size > 0) this.queue.add('');
  }

  // ------------------------------------------------------------------------------------------ informer events

  private onRollout(obj: KubeObject): void {
    const name = obj.metadata.name;
    const held = this.store.entries.get(name);
    if (held && held.uid !== '' && obj.metadata.uid !== undefined && held.uid !== obj.metadata.uid && held.namespace !== obj.metadata.namespace) {
      this.log.warn({ rollout: name, namespace: obj.metadata.namespace, held: held.namespace }, 'a Rollout of this name already runs in another namespace; this one is ignored');
      return;
    }
    this.store.putEntry(entryFromObject(obj));
    this.objects.set(name, obj);
    this.lastStatus.set(name, obj.status ?? {});
    this.notify();
    if (this.isLeader()) this.queue.add(name);
  }

  private onRolloutGone(obj: KubeObject): void {
    const name = obj.metadata.name;
    const held = this.store.entries.get(name);
    if (!held || (obj.metadata.uid && held.uid && held.uid !== obj.metadata.uid)) return;
    this.store.removeEntry(name);
    this.objects.delete(name);
    this.checkedGeneration.delete(name);
    this.lastStatus.delete(name);
    this.rejections.delete(name);
    if (held.record.revision > 0) this.store.markChannelDirty(held.record.channel);
    this.notify();
    if (this.isLeader()) this.queue.add('');
  }

  private onConfigMap(cm: KubeObject): void {
    if (cm.metadata.name === KILLSWITCH_CONFIGMAP) {
      const parsed = parseKillSwitch(cm);
      if (!parsed) return;
      const before = this.store.killSwitchEpoch;
      this.store.setKillSwitchFromCluster(parsed.state, parsed.epoch, parsed.at);
      if (this.store.killSwitchEpoch !== before) {
        this.log.warn({ engaged: parsed.state.engaged, mode: parsed.state.mode, actor: parsed.state.actor, epoch: parsed.epoch }, 'kill switch changed in the cluster');
        this.opts.observer?.killSwitch(parsed.state.engaged);
        if (this.isLeader()) void this.decideAllNow('the kill switch changed');
      }
      return;
    }
    const ch = channelDocFromConfigMap(cm);
    if (ch) this.store.putChannel(ch.channel, ch.doc);
  }

  private onPolicy(obj: KubeObject): void {
    const r = validatePolicyObject({ apiVersion: API_VERSION, kind: 'Policy', metadata: { name: obj.metadata.name }, spec: obj.spec }, `Policy ${this.namespace}/${obj.metadata.name}`);
    if (!r.ok) {
      this.log.error({ policy: obj.metadata.name, err: errorLines(r.errors) }, 'Policy ignored: invalid');
      return;
    }
    this.policies.set(obj.metadata.name, r.doc.spec);
    if (this.isLeader()) this.enqueueAll(true);
  }

  private onPolicyGone(obj: KubeObject): void {
    const file = this.filePolicies.get(obj.metadata.name);
    if (file) this.policies.set(obj.metadata.name, file);
    else this.policies.delete(obj.metadata.name);
  }

  // ------------------------------------------------------------------------------------------ reconcile

  /** One key of the work queue; '' is "the channels only". Runs only on the leader. */
  private async reconcileKey(name: string): Promise<void> {
    if (!this.isLeader()) return;
    if (name === '') {
      await this.exclusive(() => this.flush());
      return;
    }
    const e = this.store.entries.get(name);
    if (!e) return;
    if (e.deleting) return this.exclusive(() => this.withdraw(name));
    if (e.record.revision === 0) return this.exclusive(() => this.accept(name));
    // Human requests first, decided without a verdict (they never wait for a metrics query).
    if (e.pending.length > 0) await this.exclusive(async () => {
      this.reconciler.decideNow(name);
      await this.flush();
    });
    this.checkSpecUnchanged(name);
    const gathered = await this.reconciler.gatherOne(name);
    await this.exclusive(async () => {
      if (!this.isLeader()) return;
      this.reconciler.decideOne(name, gathered);
      await this.flush();
    });
    const after = this.store.entries.get(name);
    if (after && after.record.revision > 0 && TERMINAL_PHASES.has(after.record.state.phase.kind) && after.record.revision > 0) await this.exclusive(() => this.dropFinalizer(name));
  }

  private exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.mutex.then(fn);
    this.mutex = run.catch(() => undefined);
    return run;
  }

  /** The first look at a Rollout object: validated and checked as `ringmaster serve` checks an apply, then accepted. */
  private async accept(name: string): Promise<void> {
    const e = this.store.entries.get(name);
    if (!e || e.record.revision > 0 || !this.isLeader()) return;
    const obj = { metadata: { name, namespace: e.namespace } } as KubeObject;
    const loaded = rolloutDocOf({ ...obj, spec: e.record.spec.spec });
    if (!loaded.ok) return this.reject(e, { reason: 'Invalid', message: errorLines(loaded.errors) });
    // The finalizer is in place before the candidate can reach any manifest.
    const finalizers = this.objects.get(name)?.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) {
      const patched = await this.api.patchRollout(e.namespace, name, { metadata: { finalizers: [...finalizers, FINALIZER] } });
      const cur = this.store.entries.get(name);
      if (cur && !this.store.dirtyRollouts.has(name)) this.store.entries.set(name, { ...cur, rv: patched.metadata.resourceVersion ?? cur.rv });
    }
    const res = await this.service.applyRollout(loaded.doc, this.appliedBy(name) ?? `kubernetes:${e.namespace}/${name}`);
    if (res.status === 'invalid') {
      const unknownPolicy = res.errors.some((x) => x.path === 'spec.policy');
      return this.reject(e, { reason: unknownPolicy ? 'UnknownPolicy' : 'Invalid', message: errorLines(res.errors) });
    }
    if (res.status === 'conflict') return this.reject(e, { reason: 'LineageConflict', message: res.message });
    this.rejections.delete(name);
    await this.flush();
  }

  /** The Rollout's ringmaster.dev/applied-by annotation (the API writes it at apply). */
  appliedBy(name: string): string | undefined {
    const obj = this.objects.get(name);
    return obj?.metadata.annotations?.['ringmaster.dev/applied-by'];
  }

  /** Accepted=False with the reason, written once (until the reason changes), with a Warning Event. */
  private async reject(e: RolloutEntry, rejection: Rejection): Promise<void> {
    const name = e.record.name;
    this.rejections.set(name, rejection);
    const written = (this.lastStatus.get(name)?.conditions as Condition[] | undefined)?.find((c) => c.type === 'Accepted');
    if (written?.status === 'False' && written.reason === rejection.reason && written.message === rejection.message) return;
    const cur = this.store.entries.get(name);
    if (!cur) return;
    this.log.warn({ rollout: name, reason: rejection.reason, err: rejection.message }, 'Rollout not accepted');
    await this.writeStatus(cur, rejection);
    await this.emitEvent(cur, `${rejection.reason}.${sha8(rejection.message)}`, 'Warning', rejection.reason, rejection.message);
  }

  /** A spec edited after acceptance is refused: the condition says so, and the accepted spec keeps running. */
  private checkSpecUnchanged(name: string): void {
    const e = this.store.entries.get(name);
    const obj = this.objects.get(name);
    if (!e || !obj || e.record.revision === 0) return;
    const generation = obj.metadata.generation ?? 0;
    if (this.checkedGeneration.get(name) === generation) return;
    this.checkedGeneration.set(name, generation);
    const now = rolloutDocOf(obj);
    const changed = !now.ok || now.specHash !== e.record.specHash;
    const had = this.rejections.get(name);
    if (changed && had?.reason !== 'SpecChangeRejected') {
      const message = `spec changed after the rollout was accepted (generation ${obj.metadata.generation ?? '?'}); rollouts are immutable: the accepted spec keeps running; create a new Rollout with a new name`;
      this.rejections.set(name, { reason: 'SpecChangeRejected', message });
      this.store.dirtyRollouts.add(name);
      void this.emitEvent(e, `SpecChangeRejected.g${obj.metadata.generation ?? 0}`, 'Warning', 'SpecChangeRejected', message);
    } else if (!changed && had?.reason === 'SpecChangeRejected') {
      this.rejections.delete(name);
      this.store.dirtyRollouts.add(name);
    }
  }

  /** Deleted: aborted if in flight, its candidate withdrawn from the manifest, then the finalizer released. */
  private async withdraw(name: string): Promise<void> {
    const e = this.store.entries.get(name);
    if (!e || !this.isLeader()) return;
    if (e.record.revision > 0 && !TERMINAL_PHASES.has(e.record.state.phase.kind)) {
      const active = e.record.state.phase.kind !== 'pending' && e.record.state.phase.kind !== 'held' && e.record.state.phase.kind !== 'blocked';
      if (e.record.state.phase.kind !== 'rolling-back') {
        await this.service.request(name, 'abort', 'kubernetes', 'the Rollout was deleted');
      }
      const cur = this.store.entries.get(name);
      if (cur && active) {
        const spec = cur.record.spec.spec;
        this.store.applyOutboxItem(name, {
          key: `${name}:${cur.uid}:deleted`,
          channel: cur.record.channel,
          events: [{ event: 'aborted', version: spec.version, at: new Date(this.clock.now()).toISOString(), reason: 'the Rollout was deleted in flight: its candidate is withdrawn' }],
          artifact: { url: spec.artifact.url, sha256: spec.artifact.sha256 },
        });
      }
      this.store.markChannelDirty(e.record.channel);
      await this.flush();
      // The manifest without the candidate is written before the object may go.
      if (this.store.dirtyChannels.has(e.record.channel)) throw new Error(`channel ${e.record.channel} not written yet; the finalizer stays`);
    }
    await this.dropFinalizer(name, true);
  }

  private async dropFinalizer(name: string, deleting = false): Promise<void> {
    const e = this.store.entries.get(name);
    const obj = this.objects.get(name);
    if (!e || !obj || !(obj.metadata.finalizers ?? []).includes(FINALIZER)) return;
    if (!deleting && this.store.dirtyRollouts.has(name)) return;
    const rest = (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    await this.api.patchRollout(e.namespace, name, { metadata: { finalizers: rest.length > 0 ? rest : null } });
    this.log.info({ rollout: name, deleting }, 'finalizer released');
  }

  // ------------------------------------------------------------------------------------------ flush: mirror -> cluster

  /**
   * Writes what the last decisions changed: each dirty Rollout's status (precondition: the resourceVersion it was
   * read at; a 409 throws the mirror's version away), then the channels (rebuilt from the confirmed rollouts),
   * then the Events of new transitions, then the cleared outboxes.
   */
  private async flush(): Promise<void> {
    for (const name of [...this.store.dirtyRollouts]) {
      const e = this.store.entries.get(name);
      if (!e) {
        this.store.dirtyRollouts.delete(name);
        continue;
      }
      if (!this.isLeader()) return;
      await this.writeStatus(e, this.rejections.get(name) ?? null);
    }
    await this.writeChannels();
    for (const name of [...this.store.entries.keys()]) await this.afterStatus(name);
    for (const a of this.store.takeAudit()) this.audit(a);
  }

  private async writeStatus(e: RolloutEntry, rejection: Rejection | null): Promise<void> {
    const name = e.record.name;
    const now = new Date(this.clock.now()).toISOString();
    const analysisEnabled = e.record.revision > 0 ? this.facts.engineConfig(e.record).analysisEnabled : false;
    const status = statusOf(e, this.lastStatus.get(name), this.store.getKillSwitch(), rejection, analysisEnabled, now);
    try {
      const obj = await this.api.patchRolloutStatus(e.namespace, name, { metadata: { resourceVersion: e.rv }, status });
      this.stats.statusWrites++;
      const cur = this.store.entries.get(name);
      if (cur) this.store.entries.set(name, { ...cur, rv: obj.metadata.resourceVersion ?? cur.rv });
      this.lastStatus.set(name, status);
      this.store.dirtyRollouts.delete(name);
    } catch (err) {
      if (err instanceof KubeConflictError) this.stats.statusConflicts++;
      this.log.info({ rollout: name, err: describeKubeError(err) }, err instanceof KubeConflictError ? 'status conflict: re-read, decided again' : 'status write failed: re-read');
      const fresh = await this.api.getRollout(e.namespace, name).catch(() => null);
      this.store.resetEntry(name, fresh ? entryFromObject(fresh) : undefined);
      if (fresh) this.lastStatus.set(name, fresh.status ?? {});
      if (e.record.revision > 0) this.store.markChannelDirty(e.record.channel);
      this.queue.add(name);
    }
  }

  private async writeChannels(): Promise<void> {
    for (const channel of [...this.store.dirtyChannels]) {
      if (!this.isLeader()) return;
      const doc: ChannelDoc = this.store.channels.get(channel) ?? emptyChannelDoc();
      const content = channelContent(this.store, channel, (r) => this.policies.get(policyNameOf(r)));
      const manifest = nextChannelManifest(doc, content, this.clock.now(), this.reissueMs);
      const next: ChannelDoc = manifest ? { ...doc, manifest } : doc;
      const cm = channelConfigMap(this.namespace, channel, next);
      try {
        const written = doc.rv === null
          ? await this.api.createConfigMap(this.namespace, cm)
          : await this.api.patchConfigMap(this.namespace, channelConfigMapName(channel), { metadata: { resourceVersion: doc.rv }, data: cm.data });
        this.stats.channelWrites++;
        this.store.resetChannel(channel, { ...next, rv: written.metadata.resourceVersion ?? null });
        if (manifest) this.log.info({ channel, counter: manifest.counter, candidates: content.candidates.length }, 'channel manifest published');
      } catch (err) {
        this.log.warn({ channel, err: describeKubeError(err) }, 'channel write failed: re-read, retried');
        const fresh = await this.api.getConfigMap(this.namespace, channelConfigMapName(channel)).catch(() => null);
        const parsed = fresh ? channelDocFromConfigMap(fresh) : null;
        // Its lineage changes are still in the rollouts' outboxes: applied again (once) on the fresh document.
        this.store.resetChannel(channel, parsed?.doc ?? doc);
        for (const [name, e] of this.store.entries) for (const item of e.outbox) if (item.channel === channel) this.store.applyOutboxItem(name, item);
        this.store.markChannelDirty(channel);
        this.queue.addRateLimited('');
      }
    }
  }

  /** Events for transitions not emitted yet; then the outbox items whose channel is written are cleared. */
  private async afterStatus(name: string): Promise<void> {
    const e = this.store.entries.get(name);
    if (!e || e.record.revision === 0 || this.store.dirtyRollouts.has(name)) return;
    const fresh = e.transitions.filter((t) => t.n > e.eventsEmitted);
    const doneOutbox = e.outbox.filter((item) => !this.store.dirtyChannels.has(item.channel));
    if (fresh.length === 0 && doneOutbox.length === 0) return;
    for (const t of fresh) {
      const warn = t.to === 'halted' || t.to === 'rolling-back' || t.to === 'rolled-back' || t.to === 'aborted' || t.to === 'preflight-failed';
      await this.emitEvent(e, `t${t.n}`, warn ? 'Warning' : 'Normal', camel(t.to), `#${t.n} ${t.from} -> ${t.to} (${t.actor}): ${t.reason}`);
    }
    const cur = this.store.entries.get(name);
    if (!cur || this.store.dirtyRollouts.has(name)) return;
    const eventsEmitted = Math.max(cur.eventsEmitted, ...fresh.map((t) => t.n));
    const outbox = cur.outbox.filter((item) => !doneOutbox.some((d) => d.key === item.key));
    this.store.entries.set(name, { ...cur, eventsEmitted, outbox });
    this.store.dirtyRollouts.add(name);
    await this.writeStatus(this.store.entries.get(name) as RolloutEntry, this.rejections.get(name) ?? null);
    await this.removeConsumedAnnotations(name);
  }

  private async removeConsumedAnnotations(name: string): Promise<void> {
    const e = this.store.entries.get(name);
    const obj = this.objects.get(name);
    if (!e || !obj) return;
    const consumed = new Set(e.consumed.map((r) => `${REQUEST_ANNOTATION_PREFIX}${r.id}`));
    const stale = Object.keys(obj.metadata.annotations ?? {}).filter((k) => consumed.has(k));
    if (stale.length === 0) return;
    await this.api.patchRollout(e.namespace, name, { metadata: { annotations: Object.fromEntries(stale.map((k) => [k, null])) } }).catch((err: unknown) => {
      this.log.warn({ rollout: name, err: describeKubeError(err) }, 'consumed request annotations not removed (they are ignored)');
    });
  }

  private async emitEvent(e: RolloutEntry, suffix: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now());
    const name = e.record.name;
    try {
      await this.api.createEvent(e.namespace, {
        metadata: { name: `${name}.${(e.uid || 'x').slice(0, 8)}.${suffix}`.toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 253), namespace: e.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: 'Rollout', name, namespace: e.namespace, uid: e.uid },
        reason,
        message: message.slice(0, 1024),
        type,
        source: { component: 'ringmaster-operator', host: this.opts.identity },
        reportingComponent: 'ringmaster.dev/operator',
        reportingInstance: this.opts.identity,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      this.stats.events++;
    } catch (err) {
      this.log.warn({ rollout: name, err: describeKubeError(err) }, 'event not written');
    }
  }

  private audit(entry: AuditInput): void {
    this.store.recordAudit(entry);
    this.opts.auditSink?.(entry);
  }

  // ------------------------------------------------------------------------------------------ what the API calls

  /** Resolves when `ok()` holds, re-checked on every informer event, or false after `ms`. */
  waitFor(ok: () => boolean, ms: number): Promise<boolean> {
    if (ok()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (!ok()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(false);
      }, ms);
      timer.unref();
      this.waiters.add(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }

  /** A human request as an annotation on the Rollout; the leader decides it; the answer is awaited a short while. */
  async writeRequest(name: string, verb: string, actor: string, reason: string): Promise<{ id: number; answered: boolean }> {
    const e = this.store.entries.get(name);
    if (!e) throw new Error(`rollout ${name} not found`);
    const id = Date.now() * 1000 + Math.floor(Math.random() * 1000);
    await this.api.patchRollout(e.namespace, name, { metadata: { annotations: { [`${REQUEST_ANNOTATION_PREFIX}${id}`]: JSON.stringify({ verb, actor, reason, at: new Date(this.clock.now()).toISOString() }) } } });
    const answered = await this.waitFor(() => this.store.getRequest(id)?.consumedAt != null, REQUEST_ANSWER_MS);
    return { id, answered };
  }

  /** Writes the kill switch into its ConfigMap (a new epoch); every replica's manifests show it from its informer. */
  async writeKillSwitch(next: { engaged: boolean; mode: 'freeze' | 'rollback'; reason: string }, actor: string): Promise<KillSwitchState> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const cur = await this.api.getConfigMap(this.namespace, KILLSWITCH_CONFIGMAP);
      const parsed = cur ? parseKillSwitch(cur) : null;
      const prev = parsed?.state ?? this.store.getKillSwitch();
      const at = new Date(this.clock.now()).toISOString();
      const since = next.engaged ? (prev.engaged && prev.mode === next.mode ? prev.since : at) : null;
      const state: KillSwitchState = { engaged: next.engaged, mode: next.mode, reason: next.reason, actor, since };
      const epoch = Math.max(parsed?.epoch ?? 0, this.store.killSwitchEpoch) + 1;
      const data = { 'state.json': JSON.stringify({ ...state, epoch, at }) };
      try {
        const written = cur
          ? await this.api.patchConfigMap(this.namespace, KILLSWITCH_CONFIGMAP, { metadata: { resourceVersion: cur.metadata.resourceVersion }, data })
          : await this.api.createConfigMap(this.namespace, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KILLSWITCH_CONFIGMAP, namespace: this.namespace, labels: { ...MANAGED_LABELS } }, data });
        this.onConfigMap(written);
        this.audit({ actor, action: next.engaged ? 'killswitch.engage' : 'killswitch.disengage', target: 'killswitch', reason: next.reason, payload: { engaged: next.engaged, mode: next.mode, epoch, previous: { engaged: prev.engaged, mode: prev.mode } } });
        await this.emitKillSwitchEvent(state, epoch);
        return state;
      } catch (err) {
        if (!(err instanceof KubeConflictError)) throw err;
      }
    }
    throw new Error('the kill switch ConfigMap kept changing under this write (5 conflicts)');
  }

  private async emitKillSwitchEvent(state: KillSwitchState, epoch: number): Promise<void> {
    const now = new Date(this.clock.now());
    await this.api
      .createEvent(this.namespace, {
        metadata: { name: `ringmaster-killswitch.e${epoch}`, namespace: this.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: KILLSWITCH_CONFIGMAP, namespace: this.namespace },
        reason: state.engaged ? 'KillSwitchEngaged' : 'KillSwitchReleased',
        message: `${state.engaged ? `engaged (${state.mode})` : 'released'} by ${state.actor}: ${state.reason}`.slice(0, 1024),
        type: state.engaged ? 'Warning' : 'Normal',
        source: { component: 'ringmaster-operator', host: this.opts.identity },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      })
      .catch((err: unknown) => this.log.warn({ err: describeKubeError(err) }, 'kill switch event not written'));
  }

  /** Creates the Rollout object for POST /v1/rollouts (the leader accepts it). */
  async createRollout(namespace: string, doc: { metadata: { name: string }; spec: unknown }, actor: string): Promise<KubeObject> {
    return this.api.createRollout(namespace, {
      apiVersion: API_VERSION,
      kind: 'Rollout',
      metadata: { name: doc.metadata.name, namespace, annotations: { 'ringmaster.dev/applied-by': actor } },
      spec: doc.spec,
    });
  }

  rejection(name: string): Rejection | undefined {
    return this.rejections.get(name) ?? ((this.lastStatus.get(name)?.conditions as Array<{ type: string; status: string; reason: string; message: string }> | undefined)?.find((c) => c.type === 'Accepted' && c.status === 'False') as Rejection | undefined);
  }
}

function camel(kind: string): string {
  return kind.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase());
}

function sha8(text: string): string {
  return crypto.createHash('sha256').update(text).digest('hex').slice(0, 8);
}

export function parseKillSwitch(cm: KubeObject): { state: KillSwitchState; epoch: number; at: string | null } | null {
  const text = cm.data?.['state.json'];
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as Partial<KillSwitchState> & { epoch?: number; at?: string };
    const state: KillSwitchState = {
      engaged: v.engaged === true,
      mode: v.mode === 'rollback' ? 'rollback' : 'freeze',
      reason: typeof v.reason === 'string' ? v.reason : '',
      actor: typeof v.actor === 'string' ? v.actor : '',
      since: typeof v.since === 'string' ? v.since : null,
    };
    return { state, epoch: typeof v.epoch === 'number' ? v.epoch : 0, at: typeof v.at === 'string' ? v.at : null };
  } catch {
    return null;
  }
}

