import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import { LeaderElector, LeaseConflictError, clientNodeLeaseApi, timeMs, type LeaseApi, type StopReason, type V1Lease } from '../../controller/operator/lease';
import { VirtualClock, type Clock } from '../../controller/runtime/clock';

const NS = 'ringmaster';
const NAME = 'ringmaster-leader';
const T0 = Date.parse('2026-12-01T00:00:00Z');

/** The API server's side of one Lease: resourceVersions, 409s, and a log of what was applied when. */
class FakeLeaseStore {
  private stored: string | null = null;
  private rv = 0;
  conflicts = 0;
  writes: Array<{ at: number; by: string; holder: string }> = [];
  reads: Array<{ at: number; by: string }> = [];

  constructor(private readonly vc: VirtualClock) {}

  get lease(): V1Lease | null {
    return this.stored === null ? null : (JSON.parse(this.stored) as V1Lease);
  }

  /** Writes a record as an outsider would (kubectl edit): a new resourceVersion. */
  overwrite(mutate: (l: V1Lease) => void): void {
    const l = this.lease;
    if (l === null) throw new Error('no lease');
    mutate(l);
    this.put(l, 'outsider');
  }

  private put(lease: V1Lease, by: string): V1Lease {
    this.rv++;
    const copy = JSON.parse(JSON.stringify(lease)) as V1Lease;
    copy.metadata = { ...copy.metadata, name: NAME, namespace: NS, resourceVersion: String(this.rv) };
    this.stored = JSON.stringify(copy);
    this.writes.push({ at: this.vc.now(), by, holder: copy.spec?.holderIdentity ?? '' });
    return this.lease as V1Lease;
  }

  /**
   * One client's view. `latencyMs` delays the request (applied half-way) and the response; `down` makes every call
   * fail with a 500-like error; `hang` makes calls never answer; `lossRate` applies a write but loses its answer.
   */
  client(by: string, opts: { latencyMs?: number; random?: () => number } = {}) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the closures below are the server side of this store
    const self = this;
    const ctl = { down: false, hang: false, lossRate: 0, latencyMs: opts.latencyMs ?? 0 };
    const call = <T>(op: () => T): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        if (ctl.hang) return;
        if (ctl.down) return reject(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }));
        const half = ctl.latencyMs / 2;
        const apply = () => {
          let out: { ok: true; v: T } | { ok: false; e: unknown };
          try {
            out = { ok: true, v: op() };
          } catch (e) {
            out = { ok: false, e };
          }
          const lost = ctl.lossRate > 0 && (opts.random ?? Math.random)() < ctl.lossRate;
          const answer = () => (lost ? reject(new Error('response lost')) : out.ok ? resolve(out.v) : reject(out.e));
          if (half > 0) self.vc.setTimer(half, answer);
          else answer();
        };
        if (half > 0) self.vc.setTimer(half, apply);
        else apply();
      });
    const api: LeaseApi = {
      read: (ns, name) =>
        call(() => {
          expect([ns, name]).toEqual([NS, NAME]);
          self.reads.push({ at: self.vc.now(), by });
          return self.lease;
        }),
      create: (ns, lease) =>
        call(() => {
          expect(ns).toBe(NS);
          if (self.stored !== null) {
            self.conflicts++;
            throw new LeaseConflictError();
          }
          return self.put(lease, by);
        }),
      replace: (ns, name, lease) =>
        call(() => {
          expect([ns, name]).toEqual([NS, NAME]);
          const cur = self.lease;
          if (cur === null) throw Object.assign(new Error('not found'), { code: 404 });
          if (lease.metadata?.resourceVersion !== cur.metadata?.resourceVersion) {
            self.conflicts++;
            throw new LeaseConflictError();
          }
          return self.put(lease, by);
        }),
    };
    return { api, ctl };
  }
}

const flush = async () => {
  for (let i = 0; i < 8; i++) await new Promise<void>((r) => setImmediate(r));
};

interface Member {
  id: string;
  e: LeaderElector;
  ctl: ReturnType<FakeLeaseStore['client']>['ctl'];
  crashed: boolean;
  starts: number[];
  stops: Array<{ at: number; reason: StopReason }>;
  /** The Lease's holder when onStoppedLeading ran. */
  holderAtStop: string[];
}

/** Electors sharing one fake Lease and one virtual time; each may have its own clock offset (skew). */
function cluster(opts: { latencyMs?: number; random?: () => number } = {}) {
  const vc = new VirtualClock(T0);
  const store = new FakeLeaseStore(vc);
  const members: Member[] = [];
  const leading = new Set<string>();
  const violations: string[] = [];

  function add(id: string, o: { offsetMs?: number; leaseDurationMs?: number; renewPeriodMs?: number; retryPeriodMs?: number } = {}): Member {
    const { api, ctl } = store.client(id, opts);
    const m = { id, ctl, crashed: false, starts: [] as number[], stops: [] as Member['stops'], holderAtStop: [] as string[] } as Member;
    // A crashed process runs no more timers (and never releases).
    const clock: Clock = {
      now: () => vc.now() + (o.offsetMs ?? 0),
      setTimer: (ms, fn) => vc.setTimer(ms, () => (m.crashed ? undefined : fn())),
    };
    m.e = new LeaderElector({
      api,
      namespace: NS,
      name: NAME,
      identity: id,
      clock,
      leaseDurationMs: o.leaseDurationMs ?? 15_000,
      renewPeriodMs: o.renewPeriodMs ?? 5_000,
      retryPeriodMs: o.retryPeriodMs ?? 2_000,
      onStartedLeading: () => {
        const others = [...leading].filter((x) => !members.find((y) => y.id === x)?.crashed);
        if (others.length > 0) violations.push(`${vc.now() - T0}: ${id} started leading while ${others.join(',')} leads`);
        leading.add(id);
        m.starts.push(vc.now());
      },
      onStoppedLeading: (reason) => {
        leading.delete(id);
        m.stops.push({ at: vc.now(), reason });
        m.holderAtStop.push(store.lease?.spec?.holderIdentity ?? '');
      },
    });
    members.push(m);
    return m;
  }

  function check(): void {
    const live = members.filter((m) => !m.crashed && m.e.isLeader()).map((m) => m.id);
    if (live.length > 1) violations.push(`${vc.now() - T0}: two leaders ${live.join(',')}`);
  }

  /** Advances virtual time in steps, settling the promises and checking the invariant after each. */
  async function run(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      vc.advance(step);
      await flush();
      check();
    }
  }

  function crash(m: Member): void {
    m.crashed = true;
    leading.delete(m.id);
  }

  /** Stops m while time goes on (its calls may hang until their timeout). */
  async function stop(m: Member): Promise<void> {
    let done = false;
    const p = m.e.stop().then(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) await run(100);
    await p;
  }

  const leaders = () => members.filter((m) => !m.crashed && m.e.isLeader());
  return { vc, store, add, run, crash, stop, leaders, violations, now: () => vc.now() };
}

describe('LeaderElector', () => {
  test('one of two electors leads; the create race loses with a 409 and re-reads; the other sees the leader', async () => {
    const c = cluster();
    const a = c.add('a');
    const b = c.add('b');
    a.e.start();
    b.e.start();
    await c.run(3000);
    const leaders = c.leaders();
    expect(leaders).toHaveLength(1);
    const [leader] = leaders;
    const follower = leader === a ? b : a;
    expect(c.store.conflicts).toBeGreaterThanOrEqual(1);
    expect(leader?.e.epoch).toBe(1);
    expect(follower.e.isLeader()).toBe(false);
    expect(follower.e.epoch).toBe(0);
    expect(follower.e.leader()).toBe(leader?.id);
    expect(leader?.e.leader()).toBe(leader?.id);
    const lease = c.store.lease;
    expect(lease?.spec?.holderIdentity).toBe(leader?.id);
    expect(lease?.spec?.leaseDurationSeconds).toBe(15);
    expect(lease?.spec?.leaseTransitions).toBe(0);
    expect(lease?.metadata?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'ringmaster', 'app.kubernetes.io/part-of': 'ringmaster' });
    expect(c.violations).toEqual([]);
  });

  test('the leader renews every renewPeriod with the read resourceVersion, keeping acquireTime and transitions', async () => {
    const c = cluster();
    const a = c.add('a');
    const b = c.add('b');
    a.e.start();
    await c.run(500);
    b.e.start();
    const acquire = c.store.lease?.spec?.acquireTime;
    await c.run(60_000);
    expect(a.e.isLeader()).toBe(true);
    expect(a.starts).toHaveLength(1);
    expect(b.starts).toHaveLength(0);
    const renewals = c.store.writes.filter((w) => w.by === 'a');
    // acquisition at 0 then every 5 s for 60 s
    expect(renewals.length).toBeGreaterThanOrEqual(12);
    expect(renewals.length).toBeLessThanOrEqual(14);
    const gaps = renewals.slice(1).map((w, i) => w.at - (renewals[i] as { at: number }).at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5_000);
    const spec = c.store.lease?.spec;
    expect(spec?.acquireTime).toBe(acquire);
    expect(spec?.leaseTransitions).toBe(0);
    expect(timeMs(spec?.renewTime)).toBe(renewals[renewals.length - 1]?.at);
    expect(c.store.writes.filter((w) => w.by === 'b')).toHaveLength(0);
  });

  test('stop() stops the leader first, then releases; the other acquires on its next retry, not after leaseDuration', async () => {
    const c = cluster();
    const a = c.add('a');
    const b = c.add('b');
    a.e.start();
    await c.run(500);
    b.e.start();
    await c.run(7_000);
    expect(a.e.isLeader()).toBe(true);
    const stopped = a.e.stop();
    await flush();
    await stopped;
    expect(a.stops).toEqual([{ at: c.now(), reason: 'stopped' }]);
    expect(a.holderAtStop).toEqual(['a']); // the work stopped while the lease was still held
    expect(c.store.lease?.spec?.holderIdentity).toBeUndefined();
    expect(a.e.isLeader()).toBe(false);
    const releasedAt = c.now();
    await c.run(2_500);
    expect(b.e.isLeader()).toBe(true);
    expect(b.starts[0]! - releasedAt).toBeLessThanOrEqual(2_100);
    expect(c.store.lease?.spec?.holderIdentity).toBe('b');
    expect(c.store.lease?.spec?.leaseTransitions).toBe(1);
    expect(timeMs(c.store.lease?.spec?.acquireTime)).toBe(b.starts[0]);
    // a stopped elector stays stopped
    await c.run(30_000);
    expect(a.e.isLeader()).toBe(false);
    expect(c.store.writes.filter((w) => w.by === 'a' && w.at > releasedAt)).toHaveLength(0);
    await a.e.stop();
    expect(c.violations).toEqual([]);
  });

  test('a crashed leader (no release) is replaced only leaseDuration after the follower observed the record', async () => {
    const c = cluster();
    const a = c.add('a');
    a.e.start();
    await c.run(20_000);
    c.crash(a);
    const lastWrite = c.store.writes[c.store.writes.length - 1]!.at;
    await c.run(10_000); // the lease is long stale by its renewTime when b starts
    const b = c.add('b');
    b.e.start();
    const bStartedAt = c.now();
    await c.run(14_800);
    expect(b.e.isLeader()).toBe(false);
    expect(b.e.leader()).toBe('a');
    await c.run(2_500);
    expect(b.e.isLeader()).toBe(true);
    const firstObservation = c.store.reads.find((r) => r.by === 'b')!.at;
    expect(firstObservation - bStartedAt).toBeLessThanOrEqual(100);
    expect(b.starts[0]! - firstObservation).toBeGreaterThanOrEqual(15_000);
    expect(b.starts[0]! - firstObservation).toBeLessThanOrEqual(15_000 + 2_000 + 100);
    expect(b.starts[0]! - lastWrite).toBeGreaterThan(25_000);
    expect(c.store.lease?.spec?.leaseTransitions).toBe(1);
  });

  test('a follower already watching a crashed leader takes over leaseDuration after the last change it saw', async () => {
    const c = cluster();
    const a = c.add('a');
    const b = c.add('b');
    a.e.start();
    await c.run(300);
    b.e.start();
    await c.run(12_000);
    c.crash(a);
    const lastWrite = c.store.writes[c.store.writes.length - 1]!.at;
    await c.run(20_000);
    expect(b.e.isLeader()).toBe(true);
    const observed = c.store.reads.find((r) => r.by === 'b' && r.at >= lastWrite)!.at;
    expect(b.starts[0]! - observed).toBeGreaterThanOrEqual(15_000);
    expect(b.starts[0]! - observed).toBeLessThanOrEqual(15_000 + 2_100);
  });

  test('a leader whose renewals fail steps down (renew deadline) before the lease could be taken over', async () => {
    for (const failure of ['down', 'hang'] as const) {
      const c = cluster();
      const a = c.add('a');
      const b = c.add('b');
      a.e.start();
      await c.run(300);
      b.e.start();
      await c.run(6_000);
      expect(a.e.isLeader()).toBe(true);
      const lastRenew = c.store.writes[c.store.writes.length - 1]!.at;
      a.ctl[failure] = true; // a is cut off from the API server; b is not
      await c.run(30_000);
      expect(a.stops.map((s) => s.reason)).toEqual(['renew deadline']);
      // (15 + 5) / 2 = 10 s after its last successful renewal
      expect(a.stops[0]!.at - lastRenew).toBeGreaterThanOrEqual(10_000);
      expect(a.stops[0]!.at - lastRenew).toBeLessThanOrEqual(10_100);
      expect(b.e.isLeader()).toBe(true);
      expect(b.starts[0]! - a.stops[0]!.at).toBeGreaterThanOrEqual(5_000);
      expect(c.violations).toEqual([]);
      // the API comes back: a sees b's lease and stays a follower; the elector never crashed
      a.ctl[failure] = false;
      if (failure === 'down') {
        await c.run(10_000);
        expect(a.e.isLeader()).toBe(false);
        expect(a.e.leader()).toBe('b');
      }
    }
  });

  test('a renewal that fails transiently is retried on retryPeriod and the leader keeps leading', async () => {
    const c = cluster();
    const a = c.add('a');
    a.e.start();
    await c.run(5_500);
    a.ctl.down = true;
    await c.run(3_000);
    a.ctl.down = false;
    await c.run(10_000);
    expect(a.stops).toEqual([]);
    expect(a.e.isLeader()).toBe(true);
    expect(a.e.epoch).toBe(1);
  });

  test('a leader that sees another holder in the lease steps down at once', async () => {
    const c = cluster();
    const a = c.add('a');
    a.e.start();
    await c.run(1_000);
    c.store.overwrite((l) => {
      l.spec = { ...l.spec, holderIdentity: 'intruder', renewTime: new Date(c.now()) as unknown as k8s.V1MicroTime };
    });
    const at = c.now();
    await c.run(6_000);
    expect(a.stops.map((s) => s.reason)).toEqual(['lost lease']);
    expect(a.stops[0]!.at - at).toBeLessThanOrEqual(5_000);
    expect(a.e.leader()).toBe('intruder');
    // the intruder never renews: a takes the lease back only after leaseDuration from its observation
    await c.run(20_000);
    expect(a.e.isLeader()).toBe(true);
    expect(a.e.epoch).toBe(2);
    expect(a.starts[1]! - a.stops[0]!.at).toBeGreaterThanOrEqual(15_000);
  });

  test('skewed clocks between replicas do not produce two leaders, and do not block a takeover', async () => {
    for (const [skewA, skewB] of [
      [3_600_000, 0],
      [0, 3_600_000],
      [-7_200_000, 86_400_000],
    ] as const) {
      const c = cluster();
      const a = c.add('a', { offsetMs: skewA });
      const b = c.add('b', { offsetMs: skewB });
      a.e.start();
      await c.run(300);
      b.e.start();
      await c.run(60_000);
      expect(a.starts).toHaveLength(1);
      expect(a.stops).toHaveLength(0);
      expect(b.starts).toHaveLength(0);
      c.crash(a);
      await c.run(20_000);
      expect(b.e.isLeader()).toBe(true);
      expect(c.violations).toEqual([]);
    }
  });

  test('never two leaders at any instant: three electors, latency, failures, lost answers, stops and restarts', async () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const c = cluster({ latencyMs: 300, random });
    const ids = ['a', 'b', 'c'];
    let gen = 0;
    const members = ids.map((id) => c.add(`${id}${gen}`, { offsetMs: Math.floor(random() * 1e7) - 5e6 }));
    members.forEach((m) => m.e.start());
    let acquisitions = 0;
    for (let round = 0; round < 60; round++) {
      const i = Math.floor(random() * members.length);
      const m = members[i]!;
      const r = random();
      if (r < 0.3) {
        m.ctl.down = !m.ctl.down;
      } else if (r < 0.4) {
        m.ctl.lossRate = m.ctl.lossRate > 0 ? 0 : 0.5;
      } else if (r < 0.5) {
        m.ctl.hang = !m.ctl.hang;
      } else if (r < 0.6) {
        await c.stop(m);
        acquisitions += m.starts.length;
        gen++;
        members[i] = c.add(`${ids[i]}${gen}`, { offsetMs: Math.floor(random() * 1e7) - 5e6 });
        members[i]!.e.start();
      } else if (r < 0.65) {
        c.crash(m);
        acquisitions += m.starts.length;
        gen++;
        members[i] = c.add(`${ids[i]}${gen}`);
        members[i]!.e.start();
      }
      await c.run(Math.floor(random() * 8_000) + 500, 50);
    }
    acquisitions += members.reduce((n, m) => n + m.starts.length, 0);
    expect(c.violations).toEqual([]);
    expect(acquisitions).toBeGreaterThan(5); // leadership did move around
    // liveness: once the API answers again, exactly one live replica leads
    for (const m of members) {
      m.ctl.down = m.ctl.hang = false;
      m.ctl.lossRate = 0;
    }
    await c.run(40_000);
    expect(c.leaders()).toHaveLength(1);
    expect(c.violations).toEqual([]);
  });

  test('options: defaults and validation', () => {
    const { api } = new FakeLeaseStore(new VirtualClock(0)).client('x');
    const base = { api, namespace: NS, name: NAME, identity: 'x', onStartedLeading: () => undefined, onStoppedLeading: () => undefined };
    const e = new LeaderElector(base);
    expect([e.leaseDurationMs, e.renewPeriodMs, e.renewDeadlineMs, e.retryPeriodMs]).toEqual([15_000, 5_000, 10_000, 2_000]);
    expect(e.isLeader()).toBe(false);
    expect(e.leader()).toBeUndefined();
    expect(e.epoch).toBe(0);
    expect(() => new LeaderElector({ ...base, renewPeriodMs: 15_000 })).toThrow('leader election: renewPeriodMs (15000) must be less than leaseDurationMs (15000)');
    expect(() => new LeaderElector({ ...base, renewPeriodMs: 20_000 })).toThrow(/renewPeriodMs/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 15_000 })).toThrow(/renewDeadlineMs \(15000\) must be between/);
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 4_000 })).toThrow(/renewDeadlineMs/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: -1 })).toThrow(/leaseDurationMs must be a positive/);
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 500, renewPeriodMs: 100 })).toThrow(/at least 1000/);
    expect(() => new LeaderElector({ ...base, retryPeriodMs: 0 })).toThrow(/retryPeriodMs/);
    expect(() => new LeaderElector({ ...base, attemptTimeoutMs: 0 })).toThrow(/attemptTimeoutMs/);
    expect(e.attemptTimeoutMs).toBe(5_000);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity must be a non-empty/);
    expect(() => new LeaderElector({ ...base, namespace: ' ' })).toThrow(/namespace/);
    expect(new LeaderElector({ ...base, leaseDurationMs: 12_000, renewPeriodMs: 10_000 }).renewDeadlineMs).toBe(11_000);
  });
});

describe('clientNodeLeaseApi over the real client', () => {
  let server: http.Server;
  let stored: Record<string, unknown> | null = null;
  let rv = 0;
  const bodies: Array<{ method: string; body: Record<string, unknown> }> = [];
  let kc: k8s.KubeConfig;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let data = '';
      req.on('data', (c: Buffer) => (data += c.toString()));
      req.on('end', () => {
        const send = (code: number, obj: unknown) => {
          res.writeHead(code, { 'content-type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        const status = (code: number, reason: string) => send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code });
        const base = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
        const body = data === '' ? {} : (JSON.parse(data) as Record<string, unknown>);
        if (req.method !== 'GET') bodies.push({ method: req.method ?? '', body });
        const meta = (body.metadata ?? {}) as Record<string, unknown>;
        if (req.method === 'GET' && req.url === `${base}/${NAME}`) return stored === null ? status(404, 'NotFound') : send(200, stored);
        if (req.method === 'POST' && req.url === base) {
          if (stored !== null) return status(409, 'AlreadyExists');
          stored = { ...body, metadata: { ...meta, resourceVersion: String(++rv) } };
          return send(201, stored);
        }
        if (req.method === 'PUT' && req.url === `${base}/${NAME}`) {
          if (stored === null) return status(404, 'NotFound');
          if (meta.resourceVersion !== (stored.metadata as Record<string, unknown>).resourceVersion) return status(409, 'Conflict');
          stored = { ...body, metadata: { ...meta, resourceVersion: String(++rv) } };
          return send(200, stored);
        }
        if (req.method === 'GET' && req.url === `${base}/boom`) return status(500, 'InternalError');
        status(404, 'NotFound');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u', namespace: NS }],
      currentContext: 'x',
    });
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  test('read 404 is null, create and replace send microsecond times, a stale resourceVersion is a LeaseConflictError', async () => {
    const api = clientNodeLeaseApi(kc);
    expect(await api.read(NS, NAME)).toBeNull();
    const now = new Date('2026-12-01T10:00:00.123Z');
    const created = await api.create(NS, { metadata: { name: NAME, namespace: NS }, spec: { holderIdentity: 'a', renewTime: now as k8s.V1MicroTime, leaseDurationSeconds: 15 } });
    expect(created.metadata?.resourceVersion).toBe('1');
    const sent = bodies[0]!.body as { apiVersion: string; kind: string; spec: { renewTime: string } };
    expect(sent.apiVersion).toBe('coordination.k8s.io/v1');
    expect(sent.kind).toBe('Lease');
    expect(sent.spec.renewTime).toBe('2026-12-01T10:00:00.123000Z');
    await expect(api.create(NS, { metadata: { name: NAME, namespace: NS }, spec: {} })).rejects.toBeInstanceOf(LeaseConflictError);
    const read = await api.read(NS, NAME);
    expect(timeMs(read?.spec?.renewTime)).toBe(now.getTime());
    const replaced = await api.replace(NS, NAME, { ...read, spec: { ...read?.spec, holderIdentity: 'b' } });
    expect(replaced.metadata?.resourceVersion).toBe('2');
    await expect(api.replace(NS, NAME, { ...read, spec: { ...read?.spec, holderIdentity: 'c' } })).rejects.toBeInstanceOf(LeaseConflictError);
    await expect(api.read(NS, 'boom')).rejects.toMatchObject({ code: 500 });
  });

  test('an elector acquires and releases through the real client', async () => {
    stored = null;
    let epoch = 0;
    const stopped: string[] = [];
    const e = new LeaderElector({
      api: clientNodeLeaseApi(kc),
      namespace: NS,
      name: NAME,
      identity: 'pod-1',
      leaseDurationMs: 1_000,
      renewPeriodMs: 200,
      retryPeriodMs: 100,
      onStartedLeading: (n) => (epoch = n),
      onStoppedLeading: (r) => void stopped.push(r),
    });
    e.start();
    for (let i = 0; i < 50 && !e.isLeader(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(e.isLeader()).toBe(true);
    expect(epoch).toBe(1);
    expect((stored as { spec: { holderIdentity: string } } | null)?.spec.holderIdentity).toBe('pod-1');
    await e.stop();
    expect(stopped).toEqual(['stopped']);
    const spec = (stored as { spec: Record<string, unknown> } | null)?.spec;
    expect(spec?.holderIdentity).toBeUndefined();
    expect(spec?.leaseDurationSeconds).toBe(1);
  });
});
