/** The fleet's per-host-group counters (for the bench's Kayenta-style judge): they add up, and change no other draw. */
import * as path from 'node:path';
import { CANDIDATE, Fleet } from '../../agent-sim/fleet';
import { loadScenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import { quantile } from '../../bench/decisions/compare';

const SCENARIO = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml');

describe('Fleet host groups', () => {
  const base = loadScenario(SCENARIO, { hosts: 20_000 });
  const sc = { ...base, candidate: { ...base.candidate, crashOnBoot: 0.3, crashRateMultiplier: 2 }, fleet: { ...base.fleet, crashRate: 0.05 } };
  const channel = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
  const view = channel.publish({ activeRing: 0, rings: [{ name: 'half', basisPoints: 5_000 }] });
  const play = (groups: number): Fleet => {
    const f = new Fleet(sc, channel.agent(), 0, groups > 0 ? { hostGroups: groups } : {});
    for (let t = 0; t < 30 * 60_000; t += sc.tickMs) f.step(t, sc.tickMs, view);
    return f;
  };

  test('the same run with and without groups (the groups draw from a stream of their own)', () => {
    const a = play(0);
    const b = play(50);
    expect(JSON.stringify([a.counts(), a.latest()])).toBe(JSON.stringify([b.counts(), b.latest()]));
  });

  test('the groups add up to the fleet counters, per version', () => {
    const f = play(50);
    const g = f.groupAt(Infinity);
    expect(g).not.toBeNull();
    const snap = f.latest();
    for (const v of [0, 1] as const) {
      const sum = (x: Float64Array): number => x.reduce((s, y) => s + y, 0);
      expect(sum(g!.crashes[v])).toBe(snap.events[v][0]);
      expect(sum(g!.bsods[v])).toBe(snap.events[v][1]);
      expect(sum(g!.hostSeconds[v])).toBeCloseTo(snap.hostSeconds[v], 3);
    }
    expect(snap.events[CANDIDATE][0]).toBeGreaterThan(0);
  });

  test('quantile: median and nearest-rank p95', () => {
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.95)).toBe(95);
    expect(quantile([null, null], 0.5)).toBeNull();
  });
});
