/**
 * The simulated fleet runs the agent's decisions (engine/agent.ts), and behaves as agents do: what hosts run under
 * the kill switch and after a withdrawal, what they refuse (a replayed older revision, a stale manifest, an unknown
 * key) and that a refusal changes nothing on the host, and the boot-loop safety net (failed starts, the local
 * revert, the bad mark that holds until a re-release). Each case steps a real Fleet through signed manifests.
 */
import * as path from 'node:path';
import { BASELINE, BOOT_SECONDS, CANDIDATE, Fleet } from '../../agent-sim/fleet';
import { loadScenario, type Scenario } from '../../agent-sim/scenario';
import { SimChannel } from '../../agent-sim/signed';
import type { FetchedManifest } from '../../controller/engine/agent';
import type { Exposure } from '../../controller/engine/membership';

const base = loadScenario(path.join(__dirname, '..', '..', 'examples', 'scenarios', 'bad-content-update.yaml'), { hosts: 2_000 });
const POLL = base.fleet.pollIntervalMs + base.fleet.pollJitterMs;
const TICK = 10_000;
const rings: Exposure['rings'] = [
  { name: 'canary', selector: { ring: 'canary' } },
  { name: 'half', basisPoints: 5_000 },
  { name: 'full', basisPoints: 10_000 },
];

function scenario(candidate: Partial<Scenario['candidate']> = {}, agent: Partial<Scenario['agent']> = {}): Scenario {
  return {
    ...base,
    seed: 5,
    fleet: { ...base.fleet, canaryHosts: 50, crashRate: 0, bsodRate: 0 },
    candidate: { ...base.candidate, crashOnBoot: 0, crashBeforeAgent: 1, updateFailure: 0, ...candidate },
    agent: { ...base.agent, ...agent },
  };
}

/** Steps the fleet with `m` from `from` for `ms` (default: long enough for every host to poll), returns the end. */
function play(f: Fleet, m: FetchedManifest, from: number, ms = 2 * POLL): number {
  for (let t = from; t < from + ms; t += TICK) f.step(t, TICK, m);
  return from + ms;
}

describe('what the simulated agents run (desiredVersion)', () => {
  test('with the kill switch engaged no host installs a candidate it does not run; a withdrawn candidate is left by every host on it', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const f = new Fleet(scenario(), ch.agent(), 0);
    let t = play(f, ch.publish({ activeRing: 0, rings }), 0);
    expect(f.hostsOn[CANDIDATE]).toBe(f.canaryCount);
    // The kill switch, with the next ring in effect: nobody new takes it, the canary hosts keep it.
    t = play(f, ch.publish({ activeRing: 1, rings }, { killSwitch: true }), t);
    expect(f.hostsOn[CANDIDATE]).toBe(f.canaryCount);
    expect(f.tookTotal).toBe(f.canaryCount);
    // Withdrawn while the kill switch holds: returning to stable is never blocked.
    t = play(f, ch.publish({ activeRing: -1, rings }, { killSwitch: true }), t);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(f.hostsOn[BASELINE]).toBe(f.n);
    // Released, ring 1 in effect: the canary and about half of the rest.
    play(f, ch.publish({ activeRing: 1, rings }), t);
    expect(f.hostsOn[CANDIDATE] / f.n).toBeGreaterThan(0.45);
    expect(f.hostsOn[CANDIDATE] / f.n).toBeLessThan(0.56);
  });

  test('a stable version equal to the candidate (the rollout succeeded) is installed by every host, the held-back ones too', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const f = new Fleet(scenario(), ch.agent(), 0);
    const t = play(f, ch.publish({ activeRing: 2, rings, holdback: { basisPoints: 500 } }), 0);
    expect(f.hostsOn[CANDIDATE]).toBeLessThan(f.n);
    play(f, ch.publish(null, { stable: '2' }), t);
    expect(f.hostsOn[CANDIDATE]).toBe(f.n);
  });
});

describe('what the simulated agents believe (checkManifest)', () => {
  test('a replayed older revision that still carries a withdrawn candidate is refused by every host (replay) and nobody re-installs it', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const messages: string[] = [];
    const f = new Fleet(scenario(), ch.agent(), 0, { onRefusal: (reason, message) => messages.push(`${reason}: ${message}`) });
    const captured = ch.publish({ activeRing: 0, rings });
    let t = play(f, captured, 0);
    expect(f.hostsOn[CANDIDATE]).toBe(f.canaryCount);
    t = play(f, ch.publish({ activeRing: -1, rings }), t);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(messages).toEqual([]);
    play(f, captured, t);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(f.tookTotal).toBe(f.canaryCount);
    // Every host refuses it at its poll, and again at each poll after (the same bytes keep coming).
    expect(f.refusals.replay).toBeGreaterThanOrEqual(f.n);
    expect(messages).toEqual(['replay: manifest revision 1 is older than revision 2, already accepted']);
    // Replay is not a signature problem: no update failure is counted for it.
    expect(f.failures.signature).toBe(0);
  });

  test('a manifest older than the maximum age (24 h) is refused (stale); a fresh re-issue of the same content is taken', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const f = new Fleet(scenario(), ch.agent(), 0);
    const day = 24 * 3_600_000;
    const old = ch.publish({ activeRing: 0, rings }, { issuedAtMs: 0 });
    const t = play(f, old, day + 60_000);
    expect(f.refusals.stale).toBeGreaterThanOrEqual(f.n);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    play(f, ch.publish({ activeRing: 0, rings }, { issuedAtMs: day }), t);
    expect(f.hostsOn[CANDIDATE]).toBe(f.canaryCount);
  });

  test('a manifest signed by a key the agents do not trust is refused (unknown-key) and counted as a signature failure of the candidate it names', () => {
    const pinned = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const impostor = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const f = new Fleet(scenario(), pinned.agent(), 0);
    play(f, impostor.publish({ activeRing: 2, rings }), 0);
    expect(f.hostsOn[CANDIDATE]).toBe(0);
    expect(f.refusals['unknown-key']).toBeGreaterThanOrEqual(f.n);
    expect(f.failures.signature).toBe(f.refusals['unknown-key']);
    // The agents follow a rotation to that key (the driver applies the statements): now they take it.
    f.setTrust([...f.trusted(), impostor.signer.trusted]);
    play(f, impostor.publish({ activeRing: 0, rings }), 2 * POLL);
    expect(f.hostsOn[CANDIDATE]).toBe(f.canaryCount);
  });
});

describe('the boot-loop safety net in the fleet', () => {
  const loops = { crashOnBoot: 1, crashBeforeAgent: 0 };
  const everyone = { activeRing: 0, rings: [{ name: 'all', basisPoints: 10_000 }] };

  test('a new version that never boots: 3 failed starts of 2 min each, then every host reverts on its own, marks it bad and does not take it again until it is re-released', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const f = new Fleet(scenario(loops), ch.agent(), 0);
    const m = ch.publish(everyone);
    const down: number[] = [];
    let firstBack = -1;
    for (let t = 0; t < 20 * 60_000; t += TICK) {
      f.step(t, TICK, m);
      down.push(f.n - f.hostsOn[BASELINE] - f.hostsOn[CANDIDATE]);
      if (firstBack < 0 && f.recoveredTotal > 0) firstBack = t + TICK;
    }
    expect(f.tookTotal).toBe(f.n);
    expect(f.recoveredTotal).toBe(f.n);
    expect(f.localRollbacks).toBe(f.n);
    expect(f.brickedTotal).toBe(0);
    expect(f.hostsOn[BASELINE]).toBe(f.n);
    // The first poll is at >= 0 s: no host is back before 3 boot cycles after it; all are back by the last poll + 3 cycles.
    expect(firstBack).toBeGreaterThanOrEqual(3 * 120_000);
    expect(firstBack).toBeLessThanOrEqual(3 * 120_000 + 2 * TICK);
    expect(Math.max(...down)).toBeGreaterThan(0.9 * f.n);
    expect(down[Math.ceil((POLL + 3 * 120_000) / TICK) + 1]).toBe(0);
    // Each failed start is one BSOD (30 s of the candidate), reported when the host next starts.
    expect(f.latest().events[CANDIDATE][1]).toBe(3 * f.n);
    expect(f.latest().hostSeconds[CANDIDATE]).toBe(3 * f.n * BOOT_SECONDS);
    // A new revision naming the same artifact (a wave, a re-issue) does not clear the mark.
    // (a host that installed it again would be down, boot-looping, for 6 minutes)
    const t = play(f, ch.publish(everyone), 20 * 60_000);
    expect(f.hostsOn[BASELINE]).toBe(f.n);
    expect(f.localRollbacks).toBe(f.n);
    // A re-release (another artifact of the version) is installed again, and loops again.
    play(f, ch.publish(everyone, { artifact: { url: 'https://updates.example.internal/candidate-2.bin', sha256: '1'.repeat(64) } }), t, 15 * 60_000);
    expect(f.localRollbacks).toBe(2 * f.n);
    expect(f.recoveredTotal).toBe(f.n);
    expect(f.hostsOn[BASELINE]).toBe(f.n);
  });

  test('without the fallback, or when the crash comes before the agent, the host stays bricked (crashBeforeAgent is a share)', () => {
    const ch = new SimChannel('sensor-content', { baseline: '1', candidate: '2' });
    const off = new Fleet(scenario(loops, { fallback: false }), ch.agent(), 0);
    play(off, ch.publish(everyone), 0, 15 * 60_000);
    expect(off.brickedTotal).toBe(off.n);
    expect(off.recoveredTotal).toBe(0);
    const some = new Fleet(scenario({ crashOnBoot: 1, crashBeforeAgent: 0.3 }), ch.agent(), 0);
    play(some, ch.publish(everyone), 0, 15 * 60_000);
    expect(some.brickedTotal + some.recoveredTotal).toBe(some.n);
    // binomial(2000, 0.3): sd 0.0102, within 5 sd
    expect(some.brickedTotal / some.n).toBeGreaterThan(0.25);
    expect(some.brickedTotal / some.n).toBeLessThan(0.35);
    // maxFailedStarts 1: back after one boot cycle
    const quick = new Fleet(scenario(loops, { maxFailedStarts: 1 }), ch.agent(), 0);
    play(quick, ch.publish(everyone), 0, POLL + 120_000 + 2 * TICK);
    expect(quick.recoveredTotal).toBe(quick.n);
    expect(quick.latest().events[CANDIDATE][1]).toBe(quick.n);
  });
});
