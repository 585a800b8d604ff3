/**
 * The simulated fleet: N hosts in typed arrays (no object per host).
 *
 * Per host: a stable id (`host-0000042`), labels as small codes (region, os, tenant, `ring: canary` for the
 * dogfood set), the channel bucket from the engine's own hostBucket, a baseline hazard multiplier drawn from a
 * gamma distribution (mean 1), the installed version, whether it ever took the candidate, whether it is bricked
 * (crashed on boot into a boot loop: it cannot poll, report or roll back), and its poll phase in the interval.
 *
 * Agents poll every pollInterval at their own phase, each poll delayed by a uniform jitter in [0, pollJitter).
 * A poll of an unchanged manifest is a 304 and changes nothing, so the fleet only walks the hosts whose poll falls
 * in the step while a manifest change (or a failed install to retry) is pending: when a new revision appears, each
 * host's next poll time is computed once (phase + fresh jitter draw), the hosts are counting-sorted by it, and a
 * cursor walks them as virtual time passes; each host sees the manifest as of its own poll. Membership is the
 * engine's takesCandidate, evaluated once per manifest revision for every (label combination, bucket) pair and
 * looked up per host.
 *
 * Crashes and BSODs are drawn per step and version from Poisson(rate x sum of host hazards x time x day/night
 * cycle x optional overdispersion noise); a crash on boot is drawn per installing host.
 */
import { BUCKETS, hostBucket, takesCandidate, type Exposure } from '../controller/engine/membership';
import { Rng } from './random';
import type { Scenario } from './scenario';

export const BASELINE = 0;
export const CANDIDATE = 1;
export type EventKind = 'crash' | 'bsod' | 'update-failure';
export type FailureReason = 'signature' | 'hash' | 'download' | 'apply';

/** What an agent learned from one poll of the manifest (already verified, or found tampered). */
export interface ManifestView {
  revision: number;
  /** The candidate's exposure, null when there is none (withdrawn or finished). */
  candidate: { version: string; exposure: Exposure } | null;
  killSwitch: boolean;
  /** The manifest signature verified against the pinned key. */
  signatureOk: boolean;
  /** The artifact bytes the agent downloaded match the manifest's sha256. */
  artifactOk: boolean;
}

interface Snapshot {
  t: number;
  /** [version][kind] cumulative events; kinds crash, bsod, update-failure. */
  events: [number[], number[]];
  hostSeconds: [number, number];
  hosts: [number, number];
}

export function hostId(i: number): string {
  return `host-${String(i).padStart(7, '0')}`;
}

export class Fleet {
  readonly n: number;
  readonly bucket: Uint16Array;
  readonly combo: Uint8Array;
  readonly hazard: Float32Array;
  readonly version: Uint8Array;
  readonly bricked: Uint8Array;
  readonly took: Uint8Array;
  /** Poll phase within the interval, ms. */
  private readonly phase: Float64Array;
  /** The current sweep (since the last manifest revision): host indices by their next poll, and that poll's offset. */
  private readonly dueOrder: Uint32Array;
  private readonly dueOffset: Uint32Array;
  private sweepStart = 0;
  private cursor = 0;
  readonly comboLabels: Array<Record<string, string>>;
  readonly canaryCount: number;

  private takes: Uint8Array = new Uint8Array(0);
  private tableRevision = -1;
  /** Hosts whose install failed: they try again at their next poll (one poll interval later). */
  private retry: number[] = [];
  private retryAt = Infinity;
  private readonly hazardSum: [number, number] = [0, 0];
  readonly hostsOn: [number, number] = [0, 0];
  /** Hosts that ever installed the candidate, and hosts bricked: running totals. */
  tookTotal = 0;
  brickedTotal = 0;
  private readonly cum: Snapshot;
  private readonly history: Snapshot[] = [];
  readonly failures: Record<FailureReason, number> = { signature: 0, hash: 0, download: 0, apply: 0 };
  private readonly rng: Rng;

  constructor(
    private readonly sc: Scenario,
    salt: string,
    startMs: number,
  ) {
    const f = sc.fleet;
    this.rng = new Rng(sc.seed);
    const n = (this.n = f.hosts);
    this.bucket = new Uint16Array(n);
    this.combo = new Uint8Array(n);
    this.hazard = new Float32Array(n);
    this.version = new Uint8Array(n);
    this.bricked = new Uint8Array(n);
    this.took = new Uint8Array(n);
    this.phase = new Float64Array(n);
    const tenants = [...f.tenants.map((t) => t.name), ''];
    this.comboLabels = [];
    for (const region of f.regions) {
      for (const os of f.oses) {
        for (const tenant of tenants) {
          for (const canary of [false, true]) {
            const labels: Record<string, string> = { region, os };
            if (tenant) labels.tenant = tenant;
            if (canary) labels.ring = 'canary';
            this.comboLabels.push(labels);
          }
        }
      }
    }
    if (this.comboLabels.length > 255) throw new Error('fleet: too many label combinations (regions x oses x tenants x 2 must be <= 255)');
    const cumShares: number[] = [];
    let acc = 0;
    for (const t of f.tenants) cumShares.push((acc += t.share));
    let canaries = 0;
    for (let i = 0; i < n; i++) {
      // Exactly canaryHosts dogfood hosts, spread evenly over the ids; canary hosts belong to no tenant.
      const canary = Math.floor(((i + 1) * f.canaryHosts) / n) !== Math.floor((i * f.canaryHosts) / n);
      if (canary) canaries++;
      const region = Math.floor(this.rng.next() * f.regions.length);
      const os = Math.floor(this.rng.next() * f.oses.length);
      let tenant = tenants.length - 1;
      if (!canary) {
        const u = this.rng.next();
        const k = cumShares.findIndex((c) => u < c);
        if (k >= 0) tenant = k;
      }
      this.combo[i] = ((region * f.oses.length + os) * tenants.length + tenant) * 2 + (canary ? 1 : 0);
      this.hazard[i] = this.rng.gamma(f.hazardShape, 1 / f.hazardShape);
      this.phase[i] = this.rng.next() * f.pollIntervalMs;
      this.hazardSum[BASELINE] += this.hazard[i] as number;
    }
    this.bucket.set(bucketsFor(salt, n));
    this.canaryCount = canaries;
    this.hostsOn[BASELINE] = n;
    this.dueOrder = new Uint32Array(n);
    this.dueOffset = new Uint32Array(n);
    this.cursor = n;
    this.cum = { t: startMs, events: [[0, 0, 0], [0, 0, 0]], hostSeconds: [0, 0], hosts: [n, 0] };
    this.history.push(structuredClone(this.cum));
  }

  /** No poll can change anything until the manifest changes: the last revision reached every host, no retry waits. */
  idle(): boolean {
    return this.cursor >= this.n && this.retry.length === 0;
  }

  isCanary(i: number): boolean {
    return ((this.combo[i] as number) & 1) === 1;
  }

  /** One step [t, t + dt): agents whose poll falls due see `manifest`; then exposure and crashes accrue. */
  step(t: number, dt: number, manifest: ManifestView | undefined): void {
    const period = this.sc.fleet.pollIntervalMs;
    if (manifest && manifest.revision !== this.tableRevision) {
      this.buildTable(manifest);
      this.tableRevision = manifest.revision;
      this.startSweep(t);
      // The sweep reaches every host, the ones waiting to retry included.
      this.retry = [];
      this.retryAt = Infinity;
    }
    if (manifest && this.cursor < this.n) {
      const failed = this.polls(t + dt, manifest);
      if (failed.length > 0) {
        for (const i of failed) this.retry.push(i);
        this.retryAt = Math.min(this.retryAt, t + period);
      }
    } else if (manifest && this.retry.length > 0 && t >= this.retryAt) {
      const again = this.retry;
      this.retry = [];
      for (const i of again) if (this.pollHost(i, manifest)) this.retry.push(i);
      this.retryAt = this.retry.length > 0 ? t + period : Infinity;
    }
    this.accrue(t, dt);
  }

  /** takes[combo * BUCKETS + bucket], from the engine's membership function. */
  private buildTable(m: ManifestView): void {
    const combos = this.comboLabels.length;
    if (this.takes.length !== combos * BUCKETS) this.takes = new Uint8Array(combos * BUCKETS);
    if (!m.candidate) {
      this.takes.fill(0);
      return;
    }
    const exposure = m.candidate.exposure;
    for (let c = 0; c < combos; c++) {
      const host = { id: '', labels: this.comboLabels[c] as Record<string, string>, bucket: 0 };
      for (let b = 0; b < BUCKETS; b++) {
        host.bucket = b;
        this.takes[c * BUCKETS + b] = takesCandidate(exposure, host) ? 1 : 0;
      }
    }
  }

  /**
   * A new revision at t: every host's next poll is at t + (its phase - t mod interval) + a fresh jitter draw.
   * Counting sort by that offset (ms), so a sweep costs O(hosts) once per revision and O(polls) per step.
   */
  private startSweep(t: number): void {
    const { pollIntervalMs: period, pollJitterMs: jitter } = this.sc.fleet;
    const n = this.n;
    const span = Math.ceil(period + jitter) + 1;
    const count = new Uint32Array(span + 1);
    const rel = ((t % period) + period) % period;
    for (let i = 0; i < n; i++) {
      let d = (this.phase[i] as number) - rel;
      if (d < 0) d += period;
      const off = Math.floor(d + (jitter > 0 ? this.rng.next() * jitter : 0));
      this.dueOffset[i] = off;
      (count[off + 1] as number)++;
    }
    for (let k = 1; k <= span; k++) count[k] = (count[k] as number) + (count[k - 1] as number);
    const sortedOffset = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const off = this.dueOffset[i] as number;
      const at = (count[off] as number)++;
      this.dueOrder[at] = i;
      sortedOffset[at] = off;
    }
    this.dueOffset.set(sortedOffset);
    this.sweepStart = t;
    this.cursor = 0;
  }

  /** The hosts whose poll falls before `until` act on the manifest. Returns the hosts whose install failed. */
  private polls(until: number, m: ManifestView): number[] {
    const failed: number[] = [];
    const limit = until - this.sweepStart;
    let k = this.cursor;
    for (; k < this.n && (this.dueOffset[k] as number) < limit; k++) {
      const i = this.dueOrder[k] as number;
      if (this.pollHost(i, m)) failed.push(i);
    }
    this.cursor = k;
    return failed;
  }

  /** Returns true when an install was attempted and failed (to be retried at the next poll). */
  private pollHost(i: number, m: ManifestView): boolean {
    if (this.bricked[i]) return false;
    const wants = this.takes[(this.combo[i] as number) * BUCKETS + (this.bucket[i] as number)] === 1;
    const on = this.version[i] as number;
    if (wants === (on === CANDIDATE)) return false;
    const sc = this.sc;
    // A tampered manifest fails its signature check: the agent keeps what it has.
    if (!m.signatureOk || (sc.tamper.manifestShare > 0 && this.rng.next() < sc.tamper.manifestShare)) {
      this.fail(CANDIDATE, 'signature');
      return true;
    }
    if (!wants) {
      this.move(i, CANDIDATE, BASELINE);
      return false;
    }
    if (m.killSwitch) return false;
    if (!m.artifactOk) {
      this.fail(CANDIDATE, 'hash');
      return true;
    }
    if (sc.candidate.updateFailure > 0 && this.rng.next() < sc.candidate.updateFailure) {
      this.fail(CANDIDATE, 'apply');
      return true;
    }
    this.move(i, BASELINE, CANDIDATE);
    if (!this.took[i]) this.tookTotal++;
    this.took[i] = 1;
    if (sc.candidate.crashOnBoot > 0 && this.rng.next() < sc.candidate.crashOnBoot) {
      // Crash on boot: a BSOD, then a boot loop. The host stops reporting and cannot take a rollback.
      this.bricked[i] = 1;
      this.brickedTotal++;
      this.hostsOn[CANDIDATE]--;
      this.hazardSum[CANDIDATE] -= this.hazard[i] as number;
      (this.cum.events[CANDIDATE] as number[])[1]! += 1;
    }
    return false;
  }

  private move(i: number, from: number, to: number): void {
    this.version[i] = to;
    const h = this.hazard[i] as number;
    this.hazardSum[from as 0 | 1] -= h;
    this.hazardSum[to as 0 | 1] += h;
    this.hostsOn[from as 0 | 1]--;
    this.hostsOn[to as 0 | 1]++;
  }

  private fail(v: number, reason: FailureReason): void {
    this.failures[reason]++;
    (this.cum.events[v as 0 | 1] as number[])[2]! += 1;
  }

  private accrue(t: number, dt: number): void {
    const f = this.sc.fleet;
    const hours = dt / 3_600_000;
    const hourUtc = ((t + dt / 2) / 3_600_000) % 24;
    const diurnal = 1 + f.diurnalAmplitude * Math.sin((2 * Math.PI * (hourUtc - 8)) / 24);
    for (const v of [BASELINE, CANDIDATE] as const) {
      this.cum.hostSeconds[v] += (this.hostsOn[v] * dt) / 1000;
      if (this.hostsOn[v] === 0) continue;
      const mult = v === CANDIDATE ? this.sc.candidate.crashRateMultiplier : 1;
      const noise = f.overdispersionShape === undefined ? 1 : this.rng.gamma(f.overdispersionShape, 1 / f.overdispersionShape);
      const exposure = Math.max(0, this.hazardSum[v]) * hours * diurnal * noise * mult;
      const ev = this.cum.events[v] as number[];
      ev[0]! += this.rng.poisson(f.crashRate * exposure);
      ev[1]! += this.rng.poisson(f.bsodRate * exposure);
    }
    this.cum.t = t + dt;
    this.cum.hosts = [this.hostsOn[0], this.hostsOn[1]];
    this.history.push({ t: this.cum.t, events: [[...this.cum.events[0]], [...this.cum.events[1]]], hostSeconds: [...this.cum.hostSeconds], hosts: [...this.cum.hosts] });
  }

  /** Cumulative counters of a version at time t (the last step that ended at or before t). */
  at(t: number): Snapshot {
    let lo = 0;
    let hi = this.history.length - 1;
    if (t < (this.history[0] as Snapshot).t) return this.history[0] as Snapshot;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.history[mid] as Snapshot).t <= t) lo = mid;
      else hi = mid - 1;
    }
    return this.history[lo] as Snapshot;
  }

  latest(): Snapshot {
    return this.cum;
  }

  counts(): { took: number; bricked: number; tookOutsideCanary: number; onCandidate: number } {
    let took = 0;
    let bricked = 0;
    let outside = 0;
    for (let i = 0; i < this.n; i++) {
      if (this.took[i]) {
        took++;
        if (!this.isCanary(i)) outside++;
      }
      if (this.bricked[i]) bricked++;
    }
    return { took, bricked, tookOutsideCanary: outside, onCandidate: this.hostsOn[CANDIDATE] };
  }
}

/**
 * Every host's bucket on a channel, from the engine's hostBucket (a sha256 per host: about 5 µs, so seconds for a
 * million hosts). Memoised for the last (salt, fleet size): the "all at once" comparison and repeated runs in one
 * process reuse it. Callers copy it; it is never written.
 */
let bucketMemo: { salt: string; n: number; buckets: Uint16Array } | undefined;
function bucketsFor(salt: string, n: number): Uint16Array {
  if (bucketMemo && bucketMemo.salt === salt && bucketMemo.n === n) return bucketMemo.buckets;
  const buckets = new Uint16Array(n);
  for (let i = 0; i < n; i++) buckets[i] = hostBucket(salt, hostId(i));
  bucketMemo = { salt, n, buckets };
  return buckets;
}

export const KIND_INDEX: Record<EventKind, number> = { crash: 0, bsod: 1, 'update-failure': 2 };

