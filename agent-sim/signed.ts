/**
 * Manifests as the simulated agents receive them: the exact bytes, the signature and key id headers
 * (engine/agent.ts `FetchedManifest`), whatever served them.
 *
 * - `fetchedOf`: a manifest the controller signed (virtual mode: `Controller.manifest()`; live mode: the HTTP
 *   response's body and headers).
 * - `ManifestSigner`, `SimChannel`: a throwaway ed25519 key that signs manifests the simulator writes itself (the
 *   "all at once" comparison, unit tests), so that those manifests go through the same checks as the controller's.
 */
import * as crypto from 'node:crypto';
import { generateKeyPair, keyId, publicKeyRaw, sign, type KeyPair } from '../controller/crypto/keys';
import type { ChannelManifest, FetchedManifest, ManifestArtifact, TrustedManifestKey } from '../controller/engine/agent';
import type { Exposure } from '../controller/engine/membership';
import { channelSalt } from '../controller/runtime/manifest';
import type { FleetAgent } from './fleet';

export function sha256Hex(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

/** The fetched form of signed bytes (the revision header from the body's revision when the transport has none). */
export function fetchedOf(body: Buffer, signature: string | undefined, keyIdHeader: string | undefined, revisionHeader?: string): FetchedManifest {
  return { body, signature, keyId: keyIdHeader, revisionHeader, bodySha256: sha256Hex(body) };
}

export class ManifestSigner {
  private readonly key: KeyPair = generateKeyPair();
  readonly keyId = keyId(this.key.publicKey);
  readonly trusted: TrustedManifestKey = { keyId: this.keyId, publicKey: publicKeyRaw(this.key.publicKey).toString('base64') };

  /** Signs the manifest as the controller would (the same key order: manifestBody's). */
  sign(m: ChannelManifest): FetchedManifest {
    const body = Buffer.from(JSON.stringify(m));
    return fetchedOf(body, sign(this.key.privateKey, body), this.keyId, String(m.revision));
  }
}

/**
 * A channel whose manifests the simulator writes itself (the "all at once" comparison; unit tests): one rollout's
 * candidate at most, each publication a new revision signed by the channel's throwaway key.
 */
export class SimChannel {
  readonly signer = new ManifestSigner();
  readonly salt: string;
  private revision = 0;

  constructor(
    readonly channel: string,
    readonly versions: { baseline: string; candidate: string },
    readonly artifact: ManifestArtifact = { url: 'https://updates.example.internal/candidate.bin', sha256: '0'.repeat(64) },
    readonly rollout = 'sim-rollout',
  ) {
    this.salt = channelSalt(channel);
  }

  /** What the fleet's agents are: they pinned this channel's key. */
  agent(artifact?: Buffer): FleetAgent {
    return { channel: this.channel, trust: [this.signer.trusted], versions: this.versions, artifact };
  }

  /**
   * The next revision (or `revision`): the candidate with `exposure` (null: none in flight) and its artifact (default
   * the channel's), the stable version (default the baseline), the kill switch; issued at `issuedAtMs`.
   */
  publish(exposure: Omit<Exposure, 'salt'> | null, opts: { issuedAtMs?: number; stable?: string; killSwitch?: boolean; revision?: number; artifact?: ManifestArtifact } = {}): FetchedManifest {
    this.revision = opts.revision ?? this.revision + 1;
    const m: ChannelManifest = {
      channel: this.channel,
      revision: this.revision,
      issuedAt: new Date(opts.issuedAtMs ?? 0).toISOString(),
      salt: this.salt,
      stable: { version: opts.stable ?? this.versions.baseline, artifact: null },
      candidates: exposure === null ? [] : [{ rollout: this.rollout, version: this.versions.candidate, artifact: opts.artifact ?? this.artifact, state: 'progressing', exposure: { salt: this.salt, ...exposure } }],
      killSwitch: { engaged: opts.killSwitch === true, mode: 'freeze' },
    };
    return this.signer.sign(m);
  }
}
