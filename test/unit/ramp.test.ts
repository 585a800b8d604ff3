/**
 * Waves inside a ring (engine/ramp.ts through decide) and their membership (engine/membership.ts): the census
 * wave, the first wave of `first` hosts, growth only after clean looks on which the wave's hosts have run it, the
 * bake from full exposure, the holdback.
 */
import { decide } from '../../controller/engine/decide';
import { admitted, assignedRing, exposureFromRollout, hostBucket, hostWavePosition, takesCandidate, WAVE_SCALE } from '../../controller/engine/membership';
import { ppmFor } from '../../controller/engine/ramp';
import type { EngineConfig, Facts, RingVerdict, RolloutState } from '../../controller/engine/state';
import { initialState } from '../../controller/engine/state';
import type { RolloutSpec } from '../../controller/spec/types';

const T0 = Date.parse('2026-11-30T15:00:00.000Z');
const at = (min: number): string => new Date(T0 + min * 60_000).toISOString();

const config: EngineConfig = {
  rings: [
    { name: 'canary', bakeMs: 30 * 60_000, maxBakeMs: 120 * 60_000, approvalRequired: false, ramp: { first: 50, growth: 2 } },
    { name: 'full', bakeMs: 60 * 60_000, maxBakeMs: null, approvalRequired: false, ramp: { first: 50, growth: 2 } },
  ],
  analysisIntervalMs: 60_000,
  analysisEnabled: true,
  noDataGraceMs: 10 * 60_000,
  maxConsecutiveErrors: 3,
  automaticRollback: true,
  rollbackDrainMs: 5 * 60_000,
};

const facts = (min: number, extra: Partial<Facts> = {}): Facts => ({
  now: at(min),
  window: { allowed: true },
  channelSlot: { free: true },
  requests: [],
  killSwitch: { engaged: false, mode: 'freeze', reason: '', actor: '', since: null },
  ...extra,
});

const look = (o: { result?: RingVerdict['result']; touched?: number | null; census?: number | null; concern?: boolean; noData?: boolean; ring?: number }): RingVerdict => ({
  ring: o.ring ?? 0,
  result: o.result ?? 'inconclusive',
  reason: 'test look',
  noData: o.noData ?? false,
  metrics: [],
  judgeStates: {},
  touchedHosts: o.touched === undefined ? 0 : o.touched,
  concern: o.concern ?? false,
  census: { ringHosts: o.census === undefined ? 2000 : o.census },
});

function start(cfg: EngineConfig = config): RolloutState {
  const d = decide(initialState(), facts(0), cfg);
  expect(d.state.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: null });
  return d.state;
}

describe('the ramp (engine)', () => {
  test('a ring starts with the census wave: published, nobody takes it yet, no bake', () => {
    const s = start();
    expect(s.exposedRing).toBe(0);
    expect(s.wave).toMatchObject({ index: 0, ppm: 0, target: null });
    expect(decide(s, facts(0), config).transitions[0]?.reason ?? '').toBe('');
  });

  test('the census sizes the first wave at `first` hosts; it grows only on clean looks once half the wave ran it', () => {
    let s = start();
    let d = decide(s, facts(1, { verdict: look({ census: 2000 }) }), config);
    s = d.state;
    expect(s.wave).toMatchObject({ index: 1, ppm: ppmFor(50, 2000), target: 50, ringHosts: 2000 });
    expect(ppmFor(50, 2000)).toBe(25_000);
    expect(d.actions.map((a) => a.kind)).toEqual(['publish-manifest']); // a wave is published, not notified
    expect(d.transitions[0]?.reason).toMatch(/canary: wave 1 \(~50 hosts, 2\.5% of canary\)/);

    // Not enough of the wave has run it yet: hold.
    d = decide(s, facts(2, { verdict: look({ touched: 20 }) }), config);
    expect(d.state.wave).toEqual(s.wave);
    expect(d.transitions).toEqual([]);
    // A concern holds even when the hosts are there; so do no-data and errors.
    for (const v of [look({ touched: 40, concern: true }), look({ touched: 40, noData: true }), look({ touched: 40, result: 'error' })]) {
      expect(decide(s, facts(2, { verdict: v }), config).state.wave).toEqual(s.wave);
    }
    // Clean, and 30 of ~50 ran it: the next wave doubles.
    d = decide(s, facts(2, { verdict: look({ touched: 30 }) }), config);
    expect(d.state.wave).toMatchObject({ index: 2, target: 100, ppm: 50_000 });
    expect(d.state.phase).toMatchObject({ kind: 'progressing', bakeStartedAt: null });
  });

  test('the census look is no data for health (nobody runs the candidate yet), and still sizes the first wave', () => {
    const s = decide(start(), facts(1, { verdict: look({ noData: true, census: 2000 }) }), config).state;
    expect(s.wave).toMatchObject({ index: 1, target: 50 });
    // An exposed wave with no data holds.
    expect(decide(s, facts(2, { verdict: look({ noData: true, touched: 50 }) }), config).state.wave).toEqual(s.wave);
  });

  test('a fail on any wave rolls back at once and clears the wave', () => {
    let s = start();
    s = decide(s, facts(1, { verdict: look({}) }), config).state;
    const d = decide(s, facts(2, { verdict: look({ result: 'fail', touched: 55 }) }), config);
    expect(d.state.phase.kind).toBe('rolling-back');
    expect(d.state.exposedRing).toBe(-1);
    expect(d.state.wave).toBeNull();
  });

  test('the ring is wholly exposed after log2(ring/first) clean waves; only then does the bake start', () => {
    let s = start();
    let min = 1;
    s = decide(s, facts(min, { verdict: look({}) }), config).state;
    const waves: number[] = [];
    while (s.wave) {
      min++;
      waves.push(s.wave.target ?? 0);
      s = decide(s, facts(min, { verdict: look({ touched: s.wave.target ?? 0 }) }), config).state;
    }
    expect(waves).toEqual([50, 100, 200, 400, 800, 1600]);
    expect(s.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: at(min) });
    // 29 minutes of bake later a pass does not advance; at 30 it does.
    expect(decide(s, facts(min + 29, { verdict: look({ result: 'pass', touched: 2000 }) }), config).state.exposedRing).toBe(0);
    const next = decide(s, facts(min + 30, { verdict: look({ result: 'pass', touched: 2000 }) }), config);
    expect(next.state.exposedRing).toBe(1);
    // The next ring keeps the hosts of the rings before it as its baseline count.
    expect(next.state.wave).toMatchObject({ index: 0, ppm: 0 });
  });

  test('without analysis the waves grow by share, once per analysis interval', () => {
    const cfg = { ...config, analysisEnabled: false };
    let s = start(cfg);
    expect(s.wave).toMatchObject({ index: 1, ppm: 15_625, target: null });
    expect(decide(s, facts(0.5), cfg).state).toBe(s);
    const shares: number[] = [];
    let min = 0;
    while (s.wave) {
      shares.push(s.wave.ppm);
      min++;
      s = decide(s, facts(min), cfg).state;
    }
    expect(shares).toEqual([15_625, 31_250, 62_500, 125_000, 250_000, 500_000]);
    expect(s.phase).toMatchObject({ kind: 'progressing', bakeStartedAt: at(min) });
  });

  test('agents that never report their ring: the census wave falls back to waves by share after two intervals', () => {
    let s = start();
    s = decide(s, facts(1, { verdict: look({ census: null }) }), config).state;
    expect(s.wave).toMatchObject({ ppm: 0 });
    s = decide(s, facts(2, { verdict: look({ census: null }) }), config).state;
    expect(s.wave).toMatchObject({ ppm: 15_625, target: null });
  });

  test('a ring still ramping at maxBake waits for a human (cause max-bake)', () => {
    let s = start();
    s = decide(s, facts(1, { verdict: look({}) }), config).state;
    const d = decide(s, facts(120, { verdict: look({ touched: 0 }) }), config);
    expect(d.state.phase).toMatchObject({ kind: 'awaiting-approval', ring: 1, cause: 'max-bake' });
    expect(d.state.wave).toEqual(s.wave); // exposure as it is
  });

  test('the kill switch freezes a ramping ring where it is; resume continues the ramp', () => {
    let s = start();
    s = decide(s, facts(1, { verdict: look({}) }), config).state;
    const ks = { engaged: true, mode: 'freeze' as const, reason: 'incident', actor: 'sre', since: at(2) };
    s = decide(s, facts(2, { killSwitch: ks }), config).state;
    expect(s.phase.kind).toBe('halted');
    expect(s.wave).toMatchObject({ index: 1, ppm: 25_000 });
    s = decide(s, facts(3, { requests: [{ id: 1, verb: 'resume', actor: 'sre', reason: 'ok' }] }), config).state;
    expect(s.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: null });
    expect(s.wave).toMatchObject({ index: 1, ppm: 25_000 });
  });

  test('a ring without a ramp is exposed at once and bakes from its start', () => {
    const cfg = { ...config, rings: config.rings.map((r) => ({ ...r, ramp: null })) };
    const d = decide(initialState(), facts(0), cfg);
    expect(d.state.phase).toEqual({ kind: 'progressing', ring: 0, bakeStartedAt: at(0) });
    expect(d.state.wave).toBeNull();
  });
});

const spec: RolloutSpec = {
  channel: 'sensor-content',
  version: '7.16.291',
  previousVersion: '7.16.290',
  artifact: { url: 'https://updates.example.internal/x.bin', sha256: 'a'.repeat(64) },
  rings: [
    { name: 'canary', selector: { matchLabels: { ring: 'canary' } }, bake: '30m' },
    { name: 'early', percent: 1, bake: '2h' },
    { name: 'full', percent: 100, bake: '24h' },
  ],
};
const SALT = 'b7e1c3a9';
const ids = Array.from({ length: 60_000 }, (_, i) => `host-${i}`);

describe('waves and the holdback (membership)', () => {
  test('a wave admits its share of the ring by wave position, stickily; the rings before stay whole', () => {
    const counts = [0.025, 0.1, 0.5].map((share) => {
      const e = exposureFromRollout(spec, undefined, 0, SALT, share * WAVE_SCALE);
      return ids.filter((id) => takesCandidate(e, { id, labels: { ring: 'canary' } })).length / ids.length;
    });
    expect(counts[0]).toBeGreaterThan(0.02);
    expect(counts[0]).toBeLessThan(0.03);
    expect(counts[2]).toBeGreaterThan(0.48);
    expect(counts[2]).toBeLessThan(0.52);
    const small = exposureFromRollout(spec, undefined, 0, SALT, 25_000);
    const big = exposureFromRollout(spec, undefined, 0, SALT, 100_000);
    for (const id of ids.slice(0, 5000)) if (takesCandidate(small, { id, labels: { ring: 'canary' } })) expect(takesCandidate(big, { id, labels: { ring: 'canary' } })).toBe(true);
    // Ring 1 ramping: every canary host takes it, non-canary hosts only inside the wave.
    const e1 = exposureFromRollout(spec, undefined, 1, SALT, 0);
    expect(ids.slice(0, 2000).every((id) => takesCandidate(e1, { id, labels: { ring: 'canary' } }))).toBe(true);
    expect(ids.some((id) => takesCandidate(e1, { id, labels: {} }))).toBe(false);
    // The precomputed position gives the same answer as the computed one.
    for (const id of ids.slice(0, 500)) {
      const host = { id, labels: {}, bucket: hostBucket(SALT, id), wave: hostWavePosition(SALT, id) };
      const r = assignedRing(big, host);
      expect(takesCandidate(big, host)).toBe(r >= 0 && admitted(big, r, host.wave));
    }
  });

  test('the default holdback keeps ~0.5% of the fleet off the last ring; canary hosts are never held back', () => {
    const e = exposureFromRollout(spec, undefined, 2, SALT);
    expect(e.holdback).toEqual({ basisPoints: 50 });
    const held = ids.filter((id) => !takesCandidate(e, { id, labels: {} })).length / ids.length;
    expect(held).toBeGreaterThan(0.004);
    expect(held).toBeLessThan(0.006);
    for (const id of ids) if (hostBucket(SALT, id) >= 9950) expect(assignedRing(e, { id, labels: {} })).toBe(-1);
    expect(ids.every((id) => takesCandidate(e, { id, labels: { ring: 'canary' } }))).toBe(true);
    const none = exposureFromRollout({ ...spec, holdback: { percent: 0 } }, undefined, 2, SALT);
    expect(none.holdback).toBeUndefined();
    expect(ids.every((id) => takesCandidate(none, { id, labels: {} }))).toBe(true);
  });
});
