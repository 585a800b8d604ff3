/**
 * The ManifestPublisher: the one path by which a channel's manifest is built, signed, persisted and served.
 *
 * A manifest is rebuilt from the store (the channel's non-terminal rollouts, its lineage record and the kill
 * switch) when something that affects it was committed: a decision's `publish-manifest` action (from the
 * outbox), the kill switch, startup. A new revision is signed and stored when the content changed, and also,
 * with the same content, when the served revision was signed by another key (after a key rotation) or is older
 * than the re-issue period (`reissueStale`, on every reconcile pass): agents refuse a manifest older than their
 * maximum age (engine/agent.ts checkManifest), so a captured manifest cannot be replayed for long. The served copy is
 * one precomputed buffer per channel, so the hot path does no work and no I/O.
 */
import { sign, verify, type KeyPair } from '../crypto/keys';
import type { PolicySpec, Rollout } from '../spec/types';
import type { StateStore } from '../store/types';
import type { Logger } from '../telemetry/log';
import { buildManifestContent, manifestBody, manifestContentHash, type ManifestContent } from './manifest';
import type { SignedManifest } from './service';

type Published = SignedManifest & { contentHash: string; issuedAtMs: number; ownKey: boolean };

/** The default re-issue period: well inside the agents' default maximum age (24 h). */
export const DEFAULT_MANIFEST_REISSUE_MS = 3_600_000;

export interface PublisherOptions {
  /** The clock (ms since the epoch): the manifests' issuedAt. */
  now?: () => number;
  /** A manifest older than this is re-issued (a new revision, the same content). Default 1 h. */
  reissueMs?: number;
}

/**
 * What the service and the action runner ask of a publisher: the standalone controller's ManifestPublisher, or the
 * operator's channel documents (operator/manifests.ts).
 */
export interface ManifestSink {
  publish(channel: string, actor?: string): unknown;
  publishAll(actor?: string): void;
  get(channel: string): SignedManifest | undefined;
}

export class ManifestPublisher implements ManifestSink {
  private readonly served = new Map<string, Published>();
  private readonly now: () => number;
  private readonly reissueMs: number;

  constructor(
    private readonly store: StateStore,
    private readonly key: KeyPair,
    private readonly policyOf: (rollout: Rollout) => PolicySpec | undefined,
    private readonly log: Logger,
    opts: PublisherOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.reissueMs = opts.reissueMs ?? DEFAULT_MANIFEST_REISSUE_MS;
  }

  /** Serves what the store last published (after a restart, before anything is rebuilt). */
  load(): void {
    for (const channel of this.store.listChannels()) {
      const m = this.store.latestManifest(channel);
      if (m) this.served.set(channel, this.published(m));
    }
  }

  private published(m: { channel: string; revision: number; body: Buffer; signature: string; contentHash: string }): Published {
    let issuedAtMs = Number.NaN;
    try {
      issuedAtMs = Date.parse((JSON.parse(m.body.toString('utf8')) as { issuedAt?: string }).issuedAt ?? '');
    } catch {
      // a stored body that does not parse is re-issued (issuedAtMs NaN counts as stale)
    }
    const ownKey = verify(this.key.publicKey, m.body, m.signature);
    return { channel: m.channel, revision: m.revision, body: m.body, signature: m.signature, etag: `"r${m.revision}"`, contentHash: m.contentHash, issuedAtMs, ownKey };
  }

  /** Why the served revision must be re-issued with the same content, or undefined. */
  private staleness(m: Published): string | undefined {
    if (!m.ownKey) return 'signed by another key';
    if (!(this.now() - m.issuedAtMs < this.reissueMs)) return `older than ${Math.round(this.reissueMs / 60_000)} min`;
    return undefined;
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

  /**
   * Rebuilds one channel's manifest: a new signed revision when its content changed, or when the revision it
   * would serve is stale (another key, older than the re-issue period).
   */
  publish(channel: string, actor = 'controller'): SignedManifest {
    const content = this.content(channel);
    const contentHash = manifestContentHash(content);
    const current = this.served.get(channel);
    if (current?.contentHash === contentHash && this.staleness(current) === undefined) return current;
    const stored = this.store.latestManifest(channel);
    const latest = stored === undefined ? undefined : this.published(stored);
    const stale = latest === undefined ? undefined : this.staleness(latest);
    if (latest?.contentHash === contentHash && stale === undefined) return this.serve(latest, false, content);
    const issuedAtMs = this.now();
    const { manifest, changed } = this.store.publishManifest(
      channel,
      (revision) => {
        const body = manifestBody(content, revision, new Date(issuedAtMs).toISOString());
        return { body, signature: sign(this.key.privateKey, body), contentHash };
      },
      actor,
      latest?.contentHash === contentHash ? { reissue: stale ?? 'stale' } : {},
    );
    return this.serve({ ...this.published(manifest), issuedAtMs }, changed, content);
  }

  /** Re-issues every channel whose served revision is stale (called on every reconcile pass; cheap when none is). */
  reissueStale(actor = 'controller'): void {
    const stale = [...this.served.values()].filter((m) => this.staleness(m) !== undefined);
    if (stale.length === 0) return;
    this.store.transaction(() => {
      for (const m of stale) this.publish(m.channel, actor);
    });
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
