/**
 * The controller: the composition root of the runtime. It opens the store, loads keys and policies, wires the
 * parts, replays unfinished actions after a restart, and runs the reconcile loop.
 *
 *   Reconciler        reconcile passes: gather facts (with deadlines), decide, commit, act   (reconciler.ts)
 *   FactSource        window, channel slot, lineage, requests, kill switch, without I/O       (facts.ts)
 *   ManifestPublisher the one path that builds, signs, persists and serves manifests          (publisher.ts)
 *   ActionRunner      performs committed actions from the outbox                              (outbox.ts)
 *   Service           what the API calls; human verbs commit without waiting on I/O           (facade.ts)
 *   PreflightRunner   a rollout's pre-flight checks, outside the pass; results become facts   (preflight.ts)
 */
import * as path from 'node:path';
import { keyId, loadOrCreateSigningKey, publicKeyPem, publicKeyRaw, readRotations, type TrustedKey } from '../crypto/keys';
import { SERVE_DEFAULTS } from '../config/serve';
import { durationMs } from '../spec/duration';
import type { PolicySpec } from '../spec/types';
import { Store } from '../store/store';
import { silentLogger, type Logger } from '../telemetry/log';
import { realClock, type Clock } from './clock';
import { loadTrustedKeys, policyNameOf } from './config';
import { Service } from './facade';
import { FactSource } from './facts';
import { ActionRunner } from './outbox';
import { ManifestPublisher } from './publisher';
import { Reconciler, type ReconcilerOptions } from './reconciler';
import type { Analyzer, RuntimeObserver } from './types';
import { PreflightRunner } from './preflight';
import { EMPTY_ALLOWLIST, type PreflightAllowlist } from '../content/allowlist';
import type { FetchLimits } from '../content/fetch';
import type { NotificationSinkConfig } from '../config/serve';
import { NotificationDispatcher, type DispatcherOptions, type NotificationObserver } from '../notify/dispatcher';
import { Notifier } from './notifications';

export type { Analyzer, RuntimeObserver } from './types';

export interface ControllerOptions extends ReconcilerOptions {
  dataDir: string;
  policiesDir: string;
  trustedKeysFile?: string;
  /** Already loaded policies (tests, simulator); overrides policiesDir. */
  policies?: Map<string, PolicySpec>;
  trustedKeys?: TrustedKey[];
  tickMs?: number;
  clock?: Clock;
  rollbackDrainMs?: number;
  /** A manifest older than this is re-issued with the same content (default 1 h; agents refuse old manifests). */
  manifestReissueMs?: number;
  analyzer?: Analyzer;
  observer?: RuntimeObserver;
  log?: Logger;
  /** The executables and webhooks spec.preflight checks may name (ringmaster serve --preflight); default none. */
  preflightAllowlist?: PreflightAllowlist;
  /** Limits of the pre-flight artifact fetch (default content/fetch.ts DEFAULT_FETCH_LIMITS). */
  preflightFetchLimits?: Partial<FetchLimits>;
  /** Artifact bytes the embedding program holds, by URL, instead of fetching them (the simulator's artifactFile). */
  preflightArtifacts?: (url: string) => Buffer | undefined;
  /** Notification sinks (serve config `notifications:`); none: no events are written. */
  notifications?: { sinks: readonly NotificationSinkConfig[]; observer?: NotificationObserver } & Partial<Omit<DispatcherOptions, 'log' | 'observer'>>;
}

export class Controller extends Service {
  private cancelTimer: (() => void) | null = null;
  private stopped = false;
  private isReady = false;
  private loop: Promise<void> = Promise.resolve();
  /** Delivers the notification outbox in the background (null without sinks). */
  dispatcher: NotificationDispatcher | null = null;

  private constructor(
    readonly store: Store,
    private readonly reconciler: Reconciler,
    private readonly runner: ActionRunner,
    private readonly opts: ControllerOptions,
    parts: ConstructorParameters<typeof Service>[0],
    private readonly preflightRunner: PreflightRunner,
    private readonly publisher: ManifestPublisher,
  ) {
    super(parts);
  }

  /** Opens the store (migrations), loads keys and policies, replays unfinished actions, publishes manifests. */
  static async open(opts: ControllerOptions): Promise<Controller> {
    const log = opts.log ?? silentLogger;
    const clock = opts.clock ?? realClock;
    const { PolicySet, loadPolicyFiles } = await import('./policies');
    const files = opts.policies ? new Map([...opts.policies].map(([name, spec]) => [name, { spec, file: '(in-process)' }])) : loadPolicyFiles(opts.policiesDir);
    const trustedKeys = opts.trustedKeys ?? loadTrustedKeys(opts.trustedKeysFile);
    const key = loadOrCreateSigningKey(opts.dataDir);
    const store = Store.open(path.join(opts.dataDir, 'ringmaster.db'), { now: () => new Date(clock.now()).toISOString(), log, backgroundCheckpoints: true });
    // Files, then the policies applied through the API (stored in SQLite) over them: runtime/policies.ts.
    const policySet = new PolicySet(files, store.listStoredPolicies(), opts.policies ? undefined : opts.policiesDir);
    const policies = policySet.live;
    const signingKey = { keyId: keyId(key.publicKey), publicKeyPem: publicKeyPem(key.publicKey), publicKey: publicKeyRaw(key.publicKey).toString('base64'), rotations: readRotations(opts.dataDir) };
    if (key.created) log.info({ keyId: signingKey.keyId }, 'signing key created');
    const publisher = new ManifestPublisher(store, key, (r) => policies.get(policyNameOf(r)), log, { now: () => clock.now(), reissueMs: opts.manifestReissueMs });
    const analyzer = opts.analyzer;
    const allowlist = opts.preflightAllowlist ?? EMPTY_ALLOWLIST;
    let decideOnResult: (rollout: string) => void = () => undefined;
    const preflight = new PreflightRunner({
      allowlist,
      trustedKeys,
      policyOf: (r) => policies.get(policyNameOf(r)),
      ...(opts.preflightFetchLimits ? { fetchLimits: opts.preflightFetchLimits } : {}),
      ...(opts.preflightArtifacts ? { artifactBytes: opts.preflightArtifacts } : {}),
      log,
      ...(opts.observer ? { observer: opts.observer } : {}),
      onResult: (rollout) => decideOnResult(rollout),
    });
    const facts = new FactSource(store, policies, opts.rollbackDrainMs, analyzer?.judges ? (r) => analyzer.judges?.(r) ?? false : undefined, preflight);
    const runner = new ActionRunner(store, publisher, log);
    const sinks = opts.notifications?.sinks ?? [];
    let dispatcher: NotificationDispatcher | null = null;
    let notifier: Notifier | undefined;
    if (sinks.length > 0) {
      const n = opts.notifications as NonNullable<ControllerOptions['notifications']>;
      const outbox = store.notificationOutbox();
      const { sinks: _s, observer, ...dispatch } = n;
      dispatcher = new NotificationDispatcher(outbox, sinks, { ...dispatch, log: log.child({ component: 'notify' }), ...(observer ? { observer } : {}) });
      notifier = new Notifier(outbox, sinks, (fn) => store.afterCommit(fn), dispatcher, observer);
    }
    const reconciler = new Reconciler(store, facts, runner, clock, log, opts.analyzer, opts.observer, { ...opts, preflight, ...(notifier ? { notifier } : {}) });
    const c = new Controller(store, reconciler, runner, opts, { store, publisher, reconciler, facts, policies, trustedKeys, signingKey, log, preflightAllowlist: allowlist, policySet, ...(notifier ? { notifier } : {}) }, preflight, publisher);
    c.dispatcher = dispatcher;
    // Pending notifications of an earlier run are resumed at once (with their ids): delivery never waits on the pass.
    dispatcher?.start();
    // A pre-flight run that ends is decided at once (not at the next tick), like a human verb: without waiting on I/O.
    decideOnResult = (rollout) => {
      if (c.stopped) return;
      try {
        reconciler.decideNow(rollout);
      } catch (err) {
        log.error({ rollout, err: err instanceof Error ? err.message : String(err) }, 'decision on a pre-flight result failed');
      }
    };
    publisher.load();
    runner.runPending();
    publisher.publishAll();
    await c.reconcileAll();
    c.isReady = true;
    return c;
  }

  /** Starts the periodic reconcile loop: one pass, then the next one tick after it ends. */
  start(): void {
    const tick = this.opts.tickMs ?? durationMs(SERVE_DEFAULTS.tick);
    const clock = this.opts.clock ?? realClock;
    const next = (): void => {
      if (this.stopped) return;
      this.loop = this.reconcileAll().then(
        () => {
          if (!this.stopped) this.cancelTimer = clock.setTimer(tick, next);
        },
        (err: unknown) => {
          this.parts.log.error({ err: err instanceof Error ? err.message : String(err) }, 'reconcile pass failed');
          if (!this.stopped) this.cancelTimer = clock.setTimer(tick, next);
        },
      );
    };
    this.cancelTimer = clock.setTimer(tick, next);
  }

  /** One reconcile pass over every rollout, then the re-issue of any manifest about to grow too old for agents. */
  async reconcileAll(): Promise<void> {
    await this.reconciler.reconcileAll();
    if (!this.stopped) this.publisher.reissueStale();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closed = true;
    this.cancelTimer?.();
    await this.loop.catch(() => undefined);
    await this.reconciler.idle();
    await this.preflightRunner.stop();
    this.runner.runPending();
    await this.dispatcher?.stop();
    this.store.close();
  }

  /** Resolves when every pre-flight run started so far has ended (and its result was decided): tests, the simulator. */
  preflightIdle(): Promise<void> {
    return this.preflightRunner.idle();
  }

  override ready(): boolean {
    return this.isReady && !this.stopped;
  }
}
