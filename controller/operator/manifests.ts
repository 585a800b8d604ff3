/**
 * Agent manifests in the operator, served by every replica.
 *
 * The leader builds each channel's manifest content from the Rollouts' statuses (runtime/manifest.ts, the same
 * function as the standalone controller) and writes it, with a counter and its issue time, into the channel's
 * ConfigMap. Every replica signs that content with the shared key (from a Secret), with the kill switch of the
 * kill-switch ConfigMap in it: a replica shows a kill-switch write as soon as its informer sees it, whether or not
 * a leader is alive. ed25519 signatures are deterministic, so replicas with the same view serve the same bytes.
 *
 * revision = counter * 1,000,000 + the kill switch's write epoch: both only grow, so revisions only grow, and a
 * revision names one content. `issuedAt` is the later of the content's and the kill switch's.
 */
import { sign, type KeyPair } from '../crypto/keys';
import { buildManifestContent, manifestBody, manifestContentHash, type ManifestContent } from '../runtime/manifest';
import type { ManifestSink } from '../runtime/publisher';
import type { SignedManifest } from '../runtime/service';
import type { PolicySpec, Rollout } from '../spec/types';
import type { ChannelDoc, ClusterStore } from './cluster-store';
import { CHANNEL_CONFIGMAP_PREFIX, CHANNEL_LABEL, MANAGED_LABELS, type KubeObject } from './kube';

export const EPOCH_SPAN = 1_000_000;

/** The kill switch as the leader writes content: agents get the live one from each replica. */
const CONTENT_KILLSWITCH = { engaged: false, mode: 'freeze' as const, reason: '', actor: '', since: null };

export function channelConfigMapName(channel: string): string {
  return `${CHANNEL_CONFIGMAP_PREFIX}${channel}`;
}

export function channelDocFromConfigMap(cm: KubeObject): { channel: string; doc: ChannelDoc } | null {
  const channel = cm.metadata.labels?.[CHANNEL_LABEL];
  const text = cm.data?.['channel.json'];
  if (!channel || text === undefined) return null;
  try {
    const parsed = JSON.parse(text) as Omit<ChannelDoc, 'rv'>;
    return { channel, doc: { record: parsed.record ?? null, manifest: parsed.manifest ?? null, applied: Array.isArray(parsed.applied) ? parsed.applied : [], rv: cm.metadata.resourceVersion ?? null } };
  } catch {
    return null;
  }
}

export function channelConfigMap(namespace: string, channel: string, doc: ChannelDoc): KubeObject {
  const { rv: _rv, ...body } = doc;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: channelConfigMapName(channel), namespace, labels: { ...MANAGED_LABELS, [CHANNEL_LABEL]: channel } },
    data: { 'channel.json': JSON.stringify(body) },
  };
}

/** The content agents should see for a channel, from the mirror's (confirmed) rollouts and lineage. */
export function channelContent(store: ClusterStore, channel: string, policyOf: (r: Rollout) => PolicySpec | undefined): ManifestContent {
  const rollouts = store.listRollouts({ channel, activeOnly: true }).map((r) => ({ name: r.name, spec: r.spec, state: r.state, seq: r.seq }));
  const rec = store.getChannel(channel);
  const stable = rec ? { version: rec.stable.version, artifact: rec.stable.artifact } : null;
  return buildManifestContent(channel, rollouts, policyOf, CONTENT_KILLSWITCH, stable);
}

/**
 * The next manifest of a channel document: a new counter when the content changed or the issued one is older than
 * `reissueMs`; null when the document's manifest stands.
 */
export function nextChannelManifest(doc: ChannelDoc, content: ManifestContent, nowMs: number, reissueMs: number): ChannelDoc['manifest'] {
  const contentHash = manifestContentHash(content);
  const cur = doc.manifest;
  if (cur && cur.contentHash === contentHash && nowMs - Date.parse(cur.issuedAt) < reissueMs) return null;
  return { counter: (cur?.counter ?? 0) + 1, issuedAt: new Date(nowMs).toISOString(), contentHash, content };
}

/** Signs and caches each channel's manifest on this replica (the hot path is a map lookup). */
export class ReplicaManifests implements ManifestSink {
  private readonly cache = new Map<string, { key: string; manifest: SignedManifest }>();

  constructor(
    private readonly store: ClusterStore,
    private readonly key: KeyPair,
    /** The leader's side of publish(): the channel is rebuilt and written at the next flush. */
    private readonly onPublish: (channel: string) => void = () => undefined,
  ) {}

  get(channel: string): SignedManifest | undefined {
    const doc = this.store.channels.get(channel);
    const m = doc?.manifest;
    if (!m) return undefined;
    const epoch = this.store.killSwitchEpoch;
    const key = `${m.counter}:${epoch}:${m.contentHash}`;
    const hit = this.cache.get(channel);
    if (hit && hit.key === key) return hit.manifest;
    const ks = this.store.getKillSwitch();
    const revision = m.counter * EPOCH_SPAN + (epoch % EPOCH_SPAN);
    const ksAt = this.store.killSwitchAt;
    const issuedAt = ksAt !== null && Date.parse(ksAt) > Date.parse(m.issuedAt) ? ksAt : m.issuedAt;
    const body = manifestBody({ ...m.content, killSwitch: { engaged: ks.engaged, mode: ks.mode } }, revision, issuedAt);
    const manifest: SignedManifest = { channel, revision, body, signature: sign(this.key.privateKey, body), etag: `"r${revision}"` };
    this.cache.set(channel, { key, manifest });
    return manifest;
  }

  publish(channel: string): void {
    this.onPublish(channel);
  }

  publishAll(): void {
    for (const channel of this.store.listChannels()) this.onPublish(channel);
  }
}
