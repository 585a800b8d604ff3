/**
 * Ring membership: which hosts take the candidate version.
 *
 * The controller, the agents and the simulator all call `takesCandidate`; nothing else may decide
 * membership. It is pure and cheap: with a precomputed bucket it allocates nothing.
 *
 * ## The bucket (reproduce this exactly in agents written in other languages)
 *
 *   digest = SHA-256( UTF-8(salt) || 0x00 || UTF-8(hostId) )
 *   bucket = uint64_big_endian(digest[0..8]) mod 10000
 *
 * i.e. the first 8 bytes of the digest read as an unsigned big-endian 64-bit integer, reduced modulo
 * 10000, giving 0..9999. A host is in a percent ring of `basisPoints` (percent * 100, cumulative) iff
 * bucket < basisPoints, so a host inside 1% (100 bp) is inside 10% (1000 bp) and 100% (10000 bp).
 * Test vectors (salt, hostId -> bucket) are in test/unit/membership.test.ts.
 *
 * ## The wave position (waves inside a ring)
 *
 *   wavePosition = floor(uint32_big_endian(digest[8..12]) * 1e6 / 2^32)     (0..999999, parts per million)
 *
 * from the same digest, independent of the bucket. A ring ramps in waves: while `exposure.wave` is set, only the
 * active ring's hosts whose wave position is below `wave.ppm` take the candidate; the rings before it are wholly in
 * effect. As a wave grows, a host already in stays in (sticky), as with buckets.
 *
 * ## Which ring a host belongs to (`assignedRing`)
 *
 * The first ring that matches, in order: a selector ring whose labels the host carries, else a percent ring with
 * bucket < basisPoints (cumulative: a host inside 1% is in the 1% ring, not the 10% ring). Tenant rules come
 * first: a pinned tenant belongs to no ring; a deferred tenant belongs to the last ring. The holdback: a host that
 * would belong to the last ring with bucket >= 10000 - holdback.basisPoints belongs to no ring (it stays on the
 * previous version until the rollout succeeds, so the final ring keeps a baseline).
 */
import { createHash } from 'node:crypto';
import { holdbackOf } from '../spec/defaults';
import type { PolicySpec, RolloutSpec } from '../spec/types';

export const BUCKETS = 10_000;

/** 2^32 mod 10000, to reduce a 64-bit value held as two 32-bit halves without BigInt. */
const TWO_POW_32_MOD = 4_294_967_296 % BUCKETS;

/** The stable bucket 0..9999 of a host for a channel salt (see the module comment for the exact recipe). */
export function hostBucket(salt: string, hostId: string): number {
  const digest = hostDigest(salt, hostId);
  const hi = digest.readUInt32BE(0);
  const lo = digest.readUInt32BE(4);
  return ((hi % BUCKETS) * TWO_POW_32_MOD + (lo % BUCKETS)) % BUCKETS;
}

/** Parts per million of a ring: the resolution of a wave. */
export const WAVE_SCALE = 1_000_000;

/** The stable wave position 0..999999 of a host for a channel salt (see the module comment). */
export function hostWavePosition(salt: string, hostId: string): number {
  return Math.floor((hostDigest(salt, hostId).readUInt32BE(8) * WAVE_SCALE) / 4_294_967_296);
}

function hostDigest(salt: string, hostId: string): Buffer {
  return createHash('sha256').update(`${salt}\u0000${hostId}`, 'utf8').digest();
}

/** One ring as carried in a manifest: a label selector or a cumulative share of buckets. */
export interface ExposureRing {
  name: string;
  /** Hosts whose labels equal every entry take the candidate while this ring is in effect. */
  selector?: Record<string, string>;
  /** Cumulative share in basis points (percent * 100): hosts with bucket < basisPoints. */
  basisPoints?: number;
}

/** The exposure of a candidate, as carried in a channel manifest. */
export interface Exposure {
  salt: string;
  /** Index of the furthest ring in effect; rings 0..activeRing all apply. -1: none (nobody takes it). */
  activeRing: number;
  rings: ExposureRing[];
  tenants?: {
    /** Tenants that take the candidate only in the last ring (they belong to it). */
    deferred?: string[];
    /** Tenants that never take the candidate of this rollout. */
    pinned?: string[];
  };
  /** The active ring's current wave: its hosts with wave position < ppm take the candidate. Absent: the whole ring. */
  wave?: { ppm: number };
  /** Hosts of the last ring with bucket >= 10000 - basisPoints stay on the previous version (a baseline). */
  holdback?: { basisPoints: number };
}

/** A host as membership sees it. Pass `bucket` and `wave` when they are already known (the simulator precomputes them). */
export interface MemberHost {
  id: string;
  labels: Readonly<Record<string, string>>;
  bucket?: number;
  /** The host's wave position (hostWavePosition). */
  wave?: number;
}

/** The label that names a host's tenant. */
export const TENANT_LABEL = 'tenant';

/** Percent -> basis points, exact for the schema's 0.01 resolution (0.5 -> 50, 12.34 -> 1234). */
export function percentToBasisPoints(percent: number): number {
  return Math.round(percent * 100);
}

/**
 * Builds the manifest exposure of a rollout with `activeRing` in effect, with the policy's tenant rules, the
 * rollout's holdback and, while the active ring ramps, its current wave (`wavePpm` < 1,000,000).
 */
export function exposureFromRollout(
  spec: RolloutSpec,
  policy: PolicySpec | undefined,
  activeRing: number,
  salt: string,
  wavePpm: number | null = null,
): Exposure {
  const rings: ExposureRing[] = spec.rings.map((ring) => {
    if (ring.selector) return { name: ring.name, selector: { ...ring.selector.matchLabels } };
    return { name: ring.name, basisPoints: percentToBasisPoints(ring.percent ?? 0) };
  });
  const exposure: Exposure = { salt, activeRing: Math.max(-1, Math.min(activeRing, rings.length - 1)), rings };
  const deferred: string[] = [];
  const pinned: string[] = [];
  for (const rule of policy?.tenants ?? []) {
    if (rule.pin === 'previous') pinned.push(rule.name);
    else if (rule.defer === 'last-ring') deferred.push(rule.name);
  }
  if (deferred.length > 0 || pinned.length > 0) {
    exposure.tenants = {};
    if (deferred.length > 0) exposure.tenants.deferred = deferred;
    if (pinned.length > 0) exposure.tenants.pinned = pinned;
  }
  if (wavePpm !== null && exposure.activeRing >= 0 && wavePpm < WAVE_SCALE) exposure.wave = { ppm: Math.max(0, Math.floor(wavePpm)) };
  const holdback = percentToBasisPoints(holdbackOf(spec));
  if (holdback > 0) exposure.holdback = { basisPoints: holdback };
  return exposure;
}

function selectorMatches(selector: Record<string, string>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}

/**
 * The ring a host belongs to in the rollout's plan (see the module comment), whatever is in effect now: the index
 * of the first ring that matches, or -1 (no ring: a pinned tenant, the holdback, or a host no ring selects).
 */
export function assignedRing(exposure: Exposure, host: MemberHost): number {
  const rings = exposure.rings;
  const last = rings.length - 1;
  if (last < 0) return -1;
  let bucket = host.bucket;
  const tenants = exposure.tenants;
  let ring = -1;
  const tenant = tenants !== undefined ? host.labels[TENANT_LABEL] : undefined;
  if (tenant !== undefined && tenants?.pinned !== undefined && tenants.pinned.includes(tenant)) return -1;
  if (tenant !== undefined && tenants?.deferred !== undefined && tenants.deferred.includes(tenant)) {
    ring = last;
  } else {
    for (let i = 0; i <= last; i++) {
      const r = rings[i] as ExposureRing;
      if (r.selector !== undefined) {
        if (selectorMatches(r.selector, host.labels)) {
          ring = i;
          break;
        }
      } else if (r.basisPoints !== undefined && r.basisPoints > 0) {
        if (bucket === undefined) bucket = hostBucket(exposure.salt, host.id);
        if (bucket < r.basisPoints) {
          ring = i;
          break;
        }
      }
    }
  }
  if (ring === last && exposure.holdback !== undefined && exposure.holdback.basisPoints > 0 && (rings[last] as ExposureRing).selector === undefined) {
    if (bucket === undefined) bucket = hostBucket(exposure.salt, host.id);
    if (bucket >= BUCKETS - exposure.holdback.basisPoints) return -1;
  }
  return ring;
}

/** Whether a host of ring `ring` with this wave position takes the candidate now: its ring is in effect and, for the active ring, inside the wave. */
export function admitted(exposure: Exposure, ring: number, wavePosition: number): boolean {
  const active = Math.min(exposure.activeRing, exposure.rings.length - 1);
  if (ring < 0 || ring > active) return false;
  if (ring < active || exposure.wave === undefined) return true;
  return wavePosition < exposure.wave.ppm;
}

/**
 * Does this host take the candidate? Its assigned ring is in effect (rings 0..activeRing, cumulative) and, if that is
 * the active ring while it ramps, the host is inside the current wave.
 */
export function takesCandidate(exposure: Exposure, host: MemberHost): boolean {
  const ring = assignedRing(exposure, host);
  if (ring < 0 || ring > exposure.activeRing) return false;
  if (ring < exposure.activeRing || exposure.wave === undefined) return true;
  return admitted(exposure, ring, host.wave ?? hostWavePosition(exposure.salt, host.id));
}

/**
 * The share of buckets (basis points, 0..10000) in effect: the largest basisPoints of the in-effect percent
 * rings. Selector rings, tenant rules, waves and the holdback come on top of / out of it, so this is the share of
 * the fleet outside selectors and tenant rules whose ring is in effect.
 */
export function exposedBasisPoints(exposure: Exposure): number {
  let bp = 0;
  const active = Math.min(exposure.activeRing, exposure.rings.length - 1);
  for (let i = 0; i <= active; i++) {
    const ring = exposure.rings[i] as ExposureRing;
    if (ring.basisPoints !== undefined && ring.basisPoints > bp) bp = ring.basisPoints;
  }
  return Math.min(bp, BUCKETS);
}
