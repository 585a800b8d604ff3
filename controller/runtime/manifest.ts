/**
 * The channel manifest: what an agent polls. Built from the channel's rollouts (pure), then signed and
 * published by the runtime as one precomputed buffer per revision.
 *
 * Shape (JSON, keys in this order; the wire types are engine/agent.ts's ChannelManifest):
 * { "channel", "revision", "issuedAt", "salt",
 *   "stable": { "version", "artifact": {url, sha256} | null } | null,
 *   "candidates": [ { "rollout", "version", "artifact": {url, sha256, signature?}, "state", "exposure": Exposure } ],
 *   "killSwitch": { "engaged", "mode" } }
 * An agent takes what engine/agent.desiredVersion says: the newest candidate whose exposure admits it, else the
 * stable version. `issuedAt` is when the revision was signed: the publisher re-issues a manifest (a new revision,
 * the same content) before agents would refuse it as too old. A candidate with exposure.activeRing -1 (e.g. state rolling-back) is withdrawn: hosts on it
 * revert. While the kill switch is engaged, agents must not install a candidate they do not already run.
 */
import * as crypto from 'node:crypto';
import type { ChannelManifest, ManifestArtifact } from '../engine/agent';
import { exposureFromRollout } from '../engine/membership';
import { IN_FLIGHT_PHASES, type KillSwitchState, type RolloutState } from '../engine/state';
import type { PolicySpec, Rollout } from '../spec/types';

export type { ChannelManifest, ManifestArtifact } from '../engine/agent';

/** Everything in a manifest but its revision and issue time. */
export type ManifestContent = Omit<ChannelManifest, 'revision' | 'issuedAt'>;

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

/** The exact bytes served: JSON with the revision and the issue time after the channel. */
export function manifestBody(content: ManifestContent, revision: number, issuedAt: string): Buffer {
  const { channel, ...rest } = content;
  const m: ChannelManifest = { channel, revision, issuedAt, ...rest };
  return Buffer.from(JSON.stringify(m));
}

export function manifestContentHash(content: ManifestContent): string {
  return crypto.createHash('sha256').update(JSON.stringify(content)).digest('hex');
}
