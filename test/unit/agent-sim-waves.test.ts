/**
 * The simulated fleet against the engine's ramp: waves inside a ring and the holdback are decided by the engine's
 * assignedRing/admitted with each host's own wave position, and the ring census (Fleet.ringHosts) counts what
 * agents would report in the ring label of ringmaster_agent_hosts.
 */
import * as path from 'node:path';
import { CANDIDATE, Fleet, hostId } from '../../agent-sim/fleet';
import { loadScenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import type { FetchedManifest } from '../../controller/engine/agent';
import { assignedRing, hostWavePosition, takesCandidate, type Exposure } from '../../controller/engine/membership';

const SCENARIO = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml');
const sc = loadScenario(SCENARIO, { hosts: 20_000 });
const quiet = { ...sc, candidate: { ...sc.candidate, crashOnBoot: 0 } };
const channel = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
const salt = channel.salt;
const rings: Exposure['rings'] = [
  { name: 'canary', selector: { ring: 'canary' } },
  { name: 'early', basisPoints: 100 },
  { name: 'full', basisPoints: 10_000 },
];
const view = (revision: number, exposure: Exposure | null): FetchedManifest => channel.publish(exposure, { revision });

/** Steps the fleet through two poll intervals with `v`, from `from`. */
function sweep(f: Fleet, v: FetchedManifest, from: number): number {
  const end = from + 2 * sc.fleet.pollIntervalMs;
  for (let t = from; t < end; t += sc.tickMs) f.step(t, sc.tickMs, v);
  return end;
}

describe('waves and the census in the simulated fleet', () => {
  test('a wave admits exactly the hosts the engine admits, by their own wave position', () => {
    const f = new Fleet(quiet, channel.agent(), 0);
    for (const i of [0, 5, 19_999]) expect(f.wave[i]).toBe(hostWavePosition(salt, hostId(i)));
    const exposure: Exposure = { salt, activeRing: 1, rings, wave: { ppm: 250_000 } };
    sweep(f, view(1, exposure), 0);
    let mismatches = 0;
    let inEarly = 0;
    let early = 0;
    for (let i = 0; i < f.n; i++) {
      const host = { id: hostId(i), labels: f.comboLabels[f.combo[i] as number] as Record<string, string> };
      if ((f.version[i] === CANDIDATE) !== takesCandidate(exposure, host)) mismatches++;
      if (assignedRing(exposure, host) === 1) {
        early++;
        if (f.version[i] === CANDIDATE) inEarly++;
      }
    }
    expect(mismatches).toBe(0);
    // the whole canary ring (before the active ring) and about a quarter of the early ring
    expect(f.hostsOn[CANDIDATE] - inEarly).toBe(f.canaryCount);
    expect(inEarly / early).toBeGreaterThan(0.15);
    expect(inEarly / early).toBeLessThan(0.35);
  });

  test('a growing wave keeps the hosts already in (sticky), and the holdback stays on the previous version', () => {
    const f = new Fleet(quiet, channel.agent(), 0);
    const base: Exposure = { salt, activeRing: 2, rings, holdback: { basisPoints: 50 } };
    let t = sweep(f, view(1, { ...base, wave: { ppm: 100_000 } }), 0);
    const before = Uint8Array.from(f.version);
    t = sweep(f, view(2, { ...base, wave: { ppm: 400_000 } }), t);
    let left = 0;
    for (let i = 0; i < f.n; i++) if (before[i] === CANDIDATE && f.version[i] !== CANDIDATE) left++;
    expect(left).toBe(0);
    sweep(f, view(3, base), t);
    // Everyone but the holdback (buckets 9950..9999 of the last ring: ~0.5% of the fleet).
    let heldBack = 0;
    for (let i = 0; i < f.n; i++) if (f.version[i] !== CANDIDATE) heldBack++;
    for (let i = 0; i < f.n; i++) if (f.version[i] !== CANDIDATE) expect((f.bucket[i] as number) >= 9_950 || f.isCanary(i)).toBe(true);
    expect(heldBack / f.n).toBeGreaterThan(0.003);
    expect(heldBack / f.n).toBeLessThan(0.007);
  });

  test('the census counts hosts by assigned ring once they polled the candidate, bricked hosts and withdrawn candidates excluded', () => {
    const f = new Fleet({ ...sc, candidate: { ...sc.candidate, crashOnBoot: 0.5 } }, channel.agent(), 0);
    const exposure: Exposure = { salt, activeRing: 0, rings, wave: { ppm: 0 } };
    const census = (): number[] => rings.map((r) => f.ringHosts(r.name));
    expect(census()).toEqual([0, 0, 0]);
    let t = sweep(f, view(1, exposure), 0);
    const expected = [0, 0, 0];
    for (let i = 0; i < f.n; i++) {
      const r = assignedRing(exposure, { id: hostId(i), labels: f.comboLabels[f.combo[i] as number] as Record<string, string> });
      if (r >= 0) expected[r]!++;
    }
    // The census wave: nobody takes the candidate, everybody reports its ring.
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(census()).toEqual(expected);
    expect(expected[0]).toBe(f.canaryCount);
    // The canary ring takes it; about half of its hosts brick and drop out of the census.
    t = sweep(f, view(2, { ...exposure, wave: undefined }), t);
    expect(f.brickedTotal).toBeGreaterThan(0);
    expect(f.ringHosts('canary')).toBe(f.canaryCount - f.brickedTotal);
    expect(f.ringHosts('early')).toBe(expected[1]);
    // The hosts gauge live agents export, by version and ring label: it adds up to the census and to the hosts up.
    const gauge = f.hostsByVersionAndRing();
    const byRing = (ring: string): number => gauge.filter((g) => g.ring === ring).reduce((a, g) => a + g.hosts, 0);
    expect([byRing('canary'), byRing('early'), byRing('full')]).toEqual(census());
    expect(gauge.filter((g) => g.version === CANDIDATE).reduce((a, g) => a + g.hosts, 0)).toBe(f.hostsOn[CANDIDATE]);
    expect(gauge.reduce((a, g) => a + g.hosts, 0)).toBe(f.n - f.brickedTotal);
    // No candidate in the manifest: agents export ring="" again.
    sweep(f, view(3, null), t);
    expect(census()).toEqual([0, 0, 0]);
  });

  test('tampered manifests teach the census nothing: every poll is refused (signature) and counted against the candidate the body names', () => {
    const f = new Fleet({ ...quiet, tamper: { manifestShare: 1, artifact: false } }, channel.agent(), 0);
    sweep(f, view(1, { salt, activeRing: 0, rings }), 0);
    expect(f.ringHosts('canary')).toBe(0);
    // every host refuses at its poll, and again one poll interval later (two intervals swept: 1 or 2 polls each)
    expect(f.refusals.signature).toBeGreaterThan(f.n);
    expect(f.refusals.signature).toBeLessThanOrEqual(2 * f.n);
    expect(f.failures.signature).toBe(f.refusals.signature);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(f.firstAttributable?.kind).toBe('signature');
  });
});
