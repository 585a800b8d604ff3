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
 */
import { createHash } from 'node:crypto';
import type { PolicySpec, RolloutSpec } from '../spec/types';

export const BUCKETS = 10_000;

/** 2^32 mod 10000, to reduce a 64-bit value held as two 32-bit halves without BigInt. */
const TWO_POW_32_MOD = 4_294_967_296 % BUCKETS;

/** The stable bucket 0..9999 of a host for a channel salt (see the module comment for the exact recipe). */
export function hostBucket(salt: string, hostId: string): number {
  const digest = createHash('sha256').update(`${salt}\u0000${hostId}`, 'utf8').digest();
  const hi = digest.readUInt32BE(0);
  const lo = digest.readUInt32BE(4);
  return ((hi % BUCKETS) * TWO_POW_32_MOD + (lo % BUCKETS)) % BUCKETS;
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
    /** Tenants that take the candidate only once the last ring is in effect. */
    deferred?: string[];
    /** Tenants that never take the candidate of this rollout. */
    pinned?: string[];
  };
}

/** A host as membership sees it. Pass `bucket` when it is already known (the simulator precomputes it). */
export interface MemberHost {
  id: string;
  labels: Readonly<Record<string, string>>;
  bucket?: number;
}

/** The label that names a host's tenant. */
export const TENANT_LABEL = 'tenant';

/** Percent -> basis points, exact for the schema's 0.01 resolution (0.5 -> 50, 12.34 -> 1234). */
export function percentToBasisPoints(percent: number): number {
  return Math.round(percent * 100);
}

/** Builds the manifest exposure of a rollout with `activeRing` in effect, with the policy's tenant rules. */
export function exposureFromRollout(
  spec: RolloutSpec,
  policy: PolicySpec | undefined,
  activeRing: number,
  salt: string,
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
  return exposure;
}

function selectorMatches(selector: Record<string, string>, labels: Readonly<Record<string, string>>): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}

/**
 * Does this host take the candidate? Rings 0..activeRing are all in effect (cumulative): the host takes it
 * if an in-effect selector ring matches all its labels, or its bucket is below an in-effect percent ring's
 * basis points. Tenant rules (host label `tenant`) come first: a pinned tenant never takes the candidate;
 * a deferred tenant takes it only when the last ring is in effect, and then by the same ring rules.
 */
export function takesCandidate(exposure: Exposure, host: MemberHost): boolean {
  const rings = exposure.rings;
  const last = rings.length - 1;
  const active = exposure.activeRing > last ? last : exposure.activeRing;
  if (active < 0) return false;
  const tenants = exposure.tenants;
  if (tenants !== undefined) {
    const tenant = host.labels[TENANT_LABEL];
    if (tenant !== undefined) {
      if (tenants.pinned !== undefined && tenants.pinned.includes(tenant)) return false;
      if (active < last && tenants.deferred !== undefined && tenants.deferred.includes(tenant)) return false;
    }
  }
  let bucket = host.bucket;
  for (let i = 0; i <= active; i++) {
    const ring = rings[i] as ExposureRing;
    if (ring.selector !== undefined) {
      if (selectorMatches(ring.selector, host.labels)) return true;
    } else if (ring.basisPoints !== undefined && ring.basisPoints > 0) {
      if (bucket === undefined) bucket = hostBucket(exposure.salt, host.id);
      if (bucket < ring.basisPoints) return true;
    }
  }
  return false;
}

/**
 * The share of buckets (basis points, 0..10000) in effect: the largest basisPoints of the in-effect percent
 * rings. Selector rings and tenant rules come on top of / out of it, so this is the share of the fleet
 * outside selectors and tenant rules that takes the candidate.
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
