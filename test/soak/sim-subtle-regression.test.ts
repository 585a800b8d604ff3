/**
 * The million-host subtle regression (about a minute on 2 cores, so in `make soak`, not `make test`): a 1.5x crash
 * rate passes the canary ring's 2,000 hosts and is caught and rolled back in the 1% ring (10,000 hosts).
 */
import * as path from 'node:path';
import { checkExpectations } from '../../agent-sim/cli';
import { loadScenario } from '../../agent-sim/scenario';
import { runVirtual } from '../../agent-sim/virtual';

jest.setTimeout(300_000);

test('subtle-regression: the 1.5x crash rate passes the canary ring and is rolled back in the 1% ring', async () => {
  const sc = loadScenario(path.join(__dirname, '..', '..', 'examples', 'scenarios', 'subtle-regression.yaml'), {});
  const r = await runVirtual(sc);
  expect({ scenario: 'subtle-regression', problems: checkExpectations(sc, r) }).toEqual({ scenario: 'subtle-regression', problems: [] });
  expect(r.hosts).toBe(1_000_000);
  expect(r.outcome).toBe('rolled-back');
  expect(r.lastRing).toBe(1);
  expect(r.lastRingName).toBe('early');
  expect(r.transitions.some((t) => t.to === 'progressing' && t.exposedRing === 1 && /canary passed/.test(t.reason))).toBe(true);
  expect(r.transitions.some((t) => t.to === 'rolling-back' && /ring early failed analysis: fail: crashes: /.test(t.reason))).toBe(true);
  expect(r.haltCause).toBe('crash');
  expect(r.haltRingName).toBe('early');
  // the canary ring plus about 1% of the rest
  expect(r.hostsUpdated).toBeLessThan(r.canaryHosts + 0.012 * r.hosts);
});
