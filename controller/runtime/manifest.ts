/**
 * The channel manifest: what an agent polls. Built from the channel's rollouts (pure), then signed and
 * published by the runtime as one precomputed buffer per revision.
 *
 * Shape (JSON, keys in this order):
 * { "channel", "revision", "salt",
 *   "stable": { "version", "artifact": {url, sha256} | null } | null,
 *   "candidates": [ { "rollout", "version", "artifact": {url, sha256, signature?}, "state", "exposure": Exposure } ],
 *   "killSwitch": { "engaged", "mode" } }
 * An agent takes the newest candidate whose exposure includes it (engine/membership.takesCandidate), else the
 * stable version. A candidate with exposure.activeRing -1 (e.g. state rolling-back) is withdrawn: hosts on it
 * revert. While the kill switch is engaged, agents must not install a candidate they do not already run.
 */
import * as crypto from 'node:crypto';
import { exposureFromRollout, type Exposure } from '../engine/membership';
import { IN_FLIGHT_PHASES, type KillSwitchState, type PhaseKind, type RolloutState } from '../engine/state';
import type { PolicySpec, Rollout } from '../spec/types';

export interface ManifestArtifact {
  url: string;
  sha256: string;
  signature?: string;
}

export interface ManifestContent {
  channel: string;
  salt: string;
  stable: { version: string; artifact: ManifestArtifact | null } | null;
  candidates: Array<{ rollout: string; version: string; artifact: ManifestArtifact; state: PhaseKind; exposure: Exposure }>;
  killSwitch: { engaged: boolean; mode: 'freeze' | 'rollback' };
}

export interface ChannelRollout {
  name: string;
  spec: Rollout;
  state: RolloutState;
  /** Creation order. */
  seq: number;
}



/** The per-channel salt of the membership hash: derived from the channel name, so every replica agrees. */
export function channelSalt(channel: string): string {
  return crypto.createHash('sha256').update(`ringmaster/v1/salt/${channel}`).digest('hex').slice(0, 16);
}

function artifactOf(spec: Rollout['spec']): ManifestArtifact {
  const a: ManifestArtifact = { url: spec.artifact.url, sha256: spec.artifact.sha256 };
  if (spec.artifact.signature !== undefined) a.signature = spec.artifact.signature;
  return a;
}

/**
 * Pure: the content of a channel's manifest (everything but the revision). `stable` is the channel's durable
 * lineage record (store), never derived from the rollouts: a rolled-back version can never appear there, and
 * once a channel has a stable version it is never null.
 */
export function buildManifestContent(
  channel: string,
  rollouts: ChannelRollout[],
  policyOf: (rollout: Rollout) => PolicySpec | undefined,
  killSwitch: KillSwitchState,
  stable: ManifestContent['stable'],
): ManifestContent {
  const salt = channelSalt(channel);
  // Only rollouts in flight are published: a candidate not started, or finished, is on no host and must not be.
  const inFlight = rollouts.filter((r) => IN_FLIGHT_PHASES.has(r.state.phase.kind)).sort((a, b) => a.seq - b.seq);
  const candidates = inFlight.map((r) => ({
    rollout: r.name,
    version: r.spec.spec.version,
    artifact: artifactOf(r.spec.spec),
    state: r.state.phase.kind,
    exposure: exposureFromRollout(r.spec.spec, policyOf(r.spec), r.state.exposedRing, salt, r.state.wave?.ppm ?? null),
  }));
  return { channel, salt, stable, candidates, killSwitch: { engaged: killSwitch.engaged, mode: killSwitch.mode } };
}

/** The exact bytes served: JSON with the revision after the channel. */
export function manifestBody(content: ManifestContent, revision: number): Buffer {
  const { channel, ...rest } = content;
  return Buffer.from(JSON.stringify({ channel, revision, ...rest }));
}

export function manifestContentHash(content: ManifestContent): string {
  return crypto.createHash('sha256').update(JSON.stringify(content)).digest('hex');
}
