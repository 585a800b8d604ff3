import {
  exposedBasisPoints,
  exposureFromRollout,
  hostBucket,
  hostWavePosition,
  takesCandidate,
  type Exposure,
} from '../../controller/engine/membership';
import type { PolicySpec, RolloutSpec } from '../../controller/spec/types';

/** mulberry32: a small seeded PRNG so the property tests are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomHostIds(n: number, seed: number): string[] {
  const rnd = prng(seed);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(`host-${Math.floor(rnd() * 0xffffffff).toString(16)}-${Math.floor(rnd() * 0xffffffff).toString(16)}`);
  }
  return ids;
}

const SALT = 'b7e1c3a9';
const HOSTS = randomHostIds(100_000, 20261130);
const BUCKETS_OF_HOSTS = HOSTS.map((id) => hostBucket(SALT, id));
const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

const spec: RolloutSpec = {
  channel: 'sensor-content',
  version: '7.16.291',
  previousVersion: '7.16.290',
  artifact: { url: 'https://updates.example.internal/x.bin', sha256: 'a'.repeat(64) },
  rings: [
    { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
    { name: 'half-percent', percent: 0.5, bake: '1h' },
    { name: 'early', percent: 1, bake: '2h' },
    { name: 'broad', percent: 10, bake: '24h' },
    { name: 'half', percent: 50, bake: '24h' },
    { name: 'full', percent: 100, bake: '24h' },
  ],
  // Rings and tenants without the holdback here (test/unit/ramp.test.ts covers it and the waves).
  holdback: { percent: 0 },
};

const policy: PolicySpec = {
  timezone: 'America/New_York',
  allow: [{ days: ['Mon', 'Tue', 'Wed', 'Thu'], hours: '09:00-16:00' }],
  requireBakeWithinWindow: false,
  maxConcurrentRolloutsPerChannel: 1,
  requireSignedArtifacts: true,
  tenants: [
    { name: 'hospital-group', defer: 'last-ring' },
    { name: 'air-traffic', pin: 'previous' },
  ],
};

function exposureAt(activeRing: number, p: PolicySpec | undefined = policy): Exposure {
  return exposureFromRollout(spec, p, activeRing, SALT);
}

describe('hostWavePosition', () => {
  // Computed independently with Python's hashlib: floor(uint32be(sha256(salt NUL host)[8..12]) * 1e6 / 2^32).
  it.each([
    ['b7e1c3a9', 'host-0000001', 376_775],
    ['b7e1c3a9', 'host-0000042', 407_902],
    ['0123456789abcdef', 'web-17.example.internal', 296_340],
  ])('salt %j host %j is at wave position %d', (salt, id, position) => {
    expect(hostWavePosition(salt, id)).toBe(position);
  });
});

describe('hostBucket', () => {
  it.each([
    ['b7e1', 'host-0001', 6763],
    ['sensor-content', 'web-01.example.internal', 9680],
    ['', 'a', 6266],
    ['salt-ü', 'hôst-42', 1672],
    ['x', '', 8456],
  ])('salt %j host %j is bucket %d (uint64be(sha256(salt NUL host)[0..8]) mod 10000)', (salt, id, bucket) => {
    expect(hostBucket(salt, id)).toBe(bucket);
  });

  it('puts hosts in 0..9999 and spreads them evenly over the 10 deciles', () => {
    const deciles = new Array<number>(10).fill(0);
    let outOfRange = 0;
    for (const b of BUCKETS_OF_HOSTS) {
      if (!Number.isInteger(b) || b < 0 || b >= 10_000) outOfRange++;
      else deciles[Math.floor(b / 1000)]! += 1;
    }
    expect(outOfRange).toBe(0);
    for (const count of deciles) expect(Math.abs(count - 10_000)).toBeLessThan(450);
  });

  it('depends on the salt: another channel salt reshuffles the hosts', () => {
    const same = HOSTS.slice(0, 10_000).filter((id) => hostBucket('salt-a', id) === hostBucket('salt-b', id));
    expect(same.length).toBeLessThan(10);
  });
});

describe('exposureFromRollout', () => {
  it('carries selectors, cumulative basis points and the policy tenant rules', () => {
    expect(exposureAt(2)).toEqual({
      salt: SALT,
      activeRing: 2,
      rings: [
        { name: 'canary', selector: { ring: 'canary' } },
        { name: 'half-percent', basisPoints: 50 },
        { name: 'early', basisPoints: 100 },
        { name: 'broad', basisPoints: 1000 },
        { name: 'half', basisPoints: 5000 },
        { name: 'full', basisPoints: 10_000 },
      ],
      tenants: { deferred: ['hospital-group'], pinned: ['air-traffic'] },
    });
  });

  it('has no tenants section without a policy', () => {
    expect(exposureFromRollout(spec, undefined, 0, SALT).tenants).toBeUndefined();
  });

  it('exposes the largest in-effect percent as basis points', () => {
    expect(exposedBasisPoints(exposureAt(-1))).toBe(0);
    expect(exposedBasisPoints(exposureAt(0))).toBe(0);
    expect(exposedBasisPoints(exposureAt(3))).toBe(1000);
    expect(exposedBasisPoints(exposureAt(5))).toBe(10_000);
  });
});

describe('takesCandidate', () => {
  const shareTaking = (exposure: Exposure): number => {
    let n = 0;
    for (const id of HOSTS) if (takesCandidate(exposure, { id, labels: NO_LABELS })) n++;
    // the same share with the precomputed buckets
    let m = 0;
    HOSTS.forEach((id, i) => {
      if (takesCandidate(exposure, { id, labels: NO_LABELS, bucket: BUCKETS_OF_HOSTS[i]! })) m++;
    });
    expect(m).toBe(n);
    return (100 * n) / HOSTS.length;
  };

  it('gives nobody the candidate when no ring is active', () => {
    const exposure = exposureAt(-1);
    expect(HOSTS.some((id) => takesCandidate(exposure, { id, labels: { ring: 'canary' } }))).toBe(false);
  });

  it.each([
    [1, 0.5],
    [2, 1],
    [3, 10],
    [4, 50],
  ])('with ring %d active, the share of 100k random hosts is within 0.3 points of %d%%', (ring, nominal) => {
    expect(Math.abs(shareTaking(exposureAt(ring)) - nominal)).toBeLessThanOrEqual(0.3);
  });

  it('gives every unlabelled host the candidate in the 100% ring', () => {
    expect(shareTaking(exposureAt(5))).toBe(100);
  });

  it('is sticky: a host in 0.5% is in 1%, 10%, 50% and 100%, and never leaves as rings advance', () => {
    const exposures = spec.rings.map((_, ring) => exposureAt(ring));
    let violations = 0;
    HOSTS.forEach((id, i) => {
      let inPrevious = false;
      for (const exposure of exposures) {
        const inNow = takesCandidate(exposure, { id, labels: NO_LABELS, bucket: BUCKETS_OF_HOSTS[i]! });
        if (inPrevious && !inNow) violations++;
        inPrevious = inNow;
      }
    });
    expect(violations).toBe(0);
  });

  it('a precomputed bucket gives the same answer as hashing the id', () => {
    const exposure = exposureAt(3);
    for (const id of HOSTS.slice(0, 5_000)) {
      const bucket = hostBucket(SALT, id);
      expect(takesCandidate(exposure, { id, labels: NO_LABELS, bucket })).toBe(
        takesCandidate(exposure, { id, labels: NO_LABELS }),
      );
    }
  });

  it('selector rings take exactly the hosts whose labels match every matchLabels entry', () => {
    const exposure: Exposure = {
      salt: SALT,
      activeRing: 0,
      rings: [{ name: 'dogfood', selector: { ring: 'canary', site: 'internal' } }, { name: 'all', basisPoints: 10_000 }],
    };
    expect(takesCandidate(exposure, { id: 'a', labels: { ring: 'canary', site: 'internal', os: 'win' } })).toBe(true);
    expect(takesCandidate(exposure, { id: 'b', labels: { ring: 'canary' } })).toBe(false);
    expect(takesCandidate(exposure, { id: 'c', labels: { ring: 'canary', site: 'customer' } })).toBe(false);
    expect(takesCandidate(exposure, { id: 'd', labels: {} })).toBe(false);
  });

  it('selector rings stay in effect after later rings start, and canary hosts outside the 1% still take it', () => {
    const rnd = prng(7);
    for (let ring = 0; ring < spec.rings.length; ring++) {
      const exposure = exposureAt(ring);
      let refused = 0;
      for (let i = 0; i < 2_000; i++) {
        const k = Math.floor(rnd() * HOSTS.length);
        const host = { id: HOSTS[k]!, labels: { ring: 'canary' }, bucket: BUCKETS_OF_HOSTS[k]! };
        if (!takesCandidate(exposure, host)) refused++;
      }
      expect(refused).toBe(0);
    }
  });

  it('the canary ring alone takes no unlabelled host', () => {
    expect(shareTaking(exposureAt(0))).toBe(0);
  });

  it('a deferred tenant takes the candidate only once the last ring is active', () => {
    const labels = { tenant: 'hospital-group', ring: 'canary' };
    for (let ring = 0; ring < spec.rings.length - 1; ring++) {
      const exposure = exposureAt(ring);
      expect(HOSTS.slice(0, 5_000).some((id) => takesCandidate(exposure, { id, labels }))).toBe(false);
    }
    const last = exposureAt(spec.rings.length - 1);
    expect(HOSTS.slice(0, 5_000).every((id) => takesCandidate(last, { id, labels }))).toBe(true);
  });

  it('a pinned tenant never takes the candidate, not even in the last ring or with a canary label', () => {
    const labels = { tenant: 'air-traffic', ring: 'canary' };
    for (let ring = -1; ring < spec.rings.length; ring++) {
      const exposure = exposureAt(ring);
      expect(HOSTS.slice(0, 5_000).some((id) => takesCandidate(exposure, { id, labels }))).toBe(false);
    }
  });

  it('hosts of tenants without a rule follow the rings like everybody else', () => {
    const exposure = exposureAt(3);
    for (const id of HOSTS.slice(0, 2_000)) {
      expect(takesCandidate(exposure, { id, labels: { tenant: 'retail' } })).toBe(
        takesCandidate(exposure, { id, labels: NO_LABELS }),
      );
    }
  });

  it('answers 1M calls with precomputed buckets in well under a second', () => {
    const exposure = exposureAt(3);
    const n = 1_000_000;
    const buckets = new Uint16Array(n);
    const rnd = prng(99);
    for (let i = 0; i < n; i++) buckets[i] = Math.floor(rnd() * 10_000);
    const host = { id: 'h', labels: { os: 'windows', tenant: 'retail' }, bucket: 0 };
    const began = process.hrtime.bigint();
    let taking = 0;
    for (let i = 0; i < n; i++) {
      host.bucket = buckets[i]!;
      if (takesCandidate(exposure, host)) taking++;
    }
    const elapsedMs = Number(process.hrtime.bigint() - began) / 1e6;
    expect(Math.abs(taking / n - 0.1)).toBeLessThan(0.003);
    expect(elapsedMs).toBeLessThan(500);
  });
});
