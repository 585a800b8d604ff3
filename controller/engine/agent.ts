/**
 * The agent's decisions, as pure functions: what a host should run, whether a fetched manifest may be believed,
 * how the manifest-signing key rotates, and the boot-loop safety net. The reference agent (agent/) and the fleet
 * simulator (agent-sim/) both call these; neither re-implements any of them.
 *
 * ## What a host runs (`desiredVersion`)
 * The newest candidate whose exposure admits the host (engine/membership.ts), unless the host marked that exact
 * artifact bad locally (a boot loop, a refused validation); else the channel's stable version. A candidate withdrawn
 * (`exposure.activeRing` -1) admits nobody: hosts on it return to stable. While the kill switch is engaged a host
 * never installs a candidate it does not already run (it keeps what it has); returning to stable is never blocked.
 *
 * ## Whether a manifest may be believed (`checkManifest`)
 * Signed by a trusted key (its id in `X-Ringmaster-Key-Id`), the exact bytes verified with ed25519; the channel the
 * agent polls; the revision header equal to the body's; the revision never lower than the last accepted one, and
 * an equal revision only with identical bytes (replay); `issuedAt` not older than `maxAgeMs` and not later than
 * `clockSkewMs` ahead of the host's clock. The controller re-issues every manifest well inside the maximum age, so
 * a captured manifest stops being accepted once it is older than that, even on a host that never saw a newer one.
 *
 * ## Key rotation (`applyRotations`)
 * A rotation statement names the next key and the key it retires, and is signed by the retiring key. A host that
 * trusts the retiring key accepts the statement, trusts the new key and drops the old one. Statements are applied
 * in order, so a host that slept through several rotations follows the chain.
 *
 * ## The boot-loop safety net (`beginStart`, `nextStart`, `installedVersion`, `startHealthy`)
 * Before a new version is activated, the agent writes a boot marker. Every start of that version (a boot, a
 * process start) counts one attempt in the marker before it runs; a healthy period clears the marker. A start
 * that finds `maxFailedStarts` attempts already used reverts to the last-known-good version, without the
 * controller, and marks the version bad locally. A bad mark lasts until a manifest names the same version under
 * another rollout or with another artifact (a re-release); a revision bump alone (a wave, a re-issue) does not
 * clear it, or a host would boot-loop again at every wave.
 */
import { keyIdOfRaw, parsePublicKey, ROTATION_TYPE, verify, type KeyRotationStatement, type SignedRotation } from '../crypto/ed25519';
import { admitted, assignedRing, hostWavePosition, type Exposure, type MemberHost } from './membership';
import type { PhaseKind } from './state';

// ------------------------------------------------------------------------------------------ the manifest

export interface ManifestArtifact {
  url: string;
  sha256: string;
  /** The publisher's ed25519 signature over the raw 32-byte sha256 digest, base64. */
  signature?: string;
}

export interface ManifestCandidate {
  rollout: string;
  version: string;
  artifact: ManifestArtifact;
  state: PhaseKind;
  exposure: Exposure;
}

/** A channel manifest as served (the body's keys in this order). */
export interface ChannelManifest {
  channel: string;
  revision: number;
  /** When the controller signed this revision (ISO 8601, UTC). */
  issuedAt: string;
  salt: string;
  stable: { version: string; artifact: ManifestArtifact | null } | null;
  /** In creation order: the last is the newest. */
  candidates: ManifestCandidate[];
  killSwitch: { engaged: boolean; mode: 'freeze' | 'rollback' };
}

// ------------------------------------------------------------------------------------------ what a host runs

/** A host as the decision sees it. */
export interface AgentHost extends MemberHost {
  /** The version it runs now; null: none installed. */
  current: string | null;
  /** Its assigned ring in candidate `i`'s plan, when the caller precomputed it (the simulator's tables). */
  ringOf?: (candidate: number) => number;
  /** Whether this exact artifact of the version is marked bad on the host (bad marks: `isMarkedBad`). */
  isBad?: (version: string, sha256: string, rollout: string | null) => boolean;
}

export type Desired =
  | { kind: 'candidate'; version: string; artifact: ManifestArtifact; rollout: string; candidate: number; ring: number }
  | { kind: 'stable'; version: string; artifact: ManifestArtifact | null }
  /**
   * Keep what it runs: the kill switch forbids a new candidate, the channel has no stable version yet, or the stable
   * artifact is marked bad on this host (it boot-looped here: the host stays on what it runs rather than loop again).
   */
  | { kind: 'keep'; version: string | null; why: 'kill-switch' | 'no-stable' | 'marked-bad' };

function ringOfCandidate(m: ChannelManifest, host: AgentHost, i: number): number {
  if (host.ringOf !== undefined) return host.ringOf(i);
  return assignedRing((m.candidates[i] as ManifestCandidate).exposure, host);
}

/** What `host` should run under manifest `m` (see the module comment). */
export function desiredVersion(m: ChannelManifest, host: AgentHost): Desired {
  for (let i = m.candidates.length - 1; i >= 0; i--) {
    const c = m.candidates[i] as ManifestCandidate;
    if (c.exposure.activeRing < 0) continue;
    const ring = ringOfCandidate(m, host, i);
    if (ring < 0) continue;
    const wave = c.exposure.wave === undefined ? 0 : (host.wave ?? hostWavePosition(c.exposure.salt, host.id));
    if (!admitted(c.exposure, ring, wave)) continue;
    if (host.isBad?.(c.version, c.artifact.sha256, c.rollout) === true) continue;
    if (m.killSwitch.engaged && host.current !== c.version) return { kind: 'keep', version: host.current, why: 'kill-switch' };
    return { kind: 'candidate', version: c.version, artifact: c.artifact, rollout: c.rollout, candidate: i, ring };
  }
  if (m.stable === null) return { kind: 'keep', version: host.current, why: 'no-stable' };
  const a = m.stable.artifact;
  if (a !== null && host.current !== m.stable.version && host.isBad?.(m.stable.version, a.sha256, null) === true) {
    return { kind: 'keep', version: host.current, why: 'marked-bad' };
  }
  return { kind: 'stable', version: m.stable.version, artifact: a };
}

/**
 * The ring label of the agents' hosts gauge (the controller's ring census): the name of the ring the host belongs to
 * in the newest candidate's plan that is in effect, '' when none.
 */
export function censusRing(m: ChannelManifest, host: AgentHost): string {
  for (let i = m.candidates.length - 1; i >= 0; i--) {
    const c = m.candidates[i] as ManifestCandidate;
    if (c.exposure.activeRing < 0) continue;
    const ring = ringOfCandidate(m, host, i);
    return ring >= 0 ? (c.exposure.rings[ring]?.name ?? '') : '';
  }
  return '';
}

// ------------------------------------------------------------------------------------------ manifest checks

/** A manifest-signing key the host trusts: its id (keyId of the raw key) and the raw 32 bytes, base64. */
export interface TrustedManifestKey {
  keyId: string;
  publicKey: string;
}

/** What the host remembers to refuse replays: the last accepted revision, its issue time and its body's sha256. */
export interface ReplayState {
  revision: number;
  issuedAt: string | null;
  bodySha256: string | null;
}

export const INITIAL_REPLAY_STATE: ReplayState = { revision: 0, issuedAt: null, bodySha256: null };

export interface ManifestRules {
  channel: string;
  /** A manifest issued longer ago than this is refused. Default 24 h. */
  maxAgeMs: number;
  /** Tolerated clock difference between host and controller. Default 5 min. */
  clockSkewMs: number;
}

export const DEFAULT_MANIFEST_MAX_AGE_MS = 24 * 3_600_000;
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;

/** One fetched manifest: the exact body bytes and the headers that matter. */
export interface FetchedManifest {
  body: Buffer;
  signature: string | undefined;
  keyId: string | undefined;
  /** X-Ringmaster-Revision, when the transport carries it. */
  revisionHeader?: string | undefined;
  /** sha256 of body, hex (computed by the caller once). */
  bodySha256: string;
}

/** Why a manifest was refused: the `reason` label of ringmaster_agent_manifest_refusals_total. */
export type ManifestRefusal = 'unknown-key' | 'signature' | 'malformed' | 'channel' | 'replay' | 'stale' | 'future';

export type ManifestCheck =
  | { ok: true; manifest: ChannelManifest; unchanged: boolean; replay: ReplayState }
  | { ok: false; reason: ManifestRefusal; message: string };

const refuse = (reason: ManifestRefusal, message: string): ManifestCheck => ({ ok: false, reason, message });

/** Whether the manifest may be believed (see the module comment). Never throws. */
export function checkManifest(trust: readonly TrustedManifestKey[], replay: ReplayState, fetched: FetchedManifest, rules: ManifestRules, nowMs: number): ManifestCheck {
  const key = trust.find((k) => k.keyId === fetched.keyId);
  if (key === undefined) return refuse('unknown-key', `manifest signed by key ${JSON.stringify(fetched.keyId ?? '')}, which this host does not trust`);
  const parsed = parsePublicKey(key.publicKey);
  if (!parsed.ok || !verify(parsed.key, fetched.body, fetched.signature ?? '')) return refuse('signature', `manifest signature does not verify against key ${key.keyId}`);
  let m: ChannelManifest;
  try {
    m = JSON.parse(fetched.body.toString('utf8')) as ChannelManifest;
  } catch {
    return refuse('malformed', 'manifest body is not JSON');
  }
  const shape = manifestShapeProblem(m);
  if (shape !== null) return refuse('malformed', `manifest ${shape}`);
  if (m.channel !== rules.channel) return refuse('channel', `manifest is for channel ${JSON.stringify(m.channel)}, not ${JSON.stringify(rules.channel)}`);
  if (fetched.revisionHeader !== undefined && fetched.revisionHeader !== String(m.revision)) {
    return refuse('malformed', `X-Ringmaster-Revision ${JSON.stringify(fetched.revisionHeader)} differs from the body's revision ${m.revision}`);
  }
  if (m.revision < replay.revision) return refuse('replay', `manifest revision ${m.revision} is older than revision ${replay.revision}, already accepted`);
  const unchanged = m.revision === replay.revision;
  if (unchanged && replay.bodySha256 !== null && replay.bodySha256 !== fetched.bodySha256) {
    return refuse('replay', `manifest revision ${m.revision} differs from the revision ${m.revision} already accepted`);
  }
  const issued = Date.parse(m.issuedAt);
  if (nowMs - issued > rules.maxAgeMs) return refuse('stale', `manifest revision ${m.revision} was issued at ${m.issuedAt}, more than ${Math.round(rules.maxAgeMs / 60_000)} min ago`);
  if (issued - nowMs > rules.clockSkewMs) return refuse('future', `manifest revision ${m.revision} is issued at ${m.issuedAt}, ahead of this host's clock by more than ${Math.round(rules.clockSkewMs / 1000)} s`);
  return { ok: true, manifest: m, unchanged, replay: { revision: m.revision, issuedAt: m.issuedAt, bodySha256: fetched.bodySha256 } };
}

/** The refusals that count an update failure against the candidate the body names (refusedUpdateVersions). */
export const SIGNATURE_REFUSALS: ReadonlySet<ManifestRefusal> = new Set(['signature', 'unknown-key']);

/**
 * The versions a refused manifest counts an update failure against (`update_failures_total{reason="signature"}`):
 * for a signature-type refusal (`signature`, `unknown-key`), the candidate versions the unverified body names, at
 * most 8, so that a tampered manifest halts the rollout it tampers with; none for any other refusal (a replay, a
 * stale manifest is not the candidate's fault). Unverified: an attacker in the path can name any version, but such
 * an attacker can already block every update.
 */
export function refusedUpdateVersions(reason: ManifestRefusal, body: Buffer): string[] {
  if (!SIGNATURE_REFUSALS.has(reason)) return [];
  try {
    const m = JSON.parse(body.toString('utf8')) as { candidates?: Array<{ version?: unknown }> };
    const versions = (Array.isArray(m.candidates) ? m.candidates : []).map((c) => c?.version).filter((v): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128);
    return [...new Set(versions)].slice(0, 8);
  } catch {
    return [];
  }
}

function manifestShapeProblem(m: unknown): string | null {
  if (typeof m !== 'object' || m === null) return 'is not an object';
  const o = m as Record<string, unknown>;
  if (typeof o.channel !== 'string') return 'has no channel';
  if (!Number.isSafeInteger(o.revision) || (o.revision as number) < 1) return 'has no valid revision';
  if (typeof o.issuedAt !== 'string' || Number.isNaN(Date.parse(o.issuedAt))) return 'has no valid issuedAt';
  if (typeof o.salt !== 'string') return 'has no salt';
  if (!Array.isArray(o.candidates)) return 'has no candidates list';
  for (const c of o.candidates as unknown[]) {
    const x = c as Record<string, unknown> | null;
    if (x === null || typeof x !== 'object' || typeof x.version !== 'string' || typeof x.rollout !== 'string') return 'has a malformed candidate';
    const a = x.artifact as Record<string, unknown> | null;
    if (a === null || typeof a !== 'object' || typeof a.url !== 'string' || typeof a.sha256 !== 'string') return 'has a candidate without an artifact';
    const e = x.exposure as Record<string, unknown> | null;
    if (e === null || typeof e !== 'object' || !Number.isInteger(e.activeRing) || !Array.isArray(e.rings) || typeof e.salt !== 'string') return 'has a candidate without an exposure';
  }
  const s = o.stable as Record<string, unknown> | null | undefined;
  if (s !== null && (typeof s !== 'object' || s === undefined || typeof s.version !== 'string')) return 'has a malformed stable';
  const k = o.killSwitch as Record<string, unknown> | null;
  if (k === null || typeof k !== 'object' || typeof k.engaged !== 'boolean') return 'has no killSwitch';
  return null;
}

// ------------------------------------------------------------------------------------------ key rotation

export { ROTATION_TYPE, type KeyRotationStatement, type SignedRotation } from '../crypto/ed25519';

export interface RotationResult {
  trust: TrustedManifestKey[];
  /** Key ids newly trusted. */
  accepted: string[];
  /** Statements refused (one line each), ignoring those about keys already handled. */
  refused: string[];
}

/** Applies rotation statements in order (see the module comment). Pure: returns the new trust set. */
export function applyRotations(trust: readonly TrustedManifestKey[], rotations: readonly SignedRotation[]): RotationResult {
  let keys = [...trust];
  const accepted: string[] = [];
  const refused: string[] = [];
  for (const r of rotations) {
    let st: KeyRotationStatement;
    try {
      st = JSON.parse(r.statement) as KeyRotationStatement;
    } catch {
      refused.push('a rotation statement is not JSON');
      continue;
    }
    if (st?.type !== ROTATION_TYPE || typeof st.keyId !== 'string' || typeof st.publicKey !== 'string' || typeof st.previousKeyId !== 'string') {
      refused.push('a rotation statement is malformed');
      continue;
    }
    if (keys.some((k) => k.keyId === st.keyId)) continue; // already trusted
    const signer = keys.find((k) => k.keyId === st.previousKeyId);
    if (signer === undefined) continue; // about a key this host never trusted (or already retired): not its chain
    if (r.signedBy !== st.previousKeyId) {
      refused.push(`rotation to ${st.keyId}: signed by ${r.signedBy}, not by the key it retires (${st.previousKeyId})`);
      continue;
    }
    const signerKey = parsePublicKey(signer.publicKey);
    if (!signerKey.ok || !verify(signerKey.key, Buffer.from(r.statement, 'utf8'), r.signature)) {
      refused.push(`rotation to ${st.keyId}: signature does not verify against ${signer.keyId}`);
      continue;
    }
    const next = parsePublicKey(st.publicKey);
    if (!next.ok || keyIdOfRaw(st.publicKey) !== st.keyId) {
      refused.push(`rotation to ${st.keyId}: the key id does not match its public key`);
      continue;
    }
    keys = keys.filter((k) => k.keyId !== st.previousKeyId);
    keys.push({ keyId: st.keyId, publicKey: st.publicKey });
    accepted.push(st.keyId);
  }
  return { trust: keys, accepted, refused };
}

// ------------------------------------------------------------------------------------------ the boot-loop safety net

export interface InstalledVersion {
  version: string;
  sha256: string;
  /** The rollout whose candidate it was (null: the stable version). */
  rollout: string | null;
}

/** Written before a new version is activated; cleared after a healthy period. */
export interface BootMarker {
  version: string;
  sha256: string;
  /** Starts begun so far (each counted before it runs). */
  attempts: number;
  /** When the last start began (ISO). */
  since: string;
}

export interface BadMark {
  version: string;
  sha256: string;
  rollout: string | null;
  /** The manifest revision the host had when it marked it. */
  revision: number;
  at: string;
  reason: 'boot-loop' | 'validation';
}

/** The part of an agent's durable state that the safety net decides on. */
export interface BootState {
  current: InstalledVersion | null;
  /** Last-known-good: what `current` replaced, to revert to. */
  previous: InstalledVersion | null;
  boot: BootMarker | null;
  bad: BadMark[];
}

export interface BootRules {
  /** Failed starts of a new version before the host reverts to last-known-good. Default 3. */
  maxFailedStarts: number;
  /** Running this long clears the boot marker. Default 10 min. */
  healthyAfterMs: number;
}

export const DEFAULT_BOOT_RULES: BootRules = { maxFailedStarts: 3, healthyAfterMs: 10 * 60_000 };

/**
 * The core rule, on scalars (the simulator keeps attempts in a typed array): a start that finds `attempts` starts
 * already begun under the marker either runs (attempts + 1) or, when `maxFailedStarts` are used up, reverts.
 */
export function nextStart(attempts: number, maxFailedStarts: number): { attempts: number; revert: boolean } {
  if (attempts >= maxFailedStarts) return { attempts, revert: true };
  return { attempts: attempts + 1, revert: false };
}

export type StartDecision =
  /** Start `current` (the marker, if any, now counts this attempt). */
  | { kind: 'start'; state: BootState }
  /** Reverted to last-known-good: start `state.current`; `marked` is now bad. */
  | { kind: 'revert'; state: BootState; marked: BadMark }
  /** The new version used up its starts but there is nothing to revert to: it keeps trying, marked bad. */
  | { kind: 'stuck'; state: BootState };

/**
 * What to do at a start (a boot or a process start, or after a failed start): see the module comment. Persist
 * `state` before starting anything.
 */
export function beginStart(s: BootState, rules: BootRules, now: string, revision: number): StartDecision {
  const b = s.boot;
  if (b === null || s.current === null || b.version !== s.current.version || b.sha256 !== s.current.sha256) {
    return { kind: 'start', state: b === null ? s : { ...s, boot: null } };
  }
  const n = nextStart(b.attempts, rules.maxFailedStarts);
  if (!n.revert) return { kind: 'start', state: { ...s, boot: { ...b, attempts: n.attempts, since: now } } };
  const marked: BadMark = { version: b.version, sha256: b.sha256, rollout: s.current.rollout, revision, at: now, reason: 'boot-loop' };
  const bad = [...s.bad.filter((x) => !(x.version === marked.version && x.sha256 === marked.sha256)), marked];
  if (s.previous === null) return { kind: 'stuck', state: { ...s, bad } };
  return { kind: 'revert', state: { current: s.previous, previous: null, boot: null, bad }, marked };
}

/**
 * A version was written and is being switched to. Last-known-good is what the host ran that proved itself: the
 * current version once its marker was cleared (a healthy period), else the last-known-good before it; an unproven
 * version (a candidate withdrawn before its healthy period ended) never becomes last-known-good. Switching back to
 * last-known-good itself needs no marker; any other version gets one.
 */
export function installedVersion(s: BootState, v: InstalledVersion, now: string): BootState {
  const lastGood = s.boot === null ? s.current : s.previous;
  const same = (x: InstalledVersion | null): boolean => x !== null && x.version === v.version && x.sha256 === v.sha256;
  if (same(lastGood)) return { ...s, current: v, previous: null, boot: null };
  return { ...s, current: v, previous: lastGood, boot: { version: v.version, sha256: v.sha256, attempts: 0, since: now } };
}

/** After `healthyAfterMs` of running since the last start, the marker is cleared (the version is good). */
export function startHealthy(s: BootState, rules: BootRules, nowMs: number): BootState {
  if (s.boot === null) return s;
  if (nowMs - Date.parse(s.boot.since) < rules.healthyAfterMs) return s;
  return { ...s, boot: null };
}

/** Marks an artifact bad (a refused validation): the host does not fetch it again until it is re-released. */
export function markBad(s: BootState, mark: BadMark): BootState {
  return { ...s, bad: [...s.bad.filter((x) => !(x.version === mark.version && x.sha256 === mark.sha256)), mark] };
}

/** Whether this artifact of the version, offered by this rollout, is marked bad (a re-release clears it). */
export function isMarkedBad(bad: readonly BadMark[], version: string, sha256: string, rollout: string | null): boolean {
  return bad.some((b) => b.version === version && b.sha256 === sha256 && b.rollout === rollout);
}
