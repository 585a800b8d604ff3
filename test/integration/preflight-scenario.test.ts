/**
 * Scenario malformed-content in virtual time, against the real controller runtime (SQLite store, signed manifests,
 * the pre-flight runner on the scenario's artifact file): the 21-field content file is stopped by the rollout's
 * schema check before ring 0. Outcome preflight-failed, no ring exposed, not one host took the update, and no manifest
 * ever carried it; all at once, the same file would have reached and bricked most of the fleet.
 */
import * as path from 'node:path';
import { checkExpectations } from '../../agent-sim/cli';
import { loadScenario } from '../../agent-sim/scenario';
import { runAllAtOnce, runVirtual } from '../../agent-sim/virtual';

jest.setTimeout(60_000);
const FILE = path.join(__dirname, '..', '..', 'examples', 'scenarios', 'malformed-content.yaml');
const HOSTS = 100_000;

test('malformed-content: pre-flight stops the 21-field file before ring 0; outcome preflight-failed, 0 hosts took it', async () => {
  const sc = loadScenario(FILE, { hosts: HOSTS });
  const lines: string[] = [];
  const r = await runVirtual(sc, (l) => lines.push(l));
  expect(checkExpectations(sc, r)).toEqual([]);
  expect(r.outcome).toBe('preflight-failed');
  expect(r.lastRing).toBe(-1);
  expect(r.hostsUpdated).toBe(0);
  expect(r.hostsBricked).toBe(0);
  expect(r.firstExposureAt).toBeNull();
  expect(r.transitions.map((t) => [t.from, t.to, t.exposedRing])).toEqual([
    ['pending', 'preflight', -1],
    ['preflight', 'preflight-failed', -1],
  ]);
  expect(r.transitions[1]?.reason).toBe('pre-flight check sensor-content-v1 failed: templates[1].fields: must NOT have more than 20 items (got 21)');
  // Decided at the virtual instant of the apply: nothing waited for a tick.
  expect(r.transitions.every((t) => t.at === r.startedAt)).toBe(true);
  // The story names the new phase and why (issue 15: plain words, no "from -> to" of phases).
  expect(lines.some((l) => /^T\+0m\s+preflight-failed: pre-flight check sensor-content-v1 failed/.test(l))).toBe(true);
  // The same file without the rings and the pre-flight: every host takes it, ~95% brick.
  const all = runAllAtOnce(sc);
  expect(all.hostsUpdated).toBe(HOSTS);
  expect(all.bricked).toBeGreaterThan(0.94);
});

test('the expectation fails when the outcome differs (the check can fail)', async () => {
  const sc = loadScenario(FILE, { hosts: 10_000 });
  const r = await runVirtual(sc);
  expect(checkExpectations({ ...sc, expect: { ...sc.expect, outcome: 'rolled-back' } }, r)).not.toEqual([]);
});
