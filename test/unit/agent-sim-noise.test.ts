/**
 * The simulator's noise, tested statistically: the gamma factor is drawn once per analysis interval (so the tick
 * does not change what an interval sees), common-mode noise hits both versions alike, crash loops are compound
 * Poisson with the stated mean, and the excess of a regression is noted as the candidate's first attributable event.
 */
import * as path from 'node:path';
import { BASELINE, CANDIDATE, Fleet } from '../../agent-sim/fleet';
import { loadScenario, type Scenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import type { FetchedManifest } from '../../controller/engine/agent';

const sc = loadScenario(path.join(__dirname, '..', '..', 'examples', 'scenarios', 'healthy-noisy.yaml'), { hosts: 2_000 });
const channel = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
const INTERVAL = 60_000;
const half: FetchedManifest = channel.publish({ activeRing: 0, rings: [{ name: 'half', basisPoints: 5_000 }] });

function scenario(fleet: Partial<Scenario['fleet']>, seed = 3, candidate: Partial<Scenario['candidate']> = {}): Scenario {
  return { ...sc, seed, candidate: { crashRateMultiplier: 1, crashOnBoot: 0, crashBeforeAgent: 1, updateFailure: 0, ...candidate }, fleet: { ...sc.fleet, diurnalAmplitude: 0, hazardShape: 1e6, bsodRate: 0, overdispersionShape: undefined, ...fleet } };
}

/** Per-interval crash counts of both versions over `intervals` intervals, stepping by `tick`. */
function perInterval(s: Scenario, tick: number, intervals: number, manifest?: FetchedManifest): Array<[number, number]> {
  const f = new Fleet(s, channel.agent(), 0, { noiseIntervalMs: INTERVAL });
  const out: Array<[number, number]> = [];
  let last = [0, 0];
  // settle the manifest first (two poll intervals), then count
  const warm = manifest ? 3 * INTERVAL : 0;
  for (let t = 0; t < warm; t += tick) f.step(t, tick, manifest);
  last = [f.latest().events[BASELINE][0] as number, f.latest().events[CANDIDATE][0] as number];
  for (let k = 0; k < intervals; k++) {
    for (let t = warm + k * INTERVAL; t < warm + (k + 1) * INTERVAL; t += tick) f.step(t, tick, manifest);
    const now = [f.latest().events[BASELINE][0] as number, f.latest().events[CANDIDATE][0] as number];
    out.push([(now[0] as number) - (last[0] as number), (now[1] as number) - (last[1] as number)]);
    last = now;
  }
  return out;
}

/** Moment estimate of 1/shape from counts: (var - mean) / mean^2. */
function excessDispersion(xs: number[]): { mean: number; phi: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, phi: (v - mean) / mean ** 2 };
}

describe('simulator noise', () => {
  // 2,000 hosts x 6 crashes/host-h = 200 crashes per minute: the Poisson part is small next to the gamma part.
  const noisy = scenario({ crashRate: 6, overdispersionShape: 5 });

  test('the gamma noise is drawn per analysis interval: a 10 s, 30 s or 60 s tick gives the same per-interval dispersion', () => {
    for (const tick of [10_000, 30_000, 60_000]) {
      const { mean, phi } = excessDispersion(perInterval(noisy, tick, 1_500).map((x) => x[0]));
      expect([tick, Math.abs(mean / 200 - 1) < 0.05]).toEqual([tick, true]);
      // 1/shape = 0.2; per-tick draws would give 0.2 / (interval / tick): 0.1 at 30 s, 0.033 at 10 s.
      expect([tick, phi > 0.16 && phi < 0.25]).toEqual([tick, true]);
    }
  });

  test('per-version noise is independent; common-mode noise moves both versions together', () => {
    const corr = (pairs: Array<[number, number]>): number => {
      const n = pairs.length;
      const ma = pairs.reduce((s, p) => s + p[0], 0) / n;
      const mb = pairs.reduce((s, p) => s + p[1], 0) / n;
      let sab = 0;
      let saa = 0;
      let sbb = 0;
      for (const [a, b] of pairs) {
        sab += (a - ma) * (b - mb);
        saa += (a - ma) ** 2;
        sbb += (b - mb) ** 2;
      }
      return sab / Math.sqrt(saa * sbb);
    };
    const independent = corr(perInterval(noisy, 30_000, 800, half));
    const common = corr(perInterval(scenario({ crashRate: 6, commonNoiseShape: 5 }), 30_000, 800, half));
    // 800 pairs: sd of a null correlation ~0.035. Common gamma(5) on ~100/min per version: corr ~ 0.2/(0.2+0.01) ~ 0.95.
    expect(Math.abs(independent)).toBeLessThan(0.15);
    expect(common).toBeGreaterThan(0.85);
  });

  test('crash loops are compound Poisson: mean rate x meanSize, variance rate x E[size^2]', () => {
    // 2,000 hosts x 0.05 loops/host-h = 100 loops/h, ~1.67 per minute, of geometric size mean 8 (E[X^2] = m(2m-1) = 120).
    const s = scenario({ crashRate: 0, clusters: { rate: 0.05, meanSize: 8 } }, 11);
    const xs = perInterval(s, 30_000, 4_000).map((x) => x[0]);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
    const loopsPerMinute = (2_000 * 0.05) / 60;
    expect(mean / (loopsPerMinute * 8)).toBeGreaterThan(0.93);
    expect(mean / (loopsPerMinute * 8)).toBeLessThan(1.07);
    expect(v / (loopsPerMinute * 120)).toBeGreaterThan(0.8);
    expect(v / (loopsPerMinute * 120)).toBeLessThan(1.2);
  });

  test("a regression's excess crashes are the candidate's first attributable event; a healthy candidate has none", () => {
    const f = new Fleet(scenario({ crashRate: 0.5 }, 5, { crashRateMultiplier: 2 }), channel.agent(), 0);
    for (let t = 0; t < 30 * INTERVAL; t += 30_000) f.step(t, 30_000, half);
    expect(f.firstAttributable?.kind).toBe('excess-crash');
    const g = new Fleet(scenario({ crashRate: 0.5 }, 5), channel.agent(), 0);
    for (let t = 0; t < 30 * INTERVAL; t += 30_000) g.step(t, 30_000, half);
    expect((g.latest().events[CANDIDATE][0] as number) > 0).toBe(true);
    expect(g.firstAttributable).toBeNull();
  });
});
