/**
 * Waves inside a ring (the blast-radius budget), pure.
 *
 * A ring does not expose all of its hosts at once. It starts with a first wave of `ramp.first` hosts (at least every
 * metric's minHosts, so a fail can be declared on it), and grows by `ramp.growth` after each clean look, until the
 * whole ring is exposed; only then does its bake start. The waves are carried in the manifest as a share of the
 * ring's hosts in parts per million, by each host's wave position (engine/membership.ts), so agents apply them with
 * the engine's own membership function.
 *
 * The controller sizes a wave from the ring's census: agents report which ring of the candidate's plan they belong
 * to (the `ring` label of `ringmaster_agent_hosts`). A ring whose size is not known yet starts with the census wave
 * (ppm 0: the ring is published, nobody takes the candidate) and sizes its first wave at the next look.
 *
 * A wave grows after a look of its ring that is neither fail, error nor no-data and raises no concern (no test
 * points towards a fail it cannot declare yet), once the candidate hosts that ran the update in this ring reached
 * half of what the wave exposes. Agents that have not polled yet therefore hold the ramp back: a slow fleet ramps
 * slowly, never blindly.
 */
import { WAVE_SCALE } from './membership';
import type { RingVerdict, WaveState } from './state';

export interface Ramp {
  first: number;
  growth: number;
}

/** Without a census (no analysis, or agents that do not report their ring): the first wave is this share of the ring. */
export const UNSIZED_FIRST_PPM = Math.round(WAVE_SCALE / 64);

/** The share (ppm) that exposes `target` of a ring of `ringHosts` hosts, rounded up; WAVE_SCALE: the whole ring. */
export function ppmFor(target: number, ringHosts: number): number {
  if (!(ringHosts > 0) || target >= ringHosts) return WAVE_SCALE;
  return Math.min(WAVE_SCALE, Math.ceil((target * WAVE_SCALE) / ringHosts));
}

/**
 * The first wave of a ring that starts now: the census look (wave 0, nobody takes it) when looks will count the ring,
 * else (no analysis) a fixed small share. Null when the ring has no ramp (the whole ring is exposed at once).
 */
export function firstWave(ramp: Ramp | null, hostsBefore: number, now: string, sized: boolean): WaveState | null {
  if (ramp === null) return null;
  return sized ? { index: 0, ppm: 0, target: null, ringHosts: null, since: now, hostsBefore } : { index: 1, ppm: UNSIZED_FIRST_PPM, target: null, ringHosts: null, since: now, hostsBefore };
}

export type WaveStep =
  | { kind: 'hold'; why: string }
  /** The next wave (`wave`), or the whole ring (`wave` null). */
  | { kind: 'grow'; wave: WaveState | null; why: string };

/**
 * What the ramp does after a look (`verdict`, of this ring) or, without analysis, after an interval (`verdict`
 * undefined and `sized` false). Pure.
 */
export function nextWave(ramp: Ramp, wave: WaveState, verdict: RingVerdict | undefined, now: string, opts: { sized: boolean; intervalMs: number }): WaveStep {
  const age = Date.parse(now) - Date.parse(wave.since);
  if (!opts.sized) {
    if (age < opts.intervalMs) return { kind: 'hold', why: 'one analysis interval has not passed' };
    return grow(ramp, wave, null, now, 'one analysis interval passed (no analysis: waves by time)');
  }
  if (age <= 0) return { kind: 'hold', why: 'no look since the wave was published' };
  if (verdict === undefined) return { kind: 'hold', why: 'no look' };
  // The census look (ppm 0) has no candidate data by construction (nobody runs it yet): its no-data does not hold it.
  const censusLook = wave.ppm === 0 && wave.target === null;
  if (verdict.result === 'fail' || verdict.result === 'error' || (verdict.noData && !censusLook)) return { kind: 'hold', why: `the look was ${verdict.noData ? 'no data' : verdict.result}` };
  if (verdict.concern) return { kind: 'hold', why: 'a test points towards a fail it cannot declare yet' };
  const census = verdict.census?.ringHosts ?? null;
  const ringHosts = census !== null && census > 0 ? census : wave.ringHosts;
  if (wave.target === null) {
    // The census look (or an unsized wave): size the first wave now if the ring's size is known.
    if (ringHosts === null) {
      // Agents that do not report their ring leave the census empty: after two intervals, waves go by share.
      if (wave.ppm === 0 && age < 2 * opts.intervalMs) return { kind: 'hold', why: 'the ring has not been counted yet (census)' };
      return grow(ramp, wave, null, now, 'the census does not count the ring: waves by share of the ring');
    }
    const ppm = ppmFor(ramp.first, ringHosts);
    if (ppm >= WAVE_SCALE) return { kind: 'grow', wave: null, why: `the ring has ${ringHosts} hosts, no more than the first wave` };
    return { kind: 'grow', wave: { index: wave.index + 1, ppm: Math.max(ppm, wave.ppm), target: ramp.first, ringHosts, since: now, hostsBefore: wave.hostsBefore }, why: `the census counts ${ringHosts} hosts in the ring` };
  }
  const exposedHosts = wave.ringHosts === null ? wave.target : (wave.ppm * wave.ringHosts) / WAVE_SCALE;
  const ran = Math.max(0, (verdict.touchedHosts ?? 0) - wave.hostsBefore);
  if (ran < exposedHosts / 2) return { kind: 'hold', why: `${Math.round(ran)} of the wave's ~${Math.round(exposedHosts)} hosts have run the update` };
  return grow(ramp, wave, ringHosts, now, `${Math.round(ran)} hosts ran it, the look was clean`);
}

function grow(ramp: Ramp, wave: WaveState, ringHosts: number | null, now: string, why: string): WaveStep {
  if (wave.target === null || ringHosts === null) {
    const ppm = Math.max(1, Math.ceil(Math.max(wave.ppm, UNSIZED_FIRST_PPM / ramp.growth) * ramp.growth));
    if (ppm >= WAVE_SCALE) return { kind: 'grow', wave: null, why };
    return { kind: 'grow', wave: { ...wave, index: wave.index + 1, ppm, since: now }, why };
  }
  const target = wave.target * ramp.growth;
  const ppm = ppmFor(target, ringHosts);
  if (ppm >= WAVE_SCALE) return { kind: 'grow', wave: null, why };
  return { kind: 'grow', wave: { index: wave.index + 1, ppm: Math.max(ppm, wave.ppm), target, ringHosts, since: now, hostsBefore: wave.hostsBefore }, why };
}

/** "wave 3 (~200 hosts, 10% of canary)" for reasons and status: wave 0 is the census, the first exposed wave is 1. */
export function describeWave(wave: WaveState, ringName: string): string {
  const share = `${Number(((100 * wave.ppm) / WAVE_SCALE).toPrecision(3))}% of ${ringName}`;
  if (wave.ppm === 0) return `census of ${ringName} (nobody takes it yet)`;
  return `wave ${wave.index} (${wave.target !== null ? `~${Math.round(wave.target)} hosts, ` : ''}${share})`;
}
