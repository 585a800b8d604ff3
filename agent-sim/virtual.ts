/**
 * Virtual-time play of a scenario: the real controller runtime (engine, SQLite store in a temp dir, signed
 * manifests, analysis through MetricsAnalyzer + observeMetric) on a VirtualClock, and the simulated fleet
 * polling the signed manifest and verifying it against the pinned key. Days of rollout play in seconds.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { observeFromCounts } from '../controller/analysis/observe';
import { parsePublicKey, verify } from '../controller/crypto/keys';
import type { Exposure } from '../controller/engine/membership';
import type { Transition } from '../controller/engine/state';
import { MetricsAnalyzer } from '../controller/runtime/analysis';
import { VirtualClock } from '../controller/runtime/clock';
import { loadTrustedKeys } from '../controller/runtime/config';
import { Controller } from '../controller/runtime/controller';
import { channelSalt } from '../controller/runtime/manifest';
import { formatSpecError, InputError } from '../controller/spec/errors';
import { engineConfigFor } from '../controller/runtime/config';
import { nextAllowedStart } from '../controller/policy/windows';
import { loadPolicyFile, loadRolloutFile } from '../controller/spec/load';
import type { PolicySpec, Rollout } from '../controller/spec/types';
import { CANDIDATE, Fleet, type ManifestView } from './fleet';
import { SimMetricsProvider } from './provider';
import type { Scenario } from './scenario';

export interface TimelinePoint {
  /** ms since the scenario start */
  t: number;
  onCandidate: number;
  /** Hosts that ever took the candidate (bricked ones included). */
  took: number;
  /** Cumulative crashes + BSODs on the candidate. */
  candidateCrashes: number;
  /** Hosts in a boot loop so far. */
  bricked: number;
  /** The furthest ring exposed (-1: none yet). */
  ring: number;
  /** The manifest revision the fleet was served. */
  revision: number;
  phase: string;
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
  firstRingStart: string | null;
  /** Virtual time of the first crash or BSOD on the candidate. */
  firstCrashAt: string | null;
  haltAt: string | null;
  firstCrashToHaltSeconds: number | null;
  rollbackRevision: number | null;
  finalRevision: number;
  updateFailures: Record<string, number>;
  virtualDurationHours: number;
  transitions: Transition[];
  timeline: TimelinePoint[];
}

export interface AllAtOnceResult {
  hostsUpdated: number;
  hostsUpdatedOutsideCanary: number;
  hostsBricked: number;
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

/** Plays a scenario in virtual time. `log` receives the story (ring starts, first crash, halt, rollback). */
export async function runVirtual(sc: Scenario, log: (line: string) => void = () => undefined): Promise<RunResult> {
  const docs = loadScenarioDocuments(sc);
  const rollout = docs.rollout;
  const spec = rollout.spec;
  const channel = spec.channel;
  const start = sc.start.getTime();
  const dir = fs.mkdtempSync(path.join(simDataRoot(), 'agent-sim-'));
  const fleet = new Fleet(sc, channelSalt(channel), start);
  const baseline = spec.previousVersion ?? '0.0.0';
  const gaps = sc.metricsGaps.map((g) => ({ from: start + g.fromMs, to: start + g.toMs }));
  const provider = new SimMetricsProvider(fleet, channel, { baseline, candidate: spec.version }, gaps);
  const clock = new VirtualClock(start);
  const c = await Controller.open({
    dataDir: dir,
    policiesDir: '/nonexistent',
    policies: new Map([[docs.policyName, docs.policy]]),
    trustedKeys: loadTrustedKeys(sc.trustedKeysFile),
    clock,
    tickMs: sc.tickMs,
    rollbackDrainMs: 10 * 60_000,
    analyzer: new MetricsAnalyzer((metric, ctx) => Promise.resolve(observeFromCounts(provider, metric, ctx))),
  });
  const off = (ms: number): string => {
    const m = Math.round((ms - start) / 60_000);
    return `T+${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  };
  try {
    const applied = await c.applyRollout(rollout, 'agent-sim');
    if (applied.status !== 'created') throw new InputError([`${sc.rolloutFile}: the controller refused the rollout: ${applied.status === 'invalid' ? applied.errors.map(formatSpecError).join('; ') : applied.status === 'conflict' ? applied.message : applied.status}`]);
    const pinned = parsePublicKey(c.signingKey().publicKeyPem);
    if (!pinned.ok) throw new Error(pinned.message);
    const artifactOk = docs.artifact === undefined ? true : crypto.createHash('sha256').update(sc.tamper.artifact ? Buffer.concat([docs.artifact, Buffer.from([0])]) : docs.artifact).digest('hex') === spec.artifact.sha256;
    log(`${off(start)} ${iso(start)} apply ${rollout.metadata.name}: ${channel} ${baseline} -> ${spec.version} to ${sc.fleet.hosts.toLocaleString('en-US')} hosts (${fleet.canaryCount} canary)`);
    if (!artifactOk) log(`${off(start)} the artifact agents download does not match spec.artifact.sha256: every install will be refused (reason hash)`);

    let seenTransitions = 0;
    let manifestView: ManifestView | undefined;
    let viewRevision = -1;
    let firstCrashAt: number | null = null;
    let haltAt: number | null = null;
    let rollbackRevision: number | null = null;
    let firstRingStart: number | null = null;
    let lastRing = -1;
    let approvalSince: number | null = null;
    const timeline: TimelinePoint[] = [];
    const end = start + sc.maxDurationMs;
    let t = start;
    let phase = 'pending';
    let haltReason: string | null = null;
    let tamperedChecked = false;
    let waitingSince: number | null = null;
    while (t < end) {
      clock.advanceTo(t);
      await c.reconcileAll();
      const view = c.getRollout(rollout.metadata.name);
      if (!view) throw new Error('rollout vanished');
      phase = view.phase.kind;
      lastRing = Math.max(lastRing, view.exposedRing);
      for (const tr of view.history.slice(seenTransitions)) {
        log(`${off(Date.parse(tr.at))} ${tr.from} -> ${tr.to}${tr.exposedRing >= 0 ? ` (ring ${tr.exposedRing}: ${spec.rings[tr.exposedRing]?.name ?? '?'})` : ''}: ${tr.reason}`);
        if (firstRingStart === null && tr.to === 'progressing') firstRingStart = Date.parse(tr.at);
        if (haltAt === null && (tr.to === 'halted' || tr.to === 'rolling-back' || tr.to === 'aborted')) haltAt = Date.parse(tr.at);
      }
      seenTransitions = view.history.length;
      if (view.phase.kind === 'halted') haltReason = view.phase.reason;
      // The auto-approver gives the approvals the rollout plans for (rings with approval: required); a ring
      // escalated for a human because it reached maxBake undecided is left waiting, as it should be.
      if (view.phase.kind === 'awaiting-approval' && sc.approvals === 'auto' && spec.rings[view.phase.ring]?.approval === 'required' && !/maxBake/.test(view.phase.reason)) {
        approvalSince ??= t;
        if (t - approvalSince >= sc.approvalDelayMs) {
          const r = await c.request(rollout.metadata.name, 'approve', 'sim-approver', 'scenario: an approver approves after approvalDelay');
          log(`${off(t)} sim-approver approves ring ${view.phase.ring}: ${r.status}`);
          approvalSince = null;
        }
      } else approvalSince = null;

      // The agents' view of the manifest: fetched once per step, verified against the pinned key.
      const m = c.manifest(channel);
      if (m && m.revision !== viewRevision) {
        viewRevision = m.revision;
        const signatureOk = verify(pinned.key, m.body, m.signature);
        if (sc.tamper.manifestShare > 0 && !tamperedChecked) {
          // What a man in the middle serves: one byte changed. It must fail the same check.
          const tampered = Buffer.from(m.body);
          const at = tampered.length - 2;
          tampered[at] = (tampered[at] as number) ^ 1;
          if (verify(pinned.key, tampered, m.signature)) throw new Error('a tampered manifest verified: the signature check is broken');
          tamperedChecked = true;
        }
        const body = JSON.parse(m.body.toString()) as { revision: number; candidates: Array<{ version: string; exposure: Exposure }>; killSwitch: { engaged: boolean } };
        const cand = body.candidates.find((x) => x.version === spec.version && x.exposure.activeRing >= 0);
        manifestView = { revision: body.revision, candidate: cand ? { version: cand.version, exposure: cand.exposure } : null, killSwitch: body.killSwitch.engaged, signatureOk, artifactOk };
        if (haltAt !== null && rollbackRevision === null && !cand) {
          rollbackRevision = body.revision;
          log(`${off(t)} manifest revision ${body.revision} withdraws ${spec.version}: agents revert on their next poll`);
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
      fleet.step(t, dt, manifestView);
      const snap = fleet.latest();
      const candCrashes = (snap.events[CANDIDATE][0] as number) + (snap.events[CANDIDATE][1] as number);
      if (firstCrashAt === null && candCrashes > 0) {
        firstCrashAt = t + dt;
        log(`${off(firstCrashAt)} first crash on ${spec.version}: ${candCrashes} crash/BSOD events, ${fleet.hostsOn[CANDIDATE]} hosts reporting on it`);
      }
      timeline.push({ t: t + dt - start, onCandidate: fleet.hostsOn[CANDIDATE], took: fleet.tookTotal, candidateCrashes: candCrashes, bricked: fleet.brickedTotal, ring: view.exposedRing, revision: viewRevision, phase });
      if (phase === 'succeeded' || phase === 'aborted' || (phase === 'rolled-back' && fleet.hostsOn[CANDIDATE] === 0)) break;
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
    return {
      scenario: sc.name,
      startedAt: iso(start),
      hosts: sc.fleet.hosts,
      canaryHosts: fleet.canaryCount,
      outcome: t >= end && !['succeeded', 'rolled-back', 'aborted', 'halted', 'awaiting-approval'].includes(phase) ? 'running' : phase,
      haltReason,
      lastRing,
      lastRingName: lastRing >= 0 ? (spec.rings[lastRing]?.name ?? null) : null,
      hostsUpdated: counts.took,
      hostsUpdatedOutsideCanary: counts.tookOutsideCanary,
      hostsBricked: counts.bricked,
      firstRingStart: firstRingStart === null ? null : iso(firstRingStart),
      firstCrashAt: firstCrashAt === null ? null : iso(firstCrashAt),
      haltAt: haltAt === null ? null : iso(haltAt),
      firstCrashToHaltSeconds: firstCrashAt !== null && haltAt !== null ? Math.max(0, (haltAt - firstCrashAt) / 1000) : null,
      rollbackRevision,
      finalRevision: viewRevision,
      updateFailures: { ...fleet.failures },
      virtualDurationHours: (Math.min(t, end) - start) / 3_600_000,
      transitions: finalView?.history ?? [],
      timeline,
    };
  } finally {
    await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The same scenario and seed without rings: every host takes the update at its first poll. */
export function runAllAtOnce(sc: Scenario): AllAtOnceResult {
  const docs = loadScenarioDocuments(sc);
  const salt = channelSalt(docs.rollout.spec.channel);
  const start = sc.start.getTime();
  const fleet = new Fleet(sc, salt, start);
  const artifactOk =
    docs.artifact === undefined ? true : crypto.createHash('sha256').update(sc.tamper.artifact ? Buffer.concat([docs.artifact, Buffer.from([0])]) : docs.artifact).digest('hex') === docs.rollout.spec.artifact.sha256;
  const view: ManifestView = {
    revision: 1,
    candidate: { version: docs.rollout.spec.version, exposure: { salt, activeRing: 0, rings: [{ name: 'everyone', basisPoints: 10_000 }] } },
    killSwitch: false,
    signatureOk: true,
    artifactOk,
  };
  // Two poll intervals and an hour: every host that can poll has polled.
  const until = start + 2 * sc.fleet.pollIntervalMs + 3_600_000;
  for (let t = start; t < until; t += sc.tickMs) fleet.step(t, sc.tickMs, view);
  const counts = fleet.counts();
  return { hostsUpdated: counts.took, hostsUpdatedOutsideCanary: counts.tookOutsideCanary, hostsBricked: counts.bricked, bricked: counts.bricked / sc.fleet.hosts };
}
