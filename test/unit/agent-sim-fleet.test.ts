/** The fleet model's pieces: the engine's membership decides, sampling is right on average, runs repeat. */
import * as path from 'node:path';
import { CANDIDATE, Fleet, hostId } from '../../agent-sim/fleet';
import { SimMetricsProvider } from '../../agent-sim/provider';
import { Rng } from '../../agent-sim/random';
import { loadScenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import { InputError } from '../../controller/spec/errors';
import { observeFromCounts, observeMetric } from '../../controller/analysis/observe';
import type { RingContext } from '../../controller/analysis/types';
import { hostBucket, takesCandidate, type Exposure } from '../../controller/engine/membership';
import type { MetricSpec } from '../../controller/spec/types';

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
  const channel = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
  const salt = channel.salt;
  const quiet = { ...sc, candidate: { ...sc.candidate, crashOnBoot: 0 } };

  test('buckets come from the engine, canary count is exact, hosts install what takesCandidate says', () => {
    const fleet = new Fleet(sc, channel.agent(), 0);
    expect(fleet.canaryCount).toBe(sc.fleet.canaryHosts);
    for (const i of [0, 1, 17, 9_999, 19_999]) expect(fleet.bucket[i]).toBe(hostBucket(salt, hostId(i)));
    const exposure: Exposure = { salt, activeRing: 1, rings: [{ name: 'canary', selector: { ring: 'canary' } }, { name: 'early', basisPoints: 100 }], tenants: { deferred: ['hospital-group'] } };
    const view = channel.publish(exposure);
    const f = new Fleet(quiet, channel.agent(), 0);
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
    // canary hosts + about 1% of the others + the deferred tenant (2%: it belongs to the last ring, here early)
    expect(took).toBeGreaterThan(sc.fleet.canaryHosts + 0.02 * (f.n - sc.fleet.canaryHosts));
    expect(took).toBeLessThan(sc.fleet.canaryHosts + 0.04 * f.n);
  });

  test('the same seed gives the same fleet and the same crashes', () => {
    const view = channel.publish({ activeRing: 0, rings: [{ name: 'all', basisPoints: 10_000 }] });
    const run = (): string => {
      const f = new Fleet(sc, channel.agent(), 0);
      for (let t = 0; t < 10 * 60_000; t += sc.tickMs) f.step(t, sc.tickMs, view);
      return JSON.stringify([f.counts(), f.latest()]);
    };
    expect(run()).toBe(run());
  });

  test('poll times kept to the tick (hosts of a step in index order) give the same run as 1 ms: same installs, crashes on boot, failures', () => {
    const noisy = { ...sc, candidate: { ...sc.candidate, crashOnBoot: 0.5, updateFailure: 0.2 } };
    const view = channel.publish({ activeRing: 0, rings: [{ name: 'most', basisPoints: 8_000 }] });
    const run = (pollQuantumMs: number): string => {
      const f = new Fleet(noisy, channel.agent(), 0, { pollQuantumMs });
      for (let t = 0; t < 5 * 60_000; t += sc.tickMs) f.step(t, sc.tickMs, view);
      return JSON.stringify([f.counts(), f.latest(), f.failures, Array.from(f.bricked).join('')]);
    };
    const exact = run(1);
    expect(JSON.parse(exact)[0].bricked).toBeGreaterThan(1000);
    expect(run(sc.tickMs)).toBe(exact);
  });

    test('a new revision reaches every host within pollInterval + pollJitter, and not sooner', () => {
    const jittered = { ...quiet, fleet: { ...sc.fleet, pollIntervalMs: 60_000, pollJitterMs: 30_000 } };
    const f = new Fleet(jittered, channel.agent(), 0);
    const view = channel.publish({ activeRing: 0, rings: [{ name: 'all', basisPoints: 10_000 }] });
    const tick = 5_000;
    const onAt: number[] = [];
    for (let t = 0; t < 95_000; t += tick) {
      f.step(t, tick, view);
      onAt.push(f.hostsOn[CANDIDATE]);
    }
    // offset = phase (uniform 0..60 s) + jitter (uniform 0..30 s): 75% have polled by 60 s, all by 90 s.
    const by60 = (onAt[60_000 / tick - 1] as number) / f.n;
    expect(by60).toBeGreaterThan(0.72);
    expect(by60).toBeLessThan(0.78);
    expect(onAt[85_000 / tick - 1]).toBeLessThan(f.n);
    expect(onAt[90_000 / tick - 1]).toBe(f.n);
    // Polls are spread: no 5 s step takes more than a tenth of the fleet.
    const steps = onAt.map((v, k) => v - (onAt[k - 1] ?? 0));
    expect(Math.max(...steps)).toBeLessThan(0.1 * f.n);
  });

  test('the counts the controller analyses equal what the contract PromQL would return from the same counters', async () => {
    const f = new Fleet({ ...sc, candidate: { ...sc.candidate, crashRateMultiplier: 3, crashOnBoot: 0, updateFailure: 0.05 }, fleet: { ...sc.fleet, crashRate: 0.05, bsodRate: 0.02 } }, channel.agent(), 0);
    const view = channel.publish({ activeRing: 0, rings: [{ name: 'half', basisPoints: 5_000 }] });
    for (let t = 0; t < 3_600_000; t += sc.tickMs) f.step(t, sc.tickMs, view);
    const provider = new SimMetricsProvider(f, 'sensor-content', { baseline: '1', candidate: '2' }, [{ from: 3_000_000, to: 3_300_000 }]);
    const ctx: RingContext = { channel: 'sensor-content', version: '2', baselineVersion: '1', ringStartedAt: new Date(0), now: new Date(2_400_000), intervalMs: 60_000, after: new Date(0) };
    for (const type of ['crash-rate', 'bsod-rate', 'update-failure-rate'] as const) {
      const metric = { name: type, type } as MetricSpec;
      const counts = observeFromCounts(provider, metric, ctx);
      expect(counts.kind).toBe('counts');
      if (counts.kind === 'counts') {
        expect(counts.intervals).toHaveLength(40);
        expect(counts.intervals.reduce((a, i) => a + i.candidate.events, 0)).toBeGreaterThan(0);
        expect(counts.candidateHosts + counts.baselineHosts).toBe(f.n);
      }
      expect(await observeMetric(provider, metric, ctx)).toEqual(counts);
      // In a metrics gap both say no data.
      const gap = { ...ctx, now: new Date(3_100_000), after: new Date(2_940_000) };
      expect(observeFromCounts(provider, metric, gap).kind).toBe('no-data');
      expect((await observeMetric(provider, metric, gap)).kind).toBe('no-data');
    }
  });

  test('a bad scenario is one line per problem, with file and line', () => {
    const bad = path.join(__dirname, '..', 'fixtures', 'bad-scenario.yaml');
    let lines: string[] = [];
    try {
      loadScenario(bad);
    } catch (err) {
      if (err instanceof InputError) lines = err.lines;
    }
    expect(lines).toEqual([
      `${bad}:10:5 spec.fleet.hostz: unknown field "hostz" (did you mean "hosts"?)`,
      `${bad}:12:18 spec.candidate.crashOnBoot: must be <= 1 (got 2)`,
    ]);
  });

  test('a poll interval of 0 or a jitter above an hour is refused at its line', () => {
    const bad = path.join(__dirname, '..', 'fixtures', 'bad-scenario-durations.yaml');
    expect(() => loadScenario(bad)).toThrow(InputError);
    try {
      loadScenario(bad);
    } catch (err) {
      expect((err as InputError).lines).toEqual([
        `${bad}:10:19 spec.fleet.pollInterval: must be between 1s and 86400s (got 0s)`,
        `${bad}:11:17 spec.fleet.pollJitter: must be between 0s and 3600s (got 2h)`,
      ]);
    }
  });
});
