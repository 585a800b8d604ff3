/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's leaderelection semantics (the JS client
 * has no elector). Several operator replicas run; only the leader reconciles, and no two replicas may think they
 * lead at the same time.
 *
 * How safety is kept:
 * - Every write is a replace carrying the resourceVersion just read (a create when the Lease is absent): the API
 *   server's optimistic lock lets one of two racing replicas win; the loser gets a 409, re-reads and re-judges.
 * - A follower judges expiry on its OWN clock: the lease is free once leaseDuration has passed since this replica
 *   last saw the record change (observedTime), never by comparing the remote renewTime with local time. Clock
 *   offsets between replicas therefore cannot make a live lease look expired. A changed record always restarts
 *   the wait, so a follower that has just started waits a full leaseDuration.
 * - The leader counts its lease from the moment it SENT its last successful write (that is no later than any
 *   follower's observation of it) and steps down (onStoppedLeading('renew deadline')) when it has not renewed for
 *   renewDeadline. The default renewDeadline is halfway between renewPeriod and leaseDuration
 *   ((leaseDuration + renewPeriod) / 2; 10 s for 15 s / 5 s, as client-go's defaults): after a missed renewal it
 *   has (leaseDuration - renewPeriod) / 2 for retries, and the same margin remains before a follower could take
 *   over, for the work in flight to stop. The deadline is a timer of its own, so a hanging API call cannot delay it.
 * - A leader that reads a record not held by itself (overwritten, released, deleted) steps down at once
 *   (onStoppedLeading('lost lease')), and then competes again like any follower.
 * - stop() is graceful (client-go's ReleaseOnCancel): onStoppedLeading('stopped') first, so the caller's work has
 *   stopped before anyone else can lead, then the lease is released (holder cleared, leaseDurationSeconds 1) so
 *   another replica acquires it on its next retry instead of after leaseDuration.
 *
 * - An attempt (read + write) that has not answered within attemptTimeoutMs (default renewDeadline - renewPeriod)
 *   is abandoned and counts as failed, so a hung connection cannot stall the elector or stop().
 *
 * Identities must be unique per process (for example the pod name plus a random suffix): the lease cannot tell
 * two processes with one identity apart. API errors other than 409 are logged and retried every retryPeriod.
 * Time comes from an injectable Clock (controller/runtime/clock.ts: now() and setTimer()).
 */
import * as k8s from '@kubernetes/client-node';
import { type Clock, realClock } from '../runtime/clock';
import { type Logger, silentLogger } from '../telemetry/log';

export type V1Lease = k8s.V1Lease;

/** A write lost the optimistic lock (HTTP 409: stale resourceVersion, or the Lease already exists). */
export class LeaseConflictError extends Error {
  constructor(message = 'lease conflict (409)') {
    super(message);
    this.name = 'LeaseConflictError';
  }
}

/** The three Lease calls the elector makes (RBAC: leases get, create, update). */
export interface LeaseApi {
  /** null when the Lease does not exist. */
  read(namespace: string, name: string): Promise<V1Lease | null>;
  /** Throws LeaseConflictError when it already exists. */
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** Throws LeaseConflictError on a stale metadata.resourceVersion. */
  replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

function httpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The time fields as client-node 1.x sends them: a V1MicroTime (RFC 3339 with microseconds, which the server needs). */
function forWire(lease: V1Lease): V1Lease {
  const spec = lease.spec === undefined ? undefined : { ...lease.spec };
  if (spec !== undefined) {
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const ms = timeMs(spec[field]);
      if (ms === undefined) delete spec[field];
      else spec[field] = new k8s.V1MicroTime(ms);
    }
  }
  return { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec };
}

/** LeaseApi over client-node's CoordinationV1Api. */
export function clientNodeLeaseApi(kc: k8s.KubeConfig): LeaseApi {
  const api = kc.makeApiClient(k8s.CoordinationV1Api);
  const conflict = (err: unknown, what: string): never => {
    if (httpCode(err) === 409) throw new LeaseConflictError(`lease ${what}: conflict (409)`);
    throw err;
  };
  return {
    async read(namespace, name) {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        if (httpCode(err) === 404) return null;
        throw err;
      }
    },
    async create(namespace, lease) {
      try {
        return await api.createNamespacedLease({ namespace, body: forWire(lease) });
      } catch (err) {
        return conflict(err, `create ${namespace}/${lease.metadata?.name ?? '?'}`);
      }
    },
    async replace(namespace, name, lease) {
      try {
        return await api.replaceNamespacedLease({ namespace, name, body: forWire(lease) });
      } catch (err) {
        return conflict(err, `replace ${namespace}/${name}`);
      }
    },
  };
}

/** A Lease time field in ms: client-node 1.x hands back the JSON string; a Date (or V1MicroTime) also works. */
export function timeMs(v: unknown): number | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v === 'string' && v !== '') {
    const ms = Date.parse(v);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

export type StopReason = 'renew deadline' | 'lost lease' | 'stopped';

export interface LeaderElectorOptions {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  /** How long a follower waits, from its last observation of a change, before taking the lease. Default 15 s. */
  leaseDurationMs?: number;
  /** How often the leader renews. Must be < leaseDurationMs. Default 5 s. */
  renewPeriodMs?: number;
  /** The leader steps down when it has not renewed for this long; renewPeriod < it < leaseDuration. Default (leaseDuration + renewPeriod) / 2. */
  renewDeadlineMs?: number;
  /** Followers' attempts, and a leader's retries after a failed renewal. Default 2 s. */
  retryPeriodMs?: number;
  /** An attempt (read + write) or the release that has not answered by then counts as failed. Default renewDeadline - renewPeriod. */
  attemptTimeoutMs?: number;
  clock?: Clock;
  log?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** This replica became the leader; epoch counts this elector's acquisitions (1, 2, ...). */
  onStartedLeading(epoch: number): void;
  /** This replica stopped leading; it must stop reconciling. Awaited by stop() before the lease is released. */
  onStoppedLeading(reason: StopReason): void | Promise<void>;
  /** The observed holder changed (including to this replica, or to '' when released). */
  onNewLeader?(identity: string): void;
}

interface Attempt {
  ok: boolean;
  /** When the successful write was sent (this replica's clock). */
  sentAt?: number;
  /** A leader read a record it does not hold. */
  lost?: boolean;
}

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`leader election: ${name} must be a positive number of ms (got ${v})`);
}

export class LeaderElector {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewPeriodMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly attemptTimeoutMs: number;
  /** Incremented on each acquisition (0 before the first). */
  epoch = 0;

  private readonly api: LeaseApi;
  private readonly clock: Clock;
  private readonly log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  private readonly opts: LeaderElectorOptions;

  private leading = false;
  private started = false;
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private lastRenewAt = 0;
  private cancelTick: (() => void) | undefined;
  private cancelDeadline: (() => void) | undefined;
  private inflight: Promise<void> | undefined;
  /** The current attempt's number: the answers of a timed-out (abandoned) attempt are ignored. */
  private attemptSeq = 0;

  /** The last record seen, its key (spec with times as ms) and when (local clock) it last changed. */
  private observed: V1Lease | null = null;
  private observedKey = '';
  private observedAt = 0;
  private observedHolder = '';

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.api = opts.api;
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.identity = opts.identity;
    for (const [k, v] of [['namespace', opts.namespace], ['name', opts.name], ['identity', opts.identity]] as const) {
      if (typeof v !== 'string' || v.trim() === '') throw new Error(`leader election: ${k} must be a non-empty string`);
    }
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewPeriodMs = opts.renewPeriodMs ?? 5_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    positive('leaseDurationMs', this.leaseDurationMs);
    positive('renewPeriodMs', this.renewPeriodMs);
    positive('retryPeriodMs', this.retryPeriodMs);
    if (this.leaseDurationMs < 1000) throw new Error(`leader election: leaseDurationMs must be at least 1000 (the Lease counts whole seconds; got ${this.leaseDurationMs})`);
    if (this.renewPeriodMs >= this.leaseDurationMs) {
      throw new Error(`leader election: renewPeriodMs (${this.renewPeriodMs}) must be less than leaseDurationMs (${this.leaseDurationMs})`);
    }
    this.renewDeadlineMs = opts.renewDeadlineMs ?? (this.leaseDurationMs + this.renewPeriodMs) / 2;
    positive('renewDeadlineMs', this.renewDeadlineMs);
    if (this.renewDeadlineMs <= this.renewPeriodMs || this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new Error(`leader election: renewDeadlineMs (${this.renewDeadlineMs}) must be between renewPeriodMs (${this.renewPeriodMs}) and leaseDurationMs (${this.leaseDurationMs})`);
    }
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? this.renewDeadlineMs - this.renewPeriodMs;
    positive('attemptTimeoutMs', this.attemptTimeoutMs);
    this.clock = opts.clock ?? realClock;
    this.log = opts.log ?? silentLogger;
  }

  /** Starts competing for the lease (the first attempt is immediate). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder identity last observed in the Lease ('' when none or released, undefined before the first read). */
  leader(): string | undefined {
    return this.observedKey === '' ? undefined : this.observedHolder;
  }

  /** Stops competing; a leader calls onStoppedLeading('stopped') and then releases the lease. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelTick = undefined;
    await this.inflight; // bounded by attemptTimeoutMs
    this.attemptSeq++;
    if (this.leading) await this.stepDown('stopped');
    if (this.observedHolder === this.identity && this.observed !== null) await this.release();
  }

  private schedule(ms: number): void {
    this.cancelTick?.();
    this.cancelTick = this.clock.setTimer(ms, () => {
      this.cancelTick = undefined;
      this.inflight = this.tick().finally(() => (this.inflight = undefined));
    });
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let r: Attempt;
    try {
      const seq = ++this.attemptSeq;
      r = await this.withTimeout(this.attempt(seq), 'attempt');
    } catch (err) {
      this.log.warn({ lease: `${this.namespace}/${this.name}`, err: oneLine(err) }, 'leader election: lease call failed; retrying');
      r = { ok: false };
    }
    if (this.stopped) return; // a lease written meanwhile is released by stop()
    if (r.ok && r.sentAt !== undefined && this.clock.now() - r.sentAt < this.renewDeadlineMs) {
      this.lastRenewAt = r.sentAt;
      this.armDeadline();
      if (!this.leading) {
        this.leading = true;
        this.epoch++;
        this.log.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity, epoch: this.epoch }, 'leader election: started leading');
        this.callback(() => this.opts.onStartedLeading(this.epoch));
      }
      this.schedule(this.renewPeriodMs);
      return;
    }
    if (this.leading && r.lost) await this.stepDown('lost lease');
    // A leader whose renewal failed keeps leading until its deadline timer fires, and retries meanwhile.
    this.schedule(this.retryPeriodMs);
  }

  private armDeadline(): void {
    this.cancelDeadline?.();
    const left = this.lastRenewAt + this.renewDeadlineMs - this.clock.now();
    this.cancelDeadline = this.clock.setTimer(Math.max(0, left), () => {
      this.cancelDeadline = undefined;
      if (this.leading && this.clock.now() - this.lastRenewAt >= this.renewDeadlineMs) void this.stepDown('renew deadline');
    });
  }

  private async stepDown(reason: StopReason): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.cancelDeadline?.();
    this.cancelDeadline = undefined;
    this.log.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity, epoch: this.epoch, reason }, 'leader election: stopped leading');
    try {
      await this.opts.onStoppedLeading(reason);
    } catch (err) {
      this.log.warn({ err: oneLine(err) }, 'leader election: onStoppedLeading failed');
    }
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.warn({ err: oneLine(err) }, 'leader election: callback failed');
    }
  }

  /** Records a read or written Lease; a changed record restarts the expiry wait (local clock). */
  private observe(lease: V1Lease | null): void {
    this.observed = lease;
    const spec = lease?.spec;
    const key = JSON.stringify({
      exists: lease !== null,
      holder: spec?.holderIdentity ?? '',
      duration: spec?.leaseDurationSeconds ?? null,
      acquire: timeMs(spec?.acquireTime) ?? null,
      renew: timeMs(spec?.renewTime) ?? null,
      transitions: spec?.leaseTransitions ?? null,
    });
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = this.clock.now();
    }
    const holder = spec?.holderIdentity ?? '';
    if (holder !== this.observedHolder) {
      this.observedHolder = holder;
      this.callback(() => this.opts.onNewLeader?.(holder));
    }
  }

  private expired(): boolean {
    const seconds = this.observed?.spec?.leaseDurationSeconds;
    const duration = typeof seconds === 'number' && seconds > 0 ? seconds * 1000 : this.leaseDurationMs;
    return this.clock.now() >= this.observedAt + duration;
  }

  /** The record this replica writes to acquire or renew `current` (null: create). */
  private claim(current: V1Lease | null, now: number): V1Lease {
    const spec = current?.spec ?? {};
    const renewing = spec.holderIdentity === this.identity;
    const date = new Date(now);
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: current?.metadata ?? {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'ringmaster', 'app.kubernetes.io/part-of': 'ringmaster' },
      },
      spec: {
        ...spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: renewing && spec.acquireTime !== undefined ? spec.acquireTime : date,
        renewTime: date,
        leaseTransitions: renewing ? (spec.leaseTransitions ?? 0) : current === null ? 0 : (spec.leaseTransitions ?? 0) + 1,
      },
    };
  }

  /** One acquire-or-renew, client-go's tryAcquireOrRenew: read, judge, write with the read resourceVersion. */
  private async attempt(seq: number): Promise<Attempt> {
    const abandoned = () => this.stopped || seq !== this.attemptSeq;
    for (let round = 0; round < 3; round++) {
      const lease = await this.api.read(this.namespace, this.name);
      if (abandoned()) return { ok: false };
      this.observe(lease);
      if (this.leading && this.observedHolder !== this.identity) return { ok: false, lost: true };
      if (lease !== null && this.observedHolder !== '' && this.observedHolder !== this.identity && !this.expired()) return { ok: false };
      const sentAt = this.clock.now();
      try {
        const written = lease === null
          ? await this.api.create(this.namespace, this.claim(null, sentAt))
          : await this.api.replace(this.namespace, this.name, this.claim(lease, sentAt));
        if (abandoned()) return { ok: false };
        this.observe(written);
        return { ok: true, sentAt };
      } catch (err) {
        if (!(err instanceof LeaseConflictError)) throw err;
        this.log.debug({ lease: `${this.namespace}/${this.name}` }, 'leader election: conflict; re-reading');
      }
    }
    return { ok: false };
  }

  /** Gives the lease up at once: holder cleared, leaseDurationSeconds 1, with the observed resourceVersion. */
  private async release(): Promise<void> {
    const current = this.observed;
    if (current === null) return;
    const now = new Date(this.clock.now());
    const { holderIdentity: _holder, ...spec } = current.spec ?? {};
    const released: V1Lease = { ...current, spec: { ...spec, leaseDurationSeconds: 1, acquireTime: now, renewTime: now } };
    try {
      this.observe(await this.withTimeout(this.api.replace(this.namespace, this.name, released), 'release'));
      this.log.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity }, 'leader election: released the lease');
    } catch (err) {
      // Someone else wrote it (it is not ours any more), or the API is down: the lease expires on its own.
      this.log.warn({ lease: `${this.namespace}/${this.name}`, err: oneLine(err) }, 'leader election: could not release the lease');
    }
  }

  /** p, or a rejection after attemptTimeoutMs (the call itself is abandoned, not cancelled). */
  private withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.clock.setTimer(this.attemptTimeoutMs, () => reject(new Error(`lease ${what} timed out after ${this.attemptTimeoutMs} ms`)));
      p.then(
        (v) => {
          cancel();
          resolve(v);
        },
        (e: unknown) => {
          cancel();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}
