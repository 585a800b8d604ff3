/**
 * The simulated fleet: N hosts in typed arrays (no object per host), each running the agent's decisions from the
 * engine (controller/engine/agent.ts), never a copy of them.
 *
 * Per host: a stable id (`host-0000042`), labels as small codes (region, os, tenant, `ring: canary` for the
 * dogfood set), the channel bucket and wave position from the engine's hostBucket and hostWavePosition, a baseline
 * hazard multiplier drawn from a gamma distribution (mean 1), the installed version (the two-version model:
 * baseline or candidate), what the agent remembers (the last manifest it accepted: its replay state; the artifacts
 * it marked bad), its boot state (the boot marker's attempts while it boot-loops on a new version), whether it ever
 * took the candidate, whether it is bricked (crashed on boot before its agent could run: it cannot poll, report or
 * roll back), and its poll phase in the interval.
 *
 * ## What an agent does at its poll (the engine's functions, one call each)
 * - `checkManifest(trust, replay, fetched, rules, now)`: whether it believes the bytes it fetched (signature, channel,
 *   revision never lower than the one it accepted, maximum age). The answer depends on the host only through its
 *   replay state, so it is computed once per step for each distinct (bytes, replay state) pair and shared by the
 *   hosts in that state. A refusal is counted by reason (`refusals`, ringmaster_agent_manifest_refusals_total); a
 *   signature-type refusal (signature, unknown-key) also counts an update failure `signature` against the candidate
 *   version the unverified body names (the reference agent's rule: the controller's update-failures signal halts a
 *   tampered rollout on it). The host keeps what it runs and fetches again at its next poll.
 * - `desiredVersion(manifest, host)` on one reused mutable host view (no object per poll): the host's ring in each
 *   candidate's plan comes from a table of the engine's `assignedRing` per (label combination, bucket), built once per
 *   distinct ring plan, and its precomputed wave position; `isBad` reads the host's bad marks with `isMarkedBad`.
 *   The Desired is mapped onto the two versions: a candidate or stable version equal to the scenario's candidate
 *   means "install the candidate", the baseline version means "revert"; `keep` (the kill switch, no stable yet)
 *   changes nothing; a version the scenario does not model is not followed.
 * - `censusRing(manifest, host)`: the ring label of the agents' hosts gauge (the controller's ring census).
 *
 * ## Installing, and the boot-loop safety net
 * An install checks the artifact bytes the agents download against the sha256 the manifest names (`hash`), may
 * fail (`apply`, probability updateFailure), and may crash on boot (probability crashOnBoot). A crash on boot before
 * the agent's boot check (share crashBeforeAgent, or always when `agent.fallback` is false) bricks the host. Otherwise
 * the agent's safety net runs on the host's attempts counter with the engine's `nextStart`: the boot marker is
 * written at install (0 attempts), every start counts one attempt and crashes, each failed boot takes
 * `agent.bootCycle`, and the start that finds `maxFailedStarts` attempts used reverts the host to the baseline (its
 * last-known-good) without the controller and marks the candidate's artifact bad on the host (`isMarkedBad`: it is
 * not installed again until re-released). A failed start's BSOD (and its 30 host-seconds on the candidate) is
 * reported by the host's agent when the host next starts: the agent comes up before the content that crashes it.
 * While it boot-loops the host does not poll or report.
 *
 * ## Polls
 * Agents poll every pollInterval at their own phase, each poll delayed by a uniform jitter in [0, pollJitter).
 * A poll of unchanged bytes is a 304 and changes nothing, so the fleet only walks the hosts whose poll falls in the
 * step while new bytes (a new revision, or a replayed or altered one) are pending: each host's next poll time is
 * computed once (phase + fresh jitter draw), the hosts are counting-sorted by it, and a cursor walks them as virtual
 * time passes; each host sees the bytes as of its own poll. Hosts whose poll did not settle (a refused manifest, a
 * failed install) poll again one interval later.
 *
 * ## Events
 * Crashes and BSODs are drawn per version from Poisson(rate x sum of host hazards x time x day/night cycle x noise),
 * the step cut at the analysis interval grid: the noise factors (an optional gamma factor per version, an optional
 * common one shared by both versions) are drawn once per analysis interval, so the tick does not change the
 * variance an interval sees. Optional clusters (crash loops): compound Poisson, cluster starts at `clusters.rate`
 * per host-hour (same hazard, cycle and noise), each adding a geometric number of crashes of mean
 * `clusters.meanSize`. The fleet notes the first event the candidate caused (a crash on boot, an update refusal or
 * failure, or a crash in excess of the baseline rate, drawn apart): the oracle's start (virtual.ts).
 */
import * as crypto from 'node:crypto';
import {
  censusRing,
  checkManifest,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MANIFEST_MAX_AGE_MS,
  desiredVersion,
  INITIAL_REPLAY_STATE,
  isMarkedBad,
  refusedUpdateVersions,
  SIGNATURE_REFUSALS,
  nextStart,
  type AgentHost,
  type BadMark,
  type FetchedManifest,
  type ManifestCheck,
  type ManifestRefusal,
  type ManifestRules,
  type ReplayState,
  type TrustedManifestKey,
} from '../controller/engine/agent';
import { assignedRing, BUCKETS, type Exposure } from '../controller/engine/membership';
import { channelSalt } from '../controller/runtime/manifest';
import { fleetMembership } from './membership';
import { Rng } from './random';
import type { Scenario } from './scenario';

export const BASELINE = 0;
export const CANDIDATE = 1;
/** Flag bits of a host's hot word. */
const ON_CANDIDATE = 1;
const BRICKED = 2;
const LOOPING = 4;
/** More than the largest fleet (10,000,000 hosts): poll time x HOST_SPAN + host index sorts by time, then index. */
const HOST_SPAN = 16_777_216;
export type EventKind = 'crash' | 'bsod' | 'update-failure';
/** Host-seconds a host that crashes on boot ran the candidate before its BSOD. */
export const BOOT_SECONDS = 30;
export type FailureReason = 'signature' | 'hash' | 'download' | 'apply';
export const MANIFEST_REFUSALS: readonly ManifestRefusal[] = ['unknown-key', 'signature', 'malformed', 'channel', 'replay', 'stale', 'future'];

/** What the fleet's agents are: the channel they poll, the keys they pinned, the two versions the fleet models. */
export interface FleetAgent {
  channel: string;
  /** The manifest-signing keys every agent trusts (they all pinned the same key, so they share one trust set). */
  trust: TrustedManifestKey[];
  /** Hosts start on `baseline`; `candidate` is the version the scenario's effects apply to. */
  versions: { baseline: string; candidate: string };
  /** The artifact bytes agents download (checked against the sha256 a manifest names); absent: they always match. */
  artifact?: Buffer | undefined;
  /** The agents' maximum manifest age and clock skew (defaults: the engine's, 24 h and 5 min). */
  maxAgeMs?: number;
  clockSkewMs?: number;
}

/** Fleet options the scenario does not carry. */
export interface FleetOptions {
  /** The analysis interval: noise is drawn once per interval of this grid (default: 60 s). */
  noiseIntervalMs?: number;
  /**
   * Poll times are kept to this resolution (ms; default 1). The virtual driver passes its tick: every poll of a step
   * falls in the same step as with 1 ms, the hosts of a step are visited in index order (memory order, several times
   * faster on a million hosts than the random order of exact times), and their installs, which draw random numbers,
   * still run in the order of their exact poll times, so the results do not depend on it.
   */
  pollQuantumMs?: number;
  /** Called the first time hosts refuse a given fetched manifest for a given reason (the driver's log). */
  onRefusal?: (reason: ManifestRefusal, message: string) => void;
  /**
   * Per-host-group counters (`groupAt`): a host belongs to group (its channel bucket) mod hostGroups (a hash: the
   * groups cut every ring alike, where host ids would not, the canary set being evenly spaced ids), and each step's crashes and BSODs
   * of a version are split over the groups in proportion to the hazard of their hosts on it (Poisson splitting, so
   * each group's count is Poisson with its own mean), with a random stream of its own: the fleet's own draws, and so
   * every other figure of the run, are the same with or without groups. Absent or 0: no groups (the bench's
   * Kayenta-style judge reads them).
   */
  hostGroups?: number;
}

/** Cumulative per-group counters at the end of a step: [version][group] crashes, BSODs and host-seconds. */
export interface GroupSnapshot {
  t: number;
  crashes: [Float64Array, Float64Array];
  bsods: [Float64Array, Float64Array];
  hostSeconds: [Float64Array, Float64Array];
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

/** One fetched manifest offered to the hosts polling this step (the genuine bytes, or a copy altered in transit). */
interface Offer {
  fetched: FetchedManifest;
  /** Whether the (unverified) body names the candidate version (refusedUpdateVersions): a signature-type refusal counts against it. */
  failsAgainst: boolean;
  /** checkManifest's answer per replay state index, for this step's clock. */
  checks: Map<number, Verdict>;
  /** Refusal reasons already reported to onRefusal. */
  reported: Set<ManifestRefusal>;
}

interface Verdict {
  check: ManifestCheck;
  /** When accepted: the replay state index it leaves, and the ring table of each candidate's plan. */
  replay: number;
  tables: Int8Array[];
}

/**
 * What a man in the middle serves: the same headers (signature, key id, revision) over a body that points every
 * artifact at his own mirror (still valid JSON, so the body still names its candidates); a body that does not parse
 * gets one byte changed instead. The signature check must refuse either.
 */
export function alteredInTransit(f: FetchedManifest): FetchedManifest {
  let body: Buffer;
  try {
    const m = JSON.parse(f.body.toString('utf8')) as { candidates?: Array<{ artifact?: { url?: string } }>; stable?: { artifact?: { url?: string } | null } | null };
    for (const c of m.candidates ?? []) if (c.artifact) c.artifact.url = 'https://mirror.attacker.invalid/update.bin';
    if (m.stable?.artifact) m.stable.artifact.url = 'https://mirror.attacker.invalid/update.bin';
    body = Buffer.from(JSON.stringify(m));
    if (body.equals(f.body)) body = Buffer.concat([f.body, Buffer.from(' ')]);
  } catch {
    body = Buffer.from(f.body);
    const at = Math.max(0, body.length - 2);
    body[at] = (body[at] as number) ^ 1;
  }
  return { ...f, body, bodySha256: crypto.createHash('sha256').update(body).digest('hex') };
}

export function hostId(i: number): string {
  return `host-${String(i).padStart(7, '0')}`;
}

export class Fleet {
  readonly n: number;
  readonly salt: string;
  readonly bucket: Uint16Array;
  /** Wave position (engine's hostWavePosition), 0..999999. */
  readonly wave: Uint32Array;
  readonly combo: Uint8Array;
  readonly hazard: Float32Array;
  readonly version: Uint8Array;
  readonly bricked: Uint8Array;
  /** In a boot loop on the candidate: down (no polls, no reports) until its agent reverts it. */
  readonly looping: Uint8Array;
  /** The boot marker's attempts (starts begun on the new version), while looping. */
  readonly attempts: Uint8Array;
  /** Reverted locally at least once. */
  readonly recovered: Uint8Array;
  readonly took: Uint8Array;
  /**
   * What a poll reads and writes, interleaved so that one poll touches one cache line (the sweep visits hosts in poll
   * order, i.e. at random): per host 4 words, [combo * BUCKETS + bucket (the ring tables' slot), wave position,
   * flags | (census label + 1) << 8, replay state index | bad-mark set index << 16]. The replay state indexes
   * replayStates (0: never accepted a manifest), the bad-mark set markSets (0: none). `version`, `bricked` and
   * `looping` mirror the flags for readers.
   */
  private readonly hot: Uint32Array;
  /** The candidate artifact each host installed (index into installedArtifacts). */
  private readonly installedOf: Uint16Array;
  /** Poll phase within the interval, ms. */
  private readonly phase: Float64Array;
  /** The current sweep (since the last new bytes): host indices by their next poll, and that poll's offset. */
  private readonly dueOrder: Uint32Array;
  private readonly dueOffset: Uint32Array;
  /** Each host's exact poll offset in the sweep (ms), and the quantum the sweep is sorted by. */
  private readonly pollAt: Uint32Array;
  private readonly quantum: number;
  /** Hosts that decided to install the candidate in this pass (installed in the order of their exact poll times). */
  private pending: number[] = [];
  private sweepStart = 0;
  private cursor = 0;
  readonly comboLabels: Array<Record<string, string>>;
  readonly canaryCount: number;

  /** The engine's rules and the agents' trust. */
  private trust: TrustedManifestKey[];
  readonly rules: ManifestRules;
  private readonly versionNames: [string, string];
  private readonly downloadedSha256: string | null;
  private readonly artifactOk = new Map<string, boolean>();
  /** The manifests on offer this step (index 0 the genuine bytes, 1 the altered copy when the scenario tampers). */
  private offers: Offer[] = [];
  private offerSha = '';
  private now = 0;
  /** Distinct replay states the agents hold (0: never accepted one), and their index by revision and body. */
  private readonly replayStates: ReplayState[] = [INITIAL_REPLAY_STATE];
  private readonly replayIndex = new Map<string, number>();
  /** Distinct sets of bad marks (0: none), by key. */
  private readonly markSets: BadMark[][] = [[]];
  private readonly markSetIndex = new Map<string, number>();
  private readonly installedArtifacts: Array<{ sha256: string; rollout: string | null }> = [{ sha256: '', rollout: null }];
  /** ringOf tables by ring plan (the engine's assignedRing per combo x bucket), and the tables of the host view. */
  private readonly planTables = new Map<string, Int8Array>();
  private viewTables: Int8Array[] = [];
  private viewHost = 0;
  private viewSlot = 0;
  private readonly view: AgentHost;
  /** The census labels (a host's is in its hot word: index into censusNames + 1, 0: none, the agent exported ring=""), and the hosts per label. */
  private readonly censusCount: number[] = [];
  private readonly censusNames: string[] = [];
  private readonly censusIndex = new Map<string, number>();
  private lastLabel = '';
  private lastLabelIndex = -1;
  /** Noise: the interval grid's anchor (ms), the interval last drawn and its factors per version. */
  private readonly noiseIntervalMs: number;
  private noiseAnchor: number;
  private noiseIndex = Number.NaN;
  private readonly noiseFactor: [number, number] = [1, 1];
  /** The first event the candidate caused, null until one. */
  firstAttributable: AttributableEvent | null = null;
  /** Where the current step ends (polls note their events as visible then). */
  private stepEnd = 0;
  /** Hosts whose poll did not settle (refused manifest, failed install): they poll again one interval later. */
  private retry: number[] = [];
  private retryAt = Infinity;
  /** Boot cycles of looping hosts: the host and when it next starts, in time order. */
  private bootHost: number[] = [];
  private bootAt: number[] = [];
  private bootHead = 0;
  private readonly hazardSum: [number, number] = [0, 0];
  readonly hostsOn: [number, number] = [0, 0];
  /** Running totals: hosts that ever installed the candidate, hosts bricked, hosts that reverted on their own, local rollbacks. */
  tookTotal = 0;
  brickedTotal = 0;
  recoveredTotal = 0;
  localRollbacks = 0;
  private readonly cum: Snapshot;
  private readonly history: Snapshot[] = [];
  readonly failures: Record<FailureReason, number> = { signature: 0, hash: 0, download: 0, apply: 0 };
  /** Manifests refused, per host poll, by reason (ringmaster_agent_manifest_refusals_total). */
  readonly refusals = Object.fromEntries(MANIFEST_REFUSALS.map((r) => [r, 0])) as Record<ManifestRefusal, number>;
  private readonly rng: Rng;
  private readonly onRefusal: FleetOptions['onRefusal'];
  /** Host groups (0: none): the hazard and hosts up per version and group, the running counters, their history. */
  readonly groups: number;
  private readonly groupRng: Rng | null;
  private groupOf: Uint16Array = new Uint16Array(0);
  private readonly groupHazard: [Float64Array, Float64Array] = [new Float64Array(0), new Float64Array(0)];
  private readonly groupHosts: [Float64Array, Float64Array] = [new Float64Array(0), new Float64Array(0)];
  private groupCum: GroupSnapshot | null = null;
  private readonly groupHistory: GroupSnapshot[] = [];

  constructor(
    private readonly sc: Scenario,
    agent: FleetAgent,
    startMs: number,
    opts: FleetOptions = {},
  ) {
    const f = sc.fleet;
    this.rng = new Rng(sc.seed);
    const salt = (this.salt = channelSalt(agent.channel));
    this.trust = [...agent.trust];
    this.rules = { channel: agent.channel, maxAgeMs: agent.maxAgeMs ?? DEFAULT_MANIFEST_MAX_AGE_MS, clockSkewMs: agent.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS };
    this.versionNames = [agent.versions.baseline, agent.versions.candidate];
    const bytes = agent.artifact === undefined ? undefined : sc.tamper.artifact ? Buffer.concat([agent.artifact, Buffer.from([0])]) : agent.artifact;
    this.downloadedSha256 = bytes === undefined ? null : crypto.createHash('sha256').update(bytes).digest('hex');
    this.onRefusal = opts.onRefusal;
    const n = (this.n = f.hosts);
    this.noiseIntervalMs = opts.noiseIntervalMs ?? f.noiseIntervalMs ?? 60_000;
    this.noiseAnchor = startMs;
    this.now = startMs;
    this.bucket = new Uint16Array(n);
    this.wave = new Uint32Array(n);
    this.combo = new Uint8Array(n);
    this.hazard = new Float32Array(n);
    this.version = new Uint8Array(n);
    this.bricked = new Uint8Array(n);
    this.looping = new Uint8Array(n);
    this.attempts = new Uint8Array(n);
    this.recovered = new Uint8Array(n);
    this.took = new Uint8Array(n);
    this.hot = new Uint32Array(4 * n);
    this.installedOf = new Uint16Array(n);
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
    for (let i = 0; i < n; i++) {
      this.hot[4 * i] = (this.combo[i] as number) * BUCKETS + (this.bucket[i] as number);
      this.hot[4 * i + 1] = this.wave[i] as number;
    }
    this.canaryCount = canaries;
    this.hostsOn[BASELINE] = n;
    this.dueOrder = new Uint32Array(n);
    this.dueOffset = new Uint32Array(n);
    this.pollAt = new Uint32Array(n);
    this.quantum = Math.max(1, Math.floor(opts.pollQuantumMs ?? 1));
    this.cursor = n;
    // The one host view desiredVersion and censusRing read: its fields are rewritten for each poll.
    this.view = {
      id: '',
      labels: {},
      bucket: 0,
      wave: 0,
      current: null,
      ringOf: (c: number) => (this.viewTables[c] as Int8Array)[this.viewSlot] as number,
      isBad: (version: string, sha256: string, rollout: string | null) => {
        const set = (this.hot[4 * this.viewHost + 3] as number) >>> 16;
        return set !== 0 && isMarkedBad(this.markSets[set] as BadMark[], version, sha256, rollout);
      },
    };
    this.cum = { t: startMs, events: [[0, 0, 0], [0, 0, 0]], hostSeconds: [0, 0], hosts: [n, 0] };
    this.history.push(structuredClone(this.cum));
    const g = (this.groups = Math.max(0, Math.floor(opts.hostGroups ?? 0)));
    this.groupRng = g > 0 ? new Rng((sc.seed ^ 0x5bd1e995) >>> 0) : null;
    if (g > 0) {
      this.groupHazard = [new Float64Array(g), new Float64Array(g)];
      this.groupHosts = [new Float64Array(g), new Float64Array(g)];
      this.groupOf = new Uint16Array(n);
      for (let i = 0; i < n; i++) {
        const k = (this.groupOf[i] = (this.bucket[i] as number) % g);
        this.groupHazard[BASELINE][k]! += this.hazard[i] as number;
        this.groupHosts[BASELINE][k]! += 1;
      }
      const z = (): [Float64Array, Float64Array] => [new Float64Array(g), new Float64Array(g)];
      this.groupCum = { t: startMs, crashes: z(), bsods: z(), hostSeconds: z() };
      this.groupHistory.push(cloneGroups(this.groupCum));
    }
  }

  /** Host i joins (+1) or leaves (-1) the hosts up on version v, for the group counters. */
  private groupMove(i: number, v: 0 | 1, sign: 1 | -1): void {
    if (this.groups === 0) return;
    const k = this.groupOf[i] as number;
    this.groupHazard[v][k]! += sign * (this.hazard[i] as number);
    this.groupHosts[v][k]! += sign;
  }

  /** A boot BSOD of host i on the candidate, with its 30 host-seconds (the group counters' share of it). */
  private groupBoot(i: number): void {
    if (this.groupCum === null) return;
    const k = this.groupOf[i] as number;
    this.groupCum.bsods[CANDIDATE][k]! += 1;
    this.groupCum.hostSeconds[CANDIDATE][k]! += BOOT_SECONDS;
  }

  /** `count` events of version v split over the groups by hazard (one multinomial draw, as sequential binomials). */
  private groupSplit(v: 0 | 1, into: Float64Array, count: number): void {
    const rng = this.groupRng as Rng;
    const hz = this.groupHazard[v];
    let left = count;
    let mass = 0;
    for (let k = 0; k < this.groups; k++) mass += Math.max(0, hz[k] as number);
    for (let k = 0; k < this.groups && left > 0; k++) {
      const w = Math.max(0, hz[k] as number);
      if (k === this.groups - 1 || mass <= 0) {
        into[k]! += left;
        break;
      }
      const p = Math.min(1, w / mass);
      let x = 0;
      for (let j = 0; j < left; j++) if (rng.next() < p) x++;
      into[k]! += x;
      left -= x;
      mass -= w;
    }
  }

  /** The per-group counters at time t (the last step that ended at or before t); null without groups. */
  groupAt(t: number): GroupSnapshot | null {
    const h = this.groupHistory;
    if (h.length === 0) return null;
    if (t < (h[0] as GroupSnapshot).t) return h[0] as GroupSnapshot;
    let lo = 0;
    let hi = h.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((h[mid] as GroupSnapshot).t <= t) lo = mid;
      else hi = mid - 1;
    }
    return h[lo] as GroupSnapshot;
  }

  /** No poll or boot can change anything until new bytes come: the last reached every host, no retry or boot cycle waits. */
  idle(): boolean {
    return this.cursor >= this.n && this.retry.length === 0 && this.bootHead >= this.bootHost.length;
  }

  isCanary(i: number): boolean {
    return ((this.combo[i] as number) & 1) === 1;
  }

  /** The keys the agents trust now. */
  trusted(): readonly TrustedManifestKey[] {
    return this.trust;
  }

  /** The agents follow a key rotation (the driver applied the statements with the engine's applyRotations). */
  setTrust(trust: readonly TrustedManifestKey[]): void {
    this.trust = [...trust];
    for (const o of this.offers) o.checks.clear();
  }

  /**
   * One step [t, t + dt): boot cycles that fall due run, agents whose poll falls due fetch `fetched` (the bytes the
   * driver fetched at t; undefined: nothing to fetch yet), then exposure and crashes accrue. The agents' clock is t.
   */
  step(t: number, dt: number, fetched: FetchedManifest | undefined): void {
    const period = this.sc.fleet.pollIntervalMs;
    this.stepEnd = t + dt;
    if (t !== this.now) for (const o of this.offers) o.checks.clear();
    this.now = t;
    if (fetched !== undefined && fetched.bodySha256 !== this.offerSha) {
      this.offer(fetched);
      this.startSweep(t);
      // The sweep reaches every host, the ones waiting to retry included.
      this.retry = [];
      this.retryAt = Infinity;
    }
    this.bootCycles(t + dt);
    if (this.offers.length > 0 && this.cursor < this.n) {
      const failed = this.polls(t + dt);
      if (failed.length > 0) {
        for (const i of failed) this.retry.push(i);
        this.retryAt = Math.min(this.retryAt, t + period);
      }
    } else if (this.offers.length > 0 && this.retry.length > 0 && t >= this.retryAt) {
      const again = this.retry;
      const failed: number[] = [];
      for (const i of again) if (this.pollHost(i)) failed.push(i);
      this.flushInstalls(failed);
      this.retry = this.inPollOrder(failed);
      this.retryAt = this.retry.length > 0 ? t + period : Infinity;
    }
    this.accrue(t, dt);
  }

  /** New bytes: the genuine offer and, when the scenario tampers in transit, an altered copy of them. */
  private offer(fetched: FetchedManifest): void {
    this.offerSha = fetched.bodySha256;
    this.offers = [this.makeOffer(fetched)];
    if (this.sc.tamper.manifestShare > 0) {
      const altered = alteredInTransit(fetched);
      const check = checkManifest(this.trust, INITIAL_REPLAY_STATE, altered, this.rules, this.now);
      if (check.ok) throw new Error('a tampered manifest verified: the signature check is broken');
      this.offers.push(this.makeOffer(altered));
    }
  }

  private makeOffer(fetched: FetchedManifest): Offer {
    const failsAgainst = refusedUpdateVersions('signature', fetched.body).includes(this.versionNames[CANDIDATE] as string);
    return { fetched, failsAgainst, checks: new Map(), reported: new Set() };
  }

  /** checkManifest for the hosts in replay state `r` (memoised for this step), and what an acceptance leaves. */
  private verdict(o: Offer, r: number): Verdict {
    const memo = o.checks.get(r);
    if (memo !== undefined) return memo;
    const check = checkManifest(this.trust, this.replayStates[r] as ReplayState, o.fetched, this.rules, this.now);
    const v: Verdict = check.ok ? { check, replay: this.replayStateIndex(check.replay), tables: check.manifest.candidates.map((c) => this.planTable(c.exposure)) } : { check, replay: r, tables: [] };
    o.checks.set(r, v);
    return v;
  }

  private replayStateIndex(s: ReplayState): number {
    const key = `${s.revision}:${s.bodySha256 ?? ''}`;
    let k = this.replayIndex.get(key);
    if (k === undefined) {
      k = this.replayStates.length;
      if (k > 0xffff) throw new Error('fleet: more than 65535 distinct manifests accepted');
      this.replayStates.push(s);
      this.replayIndex.set(key, k);
    }
    return k;
  }

  /**
   * ringOf[combo * BUCKETS + bucket] from the engine's assignedRing for one ring plan (the rings, tenant rules,
   * holdback and salt: not the active ring or the wave, which desiredVersion reads), built once per distinct plan.
   */
  private planTable(exposure: Exposure): Int8Array {
    const { activeRing: _a, wave: _w, ...plan } = exposure;
    const key = JSON.stringify(plan);
    const known = this.planTables.get(key);
    if (known !== undefined) return known;
    if (exposure.salt !== this.salt) throw new Error(`fleet: the manifest's salt ${exposure.salt} is not the channel's (${this.salt}): the fleet's buckets and wave positions are the channel's`);
    const combos = this.comboLabels.length;
    const table = new Int8Array(combos * BUCKETS);
    for (let c = 0; c < combos; c++) {
      const host = { id: '', labels: this.comboLabels[c] as Record<string, string>, bucket: 0 };
      for (let b = 0; b < BUCKETS; b++) {
        host.bucket = b;
        table[c * BUCKETS + b] = assignedRing(exposure, host);
      }
    }
    this.planTables.set(key, table);
    return table;
  }

  /** The agent's census label after an accepted poll (the engine's censusRing: '' for none). */
  private label(i: number, name: string): void {
    let ring = -1;
    if (name === this.lastLabel) ring = this.lastLabelIndex;
    else if (name !== '') {
      const known = this.censusIndex.get(name);
      if (known === undefined) {
        ring = this.censusNames.length;
        this.censusNames.push(name);
        this.censusIndex.set(name, ring);
        this.censusCount.push(0);
      } else ring = known;
      this.lastLabel = name;
      this.lastLabelIndex = ring;
    }
    this.setLabel(i, ring);
  }

  private setLabel(i: number, ring: number): void {
    const w = this.hot[4 * i + 2] as number;
    const was = (w >>> 8) - 1;
    if (was === ring) return;
    if (was >= 0) this.censusCount[was] = (this.censusCount[was] as number) - 1;
    if (ring >= 0) this.censusCount[ring] = (this.censusCount[ring] as number) + 1;
    this.hot[4 * i + 2] = (w & 0xff) | ((ring + 1) << 8);
  }

  /** The host's flags word bits (version, bricked, looping), with their mirrors. */
  private setFlag(i: number, bit: number, on: boolean): void {
    const k = 4 * i + 2;
    this.hot[k] = on ? (this.hot[k] as number) | bit : (this.hot[k] as number) & ~bit;
    if (bit === ON_CANDIDATE) this.version[i] = on ? CANDIDATE : BASELINE;
    else if (bit === BRICKED) this.bricked[i] = on ? 1 : 0;
    else this.looping[i] = on ? 1 : 0;
  }

  /**
   * The ring census (CensusSource): hosts up (not bricked, not boot-looping) whose last accepted manifest puts them
   * in the ring named `ring` (what sum(ringmaster_agent_hosts{ring=...}) reads from live agents).
   */
  ringHosts(ring: string): number {
    const k = this.censusIndex.get(ring);
    return k === undefined ? 0 : (this.censusCount[k] as number);
  }

  /**
   * The hosts gauge as live agents export it, `ringmaster_agent_hosts{version, ring}`: hosts up (not bricked, not
   * boot-looping) per version and census ring label ("" for none). One pass over the fleet.
   */
  hostsByVersionAndRing(): Array<{ version: 0 | 1; ring: string; hosts: number }> {
    const width = this.censusNames.length + 1;
    const n = new Float64Array(2 * width);
    for (let i = 0; i < this.n; i++) {
      const w = this.hot[4 * i + 2] as number;
      if (w & (BRICKED | LOOPING)) continue;
      n[(w & ON_CANDIDATE) * width + (w >>> 8)]! += 1;
    }
    const out: Array<{ version: 0 | 1; ring: string; hosts: number }> = [];
    for (const v of [BASELINE, CANDIDATE] as const) {
      for (let r = -1; r < this.censusNames.length; r++) {
        const hosts = n[v * width + r + 1] as number;
        if (r === -1 || hosts > 0) out.push({ version: v, ring: r === -1 ? '' : (this.censusNames[r] as string), hosts });
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
    const q = this.quantum;
    const span = Math.ceil((period + jitter) / q) + 1;
    const count = new Uint32Array(span + 1);
    const rel = ((t % period) + period) % period;
    for (let i = 0; i < n; i++) {
      let d = (this.phase[i] as number) - rel;
      if (d < 0) d += period;
      const off = Math.floor(d + (jitter > 0 ? this.rng.next() * jitter : 0));
      this.pollAt[i] = off;
      (count[Math.floor(off / q) + 1] as number)++;
    }
    for (let k = 1; k <= span; k++) count[k] = (count[k] as number) + (count[k - 1] as number);
    // Stable: within one quantum the hosts stay in index order.
    for (let i = 0; i < n; i++) {
      const key = Math.floor((this.pollAt[i] as number) / q);
      const at = (count[key] as number)++;
      this.dueOrder[at] = i;
      this.dueOffset[at] = key * q;
    }
    this.sweepStart = t;
    this.cursor = 0;
  }

  /** The hosts whose poll falls before `until` poll. Returns the hosts whose poll did not settle. */
  private polls(until: number): number[] {
    const failed: number[] = [];
    const limit = until - this.sweepStart;
    let k = this.cursor;
    for (; k < this.n && (this.dueOffset[k] as number) < limit; k++) {
      const i = this.dueOrder[k] as number;
      if (this.pollHost(i)) failed.push(i);
    }
    this.cursor = k;
    this.flushInstalls(failed);
    return this.inPollOrder(failed);
  }

  /** Hosts in the order of their exact poll times in the sweep (then by index): the order with 1 ms resolution. */
  private inPollOrder(hosts: number[]): number[] {
    if (hosts.length < 2) return hosts;
    const keys = new Float64Array(hosts.length);
    hosts.forEach((i, j) => (keys[j] = (this.pollAt[i] as number) * HOST_SPAN + i));
    keys.sort();
    return Array.from(keys, (k) => k % HOST_SPAN);
  }

  /** The installs decided in this pass, in the order of their polls; the failed ones join `failed`. */
  private flushInstalls(failed: number[]): void {
    if (this.pending.length === 0) return;
    const todo = this.quantum > 1 ? this.inPollOrder(this.pending) : this.pending;
    this.pending = [];
    for (const i of todo) if (this.install(i)) failed.push(i);
  }

  /** Host i polls: checkManifest, censusRing, desiredVersion (see the module comment). True: poll again next interval. */
  private pollHost(i: number): boolean {
    const h = 4 * i;
    const flags = this.hot[h + 2] as number;
    if (flags & (BRICKED | LOOPING)) return false;
    const sc = this.sc;
    // In transit, a share of the responses is altered: the host fetched the altered copy.
    const o = (this.offers.length > 1 && this.rng.next() < sc.tamper.manifestShare ? this.offers[1] : this.offers[0]) as Offer;
    const held = this.hot[h + 3] as number;
    const v = this.verdict(o, held & 0xffff);
    const check = v.check;
    if (!check.ok) {
      this.refusals[check.reason]++;
      if (!o.reported.has(check.reason)) {
        o.reported.add(check.reason);
        this.onRefusal?.(check.reason, check.message);
      }
      if (o.failsAgainst && SIGNATURE_REFUSALS.has(check.reason)) this.fail(CANDIDATE, 'signature');
      return true;
    }
    this.hot[h + 3] = (held & 0xffff0000) | v.replay;
    const m = check.manifest;
    const on = flags & ON_CANDIDATE;
    const view = this.view;
    this.viewHost = i;
    this.viewSlot = this.hot[h] as number;
    this.viewTables = v.tables;
    view.wave = this.hot[h + 1] as number;
    view.current = this.versionNames[on] as string;
    this.label(i, censusRing(m, view));
    const d = desiredVersion(m, view);
    if (d.kind === 'keep') return false;
    const target = d.version === this.versionNames[CANDIDATE] ? CANDIDATE : d.version === this.versionNames[BASELINE] ? BASELINE : -1;
    if (target < 0 || target === on) return false;
    // Back to the baseline: always possible for a host that boots (its last-known-good is on disk).
    if (target === BASELINE) {
      this.move(i, CANDIDATE, BASELINE);
      return false;
    }
    // What it will install (the artifact and the rollout offering it); the install runs at the end of the pass.
    this.installedOf[i] = this.installedIndex(d.artifact?.sha256 ?? '', d.kind === 'candidate' ? d.rollout : null);
    this.pending.push(i);
    return false;
  }

  /** Host i installs the candidate it chose at its poll (installedOf). True: it failed, poll again next interval. */
  private install(i: number): boolean {
    const sc = this.sc;
    const sha256 = (this.installedArtifacts[this.installedOf[i] as number] as { sha256: string }).sha256;
    if (sha256 !== '' && !this.artifactMatches(sha256)) {
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
      this.noteAttributable('crash-on-boot');
      const c = sc.candidate.crashBeforeAgent;
      const beforeAgent = !sc.agent.fallback || c >= 1 || (c > 0 && this.rng.next() < c);
      this.down(i);
      if (beforeAgent) {
        // A crash before the agent runs, at every boot: a boot loop nothing on the host can end.
        this.setFlag(i, BRICKED, true);
        this.brickedTotal++;
        // It ran the candidate through its boot before the BSOD (its agent counted both, as live agents do).
        this.cum.hostSeconds[CANDIDATE] += BOOT_SECONDS;
        (this.cum.events[CANDIDATE] as number[])[1]! += 1;
        this.groupBoot(i);
      } else {
        // The agent wrote its boot marker before activating the candidate (0 attempts); this is the first start.
        this.attempts[i] = 0;
        this.setFlag(i, LOOPING, true);
        this.start(i, this.stepEnd);
      }
    }
    return false;
  }

  /** The host stops running and reporting (a crash on boot): it leaves the hosts up and the census. */
  private down(i: number): void {
    this.setLabel(i, -1);
    this.hostsOn[CANDIDATE]--;
    this.hazardSum[CANDIDATE] -= this.hazard[i] as number;
    this.groupMove(i, CANDIDATE, -1);
  }

  /**
   * A start of the candidate on a looping host at `at` (the engine's nextStart on its attempts): it counts one
   * attempt and crashes, the next start one boot cycle later; or, with the attempts used up, the host reverts.
   */
  private start(i: number, at: number): void {
    const n = nextStart(this.attempts[i] as number, this.sc.agent.maxFailedStarts);
    if (n.revert) {
      this.revert(i);
      return;
    }
    this.attempts[i] = n.attempts;
    this.bootHost.push(i);
    this.bootAt.push(at + this.sc.agent.bootCycleMs);
  }

  /** The boot cycles due before `until`: each host's agent comes up, reports its last failed start, and starts again. */
  private bootCycles(until: number): void {
    while (this.bootHead < this.bootHost.length && (this.bootAt[this.bootHead] as number) < until) {
      const i = this.bootHost[this.bootHead] as number;
      const at = this.bootAt[this.bootHead] as number;
      this.bootHead++;
      this.cum.hostSeconds[CANDIDATE] += BOOT_SECONDS;
      (this.cum.events[CANDIDATE] as number[])[1]! += 1;
      this.groupBoot(i);
      this.start(i, at);
    }
    if (this.bootHead > 4096 && this.bootHead * 2 > this.bootHost.length) {
      this.bootHost = this.bootHost.slice(this.bootHead);
      this.bootAt = this.bootAt.slice(this.bootHead);
      this.bootHead = 0;
    }
  }

  /**
   * The agent's fallback: back on the baseline (last-known-good) without the controller, the candidate's artifact
   * marked bad on the host; the host is up again and polls at once.
   */
  private revert(i: number): void {
    const installed = this.installedArtifacts[this.installedOf[i] as number] as { sha256: string; rollout: string | null };
    const mark: BadMark = {
      version: this.versionNames[CANDIDATE],
      sha256: installed.sha256,
      rollout: installed.rollout,
      revision: (this.replayStates[(this.hot[4 * i + 3] as number) & 0xffff] as ReplayState).revision,
      at: new Date(this.stepEnd).toISOString(),
      reason: 'boot-loop',
    };
    const held = this.hot[4 * i + 3] as number;
    this.hot[4 * i + 3] = (held & 0xffff) | (this.withMark(held >>> 16, mark) << 16);
    this.setFlag(i, LOOPING, false);
    this.attempts[i] = 0;
    this.setFlag(i, ON_CANDIDATE, false);
    this.hostsOn[BASELINE]++;
    this.hazardSum[BASELINE] += this.hazard[i] as number;
    this.groupMove(i, BASELINE, 1);
    this.localRollbacks++;
    if (!this.recovered[i]) {
      this.recovered[i] = 1;
      this.recoveredTotal++;
    }
    if (this.offers.length === 0) return;
    const failed: number[] = [];
    if (this.pollHost(i)) failed.push(i);
    this.flushInstalls(failed);
    if (failed.length > 0) {
      this.retry.push(i);
      this.retryAt = Math.min(this.retryAt, this.now + this.sc.fleet.pollIntervalMs);
    }
  }

  private withMark(set: number, mark: BadMark): number {
    const marks = [...(this.markSets[set] as BadMark[]).filter((b) => !(b.version === mark.version && b.sha256 === mark.sha256 && b.rollout === mark.rollout)), mark];
    const key = marks.map((b) => `${b.version}\u0000${b.sha256}\u0000${b.rollout ?? ''}`).join('\u0001');
    let k = this.markSetIndex.get(key);
    if (k === undefined) {
      k = this.markSets.length;
      if (k > 0xffff) throw new Error('fleet: too many distinct bad-mark sets');
      this.markSets.push(marks);
      this.markSetIndex.set(key, k);
    }
    return k;
  }

  private installedIndex(sha256: string, rollout: string | null): number {
    let k = this.installedArtifacts.findIndex((a) => a.sha256 === sha256 && a.rollout === rollout);
    if (k < 0) {
      k = this.installedArtifacts.length;
      this.installedArtifacts.push({ sha256, rollout });
    }
    return k;
  }

  private artifactMatches(sha256: string): boolean {
    if (this.downloadedSha256 === null) return true;
    let ok = this.artifactOk.get(sha256);
    if (ok === undefined) {
      ok = this.downloadedSha256 === sha256;
      this.artifactOk.set(sha256, ok);
    }
    return ok;
  }

  private move(i: number, from: number, to: number): void {
    this.setFlag(i, ON_CANDIDATE, to === CANDIDATE);
    const h = this.hazard[i] as number;
    this.hazardSum[from as 0 | 1] -= h;
    this.hazardSum[to as 0 | 1] += h;
    this.hostsOn[from as 0 | 1]--;
    this.hostsOn[to as 0 | 1]++;
    this.groupMove(i, from as 0 | 1, -1);
    this.groupMove(i, to as 0 | 1, 1);
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
    if (this.groupCum !== null) {
      this.groupCum.t = t + dt;
      this.groupHistory.push(cloneGroups(this.groupCum));
    }
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
      const gc = this.groupCum;
      if (gc !== null) for (let k = 0; k < this.groups; k++) gc.hostSeconds[v][k]! += ((this.groupHosts[v][k] as number) * dt) / 1000;
      if (this.hostsOn[v] === 0) continue;
      const before0 = (this.cum.events[v] as number[])[0] as number;
      const before1 = (this.cum.events[v] as number[])[1] as number;
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
      if (gc !== null) {
        this.groupSplit(v, gc.crashes[v], (ev[0] as number) - before0);
        this.groupSplit(v, gc.bsods[v], (ev[1] as number) - before1);
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

  counts(): { took: number; bricked: number; tookOutsideCanary: number; onCandidate: number; recoveredLocally: number; localRollbacks: number } {
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
    return { took, bricked, tookOutsideCanary: outside, onCandidate: this.hostsOn[CANDIDATE], recoveredLocally: this.recoveredTotal, localRollbacks: this.localRollbacks };
  }
}

/**
 * Every host's bucket and wave position on a channel, as the engine's hostBucket and hostWavePosition compute them
 * (fleetMembership: one sha256 per host, about 0.5 µs, in agent-sim/membership.ts). Memoised for the last (salt, fleet size): the "all at
 * once" comparison and repeated runs in one process reuse it. Callers copy it; it is never written.
 */
let memberMemo: { salt: string; n: number; buckets: Uint16Array; waves: Uint32Array } | undefined;
function membershipFor(salt: string, n: number): { buckets: Uint16Array; waves: Uint32Array } {
  if (memberMemo && memberMemo.salt === salt && memberMemo.n === n) return memberMemo;
  memberMemo = { salt, n, ...fleetMembership(salt, n, hostId) };
  return memberMemo;
}

function cloneGroups(g: GroupSnapshot): GroupSnapshot {
  const c = (x: [Float64Array, Float64Array]): [Float64Array, Float64Array] => [x[0].slice(), x[1].slice()];
  return { t: g.t, crashes: c(g.crashes), bsods: c(g.bsods), hostSeconds: c(g.hostSeconds) };
}

export const KIND_INDEX: Record<EventKind, number> = { crash: 0, bsod: 1, 'update-failure': 2 };

