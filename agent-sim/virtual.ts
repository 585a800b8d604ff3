/**
 * Virtual-time play of a scenario: the real controller runtime (engine, SQLite store in a temp dir, signed
 * manifests, analysis through MetricsAnalyzer + observeMetric) on a VirtualClock, and the simulated fleet
 * polling the signed manifest and verifying it against the pinned key. Days of rollout play in seconds.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { observeFromCounts } from '../controller/analysis/observe';
import type { ChannelManifest, FetchedManifest } from '../controller/engine/agent';
import { TERMINAL_PHASES, type PhaseKind, type Transition } from '../controller/engine/state';
import { MetricsAnalyzer } from '../controller/runtime/analysis';
import { VirtualClock } from '../controller/runtime/clock';
import { loadTrustedKeys } from '../controller/runtime/config';
import { Controller } from '../controller/runtime/controller';
import { formatSpecError, InputError } from '../controller/spec/errors';
import { analysisIntervalMs, engineConfigFor } from '../controller/runtime/config';
import type { Analyzer, CensusSource } from '../controller/runtime/types';
import { nextAllowedStart } from '../controller/policy/windows';
import { loadPolicyFile, loadRolloutFile } from '../controller/spec/load';
import type { PolicySpec, Rollout } from '../controller/spec/types';
import type { RolloutView } from '../controller/runtime/service';
import { CANDIDATE, Fleet, type FleetAgent } from './fleet';
import { SimMetricsProvider } from './provider';
import type { Scenario } from './scenario';
import { fetchedOf, sha256Hex, SimChannel } from './signed';
import { transitionWords, virtualOffset } from './story';

export interface TimelinePoint {
  /** ms since the scenario start */
  t: number;
  onCandidate: number;
  /** Hosts that ever took the candidate (bricked ones included). */
  took: number;
  /** Cumulative crashes + BSODs on the candidate. */
  candidateCrashes: number;
  /** Hosts bricked so far (a boot loop the agent cannot end). */
  bricked: number;
  /** Hosts that reverted to the baseline on their own so far (the agent's boot-loop fallback). */
  recovered: number;
  /** The furthest ring exposed (-1: none yet). */
  ring: number;
  /** The manifest revision the fleet was served. */
  revision: number;
  phase: string;
  /** The exposed ring's wave (parts per million of the ring) while it ramps; null when wholly exposed. */
  wavePpm: number | null;
}

/** What halted a run: the failing signal, or missing data. */
export type HaltCause = 'crash' | 'update-failure' | 'silent-hosts' | 'no-data' | 'other';

/**
 * The oracle: a judge that halts at the first look after the first event the candidate caused, with the same poll
 * and analysis cadence (looks at ring start + k x interval, k >= 1). `hostsUpdated`: hosts that had taken the
 * update by that look. Null when the candidate caused nothing (a healthy update: there is nothing to stop).
 */
export interface Oracle {
  event: string;
  eventAt: string;
  ring: number;
  ringName: string | null;
  haltAt: string;
  hostsUpdated: number;
  hostsBricked: number;
}

export interface RunResult {
  scenario: string;
  /** Virtual time the rollout was applied (the timeline's origin). */
  startedAt: string;
  hosts: number;
  canaryHosts: number;
  outcome: string;
  haltReason: string | null;
  /** The furthest ring exposed during the run (-1: none). */
  lastRing: number;
  lastRingName: string | null;
  hostsUpdated: number;
  hostsUpdatedOutsideCanary: number;
  hostsBricked: number;
  /** Hosts whose agent reverted them to the baseline after a boot loop, without the controller. */
  hostsRecoveredLocally: number;
  /** Reverts by the agents' fallback (a host that loops on two releases counts twice). */
  localRollbacks: number;
  /** Manifests the agents refused, per host poll, by reason. */
  manifestRefusals: Record<string, number>;
  firstRingStart: string | null;
  /** When the manifest first exposed hosts to the candidate (the first wave, after the census look). */
  firstExposureAt: string | null;
  /** Virtual time of the first crash or BSOD on the candidate. */
  firstCrashAt: string | null;
  /** Virtual time of the first update failure (signature, hash, apply) on the candidate. */
  firstUpdateFailureAt: string | null;
  haltAt: string | null;
  /** The ring that was stopped (halted, rolled back or aborted), -1 when none. */
  haltRing: number;
  haltRingName: string | null;
  /** What the halt was about (the failing signal of the last verdict, or no data); null without a halt. */
  haltCause: HaltCause | null;
  /** First crash -> halt, only when the halt's cause is a crash signal (a no-data halt is not a crash). */
  firstCrashToHaltSeconds: number | null;
  /**
   * Seconds from the first event of each kind to the halt (null: none before the halt): crash (first crash/BSOD on
   * the candidate), updateFailure (first refusal or failed install), dataGap (the start of the metrics gap the halt
   * fell in or after).
   */
  firstEventToHalt: { crash: number | null; updateFailure: number | null; dataGap: number | null };
  /** firstEventToHalt of the halt's own cause. */
  firstEventToHaltSeconds: number | null;
  oracle: Oracle | null;
  rollbackRevision: number | null;
  finalRevision: number;
  updateFailures: Record<string, number>;
  virtualDurationHours: number;
  /** Virtual hours from the apply to the rollout's success (null: it did not succeed). */
  hoursToSucceeded: number | null;
  transitions: Transition[];
  timeline: TimelinePoint[];
}

/** A point of the all-at-once run: ms since the start, hosts that took the update, hosts bricked. */
export interface AllAtOncePoint {
  t: number;
  took: number;
  bricked: number;
}

export interface AllAtOnceResult {
  /** Over the run, one point per step (for the plot; left out of agent-sim's JSON). */
  timeline: AllAtOncePoint[];
  hostsUpdated: number;
  hostsUpdatedOutsideCanary: number;
  hostsBricked: number;
  hostsRecoveredLocally: number;
  bricked: number;
}

export interface LoadedScenario {
  rollout: Rollout;
  policyName: string;
  policy: PolicySpec;
  artifact: Buffer | undefined;
}

export function loadScenarioDocuments(sc: Scenario): LoadedScenario {
  const r = loadRolloutFile(sc.rolloutFile);
  if (!r.ok) throw new InputError(r.errors.map(formatSpecError));
  const p = loadPolicyFile(sc.policyFile);
  if (!p.ok) throw new InputError(p.errors.map(formatSpecError));
  if (p.doc.metadata.name !== r.doc.spec.policy) {
    throw new InputError([`${sc.file}: spec.policy: ${sc.policyFile} defines policy "${p.doc.metadata.name}" but the rollout uses "${r.doc.spec.policy}"`]);
  }
  let artifact: Buffer | undefined;
  if (sc.artifactFile !== undefined) {
    try {
      artifact = fs.readFileSync(sc.artifactFile);
    } catch (err) {
      throw new InputError([`${sc.file}: spec.artifactFile: ${sc.artifactFile}: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
    }
  }
  return { rollout: r.doc, policyName: p.doc.metadata.name, policy: p.doc.spec as PolicySpec, artifact };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** How often the simulated controller re-issues an unchanged manifest (virtual time). */
export const SIM_MANIFEST_REISSUE_MS = 6 * 3_600_000;

/**
 * Where the run's SQLite store lives: AGENT_SIM_TMPDIR, else /dev/shm when it is there (a real SQLite file, but
 * the store's synchronous=FULL commit per reconcile costs an fsync on disk: most of a run's wall time), else the
 * OS temp directory. The directory is removed at the end of the run.
 */
function simDataRoot(): string {
  const env = process.env.AGENT_SIM_TMPDIR;
  if (env) return env;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** What a judge other than the controller's own sees of the run (the fleet and provider exist once the run started). */
export interface VirtualRunContext {
  readonly fleet: Fleet;
  readonly provider: SimMetricsProvider;
  /** The rollout as applied (after VirtualOptions.rollout). */
  readonly rollout: Rollout;
  /** Absolute [from, to) intervals (ms) without metrics data. */
  readonly gaps: ReadonlyArray<{ from: number; to: number }>;
}

/** Options of a virtual run for benchmarks that judge with another analyzer (bench/decisions). */
export interface VirtualOptions {
  /** The analyzer the controller runs, in place of MetricsAnalyzer over the fleet's counts. */
  analyzer?: (ctx: VirtualRunContext) => Analyzer;
  /** A change to the rollout before it is applied (e.g. no ramp, or no declared metrics for a bake-only run). */
  rollout?: (r: Rollout) => Rollout;
  /** Per-host-group counters in the fleet (FleetOptions.hostGroups). */
  hostGroups?: number;
  /** Ends the run after the tick where this holds (e.g. every observing judge has stopped: the rest changes nothing). */
  stopWhen?: () => boolean;
}

/** Plays a scenario in virtual time. `log` receives the story (ring starts, first crash, halt, rollback). */
export async function runVirtual(sc: Scenario, log: (line: string) => void = () => undefined, opts: VirtualOptions = {}): Promise<RunResult> {
  const docs = loadScenarioDocuments(sc);
  const rollout = opts.rollout ? opts.rollout(docs.rollout) : docs.rollout;
  const spec = rollout.spec;
  const channel = spec.channel;
  const start = sc.start.getTime();
  const dir = fs.mkdtempSync(path.join(simDataRoot(), 'agent-sim-'));
  const intervalMs = analysisIntervalMs(rollout);
  const baseline = spec.previousVersion ?? '0.0.0';
  // The ring census agents would export (the ring label of ringmaster_agent_hosts), from the fleet's own labels
  // (the fleet is made once the controller is open: its agents pin the controller's key).
  const census: CensusSource = {
    ringHosts: (ch, ringName) => Promise.resolve(ch === channel && spec.rings.some((r) => r.name === ringName) ? fleet.ringHosts(ringName) : null),
  };
  const gaps = sc.metricsGaps.map((g) => ({ from: start + g.fromMs, to: start + g.toMs }));
  const clock = new VirtualClock(start);
  const c = await Controller.open({
    dataDir: dir,
    policiesDir: '/nonexistent',
    policies: new Map([[docs.policyName, docs.policy]]),
    trustedKeys: loadTrustedKeys(sc.trustedKeysFile),
    clock,
    tickMs: sc.tickMs,
    rollbackDrainMs: 10 * 60_000,
    // Re-issues of an unchanged manifest change no decision; in virtual time they cost a fleet-wide sweep each, so
    // the simulated controller re-issues every 6 h (serve's default is 1 h), well inside the agents' 24 h maximum age.
    manifestReissueMs: SIM_MANIFEST_REISSUE_MS,
    analyzer: opts.analyzer
      ? opts.analyzer({
          get fleet() {
            return fleet;
          },
          get provider() {
            return provider;
          },
          rollout,
          gaps,
        })
      : new MetricsAnalyzer((metric, ctx) => Promise.resolve(observeFromCounts(provider, metric, ctx))),
    census,
    // Pre-flight reads the bytes the agents download (artifactFile), not the rollout's URL.
    ...(docs.artifact ? { preflightArtifacts: (url: string) => (url === spec.artifact.url ? docs.artifact : undefined) } : {}),
  });
  // The agents pin the controller's manifest key; their clock is the virtual clock.
  const key = c.signingKey();
  const agent: FleetAgent = { channel, trust: [{ keyId: key.keyId, publicKey: key.publicKey }], versions: { baseline, candidate: spec.version }, artifact: docs.artifact };
  const fleet = new Fleet(sc, agent, start, { noiseIntervalMs: sc.fleet.noiseIntervalMs ?? intervalMs, pollQuantumMs: sc.tickMs, ...(opts.hostGroups ? { hostGroups: opts.hostGroups } : {}) });
  const provider = new SimMetricsProvider(fleet, channel, { baseline, candidate: spec.version }, gaps);
  const off = (ms: number): string => virtualOffset(ms - start);
  try {
    const applied = await c.applyRollout(rollout, 'agent-sim');
    if (applied.status !== 'created') throw new InputError([`${sc.rolloutFile}: the controller refused the rollout: ${applied.status === 'invalid' ? applied.errors.map(formatSpecError).join('; ') : applied.status === 'conflict' ? applied.message : applied.status}`]);
    const artifactOk = docs.artifact === undefined || (!sc.tamper.artifact && sha256Hex(docs.artifact) === spec.artifact.sha256);
    log(`Virtual time: a simulated clock; T+ is virtual time since the rollout was applied (${iso(start)}).`);
    log(`${off(start)}apply ${rollout.metadata.name}: ${channel} ${baseline} -> ${spec.version} on a simulated fleet of ${sc.fleet.hosts.toLocaleString('en-US')} hosts (${fleet.canaryCount.toLocaleString('en-US')} in the canary ring)`);
    if (!artifactOk) log(`${off(start)}the artifact agents download does not match spec.artifact.sha256: every install will be refused (reason hash)`);

    let seenTransitions = 0;
    let fetched: FetchedManifest | undefined;
    let viewRevision = -1;
    let firstCrashAt: number | null = null;
    let haltAt: number | null = null;
    let rollbackRevision: number | null = null;
    let firstRingStart: number | null = null;
    let firstUpdateFailureAt: number | null = null;
    let haltRing = -1;
    let haltCause: HaltCause | null = null;
    /** When each ring was first exposed (the analysis grid's origin). */
    const ringStarts: Array<{ ring: number; at: number }> = [];
    let lastRing = -1;
    let approvalSince: number | null = null;
    const timeline: TimelinePoint[] = [];
    const end = start + sc.maxDurationMs;
    let t = start;
    let phase = 'pending';
    let haltReason: string | null = null;
    let waitingSince: number | null = null;
    let exposedBefore = -1;
    let succeededAt: number | null = null;
    let firstExposureAt: number | null = null;
    /** Reads the transitions since the last call: the story, ring starts, the furthest ring, the halt. */
    const absorb = (view: RolloutView): void => {
      for (const tr of view.history.slice(seenTransitions)) {
        log(`${off(Date.parse(tr.at))}${transitionWords(tr, view, { baseline, candidate: spec.version })}`);
        const at = Date.parse(tr.at);
        if (firstRingStart === null && tr.to === 'progressing') firstRingStart = at;
        if (tr.exposedRing > exposedBefore && tr.exposedRing >= 0) {
          ringStarts.push({ ring: tr.exposedRing, at });
          fleet.alignNoise(at);
        }
        // Every transition's exposed ring counts: a ring approved and failed between two reads is still reached.
        lastRing = Math.max(lastRing, tr.exposedRing);
        if (haltAt === null && (tr.to === 'halted' || tr.to === 'rolling-back' || tr.to === 'aborted')) {
          haltAt = at;
          haltRing = exposedBefore;
          haltCause = causeOf(view);
        }
        exposedBefore = tr.exposedRing;
      }
      seenTransitions = view.history.length;
      lastRing = Math.max(lastRing, view.exposedRing);
    };
    while (t < end) {
      clock.advanceTo(t);
      await c.reconcileAll();
      // A pre-flight run ends (and is decided) at this virtual instant, whatever its real time.
      await c.preflightIdle();
      let view = c.getRollout(rollout.metadata.name);
      if (!view) throw new Error('rollout vanished');
      absorb(view);
      phase = view.phase.kind;
      if (view.phase.kind === 'halted') haltReason = view.phase.reason;
      // The auto-approver gives the approvals the rollout plans for (rings with approval: required); a ring
      // escalated for a human because it reached maxBake undecided is left waiting, as it should be.
      if (view.phase.kind === 'awaiting-approval' && sc.approvals === 'auto' && view.phase.cause === 'approval-required') {
        approvalSince ??= t;
        if (t - approvalSince >= sc.approvalDelayMs) {
          const r = await c.request(rollout.metadata.name, 'approve', 'sim-approver', 'scenario: an approver approves after approvalDelay');
          log(`${off(t)}a (simulated) approver approves ring ${spec.rings[view.phase.ring]?.name ?? view.phase.ring}: ${r.status}`);
          approvalSince = null;
          // The approval starts the ring now: read it before the fleet moves (its ring counts even if it fails at its first look).
          view = c.getRollout(rollout.metadata.name);
          if (!view) throw new Error('rollout vanished');
          absorb(view);
          phase = view.phase.kind;
        }
      } else approvalSince = null;

      if (firstExposureAt === null && view.exposedRing >= 0 && (view.wave === null || view.wave.ppm > 0)) firstExposureAt = t;
      // The bytes the agents fetch: the signed manifest as served, once per step; each agent checks it (fleet.ts).
      const m = c.manifest(channel);
      if (m && m.revision !== viewRevision) {
        viewRevision = m.revision;
        fetched = fetchedOf(m.body, m.signature, c.signingKey().keyId, String(m.revision));
        if (haltAt !== null && rollbackRevision === null) {
          const body = JSON.parse(m.body.toString('utf8')) as ChannelManifest;
          if (!body.candidates.some((x) => x.rollout === rollout.metadata.name && x.exposure.activeRing >= 0)) {
            rollbackRevision = body.revision;
            log(`${off(t)}the signed manifest agents poll no longer offers ${spec.version} (revision ${body.revision}): hosts revert to ${baseline} at their next poll`);
          }
        }
      }
      // Waiting for a policy window with a settled fleet, nothing can happen before the window opens: step up to an
      // hour at a time, never past the first tick at or after the opening (the policy's own nextAllowedStart), so
      // the controller sees the opening at the same tick as with unit steps.
      let dt = sc.tickMs;
      if (view.phase.kind === 'waiting-for-window' && fleet.idle()) {
        const bakeMs = engineConfigFor(rollout).rings[view.phase.ring]?.bakeMs ?? 0;
        const next = nextAllowedStart(docs.policy, new Date(t), bakeMs).start;
        const ticks = next === null ? Infinity : Math.floor((next.getTime() - t) / sc.tickMs);
        dt = sc.tickMs * Math.max(1, Math.min(ticks, Math.floor(3_600_000 / sc.tickMs), Math.floor((end - t) / sc.tickMs)));
      }
      fleet.step(t, dt, fetched);
      const snap = fleet.latest();
      const candCrashes = (snap.events[CANDIDATE][0] as number) + (snap.events[CANDIDATE][1] as number);
      if (firstUpdateFailureAt === null && (snap.events[CANDIDATE][2] as number) > 0) firstUpdateFailureAt = t + dt;
      if (firstCrashAt === null && candCrashes > 0) {
        firstCrashAt = t + dt;
        log(`${off(firstCrashAt)}first crashes on ${spec.version}: ${candCrashes.toLocaleString('en-US')} crash/BSOD event${candCrashes === 1 ? '' : 's'}; ${fleet.hostsOn[CANDIDATE].toLocaleString('en-US')} updated host${fleet.hostsOn[CANDIDATE] === 1 ? '' : 's'} still reporting`);
      }
      timeline.push({ t: t + dt - start, onCandidate: fleet.hostsOn[CANDIDATE], took: fleet.tookTotal, candidateCrashes: candCrashes, bricked: fleet.brickedTotal, recovered: fleet.recoveredTotal, ring: view.exposedRing, revision: viewRevision, phase, wavePpm: view.wave?.ppm ?? null });
      // A success releases the holdback: the run ends once every agent has polled the final manifest.
      if (phase === 'succeeded') {
        succeededAt ??= t;
        if (fleet.idle() || t - succeededAt >= 2 * (sc.fleet.pollIntervalMs + sc.fleet.pollJitterMs)) break;
      }
      if (opts.stopWhen?.()) break;
      if (phase === 'aborted' || phase === 'preflight-failed' || (phase === 'rolled-back' && fleet.hostsOn[CANDIDATE] === 0)) break;
      // A halt, or a ring escalated to a human, waits for someone: the run ends an hour later.
      if (phase === 'halted' && haltAt !== null && t - haltAt >= 3_600_000) break;
      if (phase === 'awaiting-approval' && approvalSince === null) {
        waitingSince ??= t;
        if (t - waitingSince >= 3_600_000) break;
      } else waitingSince = null;
      t += dt;
    }
    const counts = fleet.counts();
    const finalView = c.getRollout(rollout.metadata.name);
    const since = (x: number | null): number | null => (x !== null && haltAt !== null && x <= haltAt ? (haltAt - x) / 1000 : null);
    const gapStart = haltAt === null ? null : gaps.filter((g) => g.from <= (haltAt as number)).reduce<number | null>((acc, g) => (acc === null || g.from > acc ? g.from : acc), null);
    const firstEventToHalt = { crash: since(firstCrashAt), updateFailure: since(firstUpdateFailureAt), dataGap: since(gapStart) };
    const cause = haltCause as HaltCause | null;
    const ownEvent = cause === 'crash' ? firstEventToHalt.crash : cause === 'update-failure' ? firstEventToHalt.updateFailure : cause === 'no-data' ? firstEventToHalt.dataGap : null;
    return {
      scenario: sc.name,
      startedAt: iso(start),
      hosts: sc.fleet.hosts,
      canaryHosts: fleet.canaryCount,
      outcome: t >= end && !TERMINAL_PHASES.has(phase as PhaseKind) && !['halted', 'awaiting-approval'].includes(phase) ? 'running' : phase,
      haltReason,
      lastRing,
      lastRingName: lastRing >= 0 ? (spec.rings[lastRing]?.name ?? null) : null,
      hostsUpdated: counts.took,
      hostsUpdatedOutsideCanary: counts.tookOutsideCanary,
      hostsBricked: counts.bricked,
      hostsRecoveredLocally: counts.recoveredLocally,
      localRollbacks: counts.localRollbacks,
      manifestRefusals: { ...fleet.refusals },
      firstRingStart: firstRingStart === null ? null : iso(firstRingStart),
      firstExposureAt: firstExposureAt === null ? null : iso(firstExposureAt),
      firstCrashAt: firstCrashAt === null ? null : iso(firstCrashAt),
      firstUpdateFailureAt: firstUpdateFailureAt === null ? null : iso(firstUpdateFailureAt),
      haltAt: haltAt === null ? null : iso(haltAt),
      haltRing,
      haltRingName: haltRing >= 0 ? (spec.rings[haltRing]?.name ?? null) : null,
      haltCause: cause,
      firstCrashToHaltSeconds: cause === 'crash' ? firstEventToHalt.crash : null,
      firstEventToHalt,
      firstEventToHaltSeconds: ownEvent,
      oracle: oracleOf(fleet, ringStarts, intervalMs, timeline, start, (r) => spec.rings[r]?.name ?? null),
      rollbackRevision,
      finalRevision: viewRevision,
      updateFailures: { ...fleet.failures },
      virtualDurationHours: (Math.min(t, end) - start) / 3_600_000,
      hoursToSucceeded: succeededAt === null ? null : (succeededAt - start) / 3_600_000,
      transitions: finalView?.history ?? [],
      timeline,
    };
  } finally {
    await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What the halt of `view` was about: no data, or the failing signals of its last verdict. */
function causeOf(view: RolloutView): HaltCause {
  if (view.phase.kind === 'halted' && view.phase.reason === 'no-data') return 'no-data';
  const v = view.lastVerdict;
  if (v?.result === 'inconclusive' && v.metrics.every((m) => m.result !== 'fail')) return 'no-data';
  const failing = (v?.metrics ?? []).filter((m) => m.result === 'fail');
  if (failing.some((m) => m.type === 'crash-rate' || m.type === 'bsod-rate')) return 'crash';
  if (failing.some((m) => m.signal === 'update-failures' || m.type === 'update-failure-rate')) return 'update-failure';
  if (failing.some((m) => m.signal === 'silent-hosts')) return 'silent-hosts';
  return 'other';
}

/**
 * The oracle (see Oracle): the first event the candidate caused, the first look of its ring's grid at or after it
 * (ring start + k x interval, k >= 1, the counters of a step being visible at its end), and the hosts that had taken
 * the update by then (the timeline point at that instant).
 */
export function oracleOf(fleet: Fleet, ringStarts: Array<{ ring: number; at: number }>, intervalMs: number, timeline: TimelinePoint[], start: number, ringName: (r: number) => string | null): Oracle | null {
  const ev = fleet.firstAttributable;
  if (ev === null) return null;
  const rs = [...ringStarts].reverse().find((r) => r.at <= ev.at) ?? ringStarts[0];
  if (rs === undefined) return null;
  const k = Math.max(1, Math.ceil((ev.at - rs.at) / intervalMs));
  const look = rs.at + k * intervalMs;
  let point: TimelinePoint | undefined;
  for (const p of timeline) {
    if (p.t + start > look) break;
    point = p;
  }
  return { event: ev.kind, eventAt: iso(ev.at), ring: rs.ring, ringName: ringName(rs.ring), haltAt: iso(look), hostsUpdated: point?.took ?? 0, hostsBricked: point?.bricked ?? 0 };
}

/**
 * The same scenario and seed without rings: every host takes the update at its first poll. The manifest (one ring
 * of 100%) is signed with a throwaway key the agents pin, so it goes through the same checks as the controller's.
 */
export function runAllAtOnce(sc: Scenario): AllAtOnceResult {
  const docs = loadScenarioDocuments(sc);
  const spec = docs.rollout.spec;
  const start = sc.start.getTime();
  const artifact = { url: spec.artifact.url, sha256: spec.artifact.sha256, ...(spec.artifact.signature === undefined ? {} : { signature: spec.artifact.signature }) };
  const channel = new SimChannel(spec.channel, { baseline: spec.previousVersion ?? '0.0.0', candidate: spec.version }, artifact, docs.rollout.metadata.name);
  const fleet = new Fleet(sc, channel.agent(docs.artifact), start, { pollQuantumMs: sc.tickMs });
  const fetched = channel.publish({ activeRing: 0, rings: [{ name: 'everyone', basisPoints: 10_000 }] }, { issuedAtMs: start });
  // Two poll intervals and an hour: every host that can poll has polled.
  const until = start + 2 * sc.fleet.pollIntervalMs + 3_600_000;
  const timeline: AllAtOncePoint[] = [];
  for (let t = start; t < until; t += sc.tickMs) {
    fleet.step(t, sc.tickMs, fetched);
    timeline.push({ t: t + sc.tickMs - start, took: fleet.tookTotal, bricked: fleet.brickedTotal });
  }
  const counts = fleet.counts();
  return { timeline, hostsUpdated: counts.took, hostsUpdatedOutsideCanary: counts.tookOutsideCanary, hostsBricked: counts.bricked, hostsRecoveredLocally: counts.recoveredLocally, bricked: counts.bricked / sc.fleet.hosts };
}
