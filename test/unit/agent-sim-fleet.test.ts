/** The fleet model's pieces: the engine's membership decides, sampling is right on average, runs repeat. */
import * as path from 'node:path';
import { Fleet, hostId, type ManifestView } from '../../agent-sim/fleet';
import { Rng } from '../../agent-sim/random';
import { loadScenario, ScenarioError } from '../../agent-sim/scenario';
import { hostBucket, takesCandidate, type Exposure } from '../../controller/engine/membership';
import { channelSalt } from '../../controller/runtime/manifest';

const SCENARIO = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml');

describe('Rng', () => {
  test('gamma and Poisson have the right means; the same seed repeats', () => {
    const r = new Rng(42);
    let g = 0;
    let p = 0;
    let big = 0;
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      g += r.gamma(2, 0.5);
      p += r.poisson(3.5);
    }
    for (let i = 0; i < 20_000; i++) big += r.poisson(400);
    expect(g / n).toBeCloseTo(1, 1);
    expect(p / n).toBeCloseTo(3.5, 1);
    expect(big / 20_000).toBeGreaterThan(399);
    expect(big / 20_000).toBeLessThan(401);
    const a = new Rng(7);
    const b = new Rng(7);
    expect([a.next(), a.next(), a.gamma(0.5)]).toEqual([b.next(), b.next(), b.gamma(0.5)]);
  });
});

describe('Fleet', () => {
  const sc = loadScenario(SCENARIO, { hosts: 20_000 });
  const salt = channelSalt('sensor-content');

  test('buckets come from the engine, canary count is exact, hosts install what takesCandidate says', () => {
    const fleet = new Fleet(sc, salt, 0);
    expect(fleet.canaryCount).toBe(sc.fleet.canaryHosts);
    for (const i of [0, 1, 17, 9_999, 19_999]) expect(fleet.bucket[i]).toBe(hostBucket(salt, hostId(i)));
    const exposure: Exposure = { salt, activeRing: 1, rings: [{ name: 'canary', selector: { ring: 'canary' } }, { name: 'early', basisPoints: 100 }], tenants: { deferred: ['hospital-group'] } };
    const view: ManifestView = { revision: 1, candidate: { version: '2', exposure }, killSwitch: false, signatureOk: true, artifactOk: true };
    const quiet = { ...sc, candidate: { crashRateMultiplier: 1, crashOnBoot: 0, updateFailure: 0 } };
    const f = new Fleet(quiet, salt, 0);
    for (let t = 0; t < 2 * sc.fleet.pollIntervalMs; t += sc.tickMs) f.step(t, sc.tickMs, view);
    let mismatches = 0;
    let took = 0;
    for (let i = 0; i < f.n; i++) {
      const labels = f.comboLabels[f.combo[i] as number] as Record<string, string>;
      const expected = takesCandidate(exposure, { id: hostId(i), labels });
      if ((f.version[i] === 1) !== expected) mismatches++;
      if (expected) took++;
    }
    expect(mismatches).toBe(0);
    // canary hosts + about 1% of the others (minus the deferred tenant)
    expect(took).toBeGreaterThan(sc.fleet.canaryHosts);
    expect(took).toBeLessThan(sc.fleet.canaryHosts + 0.02 * f.n);
  });

  test('the same seed gives the same fleet and the same crashes', () => {
    const view: ManifestView = { revision: 1, candidate: { version: '2', exposure: { salt, activeRing: 0, rings: [{ name: 'all', basisPoints: 10_000 }] } }, killSwitch: false, signatureOk: true, artifactOk: true };
    const run = (): string => {
      const f = new Fleet(sc, salt, 0);
      for (let t = 0; t < 10 * 60_000; t += sc.tickMs) f.step(t, sc.tickMs, view);
      return JSON.stringify([f.counts(), f.latest()]);
    };
    expect(run()).toBe(run());
  });

  test('a bad scenario is one line per problem, with file and line', () => {
    const bad = path.join(__dirname, '..', 'fixtures', 'bad-scenario.yaml');
    let lines: string[] = [];
    try {
      loadScenario(bad);
    } catch (err) {
      if (err instanceof ScenarioError) lines = err.lines;
    }
    expect(lines).toEqual([
      `${bad}:10:5 spec.fleet.hostz: unknown field "hostz"`,
      `${bad}:12:18 spec.candidate.crashOnBoot: must be <= 1`,
    ]);
  });
});
