/**
 * agent-sim in virtual time: every example scenario plays against the real controller runtime (SQLite store,
 * signed manifests, analysis through the in-process provider) and ends the way the scenario says. Fleets are
 * 100k hosts here to keep the suite fast, except subtle-regression, which needs the million for its 1% ring to
 * hold 10,000 hosts (and is quick: it ends within the hour); `make demo` and the README numbers use the million.
 */
import * as path from 'node:path';
import { checkExpectations } from '../../agent-sim/cli';
import { loadScenario } from '../../agent-sim/scenario';
import { runAllAtOnce, runVirtual, type RunResult } from '../../agent-sim/virtual';

jest.setTimeout(120_000);
const DIR = path.join(__dirname, '..', '..', 'examples', 'scenarios');
const HOSTS = 100_000;

/** Plays a scenario with `hosts` hosts (null: the scenario's own fleet size) and checks its expect block. */
async function play(name: string, hosts: number | null = HOSTS): Promise<RunResult> {
  const sc = loadScenario(path.join(DIR, `${name}.yaml`), hosts === null ? {} : { hosts });
  const r = await runVirtual(sc);
  expect({ scenario: name, problems: checkExpectations(sc, r) }).toEqual({ scenario: name, problems: [] });
  return r;
}

describe('scenarios in virtual time', () => {
  test('bad-content-update: stopped in the canary ring, rolled back; all at once bricks ~95%', async () => {
    const r = await play('bad-content-update');
    expect(r.outcome).toBe('rolled-back');
    expect(r.lastRing).toBe(0);
    expect(r.hostsUpdatedOutsideCanary).toBe(0);
    expect(r.hostsUpdated).toBeLessThanOrEqual(r.canaryHosts);
    // Each host that installs crashes on boot with p = 0.95 (binomial: within 5 sd at these counts).
    expect(r.hostsBricked / r.hostsUpdated).toBeGreaterThan(0.92);
    expect(r.hostsBricked / r.hostsUpdated).toBeLessThan(0.98);
    expect(r.firstCrashToHaltSeconds).not.toBeNull();
    expect(r.firstCrashToHaltSeconds as number).toBeLessThanOrEqual(5 * 60);
    expect(r.rollbackRevision).toBeGreaterThan(1);
    expect(r.transitions.some((t) => t.to === 'rolling-back' && /bsod|crashes/.test(t.reason))).toBe(true);
    const all = runAllAtOnce(loadScenario(path.join(DIR, 'bad-content-update.yaml'), { hosts: HOSTS }));
    expect(all.hostsUpdated).toBe(HOSTS);
    expect(all.bricked).toBeGreaterThan(0.94);
    expect(all.bricked).toBeLessThan(0.96);
  });

  test('healthy-noisy: runs through every ring to 100% without a halt', async () => {
    const r = await play('healthy-noisy');
    expect(r.outcome).toBe('succeeded');
    expect(r.hostsUpdated).toBe(HOSTS);
    expect(r.transitions.some((t) => t.to === 'halted' || t.to === 'rolling-back')).toBe(false);
  });

  test('subtle-regression: the 1.5x crash rate passes the canary ring and is rolled back in the 1% ring', async () => {
    const r = await play('subtle-regression', null);
    expect(r.hosts).toBe(1_000_000);
    expect(r.outcome).toBe('rolled-back');
    expect(r.lastRing).toBe(1);
    expect(r.lastRingName).toBe('early');
    expect(r.transitions.some((t) => t.to === 'progressing' && t.exposedRing === 1 && /canary passed/.test(t.reason))).toBe(true);
    expect(r.transitions.some((t) => t.to === 'rolling-back' && /crashes: .*SPRT/.test(t.reason))).toBe(true);
    // the canary ring plus about 1% of the rest
    expect(r.hostsUpdated).toBeLessThan(r.canaryHosts + 0.012 * r.hosts);
  });

  test('prometheus-outage: no data holds the canary, then halts with no-data', async () => {
    const r = await play('prometheus-outage');
    expect(r.outcome).toBe('halted');
    expect(r.haltReason).toBe('no-data');
    expect(r.hostsUpdatedOutsideCanary).toBe(0);
  });

  test('friday-start: nothing starts before Monday 09:00 New York', async () => {
    const r = await play('friday-start');
    expect(r.firstRingStart).toBe('2026-11-30T14:00:00.000Z');
    for (const t of r.transitions.filter((x) => x.to === 'progressing')) {
      const day = new Date(Date.parse(t.at) - 5 * 3_600_000).getUTCDay();
      expect([t.at, day >= 1 && day <= 4]).toEqual([t.at, true]);
    }
  });

  test('tampered-manifest: agents refuse tampered manifests and the swapped artifact; nobody installs', async () => {
    const r = await play('tampered-manifest');
    expect(r.hostsUpdated).toBe(0);
    expect(r.updateFailures.signature).toBeGreaterThan(0);
    expect(r.updateFailures.hash).toBeGreaterThan(0);
    expect(r.outcome).toBe('awaiting-approval');
  });
});
