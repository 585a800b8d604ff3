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
 * engine's: `assignedRing` once per (label combination, bucket) pair for each distinct ring plan, `admitted` per
 * host at its poll with the host's precomputed wave position (`hostWavePosition`), so waves inside a ring and the
 * holdback are the engine's own. Each host also carries the census label of the agents' hosts gauge: the ring it
 * is assigned to in the last verified manifest that carries the candidate (`ringHosts`).
 *
 * Crashes and BSODs are drawn per version from Poisson(rate x sum of host hazards x time x day/night cycle x noise),
 * the step cut at the analysis interval grid: the noise factors (an optional gamma factor per version, an optional
 * common one shared by both versions) are drawn once per analysis interval, so the tick does not change the
 * variance an interval sees. Optional clusters (crash loops): compound Poisson, cluster starts at `clusters.rate`
 * per host-hour (same hazard, cycle and noise), each adding a geometric number of crashes of mean
 * `clusters.meanSize`. A crash on boot is drawn per installing host. The fleet notes the first event the candidate
 * caused (a crash on boot, an update refusal or failure, or a crash in excess of the baseline rate, drawn apart):
 * the oracle's start (virtual.ts).
 */
import { admitted, assignedRing, BUCKETS, hostBucket, hostWavePosition, type Exposure } from '../controller/engine/membership';
import { Rng } from './random';
import type { Scenario } from './scenario';

export const BASELINE = 0;
export const CANDIDATE = 1;
export type EventKind = 'crash' | 'bsod' | 'update-failure';
/** Host-seconds a host that crashes on boot ran the candidate before its BSOD. */
export const BOOT_SECONDS = 30;
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
  /** The channel's stable version is the candidate (the rollout succeeded): with no candidate, every host runs it. */
  stableIsCandidate?: boolean;
}

/** Fleet options the scenario does not carry. */
export interface FleetOptions {
  /** The analysis interval: noise is drawn once per interval of this grid (default: 60 s). */
  noiseIntervalMs?: number;
}

/** The first event caused by the candidate (visible in the counters from `at`, the end of its step). */
export interface AttributableEvent {
  at: number;
  kind: 'crash-on-boot' | 'excess-crash' | FailureReason;
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
  /** Wave position (engine's hostWavePosition), 0..999999. */
  readonly wave: Uint32Array;
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

  /** ringOf[combo * BUCKETS + bucket]: the engine's assignedRing for the current ring plan (-1: none). */
  private ringOf: Int8Array = new Int8Array(0);
  private ringPlanKey = '';
  private exposure: Exposure | null = null;
  private stableIsCandidate = false;
  private tableRevision = -1;
  /** The census label per host (-1: none, the agent exported ring=""), and the hosts per ring label. */
  private readonly census: Int8Array;
  private censusCount: number[] = [];
  /** The ring names of the last plan that carried a candidate (census labels refer to them). */
  private ringNames: string[] = [];
  /** Noise: the interval grid's anchor (ms), the interval last drawn and its factors per version. */
  private readonly noiseIntervalMs: number;
  private noiseAnchor: number;
  private noiseIndex = Number.NaN;
  private readonly noiseFactor: [number, number] = [1, 1];
  /** The first event the candidate caused, null until one. */
  firstAttributable: AttributableEvent | null = null;
  /** Where the current step ends (polls note their events as visible then). */
  private stepEnd = 0;
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
    opts: FleetOptions = {},
  ) {
    const f = sc.fleet;
    this.rng = new Rng(sc.seed);
    const n = (this.n = f.hosts);
    this.noiseIntervalMs = opts.noiseIntervalMs ?? f.noiseIntervalMs ?? 60_000;
    this.noiseAnchor = startMs;
    this.bucket = new Uint16Array(n);
    this.wave = new Uint32Array(n);
    this.census = new Int8Array(n).fill(-1);
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
    const memo = membershipFor(salt, n);
    this.bucket.set(memo.buckets);
    this.wave.set(memo.waves);
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
    this.stepEnd = t + dt;
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

  /**
   * ringOf[combo * BUCKETS + bucket] from the engine's assignedRing, rebuilt only when the ring plan changes (the
   * rings, tenant rules, holdback and salt: not the active ring or the wave, which `admitted` reads per host).
   */
  private buildTable(m: ManifestView): void {
    this.exposure = m.candidate ? m.candidate.exposure : null;
    this.stableIsCandidate = m.stableIsCandidate === true;
    if (!this.exposure) return;
    const { activeRing: _a, wave: _w, ...plan } = this.exposure;
    const key = JSON.stringify(plan);
    if (key === this.ringPlanKey) return;
    this.ringPlanKey = key;
    const combos = this.comboLabels.length;
    if (this.ringOf.length !== combos * BUCKETS) this.ringOf = new Int8Array(combos * BUCKETS);
    const exposure = this.exposure;
    for (let c = 0; c < combos; c++) {
      const host = { id: '', labels: this.comboLabels[c] as Record<string, string>, bucket: 0 };
      for (let b = 0; b < BUCKETS; b++) {
        host.bucket = b;
        this.ringOf[c * BUCKETS + b] = assignedRing(exposure, host);
      }
    }
    while (this.censusCount.length < exposure.rings.length) this.censusCount.push(0);
    this.ringNames = exposure.rings.map((r) => r.name);
  }

  /** The ring host i belongs to in the current candidate's plan (-1: none, or no candidate). */
  private ringOfHost(i: number): number {
    if (!this.exposure) return -1;
    return this.ringOf[(this.combo[i] as number) * BUCKETS + (this.bucket[i] as number)] as number;
  }

  /** The agent's census label after a verified poll: its assigned ring while a candidate is in flight, else none. */
  private label(i: number, ring: number): void {
    const was = this.census[i] as number;
    if (was === ring) return;
    if (was >= 0) this.censusCount[was] = (this.censusCount[was] as number) - 1;
    if (ring >= 0) this.censusCount[ring] = (this.censusCount[ring] ?? 0) + 1;
    this.census[i] = ring;
  }

  /**
   * The ring census (CensusSource): hosts, not bricked, that polled a verified manifest carrying the candidate and
   * are assigned to ring `ring` in it (what sum(ringmaster_agent_hosts{ring=...}) reads from live agents).
   */
  ringHosts(ring: number): number {
    return this.censusCount[ring] ?? 0;
  }

  /**
   * The hosts gauge as live agents export it, `ringmaster_agent_hosts{version, ring}`: hosts up (not bricked) per
   * version and census ring label ("" for none). One pass over the fleet.
   */
  hostsByVersionAndRing(): Array<{ version: 0 | 1; ring: string; hosts: number }> {
    const width = this.ringNames.length + 1;
    const n = new Float64Array(2 * width);
    for (let i = 0; i < this.n; i++) {
      if (this.bricked[i]) continue;
      n[(this.version[i] as number) * width + (this.census[i] as number) + 1]! += 1;
    }
    const out: Array<{ version: 0 | 1; ring: string; hosts: number }> = [];
    for (const v of [BASELINE, CANDIDATE] as const) {
      for (let r = -1; r < this.ringNames.length; r++) {
        const hosts = n[v * width + r + 1] as number;
        if (r === -1 || hosts > 0) out.push({ version: v, ring: r === -1 ? '' : (this.ringNames[r] as string), hosts });
      }
    }
    return out;
  }

  /** Anchors the noise's interval grid at t (the start of a ring: the analysis grid's origin). */
  alignNoise(t: number): void {
    if (t === this.noiseAnchor) return;
    this.noiseAnchor = t;
    this.noiseIndex = Number.NaN;
  }

  private noteAttributable(kind: AttributableEvent['kind']): void {
    if (this.firstAttributable === null) this.firstAttributable = { at: this.stepEnd, kind };
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
    const sc = this.sc;
    // A tampered manifest fails its signature check: the agent keeps what it has and learns nothing from it.
    const tampered = !m.signatureOk || (sc.tamper.manifestShare > 0 && this.rng.next() < sc.tamper.manifestShare);
    const ring = this.ringOfHost(i);
    if (!tampered) this.label(i, ring);
    const exposure = this.exposure;
    const wants = exposure !== null ? ring >= 0 && admitted(exposure, ring, this.wave[i] as number) : this.stableIsCandidate;
    const on = this.version[i] as number;
    if (wants === (on === CANDIDATE)) return false;
    if (tampered) {
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
      this.label(i, -1);
      this.hostsOn[CANDIDATE]--;
      this.hazardSum[CANDIDATE] -= this.hazard[i] as number;
      // It ran the candidate through its boot before the BSOD (its agent counted both, as live agents do).
      this.cum.hostSeconds[CANDIDATE] += BOOT_SECONDS;
      (this.cum.events[CANDIDATE] as number[])[1]! += 1;
      this.noteAttributable('crash-on-boot');
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
    if (v === CANDIDATE) this.noteAttributable(reason);
    (this.cum.events[v as 0 | 1] as number[])[2]! += 1;
  }

  /** Exposure and events over [t, t + dt), cut at the noise's interval grid. */
  private accrue(t: number, dt: number): void {
    const step = this.noiseIntervalMs;
    let a = t;
    while (a < t + dt) {
      const k = Math.floor((a - this.noiseAnchor) / step);
      const b = Math.min(t + dt, this.noiseAnchor + (k + 1) * step);
      if (k !== this.noiseIndex) this.drawNoise(k);
      this.accrueSegment(a, b - a);
      a = b;
    }
    this.cum.t = t + dt;
    this.cum.hosts = [this.hostsOn[0], this.hostsOn[1]];
    this.history.push({ t: this.cum.t, events: [[...this.cum.events[0]], [...this.cum.events[1]]], hostSeconds: [...this.cum.hostSeconds], hosts: [...this.cum.hosts] });
  }

  /** The noise of analysis interval k: a gamma factor per version (overdispersionShape) times a common one. */
  private drawNoise(k: number): void {
    const f = this.sc.fleet;
    const common = f.commonNoiseShape === undefined ? 1 : this.rng.gamma(f.commonNoiseShape, 1 / f.commonNoiseShape);
    for (const v of [BASELINE, CANDIDATE] as const) {
      this.noiseFactor[v] = common * (f.overdispersionShape === undefined ? 1 : this.rng.gamma(f.overdispersionShape, 1 / f.overdispersionShape));
    }
    this.noiseIndex = k;
  }

  private accrueSegment(t: number, dt: number): void {
    if (dt <= 0) return;
    const f = this.sc.fleet;
    const hours = dt / 3_600_000;
    const hourUtc = ((t + dt / 2) / 3_600_000) % 24;
    const diurnal = 1 + f.diurnalAmplitude * Math.sin((2 * Math.PI * (hourUtc - 8)) / 24);
    for (const v of [BASELINE, CANDIDATE] as const) {
      this.cum.hostSeconds[v] += (this.hostsOn[v] * dt) / 1000;
      if (this.hostsOn[v] === 0) continue;
      const mult = v === CANDIDATE ? this.sc.candidate.crashRateMultiplier : 1;
      const exposure = Math.max(0, this.hazardSum[v]) * hours * diurnal * (this.noiseFactor[v] as number);
      const ev = this.cum.events[v] as number[];
      // A multiplier above 1: the baseline's share and the excess drawn apart (the excess is the candidate's doing).
      const base = Math.min(1, mult);
      const excess = Math.max(0, mult - 1);
      ev[0]! += this.rng.poisson(f.crashRate * exposure * base);
      ev[1]! += this.rng.poisson(f.bsodRate * exposure * base);
      if (excess > 0) {
        const extra = this.rng.poisson(f.crashRate * exposure * excess) + this.rng.poisson(f.bsodRate * exposure * excess);
        if (extra > 0) {
          ev[0]! += extra;
          this.noteAttributable('excess-crash');
        }
      }
      if (f.clusters !== undefined && f.clusters.rate > 0) {
        const starts = this.rng.poisson(f.clusters.rate * exposure * mult);
        for (let c = 0; c < starts; c++) ev[0]! += this.geometric(f.clusters.meanSize);
      }
    }
  }

  /** 1, 2, 3, ... with mean `mean` (>= 1): the crashes of one crash loop. */
  private geometric(mean: number): number {
    if (!(mean > 1)) return 1;
    const q = 1 - 1 / mean;
    return 1 + Math.floor(Math.log(this.rng.next() || Number.MIN_VALUE) / Math.log(q));
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
 * Every host's bucket and wave position on a channel, from the engine's hostBucket and hostWavePosition (a sha256
 * each per host: about 5 µs, so seconds for a million hosts). Memoised for the last (salt, fleet size): the "all at
 * once" comparison and repeated runs in one process reuse it. Callers copy it; it is never written.
 */
let memberMemo: { salt: string; n: number; buckets: Uint16Array; waves: Uint32Array } | undefined;
function membershipFor(salt: string, n: number): { buckets: Uint16Array; waves: Uint32Array } {
  if (memberMemo && memberMemo.salt === salt && memberMemo.n === n) return memberMemo;
  const buckets = new Uint16Array(n);
  const waves = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const id = hostId(i);
    buckets[i] = hostBucket(salt, id);
    waves[i] = hostWavePosition(salt, id);
  }
  memberMemo = { salt, n, buckets, waves };
  return memberMemo;
}

export const KIND_INDEX: Record<EventKind, number> = { crash: 0, bsod: 1, 'update-failure': 2 };

