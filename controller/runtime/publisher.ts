/**
 * The ManifestPublisher: the one path by which a channel's manifest is built, signed, persisted and served.
 *
 * A manifest is rebuilt from the store (the channel's non-terminal rollouts, its lineage record and the kill
 * switch) when something that affects it was committed: a decision's `publish-manifest` action (from the
 * outbox), the kill switch, startup. A new revision is signed and stored only when the content changed. The
 * served copy is one precomputed buffer per channel, so the hot path does no work and no I/O.
 */
import { sign, type KeyPair } from '../crypto/keys';
import type { PolicySpec, Rollout } from '../spec/types';
import type { StateStore } from '../store/types';
import type { Logger } from '../telemetry/log';
import { buildManifestContent, manifestBody, manifestContentHash, type ManifestContent } from './manifest';
import type { SignedManifest } from './service';

type Published = SignedManifest & { contentHash: string };

export class ManifestPublisher {
  private readonly served = new Map<string, Published>();

  constructor(
    private readonly store: StateStore,
    private readonly key: KeyPair,
    private readonly policyOf: (rollout: Rollout) => PolicySpec | undefined,
    private readonly log: Logger,
  ) {}

  /** Serves what the store last published (after a restart, before anything is rebuilt). */
  load(): void {
    for (const channel of this.store.listChannels()) {
      const m = this.store.latestManifest(channel);
      if (m) this.served.set(channel, { channel, revision: m.revision, body: m.body, signature: m.signature, etag: `"r${m.revision}"`, contentHash: m.contentHash });
    }
  }

  get(channel: string): SignedManifest | undefined {
    return this.served.get(channel);
  }

  /** The content agents should see now (pure given the store's state). */
  content(channel: string): ManifestContent {
    const rollouts = this.store.listRollouts({ channel, activeOnly: true }).map((r) => ({ name: r.name, spec: r.spec, state: r.state, seq: r.seq }));
    const rec = this.store.getChannel(channel);
    const stable = rec ? { version: rec.stable.version, artifact: rec.stable.artifact } : null;
    return buildManifestContent(channel, rollouts, this.policyOf, this.store.getKillSwitch(), stable);
  }

  /** Rebuilds one channel's manifest; a new signed revision only when its content changed. */
  publish(channel: string, actor = 'controller'): SignedManifest {
    const content = this.content(channel);
    const contentHash = manifestContentHash(content);
    const current = this.served.get(channel);
    if (current?.contentHash === contentHash) return current;
    const latest = this.store.latestManifest(channel);
    if (latest?.contentHash === contentHash) return this.serve({ channel, revision: latest.revision, body: latest.body, signature: latest.signature, etag: `"r${latest.revision}"`, contentHash }, false, content);
    const { manifest, changed } = this.store.publishManifest(
      channel,
      (revision) => {
        const body = manifestBody(content, revision);
        return { body, signature: sign(this.key.privateKey, body), contentHash };
      },
      actor,
    );
    const m: Published = { channel, revision: manifest.revision, body: manifest.body, signature: manifest.signature, etag: `"r${manifest.revision}"`, contentHash: manifest.contentHash };
    return this.serve(m, changed, content);
  }

  /** Agents see a revision only once it is durable (after the transaction it was written in commits). */
  private serve(m: Published, changed: boolean, content: ManifestContent): SignedManifest {
    this.store.afterCommit(() => {
      const cur = this.served.get(m.channel);
      if (cur !== undefined && cur.revision >= m.revision) return;
      this.served.set(m.channel, m);
      if (changed) this.log.info({ channel: m.channel, revision: m.revision, candidates: content.candidates.length, killSwitch: content.killSwitch.engaged }, 'manifest published');
    });
    return m;
  }

  /** Every channel (the kill switch is in every manifest), in one transaction. */
  publishAll(actor = 'controller'): void {
    this.store.transaction(() => {
      for (const channel of this.store.listChannels()) this.publish(channel, actor);
    });
  }
}
