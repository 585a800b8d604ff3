/** The rollout as users see it (API, ringctl status): phase, ring, why it waits, bake times, verdict, history. */
import type { KillSwitchState, Phase, Transition } from '../engine/state';
import { WAVE_SCALE } from '../engine/membership';
import { durationMs } from '../spec/duration';
import type { RolloutRecord } from '../store/store';
import type { RolloutView } from './service';

function phaseRing(phase: Phase): number | null {
  switch (phase.kind) {
    case 'waiting-for-window':
    case 'progressing':
    case 'awaiting-approval':
    case 'halted':
      return phase.ring;
    case 'paused':
      return phase.from.ring;
    case 'pending':
    case 'blocked':
    case 'held':
    case 'preflight':
    case 'preflight-failed':
    case 'rolling-back':
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
      return null;
  }
}

export function waitingReason(phase: Phase, killSwitch: KillSwitchState): string | null {
  const ks = killSwitch.engaged ? `kill switch engaged (${killSwitch.mode}): ${killSwitch.reason}` : null;
  switch (phase.kind) {
    case 'pending':
      return ks ?? phase.reason;
    case 'blocked':
      return `${phase.reason}. Next: abort it (ringctl abort) and apply a rollout with previousVersion ${phase.stableVersion}`;
    case 'held':
      return `held: ${phase.reason}. Next: once the kill switch is released (ringctl unkill), ringctl resume starts it`;
    case 'preflight':
      return `pre-flight checks run since ${phase.since} (the artifact is fetched and verified, then each check of spec.preflight): nothing is exposed until they pass`;
    case 'preflight-failed':
      return `pre-flight check ${phase.check} failed: ${phase.reason}. No host received it. Next: fix the artifact and apply it as a new rollout`;
    case 'waiting-for-window':
      return ks ?? (phase.reasons.map((r) => r.message).join('; ') || 'waiting for the policy window');
    case 'awaiting-approval':
      return phase.reason;
    case 'paused':
      return `paused: ${phase.reason}`;
    case 'halted':
      return `halted (${phase.reason}): ${phase.message}`;
    case 'rolling-back':
      return `rolling back: ${phase.reason}`;
    case 'progressing':
      return ks;
    case 'rolled-back':
    case 'succeeded':
    case 'aborted':
      return null;
  }
}

/** The exposed ring's wave while it ramps, with the share of the ring it exposes. */
function waveView(r: RolloutRecord): RolloutView['wave'] {
  const w = r.state.wave ?? null;
  if (w === null) return null;
  return { index: w.index, ppm: w.ppm, sharePercent: (100 * w.ppm) / WAVE_SCALE, targetHosts: w.target, ringHosts: w.ringHosts, since: w.since };
}

/** What the view shows beside the record: the policy's time zone, the rollback drain the controller runs with. */
export interface ViewContext {
  timezone?: string | null;
  rollbackDrainMs?: number;
  /** The revision of the channel's signed manifest now served (a counter of the channel, not of the rollout). */
  manifestRevision?: number | null;
}

export function rolloutView(r: RolloutRecord, history: Transition[], killSwitch: KillSwitchState, judged: boolean, ctx: ViewContext = {}): RolloutView {
  const spec = r.spec.spec;
  const idx = phaseRing(r.state.phase);
  const ringSpec = idx === null ? undefined : spec.rings[idx];
  let bake: RolloutView['bake'] = null;
  const p = r.state.phase.kind === 'paused' ? r.state.phase.from : r.state.phase;
  if (p.kind === 'progressing' && p.bakeStartedAt !== null) {
    const ring = spec.rings[p.ring];
    if (ring) {
      const start = Date.parse(p.bakeStartedAt);
      bake = {
        startedAt: p.bakeStartedAt,
        minEndsAt: new Date(start + durationMs(ring.bake)).toISOString(),
        maxEndsAt: ring.maxBake ? new Date(start + durationMs(ring.maxBake)).toISOString() : null,
      };
    }
  }
  const ph = r.state.phase;
  const drain = ph.kind === 'rolling-back' && ctx.rollbackDrainMs !== undefined ? { since: ph.since, endsAt: new Date(Date.parse(ph.since) + ctx.rollbackDrainMs).toISOString() } : null;
  return {
    name: r.name,
    channel: r.channel,
    version: spec.version,
    previousVersion: spec.previousVersion ?? null,
    policy: r.policy,
    timezone: ctx.timezone ?? null,
    phase: r.state.phase,
    exposedRing: r.state.exposedRing,
    ring: idx === null || ringSpec === undefined ? null : { index: idx, name: ringSpec.name },
    waitingReason: waitingReason(r.state.phase, killSwitch),
    bake,
    judged,
    wave: waveView(r),
    drain,
    lastVerdict: r.state.lastVerdict,
    history,
    revision: r.revision,
    manifestRevision: ctx.manifestRevision ?? null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.archivedAt === undefined ? {} : { archivedAt: r.archivedAt }),
    spec: r.spec,
  };
}
